//! farmd's read cache: anonymous page views of the wikis farmd serves itself, kept in memory
//! for as long as MediaWiki's `Cache-Control: s-maxage` allows and dropped when MediaWiki sends
//! a PURGE on an edit (`$wgUseCdn`, farm-cdn.php). What Varnish does in front of php-fpm
//! (deploy/varnish/farmd.vcl), with the same rules:
//!
//! - Only GET and HEAD without `Authorization` or `Range`, and without a cookie that says who
//!   the reader is (a wiki session, MediaWiki's `Token`/`UserID`/`UserName`/`LoggedOut`, the
//!   portal's sign-on hint `farm_signed_in`), are looked up; so is no browser navigation that
//!   the wiki has not yet checked against the portal (no `…FarmSignOnChecked` cookie): that one
//!   must reach PHP, which sends it through the silent sign-on (farm-sign-on.php).
//! - Only a 200 with `s-maxage`, without `private`/`no-store`/`no-cache`, `Set-Cookie`, or a
//!   `Vary` on anything but `Accept-Encoding` and `Cookie`, is stored; its variants are told
//!   apart by those two request headers, as `Vary` asks.
//! - Entries are keyed by the exact Host header and request target, and filled only from what
//!   PHP answered to that very request, so no wiki can put content under another's host.
//! - Nothing is kept across a change of how the wiki is served (a settings change, a read-only
//!   or restoring marker, a rename or deletion: [`Farm::served_wiki_stamp`]), which MediaWiki
//!   sends no purge for.
//! - PURGE (from loopback or `trusted_proxies`, never relayed by a proxy) drops every variant
//!   of one URL. A hostile wiki's PHP runs on loopback too and can purge other wikis' pages:
//!   that only costs them a render, since a purge never brings content in.
//!
//! The cache answers `X-Cache: HIT`, `MISS` (looked up, went to PHP) or `PASS` (not for the
//! cache), and sends clients MediaWiki's `s-maxage` only as `s-maxage=0`: no cache downstream
//! receives the purges, so none may keep the page.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::response;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use farm_core::platform::read_cache::ReadCacheStats;
use farm_core::Farm;

/// How long a purge is remembered: longer than PHP may take to answer (the proxy's time-out).
const PURGE_MEMORY: Duration = Duration::from_secs(300);

/// Most variants (Accept-Encoding × Cookie) kept of one URL; the oldest goes first.
const MAX_VARIANTS: usize = 8;

/// Cookies that make a page someone's own: MediaWiki's (`getVaryCookies` and the login cookies,
/// with the wiki's `$wgCookiePrefix`, `__Host-` over https) by their ending, and the portal's
/// sign-on hint by name.
const PERSONAL_COOKIE_ENDINGS: &[&str] =
    &["_session", "Token", "UserID", "UserName", "LoggedOut", "FarmSignOnState", "forceHTTPS"];
const SIGN_ON_HINT: &str = crate::security::SIGN_ON_HINT;
/// Set by a wiki once a browser went through the silent sign-on (farm-sign-on.php).
const SIGN_ON_CHECKED_ENDING: &str = "FarmSignOnChecked";

/// What a stored answer varies on: the request's Accept-Encoding and Cookie.
#[derive(Clone, PartialEq, Eq)]
struct VaryKey {
    accept_encoding: Option<HeaderValue>,
    cookie: Vec<HeaderValue>,
}

struct Stored {
    vary: VaryKey,
    /// The wiki's [`Farm::served_wiki_stamp`] when PHP was asked.
    stamp: SystemTime,
    stored: Instant,
    expires: Instant,
    head: response::Parts,
    body: Bytes,
}

impl Stored {
    fn weight(&self) -> usize {
        let headers: usize = self.head.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
        self.body.len() + headers + 128
    }
}

/// The variants of one URL, replaced whole on every store.
type Variants = Arc<Vec<Arc<Stored>>>;

/// A request the cache may answer: where its answer is kept.
pub struct Lookup {
    key: String,
    vary: VaryKey,
    stamp: SystemTime,
    head_only: bool,
    /// The URL's last purge when the request went to PHP: an answer fetched across a purge of
    /// its URL is not kept.
    generation: u64,
}

