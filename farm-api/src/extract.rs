//! Extractors whose rejections use the API's error shape, the authenticated caller and the
//! client's address.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use farm_core::app::accounts::{AuthError, Session};
use farm_core::domain::Actor;
use farm_core::platform::ratelimit::Source;
use farm_http::security::{changes_state, constant_time_eq, cookie_names, from_own_origin, read_cookie, CookieValue};

use crate::error::ApiError;
use crate::AppState;

/// Header that cookie-authenticated state-changing requests must carry (CSRF protection).
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The caller, from `Authorization: Bearer <token>` or the portal's session cookie.
pub struct Caller(pub Actor);

/// The caller with their session (for logout).
pub struct CurrentSession(pub Session);

/// The token of a request, and whether it came in a cookie.
fn presented_token(parts: &Parts, state: &AppState) -> Result<(String, bool), ApiError> {
    if let Some(header) = parts.headers.get(AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .ok_or(ApiError::Unauthorized {
                code: "unauthorized",
                message: "the Authorization header must be Bearer <token>",
            })?;
        return Ok((token, false));
    }
    match read_cookie(&parts.headers, cookie_names(&state.farm).session) {
        CookieValue::One(token) => Ok((token, true)),
        CookieValue::Absent => Err(ApiError::Unauthorized {
            code: "unauthorized",
            message: "this call needs an Authorization: Bearer token (or a portal session)",
        }),
        // Two session cookies: one was set by someone else (a wiki's script). Neither counts.
        CookieValue::Tampered => Err(ApiError::Unauthorized {
            code: "invalid_token",
            message: "the request carries two session cookies; log in again",
        }),
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Session, ApiError> {
    let (token, from_cookie) = presented_token(parts, state)?;
    let session = state.farm.authenticate(&token).await.map_err(|err| match err {
        AuthError::Expired => ApiError::Unauthorized { code: "token_expired", message: "the token has expired" },
        AuthError::Invalid => ApiError::Unauthorized {
            code: "invalid_token",
            message: "the token is malformed or not signed by this farm",
        },
        AuthError::Revoked => {
            ApiError::Unauthorized { code: "token_revoked", message: "the token was revoked (logged out)" }
        }
    })?;
    // A cookie is sent by the browser whoever made the page: a state change needs proof that
    // the page is ours (the CSRF token of this session, from the portal's own origin).
    if from_cookie && changes_state(&parts.method) {
        let expected = state.farm.csrf_token(&session.session_id);
        let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !from_own_origin(&parts.headers, &state.farm) || !constant_time_eq(presented.as_bytes(), expected.as_bytes())
        {
            return Err(csrf_failed());
        }
    }
    Ok(session)
}

pub fn csrf_failed() -> ApiError {
    ApiError::Request {
        status: axum::http::StatusCode::FORBIDDEN,
        code: "csrf_failed",
        message:
            "a request authenticated by the session cookie needs the X-CSRF-Token header, from the portal's own pages"
                .into(),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Caller(authenticate(parts, state).await?.actor))
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(CurrentSession(authenticate(parts, state).await?))
    }
}

/// Where the request came from: the peer, or (from a trusted proxy) the last address the
/// proxy added to `X-Forwarded-For`.
pub struct Client(pub Source);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Client(farm_http::client_source(parts, &state.farm)))
    }
}

/// Marks requests that came through the operator's own listener (`[operator] listen`).
#[derive(Debug, Clone, Copy)]
pub struct OperatorListener;

/// Whether this request may see the operator's views (`/metrics`, the details of `/healthz`):
/// through the operator's listener, from anyone while the configuration opens them to everyone,
/// or with an admin's token.
pub struct OperatorView(pub bool);

impl FromRequestParts<AppState> for OperatorView {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let operator = &state.farm.config().operator;
        if parts.extensions.get::<OperatorListener>().is_some()
            || (operator.listen.is_none() && operator.metrics == farm_core::config::MetricsAccess::Everyone)
        {
            return Ok(OperatorView(true));
        }
        let admin = match authenticate(parts, state).await {
            Ok(session) => farm_core::domain::permissions::see_farm(&session.actor).is_ok(),
            Err(_) => false,
        };
        Ok(OperatorView(admin))
    }
}
