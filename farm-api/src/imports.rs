//! `POST /api/v1/wiki-imports`: a new wiki from an archive.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use farm_core::app::CreateWiki;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportParams {
    /// The new wiki's name.
    name: String,
    sitename: String,
    /// The content language (a farmd export brings its own).
    language: Option<String>,
}

/// Creates a wiki from an archive sent as the body: farmd's own export (`farmd-export/1`) or
/// a MediaWiki XML dump (plain or gzipped). The archive is checked before anything is made;
/// the wiki is `provisioning` until its pages, logs and files are loaded, then `active`.
#[utoipa::path(
    post, path = "/api/v1/wiki-imports", tag = "wikis", params(ImportParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The archive (.tar.gz, .xml or .xml.gz)"),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The wiki, being built from the archive", body = crate::wikis::WikiResource),
        (status = 403, description = "`forbidden`, `email_unconfirmed`, `quota_exceeded`, `review_required`", body = ErrorBody),
        (status = 409, description = "`name_taken`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 422, description = "`archive_invalid`, `archive_checksum`, `archive_path`, `archive_unsafe_xml`, `archive_too_large`, and the rules of creation", body = ErrorBody),
    )
)]
async fn import(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: Body,
) -> Result<(StatusCode, Json<crate::wikis::WikiResource>), ApiError> {
    let farm = &state.farm;
    let upload = farm.new_import_upload().map_err(farm_core::FarmError::Internal)?;
    let received = receive(body, &upload, farm.config().import_max_bytes).await;
    let result = match received {
        Ok(()) => {
            let request = CreateWiki {
                name: params.name,
                sitename: params.sitename,
                language: params.language,
                backend: None,
                settings: Default::default(),
                starter: None,
            };
            farm.import_wiki(&actor, request, &upload, &source).await.map_err(ApiError::from)
        }
        Err(err) => Err(err),
    };
    let _ = tokio::fs::remove_file(&upload).await;
    let (view, _password) = result?;
    Ok((StatusCode::ACCEPTED, Json(crate::wikis::resource(view))))
}

/// Streams the body to `path`, at most `max` bytes.
async fn receive(body: Body, path: &std::path::Path, max: u64) -> Result<(), ApiError> {
    use futures_util::StreamExt;
    let mut file = tokio::fs::File::create(path).await.map_err(|e| farm_core::FarmError::Internal(e.into()))?;
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::Request {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: "the upload broke off".into(),
        })?;
        total += chunk.len() as u64;
        if total > max {
            return Err(ApiError::Request {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "body_too_large",
                message: format!("an archive may have at most {max} bytes"),
            });
        }
        file.write_all(&chunk).await.map_err(|e| farm_core::FarmError::Internal(e.into()))?;
    }
    file.flush().await.map_err(|e| farm_core::FarmError::Internal(e.into()))?;
    Ok(())
}
