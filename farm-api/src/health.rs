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
    let readiness = state.farm.readiness();
    let store_ok = state.farm.store.ping().await.is_ok();
    let ready = readiness.is_ready() && store_ok;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ok" } else { "starting" },
        "mediawiki_version": state.farm.codebase.version,
        "checks": {
            "control_store": store_ok,
            "template": readiness.template,
            "pipeline": readiness.pipeline,
            "php_servers": { "ready": readiness.php_servers_ready, "wanted": readiness.php_servers_wanted },
        },
        // Mail does not decide readiness (a farm works without it), but operators should see it.
        "details": {
            "mail": if state.farm.mailer.is_on() { "on" } else { "off: no [smtp] configured" },
            "mail_queued": state.farm.store.unsent_mail_count().await.ok(),
            "policy": state.farm.config.policy,
        },
    });
    (status, Json(body))
}
