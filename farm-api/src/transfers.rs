//! `/api/v1/wikis/{name}/transfer` and `/api/v1/transfers`: handing a wiki to another account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use farm_core::app::transfers::TransferView;
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
        .routes(routes!(offer))
        .routes(routes!(list))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(cancel))
}

#[derive(Serialize, ToSchema)]
struct Transfer {
    id: i64,
    wiki: String,
    from: String,
    to: String,
    /// `pending`, `accepted`, `declined` or `cancelled`.
    state: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_at: Option<String>,
}

fn resource(view: TransferView) -> Transfer {
    Transfer {
        id: view.id,
        wiki: view.wiki,
        from: view.from,
        to: view.to,
        state: view.state,
        created_at: rfc3339(view.created_at),
        decided_at: view.decided_at.map(rfc3339),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OfferBody {
    /// The user name of the farm account that is to own the wiki.
    to: String,
}

/// Offers the wiki to another account (its owner or an admin); ownership moves when the
/// recipient accepts. A new offer replaces one still pending.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/transfer", tag = "wikis", request_body = OfferBody,
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The offer, pending", body = Transfer),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is not served", body = ErrorBody),
        (status = 422, description = "`recipient_unknown`, `recipient_is_owner`", body = ErrorBody),
    )
)]
async fn offer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<OfferBody>,
) -> Result<(StatusCode, Json<Transfer>), ApiError> {
    let view = state.farm.offer_transfer(&actor, &name, &body.to, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(resource(view))))
}

#[derive(Serialize, ToSchema)]
struct TransferList {
    transfers: Vec<Transfer>,
}

/// Pending transfers to and from the caller.
#[utoipa::path(
    get, path = "/api/v1/transfers", tag = "wikis",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Pending transfers", body = TransferList))
)]
async fn list(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<TransferList>, ApiError> {
    let transfers = state.farm.my_transfers(&actor).await?.into_iter().map(resource).collect();
    Ok(Json(TransferList { transfers }))
}

/// The recipient accepts: the wiki is theirs from now on.
#[utoipa::path(
    post, path = "/api/v1/transfers/{id}/accept", tag = "wikis", params(("id" = i64, Path, description = "The transfer")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The transfer, accepted", body = Transfer),
        (status = 403, description = "`forbidden`: only the recipient; `quota_exceeded`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: no longer pending, or the wiki changed", body = ErrorBody),
    )
)]
async fn accept(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Transfer>, ApiError> {
    Ok(Json(resource(state.farm.decide_transfer(&actor, id, Some(true), &source).await?)))
}

/// The recipient declines.
#[utoipa::path(
    post, path = "/api/v1/transfers/{id}/decline", tag = "wikis", params(("id" = i64, Path, description = "The transfer")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The transfer, declined", body = Transfer),
        (status = 403, description = "`forbidden`: only the recipient", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: no longer pending", body = ErrorBody),
    )
)]
async fn decline(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Transfer>, ApiError> {
    Ok(Json(resource(state.farm.decide_transfer(&actor, id, Some(false), &source).await?)))
}

/// The offerer (or an admin) takes the offer back.
#[utoipa::path(
    post, path = "/api/v1/transfers/{id}/cancel", tag = "wikis", params(("id" = i64, Path, description = "The transfer")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The transfer, cancelled", body = Transfer),
        (status = 403, description = "`forbidden`: only the offerer or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: no longer pending", body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Transfer>, ApiError> {
    Ok(Json(resource(state.farm.decide_transfer(&actor, id, None, &source).await?)))
}
