//! Requests for `{name}.{base_domain}` go to MediaWiki: this forwards them, Host header and
//! all, to the least busy PHP server. Everything else is the API's and the portal's.
//!
//! Requests no wiki can serve (methods MediaWiki does not use, `OPTIONS *`, `CONNECT`,
//! absolute-form targets, bodies that break off) are answered here with a 4xx, cheaply and
//! without an error in the log: anyone can send them by the thousand. A GET or HEAD whose PHP
//! server fails before answering is tried once more on another one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use farm_core::mediawiki::php::ServerLease;
use farm_core::platform::throttle::LogThrottle;
use farm_core::Farm;

use crate::cache::ReadCache;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Body>;

/// The proxy's state: the farm (which host is a wiki's, which PHP servers answer) and a
/// client with a pool of connections to those servers.
#[derive(Clone)]
pub struct WikiProxy {
    farm: Arc<Farm>,
    http: HttpClient,
    /// Anonymous page views, purged by MediaWiki on edits (`[cache] builtin`).
    cache: Option<Arc<ReadCache>>,
}

impl WikiProxy {
    pub fn new(farm: Arc<Farm>) -> Self {
        let http = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build_http();
        let cache = ReadCache::new(farm.clone()).map(Arc::new);
        Self { farm, http, cache }
    }
}

/// MediaWiki's purge of a page from its caches (`$wgCdnServers`).
const PURGE: &str = "PURGE";

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

/// The methods MediaWiki's entry points answer (rest.php uses the last three).
const WIKI_METHODS: &[Method] =
    &[Method::GET, Method::HEAD, Method::POST, Method::OPTIONS, Method::PUT, Method::DELETE, Method::PATCH];
const ALLOW: &str = "GET, HEAD, POST, OPTIONS, PUT, DELETE, PATCH";

/// PHP servers failing or too slow: worth a line, not a line per request.
static UPSTREAM_FAILURES: LogThrottle = LogThrottle::new(5);
/// Clients whose bodies break off: their doing, so debug, and throttled even so.
static CLIENT_FAILURES: LogThrottle = LogThrottle::new(5);

/// Middleware in front of everything: wiki hosts go to PHP, other hosts on to `next`.
pub async fn route_by_host(State(state): State<WikiProxy>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| request.uri().host());
    let label = host.and_then(|h| state.farm.urls().wiki_label_of_host(&h.to_ascii_lowercase()).map(str::to_owned));
    match label {
        Some(label) => forward(&state, &label, request).await,
        None => next.run(request).await,
    }
}

/// A 4xx for requests that are not for a wiki at all.
fn refuse(request: &Request) -> Option<Response> {
    if !WIKI_METHODS.contains(request.method()) {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        return Some(response);
    }
    let uri = request.uri();
    // Absolute-form (`GET http://host/ HTTP/1.1`) is for proxies; asterisk-form (`OPTIONS *`)
    // asks the server, not a wiki.
    if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
        return Some(plain(StatusCode::BAD_REQUEST, "Bad request target\n"));
    }
    None
}

/// `label`: the wiki's name in the host; its codebase's PHP servers answer.
async fn forward(state: &WikiProxy, label: &str, request: Request) -> Response {
    if let (Some(cache), PURGE) = (&state.cache, request.method().as_str()) {
        return cache.purge(&request.into_parts().0);
    }
    if let Some(refusal) = refuse(&request) {
        return refusal;
    }
    let (mut parts, body) = request.into_parts();
    // Looked up before PHP is asked (a stored page does not need a server that is up).
    let lookup = state.cache.as_ref().and_then(|cache| cache.classify(&parts));
    if let (Some(cache), Some(lookup)) = (&state.cache, &lookup) {
        if let Some(hit) = cache.answer(lookup) {
            return hit;
        }
    }
    let Some(servers) = state.farm.php_servers_for(label) else {
        return unavailable("This farm does not serve wikis itself.");
    };
    prepare_headers(&mut parts);
    // Only a request that carries nothing but its head can be sent twice.
    let repeatable = matches!(parts.method, Method::GET | Method::HEAD) && hyper::body::Body::is_end_stream(&body);
    let body_failed = Arc::new(AtomicBool::new(false));
    let flag = body_failed.clone();
    let mut body = Some(Body::new(body.map_err(move |err| {
        flag.store(true, Ordering::Relaxed);
        err
    })));
    let mut tried: Option<usize> = None;
    loop {
        let Some(lease) = servers.lease(tried) else {
            return unavailable("The wiki servers are starting. Try again in a moment.");
        };
        let Some(upstream) = upstream_request(&parts, &lease, body.take().unwrap_or_else(Body::empty)) else {
            return plain(StatusCode::BAD_REQUEST, "Bad request target\n");
        };
        let answer = tokio::time::timeout(UPSTREAM_TIMEOUT, state.http.request(upstream)).await;
        match answer {
            Ok(Ok(response)) => {
                drop(lease);
                let (mut head, body) = response.into_parts();
                for name in HOP_BY_HOP {
                    head.headers.remove(name);
                }
                head.headers.remove("x-powered-by");
                return match (&state.cache, lookup) {
                    (Some(cache), Some(lookup)) => cache.store(lookup, head, Body::new(body), UPSTREAM_TIMEOUT).await,
                    (Some(cache), None) => cache.pass(head, Body::new(body)),
                    (None, _) => Response::from_parts(head, Body::new(body)),
                };
            }
            Ok(Err(_)) if body_failed.load(Ordering::Relaxed) => {
                if let Some(suppressed) = CLIENT_FAILURES.allow() {
                    tracing::debug!(suppressed, "a request body to a wiki broke off or was malformed");
                }
                return plain(StatusCode::BAD_REQUEST, "The request body could not be read\n");
            }
            Ok(Err(err)) => {
                lease.failed();
                if repeatable && tried.is_none() {
                    tried = Some(lease.index());
                    continue;
                }
                if let Some(suppressed) = UPSTREAM_FAILURES.allow() {
                    tracing::warn!(error = %err, server = lease.index(), suppressed, "MediaWiki did not answer");
                }
                return bad_gateway();
            }
            Err(_) => {
                if let Some(suppressed) = UPSTREAM_FAILURES.allow() {
                    tracing::warn!(
                        server = lease.index(),
                        suppressed,
                        "MediaWiki took longer than {} s to answer",
                        UPSTREAM_TIMEOUT.as_secs()
                    );
                }
                return (StatusCode::GATEWAY_TIMEOUT, Html(page("The wiki took too long to answer."))).into_response();
            }
        }
    }
}

/// Hop-by-hop headers off; `X-Forwarded-For` set to the peer (MediaWiki trusts it from the
/// loopback proxy, so a client's own claim never passes).
fn prepare_headers(parts: &mut Parts) {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let headers = &mut parts.headers;
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("x-forwarded-for");
    if let Some(ip) = peer.and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok()) {
        headers.insert("x-forwarded-for", ip);
    }
}

fn upstream_request(parts: &Parts, lease: &ServerLease, body: Body) -> Option<axum::http::Request<Body>> {
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = Uri::try_from(format!("http://{}{}", lease.addr, path_and_query)).ok()?;
    let mut request = axum::http::Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    Some(request)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
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
