//! Extractors whose rejections use the API's error shape, and the authenticated caller.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use farm_core::auth::TokenError;
use farm_core::domain::Actor;

use crate::error::ApiError;
use crate::AppState;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The caller, from `Authorization: Bearer <token>`.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::Unauthorized {
            code: "unauthorized",
            message: "this call needs an Authorization: Bearer token",
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized {
                code: "unauthorized",
                message: "the Authorization header must be Bearer <token>",
            })?;
        state.farm.tokens.verify(token).map(Caller).map_err(|err| match err {
            TokenError::Expired => ApiError::Unauthorized { code: "token_expired", message: "the token has expired" },
            TokenError::Invalid => ApiError::Unauthorized {
                code: "invalid_token",
                message: "the token is malformed or not signed by this farm",
            },
        })
    }
}
