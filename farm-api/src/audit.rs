//! `GET /api/v1/audit`: who did what, to which target, when and from where (admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use farm_core::store::{AuditFilter, AuditRecord};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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

fn time_param(field: &'static str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map(|t| t.unix_timestamp()).map_err(|_| ApiError::Request {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_time",
                message: format!("{field} must be an RFC 3339 time such as 2026-01-31T12:00:00Z"),
            })
        })
        .transpose()
}

fn text_param(value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.len() > 200 => Err(ApiError::Request {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_query",
            message: "filter values have at most 200 characters".into(),
        }),
        _ => Ok(()),
    }
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    if !actor.is_admin() {
        return Err(ApiError::Farm(farm_core::FarmError::Forbidden("only admins read the audit log")));
    }
    let limit = crate::page_limit(params.limit)?;
    for value in [&params.actor, &params.action, &params.target] {
        text_param(value)?;
    }
    let filter = AuditFilter {
        actor: params.actor.as_deref(),
        action: params.action.as_deref(),
        target: params.target.as_deref(),
        since: time_param("since", params.since.as_deref())?,
        until: time_param("until", params.until.as_deref())?,
        before_id: crate::parse_cursor(params.cursor.as_deref())?,
        limit: limit + 1,
    };
    let mut entries = state.farm.store.audit_entries(&filter).await?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(AuditList { entries, next_cursor }))
}
