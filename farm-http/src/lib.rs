//! What farmd's HTTP adapters (the API in `farm-api`, the portal in `farm-web`) share, and
//! what sits in front of both:
//!
//! - [`server`]: the accept loop, with time-outs and a connection cap;
//! - [`proxy`]: wiki hosts go to MediaWiki's PHP servers;
//! - [`cache`]: the proxy's read cache of anonymous page views, purged by MediaWiki;
//! - [`request_id`]: one `X-Request-Id` per request, end to end;
//! - [`security`]: cookie names, tossed-cookie detection, CSRF tokens, the origin check;
//! - [`status`]: the one mapping of domain errors onto HTTP statuses;
//! - [`client_source`]: who is asking (for rate limits and the audit log).

pub mod cache;
pub mod proxy;
pub mod request_id;
pub mod security;
pub mod server;

use axum::http::request::Parts;
use axum::http::StatusCode;
use farm_core::platform::ratelimit::Source;
use farm_core::{Farm, FarmError};

/// The HTTP status of a domain error: one table for the API and the portal.
pub fn status(err: &FarmError) -> StatusCode {
    match err {
        FarmError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        FarmError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        FarmError::NameTaken(_) | FarmError::Taken { .. } | FarmError::Conflict(_) => StatusCode::CONFLICT,
        FarmError::NotFound(_) => StatusCode::NOT_FOUND,
        FarmError::Forbidden(_) | FarmError::Denied { .. } => StatusCode::FORBIDDEN,
        FarmError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        FarmError::BadCredentials => StatusCode::UNAUTHORIZED,
        FarmError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        FarmError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Where the request came from: the peer, or (from a trusted proxy) the last address the
/// proxy added to `X-Forwarded-For`.
pub fn client_source(parts: &Parts, farm: &Farm) -> Source {
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Source::of_request(peer, forwarded, &farm.config().trusted_proxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_4xx_or_5xx() {
        let errors = [
            FarmError::bad_request("x", "y"),
            FarmError::invalid("f", "c", "m".into()),
            FarmError::NameTaken("n".into()),
            FarmError::NotFound("wiki"),
            FarmError::Forbidden("no"),
            FarmError::RateLimited { retry_after_secs: 1 },
            FarmError::BadCredentials,
            FarmError::Conflict("c".into()),
            FarmError::Unavailable("u".into()),
        ];
        for err in &errors {
            assert!(status(err).is_client_error() || status(err) == StatusCode::SERVICE_UNAVAILABLE, "{err:?}");
        }
        let internal = FarmError::Internal(std::io::Error::other("boom").into());
        assert_eq!(status(&internal), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
