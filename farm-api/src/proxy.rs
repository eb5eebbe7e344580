//! Requests for `{name}.{base_domain}` go to MediaWiki: this forwards them, Host header and
//! all, to the least busy PHP server. Everything else is the API's and the portal's.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::AppState;

pub type HttpClient = Client<HttpConnector, Body>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build_http()
}

/// How long MediaWiki may take to answer (a cold first request, a big edit).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// Hop-by-hop headers (RFC 9110, section 7.6.1) are for one connection, not for the next hop.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Middleware in front of everything: wiki hosts go to PHP, other hosts on to `next`.
pub async fn route_by_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| request.uri().host());
    let is_wiki_host = host.is_some_and(|h| state.farm.urls.wiki_label_of_host(&h.to_ascii_lowercase()).is_some());
    if is_wiki_host {
        forward(&state, request).await
    } else {
        next.run(request).await
    }
}

async fn forward(state: &AppState, mut request: Request) -> Response {
    let Some(servers) = state.farm.php_servers() else {
        return unavailable("This farm does not serve wikis itself.");
    };
    let Some(lease) = servers.lease() else {
        return unavailable("The wiki servers are starting. Try again in a moment.");
    };
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = Uri::try_from(format!("http://{}{}", lease.addr, path_and_query)) else {
        return (StatusCode::BAD_REQUEST, "bad request target").into_response();
    };
    *request.uri_mut() = uri;
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let headers = request.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    // MediaWiki trusts X-Forwarded-For from the loopback proxy: set it, never pass on a
    // client's own claim.
    headers.remove("x-forwarded-for");
    if let Some(ip) = peer.and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok()) {
        headers.insert("x-forwarded-for", ip);
    }
    let response = tokio::time::timeout(UPSTREAM_TIMEOUT, state.http.request(request)).await;
    drop(lease);
    match response {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "MediaWiki did not answer");
            bad_gateway()
        }
        Err(_) => {
            tracing::warn!("MediaWiki took too long to answer");
            bad_gateway()
        }
    }
}

fn unavailable(message: &'static str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "2")], Html(page(message))).into_response()
}

fn bad_gateway() -> Response {
    (StatusCode::BAD_GATEWAY, Html(page("The wiki could not answer just now. Try again in a moment."))).into_response()
}

fn page(message: &str) -> String {
    format!("<!doctype html><meta charset=utf-8><title>Wiki unavailable</title><p>{message}</p>\n")
}
