//! What the portal and the cookie-authenticated API share to keep a wiki's JavaScript from
//! acting for a visitor elsewhere on the farm.
//!
//! Every wiki runs JavaScript its owner wrote, on `NAME.base_domain`: the same *site* as the
//! portal, so the browser sends the portal's SameSite=Lax cookies with that script's requests,
//! and the script may set cookies for the parent domain ("cookie tossing"). Three lines hold:
//!
//! 1. **Tokens bound to the session.** A form's CSRF token is an HMAC, under the farm's key, of
//!    the visitor's session id (or, before login, of a random pre-session id kept in an
//!    HttpOnly cookie): a token from another session, or one of the script's choosing, does
//!    not match. Nothing is stored for it.
//! 2. **Where the request comes from.** State changes must come from the portal's own origin:
//!    `Sec-Fetch-Site` must be `same-origin` (or `none`), and `Origin`, when sent, must be the
//!    portal's. A wiki is same-site but never same-origin.
//! 3. **Cookies that cannot be tossed.** Over https the cookies are `__Host-` cookies, which no
//!    other host may set; over http, a cookie name that comes twice (the portal's own and a
//!    tossed one) is treated as an attack: no session, no state change.

use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Method};
use farm_core::Farm;

/// The farm's cookie names: `__Host-` prefixed when the portal is served over https.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    /// The portal session (the same kind of token as `Authorization: Bearer`).
    pub session: &'static str,
    /// A random id for visitors before they log in, which their forms' tokens are bound to.
    pub presession: &'static str,
}

pub fn cookie_names(farm: &Farm) -> CookieNames {
    if is_https(farm) {
        CookieNames { session: "__Host-farm_session", presession: "__Host-farm_presession" }
    } else {
        CookieNames { session: "farm_session", presession: "farm_presession" }
    }
}

fn is_https(farm: &Farm) -> bool {
    farm.public_url().starts_with("https://")
}

/// A cookie as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieValue {
    Absent,
    One(String),
    /// The name came more than once: someone set a second cookie of that name (for the
    /// parent domain, or another path) beside the farm's.
    Tampered,
}

impl CookieValue {
    pub fn value(&self) -> Option<&str> {
        match self {
            CookieValue::One(value) => Some(value),
            _ => None,
        }
    }
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> CookieValue {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name);
    match (found.next(), found.next()) {
        (None, _) => CookieValue::Absent,
        (Some(one), None) => CookieValue::One(one.value().to_owned()),
        (Some(_), Some(_)) => CookieValue::Tampered,
    }
}

/// The names a page on a wiki could toss a cookie of (`__Host-` cookies cannot be tossed).
const TOSSABLE: &[&str] = &["farm_session", "farm_presession"];

/// Middleware for the portal and the API: when a farm cookie comes twice, the answer also
/// expires the copies set for a parent domain (for every path that could have sent them), so
/// that a visitor's next request is their own again. The request itself gets no session and
/// changes nothing (see [`read_cookie`]).
pub async fn clear_tossed_cookies(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let tossed: Vec<&str> =
        TOSSABLE.iter().copied().filter(|name| read_cookie(request.headers(), name) == CookieValue::Tampered).collect();
    let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h).to_ascii_lowercase();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    for name in tossed {
        for domain in parent_domains(&host) {
            for cookie_path in path_prefixes(&path) {
                let expired = cookie::Cookie::build((name, ""))
                    .domain(domain.to_owned())
                    .path(cookie_path.to_owned())
                    .max_age(time::Duration::ZERO)
                    .build();
                if let Ok(value) = HeaderValue::from_str(&expired.to_string()) {
                    response.headers_mut().append(axum::http::header::SET_COOKIE, value);
                }
            }
        }
    }
    response
}

/// `farm.example.test` → `farm.example.test`, `example.test` (never a bare top-level label).
fn parent_domains(host: &str) -> Vec<&str> {
    let mut domains = Vec::new();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return domains;
    }
    let mut rest = host;
    while rest.contains('.') {
        domains.push(rest);
        rest = rest.split_once('.').map_or("", |(_, tail)| tail);
    }
    domains
}

/// `/wikis/new` → `/`, `/wikis`, `/wikis/`, `/wikis/new`: every cookie path that matches it.
fn path_prefixes(path: &str) -> Vec<&str> {
    let mut prefixes = vec!["/"];
    for (i, _) in path.match_indices('/').skip(1) {
        prefixes.push(&path[..i]);
        prefixes.push(&path[..=i]);
    }
    if path.len() > 1 && !path.ends_with('/') {
        prefixes.push(path);
    }
    prefixes.dedup();
    prefixes
}

