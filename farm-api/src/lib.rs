//! farmd's JSON API: it parses requests into calls on [`farm_core::Farm`] and turns the answers
//! into JSON, with one error shape; no rule about wikis lives here.

mod accounts;
mod audit;
mod error;
mod extract;
mod health;
mod metrics;
mod requests;
mod servers;
mod wikis;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::{middleware, Router};
use farm_core::Farm;

pub use error::ApiError;

/// A batch of a thousand wikis fits comfortably.
const BULK_BODY_LIMIT: usize = 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub farm: Arc<Farm>,
}

/// The API's routes under `/api/v1`, `/healthz` and `/metrics`, with the JSON answers for
/// unknown paths and methods (they are the fallbacks of whatever router this is merged into).
pub fn router(farm: Arc<Farm>) -> Router {
    let state = AppState { farm };
    Router::new()
        .merge(wikis::router())
        .merge(servers::router())
        .merge(accounts::router())
        .merge(requests::router())
        .merge(audit::router())
        .layer(DefaultBodyLimit::max(state.farm.config().max_body_bytes))
        .merge(wikis::bulk_router().layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
        // A browser page of another origin (a wiki's script, above all) changes nothing through
        // the API, cookie or not; programs with a bearer token send neither header checked.
        .layer(middleware::from_fn_with_state(state.clone(), own_origin_only))
        .merge(health::router())
        .merge(metrics::router())
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::Request {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this resource does not support that method".into(),
            }
        })
        .with_state(state)
}

async fn own_origin_only(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let allowed = |r: &axum::extract::Request| {
        !farm_http::security::changes_state(r.method())
            || farm_http::security::from_own_origin(r.headers(), &state.farm)
    };
    if allowed(&request) {
        next.run(request).await
    } else {
        extract::csrf_failed().into_response()
    }
}