/// The cache and its counters (shared with `/metrics` through the farm).
pub struct ReadCache {
    entries: moka::sync::Cache<String, Variants>,
    /// Purges so far, and the count at each recently purged URL's last purge: an answer
    /// fetched while its URL was purged may predate the edit. Kept longer than PHP may take.
    generation: AtomicU64,
    purged: moka::sync::Cache<String, u64>,
    max_entry: usize,
    farm: Arc<Farm>,
}

impl ReadCache {
    /// The cache `[cache]` asks for, or none.
    pub fn new(farm: Arc<Farm>) -> Option<Self> {
        let config = &farm.config().cache;
        if !config.builtin {
            return None;
        }
        let bytes = config.builtin_max_mb.saturating_mul(1024 * 1024);
        let entries = moka::sync::Cache::builder()
            .max_capacity(bytes)
            .weigher(|key: &String, variants: &Variants| {
                let weight = key.len() + variants.iter().map(|v| v.weight()).sum::<usize>();
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .build();
        // One answer may take at most a sixteenth of the cache (a big page, not an upload).
        let max_entry = usize::try_from(bytes / 16).unwrap_or(usize::MAX);
        let purged = moka::sync::Cache::builder().max_capacity(100_000).time_to_live(PURGE_MEMORY).build();
        Some(Self { entries, generation: AtomicU64::new(0), purged, max_entry, farm })
    }

    fn stats(&self) -> &ReadCacheStats {
        self.farm.read_cache_stats()
    }

    /// Whether the request is one the cache may answer (else it passes to PHP).
    pub fn classify(&self, parts: &Parts) -> Option<Lookup> {
        // A wiki that is not served (deleted, renamed) passes: PHP answers for it.
        let lookup = cacheable_request(parts).and_then(|(key, vary)| {
            let label = key.split('\n').next().and_then(|host| self.farm.urls().wiki_label_of_host(host))?;
            let stamp = self.farm.served_wiki_stamp(label)?;
            Some(Lookup {
                generation: self.last_purge(&key),
                key,
                vary,
                stamp,
                head_only: parts.method == Method::HEAD,
            })
        });
        if lookup.is_none() {
            ReadCacheStats::count(&self.stats().passes);
        }
        lookup
    }

    /// A stored answer for the request, if one is fresh.
    pub fn answer(&self, lookup: &Lookup) -> Option<Response> {
        let variants = self.entries.get(&lookup.key)?;
        let now = Instant::now();
        // Nothing from before the wiki's settings, markers or address changed.
        let stored = variants.iter().find(|v| v.vary == lookup.vary && v.stamp == lookup.stamp && v.expires > now)?;
        ReadCacheStats::count(&self.stats().hits);
        let mut head = stored.head.clone();
        let age = now.duration_since(stored.stored).as_secs();
        head.headers.insert(header::AGE, HeaderValue::from(age));
        head.headers.insert("x-cache", HeaderValue::from_static("HIT"));
        let body = if lookup.head_only { Body::empty() } else { Body::from(stored.body.clone()) };
        Some(Response::from_parts(head, body))
    }

    /// PHP's answer to a looked-up request: kept if it may be, and passed on either way.
    pub async fn store(&self, lookup: Lookup, mut head: response::Parts, body: Body, timeout: Duration) -> Response {
        ReadCacheStats::count(&self.stats().misses);
        head.headers.insert("x-cache", HeaderValue::from_static("MISS"));
        let ttl = storable(&head);
        if ttl.is_some() {
            downstream_cache_control(&mut head.headers);
        }
        let (Some(ttl), false) = (ttl, lookup.head_only) else {
            return Response::from_parts(head, body);
        };
        let size = head.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if size.is_some_and(|size| size > self.max_entry) {
            return Response::from_parts(head, body);
        }
        // Without a length (PHP's server sends pages chunked) the body is read whole: only
        // pages MediaWiki rendered and marked with s-maxage get here, bounded by PHP's memory.
        let collected = tokio::time::timeout(timeout, http_body_util::BodyExt::collect(body)).await;
        let Ok(Ok(collected)) = collected else {
            return plain(StatusCode::BAD_GATEWAY, "The wiki's answer broke off\n");
        };
        let bytes = collected.to_bytes();
        if bytes.len() > self.max_entry {
            return Response::from_parts(head, Body::from(bytes));
        }
        let now = Instant::now();
        let stored = Arc::new(Stored {
            vary: lookup.vary.clone(),
            stamp: lookup.stamp,
            stored: now,
            expires: now + ttl,
            head: head.clone(),
            body: bytes.clone(),
        });
        let mut variants: Vec<Arc<Stored>> = self
            .entries
            .get(&lookup.key)
            .map(|old| {
                old.iter()
                    .filter(|v| v.vary != lookup.vary && v.stamp == lookup.stamp && v.expires > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if variants.len() >= MAX_VARIANTS {
            variants.remove(0);
        }
        variants.push(stored);
        self.entries.insert(lookup.key.clone(), Arc::new(variants));
        // A purge while PHP rendered this may be for the edit it predates: drop it again (the
        // purge, for its part, removes what was stored before it counted).
        if self.last_purge(&lookup.key) != lookup.generation {
            self.entries.invalidate(&lookup.key);
        }
        self.update_size();
        Response::from_parts(head, Body::from(bytes))
    }

    /// PHP's answer to a request the cache must not answer: passed on as it is, but for
    /// `s-maxage`, which no cache further down may act on.
    pub fn pass(&self, mut head: response::Parts, body: Body) -> Response {
        head.headers.insert("x-cache", HeaderValue::from_static("PASS"));
        if head.headers.get_all(header::CACHE_CONTROL).iter().any(|v| v.to_str().is_ok_and(|v| v.contains("s-maxage")))
        {
            downstream_cache_control(&mut head.headers);
        }
        Response::from_parts(head, body)
    }

    /// `PURGE http://HOST/PATH`: drops every variant of that URL.
    pub fn purge(&self, parts: &Parts) -> Response {
        if !self.purge_allowed(parts) {
            return plain(StatusCode::FORBIDDEN, "PURGE is taken from the farm's own machine only\n");
        }
        let host = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned));
        let Some(host) = host else {
            return plain(StatusCode::BAD_REQUEST, "A PURGE names a host\n");
        };
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let key = cache_key(&host, target);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.purged.insert(key.clone(), generation);
        self.entries.invalidate(&key);
        ReadCacheStats::count(&self.stats().purges);
        self.update_size();
        plain(StatusCode::OK, "Purged\n")
    }

    /// From loopback or a trusted proxy, and not relayed (a relayed request is a client's).
    fn purge_allowed(&self, parts: &Parts) -> bool {
        let peer: Option<IpAddr> = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let trusted = peer.is_some_and(|ip| {
            let ip = ip.to_canonical();
            ip.is_loopback() || self.farm.config().trusted_proxies.contains(&ip)
        });
        trusted && !parts.headers.contains_key("x-forwarded-for")
    }

    fn last_purge(&self, key: &str) -> u64 {
        self.purged.get(key).unwrap_or(0)
    }

    fn update_size(&self) {
        let stats = self.stats();
        stats.bytes.store(self.entries.weighted_size(), Ordering::Relaxed);
        stats.entries.store(self.entries.entry_count(), Ordering::Relaxed);
    }
}

fn cache_key(host: &str, target: &str) -> String {
    format!("{}\n{target}", host.to_ascii_lowercase())
}

/// The cache key and variant of a request the cache may answer.
fn cacheable_request(parts: &Parts) -> Option<(String, VaryKey)> {
    let headers = &parts.headers;
    if !matches!(parts.method, Method::GET | Method::HEAD)
        || headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key(header::RANGE)
    {
        return None;
    }
    let cookies: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split('=').next())
        .map(str::trim)
        .collect();
    let personal = |name: &&str| *name == SIGN_ON_HINT || PERSONAL_COOKIE_ENDINGS.iter().any(|e| name.ends_with(e));
    if cookies.iter().any(personal) {
        return None;
    }
    let checked = cookies.iter().any(|name| name.ends_with(SIGN_ON_CHECKED_ENDING));
    if !checked && is_navigation(headers) {
        return None;
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let vary = VaryKey {
        accept_encoding: headers.get(header::ACCEPT_ENCODING).cloned(),
        cookie: headers.get_all(header::COOKIE).iter().cloned().collect(),
    };
    Some((cache_key(host, target), vary))
}

/// A browser opening a page, as farm-sign-on.php tells it (Fetch Metadata over https,
/// Upgrade-Insecure-Requests over http).
fn is_navigation(headers: &HeaderMap) -> bool {
    if headers.contains_key("sec-fetch-mode") {
        return headers.get("sec-fetch-mode").is_some_and(|m| m == "navigate");
    }
    headers.get("upgrade-insecure-requests").is_some_and(|v| v == "1")
}

/// How long PHP's answer may be kept, if at all.
fn storable(head: &response::Parts) -> Option<Duration> {
    if head.status != StatusCode::OK || head.headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    let vary_ok = head.headers.get_all(header::VARY).iter().all(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').map(str::trim).all(|name| {
                name.is_empty() || name.eq_ignore_ascii_case("accept-encoding") || name.eq_ignore_ascii_case("cookie")
            })
        })
    });
    if !vary_ok {
        return None;
    }
    let mut s_maxage = None;
    for value in head.headers.get_all(header::CACHE_CONTROL) {
        for directive in value.to_str().ok()?.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if matches!(directive.as_str(), "private" | "no-store" | "no-cache") || directive.starts_with("private=") {
                return None;
            }
            if let Some(seconds) = directive.strip_prefix("s-maxage=") {
                s_maxage = seconds.trim_matches('"').parse::<u64>().ok();
            }
        }
    }
    s_maxage.filter(|s| *s > 0).map(Duration::from_secs)
}

