//! `GET /healthz`: 200 once the farm is ready to create and serve wikis, 503 before.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Serialize, ToSchema)]
struct HealthBody {
    /// `ok` or `starting`.
    status: &'static str,
    mediawiki_version: String,
    checks: Checks,
    /// What operators should see but does not decide readiness (a farm works without mail).
    details: Details,
}

#[derive(Serialize, ToSchema)]
struct Checks {
    control_store: bool,
    template: bool,
    pipeline: bool,
    php_servers: PhpServers,
}

#[derive(Serialize, ToSchema)]
struct PhpServers {
    ready: usize,
    wanted: usize,
}

#[derive(Serialize, ToSchema)]
struct Details {
    /// `on`, or why it is off.
    mail: &'static str,
    mail_queued: Option<i64>,
    /// `open`, `review` or `sandbox`.
    policy: &'static str,
}

/// Whether the farm can create and serve wikis (no token needed).
#[utoipa::path(
    get, path = "/healthz", tag = "farm",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "Starting: the checks say what is missing", body = HealthBody),
    )
)]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthBody>) {
    let health = state.farm.health().await;
    let readiness = &health.readiness;
    let status = if health.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = HealthBody {
        status: if health.ready { "ok" } else { "starting" },
        mediawiki_version: health.mediawiki_version.clone(),
        checks: Checks {
            control_store: health.control_store,
            template: readiness.template,
            pipeline: readiness.pipeline,
            php_servers: PhpServers { ready: readiness.php_servers_ready, wanted: readiness.php_servers_wanted },
        },
        details: Details {
            mail: if health.mail_on { "on" } else { "off: no [smtp] configured" },
            mail_queued: health.mail_queued,
            policy: health.policy.as_str(),
        },
    };
    (status, Json(body))
}