/// A `Set-Cookie` value for one of the farm's cookies: host-only, `Path=/`, SameSite=Lax,
/// Secure over https.
pub fn set_cookie(farm: &Farm, name: &str, value: &str, max_age: time::Duration, http_only: bool) -> HeaderValue {
    let cookie = cookie::Cookie::build((name.to_owned(), value.to_owned()))
        .http_only(http_only)
        .secure(is_https(farm))
        .same_site(cookie::SameSite::Lax)
        .path("/")
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The hint the portal leaves for the wikis, for the whole base domain: "someone logged in
/// here (login number VALUE)", so a wiki checks with the portal once per login. It is no
/// credential (a wiki may toss one; that only makes another wiki ask the portal), and `None`
/// removes it at logout. Browsers refuse it for `localhost`; the wikis then check once per
/// browser session instead.
pub fn sign_on_hint_cookie(farm: &Farm, value: Option<&str>, max_age: time::Duration) -> HeaderValue {
    let (value, max_age) = match value {
        Some(value) => (value, max_age),
        None => ("", time::Duration::ZERO),
    };
    let cookie = cookie::Cookie::build((SIGN_ON_HINT, value.to_owned()))
        .http_only(true)
        .secure(is_https(farm))
        .same_site(cookie::SameSite::Lax)
        .domain(farm.urls().base_domain().to_owned())
        .path("/")
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The hint cookie's name (farm-sign-on.php reads it).
pub const SIGN_ON_HINT: &str = "farm_signed_in";

/// Whether a page of another host of the farm's site could set the farm's cookies (plain
/// http: the cookies cannot be `__Host-` cookies).
pub fn cookies_can_be_tossed(farm: &Farm) -> bool {
    !is_https(farm)
}

/// Whether the browser says the request was made by a page of the same site but another
/// origin: a wiki, since the portal's own pages are same-origin.
pub fn from_same_site_page(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() == b"same-site")
}

/// GET, HEAD and OPTIONS change nothing; everything else needs the checks.
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a request comes from the portal's own pages (or from no page at all: a script
/// with a bearer token, curl). A page of a wiki is same-site, never same-origin.
pub fn from_own_origin(headers: &HeaderMap, farm: &Farm) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    match headers.get(ORIGIN) {
        None => true,
        Some(origin) => {
            let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
            let own = headers.get(HOST).and_then(|h| h.to_str().ok()).map(|host| {
                let scheme = if is_https(farm) { "https" } else { "http" };
                format!("{scheme}://{host}")
            });
            origin == public_origin(farm.public_url()) || own.is_some_and(|own| origin.eq_ignore_ascii_case(&own))
        }
    }
}

/// `scheme://host[:port]` of a URL.
fn public_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_name_that_comes_twice_is_tampered() {
        let mut headers = HeaderMap::new();
        assert_eq!(read_cookie(&headers, "farm_session"), CookieValue::Absent);
        headers.insert(COOKIE, HeaderValue::from_static("farm_lang=de; farm_session=abc"));
        assert_eq!(read_cookie(&headers, "farm_session"), CookieValue::One("abc".into()));
        headers.insert(COOKIE, HeaderValue::from_static("farm_session=tossed; farm_lang=de; farm_session=abc"));
        assert_eq!(read_cookie(&headers, "farm_session"), CookieValue::Tampered);
        headers.insert(COOKIE, HeaderValue::from_static("farm_session=a"));
        headers.append(COOKIE, HeaderValue::from_static("farm_session=b"));
        assert_eq!(read_cookie(&headers, "farm_session"), CookieValue::Tampered);
    }

    #[test]
    fn tossed_cookies_are_expired_for_every_parent_domain_and_path() {
        assert_eq!(parent_domains("farm.example.test"), ["farm.example.test", "example.test"]);
        assert_eq!(parent_domains("localhost"), Vec::<&str>::new());
        assert_eq!(parent_domains("127.0.0.1"), Vec::<&str>::new());
        assert_eq!(path_prefixes("/"), ["/"]);
        assert_eq!(path_prefixes("/wikis/new"), ["/", "/wikis", "/wikis/", "/wikis/new"]);
        assert_eq!(path_prefixes("/wikis/"), ["/", "/wikis", "/wikis/"]);
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(public_origin("https://wikis.example.org"), "https://wikis.example.org");
        assert_eq!(public_origin("http://localhost:8080/portal"), "http://localhost:8080");
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
