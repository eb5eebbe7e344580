//! `GET /healthz`: 200 once the farm is ready to create and serve wikis, 503 before.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::OperatorView;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Serialize, ToSchema)]
struct HealthBody {
    /// `ok` or `starting`.
    status: &'static str,
    /// The rest is for the operator (see `[operator]`): everyone by default, else the
    /// operator's listener or an admin's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    mediawiki_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Checks>,
    /// What operators should see but does not decide readiness (a farm works without mail).
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
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

/// Whether the farm can create and serve wikis (no token needed for the status; the checks and
/// details as `[operator] metrics` says).
#[utoipa::path(
    get, path = "/healthz", tag = "farm",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "Starting: the checks say what is missing", body = HealthBody),
    )
)]
async fn health(State(state): State<AppState>, OperatorView(operator): OperatorView) -> (StatusCode, Json<HealthBody>) {
    let health = state.farm.health().await;
    let readiness = &health.readiness;
    let status = if health.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let status_word = if health.ready { "ok" } else { "starting" };
    if !operator {
        return (
            status,
            Json(HealthBody { status: status_word, mediawiki_version: None, checks: None, details: None }),
        );
    }
    let body = HealthBody {
        status: status_word,
        mediawiki_version: Some(health.mediawiki_version.clone()),
        checks: Some(Checks {
            control_store: health.control_store,
            template: readiness.template,
            pipeline: readiness.pipeline,
            php_servers: PhpServers { ready: readiness.php_servers_ready, wanted: readiness.php_servers_wanted },
        }),
        details: Some(Details {
            mail: if health.mail_on { "on" } else { "off: no [smtp] configured" },
            mail_queued: health.mail_queued,
            policy: health.policy.as_str(),
        }),
    };
    (status, Json(body))
}
