//! `/api/v1/wikis/{name}/exports` and `/api/v1/exports/{id}`: exports of whole wikis.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use farm_core::app::exports::ExportView;
use farm_core::platform::time::rfc3339;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request)).routes(routes!(read)).routes(routes!(archive))
}

#[derive(Serialize, ToSchema)]
struct Export {
    id: i64,
    wiki: String,
    /// `queued`, `running`, `done`, `failed` or `expired`.
    state: String,
    /// What it is doing: `queued`, `pages`, `files`, `done`, `failed`.
    phase: String,
    /// Entries of the archive written so far, of `total_items`.
    done_items: i64,
    total_items: i64,
    /// The archive's size once done.
    bytes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// Until when the archive can be downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Where to download it, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<String>,
}

fn resource(view: ExportView, ready: bool) -> Export {
    Export {
        archive: ready.then(|| format!("/api/v1/exports/{}/archive", view.id)),
        id: view.id,
        wiki: view.wiki,
        state: view.state,
        phase: view.phase,
        done_items: view.done_items,
        total_items: view.total_items,
        bytes: view.bytes,
        error: view.error,
        created_at: rfc3339(view.created_at),
        finished_at: view.finished_at.map(rfc3339),
        expires_at: view.expires_at.map(rfc3339),
    }
}

/// Exports the whole wiki in the background (its owner or an admin): every page with all
/// revisions and logs in MediaWiki's export format, the uploaded files, the settings and logo,
/// with a manifest of checksums, in one `.tar.gz`. Poll the answer's `id`.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/exports", tag = "wikis", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The export, queued (or the one already under way)", body = Export),
        (status = 403, description = "`forbidden`, `export_too_large`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is not served", body = ErrorBody),
    )
)]
async fn request(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<Export>), ApiError> {
    let view = state.farm.request_export(&actor, &name, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(resource(view, false))))
}

/// An export's progress.
#[utoipa::path(
    get, path = "/api/v1/exports/{id}", tag = "wikis", params(("id" = i64, Path, description = "The export")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The export", body = Export),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Export>, ApiError> {
    let (view, archive) = state.farm.export(&actor, id).await?;
    Ok(Json(resource(view, archive.is_some())))
}

/// The archive of a finished export, streamed.
#[utoipa::path(
    get, path = "/api/v1/exports/{id}/archive", tag = "wikis", params(("id" = i64, Path, description = "The export")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The archive", content_type = "application/gzip"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not done (yet), or expired", body = ErrorBody),
    )
)]
async fn archive(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (view, archive) = state.farm.export(&actor, id).await?;
    let Some(path) = archive else {
        return Err(farm_core::FarmError::Conflict(format!(
            "the export is {}; there is no archive to download",
            view.state
        ))
        .into());
    };
    let file = tokio::fs::File::open(&path).await.map_err(|e| farm_core::FarmError::Internal(e.into()))?;
    let length = file.metadata().await.map_err(|e| farm_core::FarmError::Internal(e.into()))?.len();
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/gzip"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}-export-{}.tar.gz\"", view.wiki, view.id))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
