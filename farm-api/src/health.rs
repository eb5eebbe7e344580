//! `GET /healthz`: 200 once the farm is ready to create and serve wikis, 503 before.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let health = state.farm.health().await;
    let readiness = &health.readiness;
    let status = if health.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if health.ready { "ok" } else { "starting" },
        "mediawiki_version": health.mediawiki_version,
        "checks": {
            "control_store": health.control_store,
            "template": readiness.template,
            "pipeline": readiness.pipeline,
            "php_servers": { "ready": readiness.php_servers_ready, "wanted": readiness.php_servers_wanted },
        },
        // Mail does not decide readiness (a farm works without it), but operators should see it.
        "details": {
            "mail": if health.mail_on { "on" } else { "off: no [smtp] configured" },
            "mail_queued": health.mail_queued,
            "policy": health.policy,
        },
    });
    (status, Json(body))
}
