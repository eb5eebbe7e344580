//! `/api/v1/wikis/{name}/managers`: the accounts a wiki's owner named to change its settings
//! too. Everyone who sees the wiki lists them; its owner or an admin adds and removes them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use farm_core::app::ManagerView;
use farm_core::platform::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add)).routes(routes!(remove))
}

#[derive(Serialize, ToSchema)]
struct Manager {
    username: String,
    /// Who named them (the owner or an admin).
    added_by: String,
    added_at: String,
}

#[derive(Serialize, ToSchema)]
struct ManagerList {
    managers: Vec<Manager>,
}

fn list_of(views: Vec<ManagerView>) -> ManagerList {
    ManagerList {
        managers: views
            .into_iter()
            .map(|view| Manager { username: view.username, added_by: view.added_by, added_at: rfc3339(view.added_at) })
            .collect(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddBody {
    /// The user name of a confirmed farm account other than the owner.
    username: String,
}

/// The wiki's managers, by name.
#[utoipa::path(
    get, path = "/api/v1/wikis/{name}/managers", tag = "wikis",
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The managers", body = ManagerList),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ManagerList>, ApiError> {
    Ok(Json(list_of(state.farm.managers(&actor, &name).await?)))
}

/// Names an account a manager of the wiki (its owner or an admin): it may then see the wiki
/// and change its settings. Audited; the account gets a mail. Adding a manager twice is a
/// `409 conflict`.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/managers", tag = "wikis", request_body = AddBody,
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The managers now", body = ManagerList),
        (status = 403, description = "`forbidden`: only the owner or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: already a manager, or the wiki is being deleted", body = ErrorBody),
        (status = 422, description = "`manager_unknown`, `manager_is_owner`, `manager_unconfirmed`", body = ErrorBody),
    )
)]
async fn add(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<(StatusCode, Json<ManagerList>), ApiError> {
    let managers = state.farm.add_manager(&actor, &name, &body.username, &source).await?;
    Ok((StatusCode::CREATED, Json(list_of(managers))))
}

/// Removes a manager of the wiki (its owner or an admin). Audited; the account gets a mail.
#[utoipa::path(
    delete, path = "/api/v1/wikis/{name}/managers/{username}", tag = "wikis",
    params(
        ("name" = String, Path, description = "The wiki's name"),
        ("username" = String, Path, description = "The manager's user name"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The managers now", body = ManagerList),
        (status = 403, description = "`forbidden`: only the owner or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such wiki, or no such manager of it", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is being deleted", body = ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath((name, username)): ApiPath<(String, String)>,
) -> Result<Json<ManagerList>, ApiError> {
    Ok(Json(list_of(state.farm.remove_manager(&actor, &name, &username, &source).await?)))
}
