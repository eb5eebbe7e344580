//! One error type for the HTTP layer and one JSON shape for every error:
//! `{"error": {"code": "name_taken", "message": "...", "field": "name"}}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use farm_core::FarmError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Farm(#[from] FarmError),
    #[error("{message}")]
    Unauthorized { code: &'static str, message: &'static str },
    #[error("{message}")]
    Request { status: StatusCode, code: &'static str, message: String },
}

/// Every error answer: `{"error": {...}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `name_taken` (the README lists every code).
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
    /// The input field the error is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn not_found() -> Self {
        Self::Request { status: StatusCode::NOT_FOUND, code: "not_found", message: "no such resource".into() }
    }

    fn parts(&self) -> (StatusCode, &str, String, Option<&str>) {
        match self {
            ApiError::Farm(err) => {
                let status = farm_http::status(err);
                let message = match err {
                    FarmError::Internal(_) => "something went wrong on our side".into(),
                    other => other.to_string(),
                };
                (status, err.code(), message, err.field())
            }
            ApiError::Unauthorized { code, message } => (StatusCode::UNAUTHORIZED, code, (*message).into(), None),
            ApiError::Request { status, code, message } => (*status, code, message.clone(), None),
        }
    }
}

/// Internal errors are worth a line each, but whatever a client can repeat must not flood the
/// log: a few a second, and the count of the rest.
static INTERNAL_ERRORS: farm_core::platform::throttle::LogThrottle =
    farm_core::platform::throttle::LogThrottle::new(10);

fn log_internal(err: &ApiError) {
    if let ApiError::Farm(FarmError::Internal(err)) = err {
        if let Some(suppressed) = INTERNAL_ERRORS.allow() {
            // The details go to the log, never to the client.
            tracing::error!(error = %format!("{err:#}"), suppressed, "internal error");
        }
    }
}

impl ApiError {
    /// The `{"code", "message", "field"}` object alone, for errors reported inside a 200
    /// answer (one row of a batch).
    pub fn detail(&self) -> ErrorDetail {
        log_internal(self);
        let (_, code, message, field) = self.parts();
        ErrorDetail { code: code.to_owned(), message, field: field.map(str::to_owned) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log_internal(&self);
        let (status, code, message, field) = self.parts();
        let detail = ErrorDetail { code: code.to_owned(), message, field: field.map(str::to_owned) };
        let mut response = (status, Json(ErrorBody { error: detail })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Farm(FarmError::RateLimited { retry_after_secs }) = &self {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: the connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "bad_request"),
        };
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body as JSON with Content-Type: application/json".into()
            }
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".into(),
            other => other.body_text(),
        };
        Self::Request { status, code, message }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Request { status: StatusCode::BAD_REQUEST, code: "invalid_query", message: rejection.body_text() }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::Request { status: StatusCode::BAD_REQUEST, code: "invalid_path", message: rejection.body_text() }
    }
}
