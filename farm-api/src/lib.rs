//! farmd's HTTP layer. It parses requests into domain calls on [`farm_core::Farm`] and turns
//! the answers into JSON; no rule about wikis lives here.

mod accounts;
mod audit;
mod error;
mod extract;
mod health;
mod metrics;
mod proxy;
mod request_id;
mod requests;
mod server;
mod servers;
mod wikis;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::{middleware, Router};
use farm_core::Farm;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

/// A batch of a thousand wikis fits comfortably.
const BULK_BODY_LIMIT: usize = 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub farm: Arc<Farm>,
    http: proxy::HttpClient,
}

impl AppState {
    pub fn new(farm: Arc<Farm>) -> Self {
        Self { farm, http: proxy::client() }
    }
}

impl axum::extract::FromRef<AppState> for Arc<Farm> {
    fn from_ref(state: &AppState) -> Self {
        state.farm.clone()
    }
}

/// The whole application: wiki hosts to MediaWiki, everything else to the API and portal.
pub fn build_router(state: AppState) -> Router {
    let api = Router::new()
        .merge(wikis::router())
        .merge(servers::router())
        .merge(accounts::router())
        .merge(requests::router())
        .merge(audit::router())
        .layer(DefaultBodyLimit::max(state.farm.config.max_body_bytes))
        .merge(wikis::bulk_router().layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
        // A browser page of another origin (a wiki's script, above all) changes nothing through
        // the API, cookie or not; programs with a bearer token send neither header checked.
        .layer(middleware::from_fn_with_state(state.clone(), own_origin_only))
        .merge(health::router())
        .merge(metrics::router())
        .merge(farm_web::router())
        .layer(middleware::from_fn(farm_web::security::clear_tossed_cookies))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::Request {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this resource does not support that method".into(),
            }
        })
        .with_state(state.clone());
    // The host check wraps a router that has only a fallback, so it sees every request.
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn_with_state(state, proxy::route_by_host))
        // Values from the client are logged quoted (`?`), so none can forge a line. Failures
        // (5xx) are logged where they happen, with context and throttled, not once more here.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request_id::of(request);
                    tracing::info_span!("request", method = ?request.method(), uri = ?request.uri().path(), request_id = ?id)
                })
                .on_failure(()),
        )
        .layer(middleware::from_fn(request_id::set))
}

async fn own_origin_only(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let allowed = |r: &axum::extract::Request| {
        !farm_web::security::changes_state(r.method()) || farm_web::security::from_own_origin(r.headers(), &state.farm)
    };
    if allowed(&request) {
        next.run(request).await
    } else {
        extract::csrf_failed().into_response()
    }
}

/// `limit` of a list call: 1 to 500, 50 when absent.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(farm_core::app::DEFAULT_PAGE_SIZE);
    if limit == 0 || limit > farm_core::app::MAX_PAGE_SIZE {
        return Err(ApiError::Farm(farm_core::FarmError::invalid(
            "limit",
            "limit_out_of_range",
            format!("limit must be between 1 and {}", farm_core::app::MAX_PAGE_SIZE),
        )));
    }
    Ok(limit)
}

/// `cursor` of a list call: the `next_cursor` of the previous page (an id).
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|id| *id >= 0).ok_or_else(|| ApiError::Request {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_cursor",
                message: "cursor must be the next_cursor of a previous page".into(),
            })
        })
        .transpose()
}

/// Serves until `shutdown` completes, then stops accepting and finishes open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.farm.config.http.clone();
    server::serve(listener, build_router(state), limits, shutdown).await
}
