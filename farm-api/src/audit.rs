//! `GET /api/v1/audit`: who did what, to which target, when and from where (admins).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use farm_core::app::admin::AuditQuery;
use farm_core::store::AuditRecord;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    /// `kind:id`, e.g. `wiki:my-wiki`, `account:alice`, `request:3`.
    target: Option<String>,
    /// RFC 3339 times: entries at or after `since`, before `until`.
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct AuditList {
    /// Newest first.
    entries: Vec<AuditRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let query = AuditQuery {
        actor: params.actor.as_deref(),
        action: params.action.as_deref(),
        target: params.target.as_deref(),
        since: params.since.as_deref(),
        until: params.until.as_deref(),
        before: params.cursor.as_deref(),
        limit: params.limit,
    };
    let page = state.farm.audit_log(&actor, &query).await?;
    Ok(Json(AuditList { entries: page.items, next_cursor: page.next_after.map(|id| id.to_string()) }))
}