/// MediaWiki's advice to its CDN: clients and caches further down get `s-maxage=0`, since
/// only this cache hears of the purges.
fn downstream_cache_control(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, s-maxage=0, max-age=0, must-revalidate"));
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    axum::response::IntoResponse::into_response((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder().method(method).uri("/index.php/Main_Page");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn anonymous_reads_are_looked_up_and_personal_ones_pass() {
        let host = ("host", "one.farm.test");
        assert!(cacheable_request(&parts("GET", &[host])).is_some());
        assert!(cacheable_request(&parts("HEAD", &[host, ("cookie", "wabcFarmSignOnChecked=-")])).is_some());
        for cookie in
            ["w0123_session=x", "farm_signed_in=3", "__Host-w0123_session=x", "a=b; w0123Token=t", "w0123UserID=1"]
        {
            assert!(cacheable_request(&parts("GET", &[host, ("cookie", cookie)])).is_none(), "{cookie}");
        }
        assert!(cacheable_request(&parts("POST", &[host])).is_none());
        assert!(cacheable_request(&parts("GET", &[host, ("authorization", "Bearer x")])).is_none());
        assert!(cacheable_request(&parts("GET", &[("range", "bytes=0-1"), host])).is_none());
        assert!(cacheable_request(&parts("GET", &[])).is_none(), "no host, no key");
        // A browser's first page view goes to PHP (the silent sign-on); once checked, it may hit.
        let navigate = ("sec-fetch-mode", "navigate");
        assert!(cacheable_request(&parts("GET", &[host, navigate])).is_none());
        assert!(cacheable_request(&parts("GET", &[host, ("upgrade-insecure-requests", "1")])).is_none());
        assert!(cacheable_request(&parts("GET", &[host, navigate, ("cookie", "w1FarmSignOnChecked=-")])).is_some());
    }

    #[test]
    fn keys_are_the_exact_host_and_target() {
        let (a, _) = cacheable_request(&parts("GET", &[("host", "One.farm.test:8080")])).expect("key");
        let (b, _) = cacheable_request(&parts("GET", &[("host", "two.farm.test:8080")])).expect("key");
        assert_eq!(a, "one.farm.test:8080\n/index.php/Main_Page");
        assert_ne!(a, b);
    }

    fn head(status: u16, headers: &[(&str, &str)]) -> response::Parts {
        let mut builder = Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("response").into_parts().0
    }

    #[test]
    fn only_shared_answers_without_cookies_are_stored() {
        let mw = ("cache-control", "s-maxage=600, must-revalidate, max-age=0");
        let vary = ("vary", "Accept-Encoding, Cookie");
        assert_eq!(storable(&head(200, &[mw, vary])), Some(Duration::from_secs(600)));
        assert_eq!(storable(&head(200, &[("cache-control", "private, must-revalidate, max-age=0")])), None);
        assert_eq!(storable(&head(200, &[mw, ("set-cookie", "a=b")])), None);
        assert_eq!(storable(&head(404, &[mw])), None);
        assert_eq!(storable(&head(200, &[mw, ("vary", "Accept-Language")])), None);
        assert_eq!(storable(&head(200, &[("cache-control", "max-age=60")])), None, "s-maxage only");
        assert_eq!(storable(&head(200, &[("cache-control", "s-maxage=0")])), None);
        assert_eq!(storable(&head(200, &[("cache-control", "no-cache, s-maxage=60")])), None);
    }
}
