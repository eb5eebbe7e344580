//! `/api/v1/wiki-requests`: asking for a wiki in a farm that reviews requests.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use farm_core::app::requests::{Decision, RequestEdit, RequestInput, RequestView};
use farm_core::domain::RequestState;
use farm_core::FarmError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit, list))
        .routes(routes!(read, edit))
        .routes(routes!(comment))
        .routes(routes!(review))
        .routes(routes!(withdraw))
}

/// A request for a wiki.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    name: String,
    sitename: String,
    language: Option<String>,
    /// What the wiki is for.
    purpose: String,
    /// Why this farm.
    reason: String,
    /// The starter the wiki begins with once approved (`GET /api/v1/starters`).
    starter: Option<String>,
}

/// An edit: the fields given replace the request's; the others stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EditBody {
    name: Option<String>,
    sitename: Option<String>,
    language: Option<String>,
    purpose: Option<String>,
    reason: Option<String>,
    starter: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    comment: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    /// `approve`, `decline` or `needs-more-info`.
    decision: String,
    /// Required to decline or to ask for details.
    comment: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only requests in this state.
    state: Option<String>,
    /// Reviewers and admins: one requester's requests.
    requester: Option<String>,
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RequestList {
    requests: Vec<RequestView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Request ids in paths: a positive number, else "not found".
fn request_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ApiError::Farm(FarmError::NotFound("request")))
}

/// Asks for a wiki (farms whose policy is `review`).
#[utoipa::path(
    post, path = "/api/v1/wiki-requests", tag = "requests", request_body = RequestBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The request, pending", body = RequestView),
        (status = 403, description = "`requests_off`, `email_unconfirmed`, `quota_exceeded`", body = ErrorBody),
        (status = 409, description = "`name_taken`, `request_exists`", body = ErrorBody),
        (status = 422, description = "the name and sitename rules of a new wiki, `language_unknown`, `text_empty`, `text_too_long`, `text_control_characters`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
async fn submit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiJson(body): ApiJson<RequestBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let input = RequestInput {
        name: body.name,
        sitename: body.sitename,
        language: body.language,
        purpose: body.purpose,
        reason: body.reason,
        starter: body.starter,
    };
    Ok((StatusCode::CREATED, Json(state.farm.submit_request(&actor, input, &source).await?)))
}

/// Requests, a page at a time: members see their own, reviewers and admins all.
#[utoipa::path(
    get, path = "/api/v1/wiki-requests", tag = "requests", params(ListParams),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of requests", body = RequestList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_state`", body = ErrorBody),
        (status = 403, description = "`forbidden`: members do not filter by requester", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<RequestList>, ApiError> {
    let request_state = match params.state.as_deref() {
        None => None,
        Some(s) => Some(RequestState::parse(s).ok_or_else(|| {
            FarmError::bad_request(
                "invalid_state",
                "state must be one of pending, needs-more-info, approved, declined, withdrawn",
            )
        })?),
    };
    let page = state
        .farm
        .list_requests(&actor, params.requester.as_deref(), request_state, params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(RequestList { requests: page.items, next_cursor: page.next_after.map(|id| id.to_string()) }))
}

/// One request with its history.
#[utoipa::path(
    get, path = "/api/v1/wiki-requests/{id}", tag = "requests", params(("id" = String, Path, description = "The request's id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.farm.get_request(&actor, request_id(&id)?).await?))
}

/// The requester changes an open request.
#[utoipa::path(
    patch, path = "/api/v1/wiki-requests/{id}", tag = "requests", request_body = EditBody,
    params(("id" = String, Path, description = "The request's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 403, description = "`forbidden`: only the requester edits", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the request is closed; `name_taken`, `request_exists`", body = ErrorBody),
        (status = 422, description = "the rules of a new request", body = ErrorBody),
    )
)]
async fn edit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EditBody>,
) -> Result<Json<RequestView>, ApiError> {
    let edit = RequestEdit {
        name: body.name,
        sitename: body.sitename,
        language: body.language,
        purpose: body.purpose,
        reason: body.reason,
        starter: body.starter,
    };
    Ok(Json(state.farm.edit_request(&actor, request_id(&id)?, edit, &source).await?))
}

/// A comment; the requester's comment on a request that needs details is the answer.
#[utoipa::path(
    post, path = "/api/v1/wiki-requests/{id}/comments", tag = "requests", request_body = CommentBody,
    params(("id" = String, Path, description = "The request's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the request changed meanwhile", body = ErrorBody),
        (status = 422, description = "`text_empty`, `text_too_long`, `text_control_characters`", body = ErrorBody),
    )
)]
async fn comment(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CommentBody>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.farm.comment_on_request(&actor, request_id(&id)?, &body.comment, &source).await?))
}

/// A reviewer decides: approval builds the wiki for the requester.
#[utoipa::path(
    post, path = "/api/v1/wiki-requests/{id}/review", tag = "requests", request_body = ReviewBody,
    params(("id" = String, Path, description = "The request's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 403, description = "`forbidden`: reviewers and admins only", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not open (or not pending, to ask for details), or changed meanwhile; `name_taken`", body = ErrorBody),
        (status = 422, description = "`decision_unknown`, `comment_required`, `text_too_long`, `text_control_characters`", body = ErrorBody),
        (status = 503, description = "`unavailable`: no database server takes new wikis", body = ErrorBody),
    )
)]
async fn review(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<Json<RequestView>, ApiError> {
    let id = request_id(&id)?;
    let decision = Decision::parse(&body.decision).ok_or_else(|| {
        FarmError::invalid(
            "decision",
            "decision_unknown",
            "decision must be approve, decline or needs-more-info".into(),
        )
    })?;
    Ok(Json(state.farm.review_request(&actor, id, decision, body.comment.as_deref(), &source).await?))
}

/// The requester withdraws an open request.
#[utoipa::path(
    post, path = "/api/v1/wiki-requests/{id}/withdraw", tag = "requests",
    params(("id" = String, Path, description = "The request's id")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 403, description = "`forbidden`: only the requester withdraws", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the request is closed", body = ErrorBody),
    )
)]
async fn withdraw(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.farm.withdraw_request(&actor, request_id(&id)?, &source).await?))
}
