//! `/api/v1/wikis/{name}/backups`, `/api/v1/backups/{id}`, `/api/v1/wikis/{name}/restore`
//! and `/api/v1/restores/{id}`: backups of whole wikis and restores to them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use farm_core::app::backups::{BackupList, BackupView, RestoreView};
use farm_core::platform::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, request))
        .routes(routes!(read))
        .routes(routes!(restore))
        .routes(routes!(read_restore))
}

#[derive(Serialize, ToSchema)]
struct Backup {
    id: i64,
    wiki: String,
    /// `scheduled` or `manual`.
    kind: String,
    /// `queued`, `running`, `verified` (written, read back and checked), `failed` or
    /// `pruned` (removed by the retention policy).
    state: String,
    /// The settings revision the backup holds.
    settings_revision: i64,
    /// Bytes of the backup's files.
    bytes: i64,
    /// Pages in the backed-up database.
    pages: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
}

fn backup(view: BackupView) -> Backup {
    Backup {
        id: view.id,
        wiki: view.wiki,
        kind: view.kind,
        state: view.state,
        settings_revision: view.settings_revision,
        bytes: view.bytes,
        pages: view.pages,
        error: view.error,
        created_at: rfc3339(view.created_at),
        started_at: view.started_at.map(rfc3339),
        finished_at: view.finished_at.map(rfc3339),
    }
}

#[derive(Serialize, ToSchema)]
struct Restore {
    id: i64,
    wiki: String,
    /// The backup the wiki is restored to.
    backup: i64,
    /// `queued`, `running`, `done` or `failed`.
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
}

fn restore_resource(view: RestoreView) -> Restore {
    Restore {
        id: view.id,
        wiki: view.wiki,
        backup: view.backup,
        state: view.state,
        error: view.error,
        created_at: rfc3339(view.created_at),
        finished_at: view.finished_at.map(rfc3339),
    }
}

#[derive(Serialize, ToSchema)]
struct Backups {
    /// Newest first (up to 200).
    backups: Vec<Backup>,
    /// The wiki's latest restore, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    restore: Option<Restore>,
    /// Seconds since the newest verified backup was finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_good_age_seconds: Option<i64>,
}

fn list_resource(list: BackupList) -> Backups {
    Backups {
        backups: list.backups.into_iter().map(backup).collect(),
        restore: list.restore.map(restore_resource),
        last_good_age_seconds: list.last_good_age,
    }
}

/// The wiki's backups (its owner or an admin), newest first, and its latest restore.
#[utoipa::path(
    get, path = "/api/v1/wikis/{name}/backups", tag = "backups", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The wiki's backups", body = Backups),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Backups>, ApiError> {
    Ok(Json(list_resource(state.farm.backups(&actor, &name).await?)))
}

/// Backs the wiki up now, in the background (its owner or an admin): its database, uploaded
/// files and settings, verified once written. Poll the answer's `id`.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/backups", tag = "backups", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The backup, queued (or the one already under way)", body = Backup),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is not served; `restore_running`", body = ErrorBody),
    )
)]
async fn request(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<Backup>), ApiError> {
    let view = state.farm.request_backup(&actor, &name, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(backup(view))))
}

/// One backup.
#[utoipa::path(
    get, path = "/api/v1/backups/{id}", tag = "backups", params(("id" = i64, Path, description = "The backup")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The backup", body = Backup),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Backup>, ApiError> {
    Ok(Json(backup(state.farm.backup(&actor, id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    /// The id of one of this wiki's verified backups.
    backup: i64,
}

/// Restores the wiki to one of its backups, in the background (its owner or an admin): the
/// wiki is read-only meanwhile; its database, uploaded files and settings become the
/// backup's. Poll `/api/v1/restores/{id}`.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/restore", tag = "backups", request_body = RestoreBody,
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The restore, queued", body = Restore),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is not active; `restore_running`", body = ErrorBody),
        (status = 422, description = "`backup_unknown`, `backup_other_wiki`, `backup_unusable` (not verified, or pruned)", body = ErrorBody),
    )
)]
async fn restore(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<(StatusCode, Json<Restore>), ApiError> {
    let view = state.farm.request_restore(&actor, &name, body.backup, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(restore_resource(view))))
}

/// One restore's progress.
#[utoipa::path(
    get, path = "/api/v1/restores/{id}", tag = "backups", params(("id" = i64, Path, description = "The restore")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The restore", body = Restore),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn read_restore(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Restore>, ApiError> {
    Ok(Json(restore_resource(state.farm.restore_status(&actor, id).await?)))
}
