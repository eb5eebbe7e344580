//! `/api/v1/wiki-requests`: asking for a wiki in a farm that reviews requests.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use farm_core::app::requests::{Decision, RequestInput, RequestView};
use farm_core::domain::RequestState;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/wiki-requests", post(submit).get(list))
        .route("/api/v1/wiki-requests/{id}", get(read).patch(edit))
        .route("/api/v1/wiki-requests/{id}/comments", post(comment))
        .route("/api/v1/wiki-requests/{id}/review", post(review))
        .route("/api/v1/wiki-requests/{id}/withdraw", post(withdraw))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    name: String,
    sitename: String,
    language: Option<String>,
    purpose: String,
    reason: String,
}

/// An edit: the fields given replace the request's; the others stay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    name: Option<String>,
    sitename: Option<String>,
    language: Option<String>,
    purpose: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    comment: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    /// `approve`, `decline` or `needs-more-info`.
    decision: String,
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    state: Option<String>,
    /// Reviewers and admins: one requester's requests.
    requester: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct RequestList {
    requests: Vec<RequestView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Request ids in paths: a positive number, else "not found".
fn request_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ApiError::Farm(farm_core::FarmError::NotFound("request")))
}

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
    };
    Ok((StatusCode::CREATED, Json(state.farm.submit_request(&actor, input, &source).await?)))
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<RequestList>, ApiError> {
    let request_state = match params.state.as_deref() {
        None => None,
        Some(s) => Some(RequestState::parse(s).ok_or_else(|| ApiError::Request {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_state",
            message: "state must be one of pending, needs-more-info, approved, declined, withdrawn".into(),
        })?),
    };
    let page = state
        .farm
        .list_requests(&actor, params.requester.as_deref(), request_state, params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(RequestList { requests: page.items, next_cursor: page.next_after.map(|id| id.to_string()) }))
}

async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.farm.get_request(&actor, request_id(&id)?).await?))
}

async fn edit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EditBody>,
) -> Result<Json<RequestView>, ApiError> {
    let id = request_id(&id)?;
    let current = state.farm.get_request(&actor, id).await?;
    let input = RequestInput {
        name: body.name.unwrap_or(current.name),
        sitename: body.sitename.unwrap_or(current.sitename),
        language: Some(body.language.unwrap_or(current.language)),
        purpose: body.purpose.unwrap_or(current.purpose),
        reason: body.reason.unwrap_or(current.reason),
    };
    Ok(Json(state.farm.edit_request(&actor, id, input, &source).await?))
}

async fn comment(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CommentBody>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.farm.comment_on_request(&actor, request_id(&id)?, &body.comment, &source).await?))
}

async fn review(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<Json<RequestView>, ApiError> {
    let id = request_id(&id)?;
    let decision = Decision::parse(&body.decision).ok_or_else(|| {
        ApiError::Farm(farm_core::FarmError::invalid(
            "decision",
            "decision_unknown",
            "decision must be approve, decline or needs-more-info".into(),
        ))
    })?;
    Ok(Json(state.farm.review_request(&actor, id, decision, body.comment.as_deref(), &source).await?))
}

async fn withdraw(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.farm.withdraw_request(&actor, request_id(&id)?, &source).await?))
}
