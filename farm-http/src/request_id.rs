//! `X-Request-Id`: one id per request, in farmd's log, passed on to MediaWiki (which logs it
//! too, `$wgAllowExternalReqID`) and returned on every answer, the wikis' included. A client
//! may choose it, if it is short and plain; anything else is replaced.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

/// The request's id (after [`set`] ran).
pub fn of<B>(request: &axum::http::Request<B>) -> &str {
    request.headers().get(HEADER).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// 1 to 64 letters, digits and `.`, `_`, `-`, `:`: nothing that could break a log line or a
/// header.
fn is_plain(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
}

/// Middleware: settles the id before anything logs, and puts it on the answer.
pub async fn set(mut request: Request, next: Next) -> Response {
    let chosen = request.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|id| is_plain(id));
    let id = match chosen.map(HeaderValue::from_str) {
        Some(Ok(value)) => value,
        _ => {
            HeaderValue::from_str(&farm_core::platform::random::random_hex(8)).unwrap_or(HeaderValue::from_static("-"))
        }
    };
    request.headers_mut().insert(HEADER, id.clone());
    let mut response = next.run(request).await;
    // Overrides whatever MediaWiki answered with: one id per request, end to end.
    response.headers_mut().insert(HEADER, id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        for good in ["abc", "0123456789abcdef", "req-1.2_3:4", &"a".repeat(64)] {
            assert!(is_plain(good), "{good:?}");
        }
        for bad in ["", "a b", "a\nb", "a\"b", "x=y", "ünï", &"a".repeat(65)] {
            assert!(!is_plain(bad), "{bad:?}");
        }
    }
}
