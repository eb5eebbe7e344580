//! `GET /api/v1/audit`: who did what, to which target, when and from where (admins).

use axum::extract::State;
use axum::Json;
use farm_core::app::admin::AuditQuery;
use farm_core::store::AuditRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, Caller};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Only this actor's entries (a user name, or `system`, `cli`).
    actor: Option<String>,
    /// Only this action, e.g. `wiki.create`.
    action: Option<String>,
    /// `kind:id`, e.g. `wiki:my-wiki`, `account:alice`, `request:3`.
    target: Option<String>,
    /// RFC 3339 times: entries at or after `since`, before `until`.
    since: Option<String>,
    until: Option<String>,
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct AuditList {
    /// Newest first.
    entries: Vec<AuditRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Who did what to which target, when and from where, newest first (admins).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "farm", params(AuditParams), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of entries", body = AuditList),
        (status = 400, description = "`invalid_query`, `invalid_time`, `invalid_cursor`", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
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
