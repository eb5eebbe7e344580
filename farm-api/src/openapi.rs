//! The API's description, generated from the handlers' own types and annotations (utoipa):
//! OpenAPI 3.1, served at `GET /api/v1/openapi.json` without a token. Every route of the API
//! router comes from an annotated handler (a test fails for one that does not), and the
//! answers that every operation shares (bad bodies, bad tokens, internal errors) are added here
//! once, so that each handler lists only its own.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::Modify;

use crate::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "farmd",
        description = "The JSON API of a farmd wiki farm: wikis, accounts and sessions, wiki requests, the audit log, database servers and the warm pool. Every error has one shape, `{\"error\": {\"code\", \"message\", \"field\"}}`; the codes are stable.",
        license(name = "GPL-2.0-or-later"),
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// Adds the security schemes and the answers every operation may give, once all routes are in.
pub fn complete(openapi: &mut OpenApi) {
    Shared.modify(openapi);
}

struct Shared;

/// Statuses and codes that depend on how a request is made, not on what it asks.
const BODY_ERRORS: &[(&str, &str)] = &[
    ("400", "the body is not JSON (`malformed_json`) or is not a request at all (`bad_request`)"),
    ("413", "the body is larger than `max_body_bytes` (`body_too_large`)"),
    ("415", "the body was not sent as `Content-Type: application/json` (`unsupported_media_type`)"),
    ("422", "a field is missing, unknown or of the wrong type (`invalid_body`)"),
];
const TOKEN_ERRORS: &[(&str, &str)] = &[(
    "401",
    "no token, or one that is malformed, forged, expired or revoked (`unauthorized`, `invalid_token`, `token_expired`, `token_revoked`)",
)];
const CHANGE_ERRORS: &[(&str, &str)] = &[(
    "403",
    "a call with the session cookie but without its `X-CSRF-Token`, or any change from another origin (`csrf_failed`)",
)];
const PATH_ERRORS: &[(&str, &str)] = &[("400", "a path parameter that does not parse (`invalid_path`)")];
const ALWAYS: &[(&str, &str)] =
    &[("500", "something went wrong on the farm's side (`internal`); the log has the details")];

impl Modify for Shared {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "farm_session",
                "The portal's session (`__Host-farm_session` over https); changes need `X-CSRF-Token`.",
            ))),
        );
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.delete, true),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
            ];
            for (operation, changes) in operations {
                let Some(operation) = operation.as_mut() else { continue };
                let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let path_params = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path));
                if operation.request_body.is_some() {
                    add(operation, BODY_ERRORS);
                }
                if authenticated {
                    add(operation, TOKEN_ERRORS);
                }
                if changes {
                    add(operation, CHANGE_ERRORS);
                }
                if path_params {
                    add(operation, PATH_ERRORS);
                }
                add(operation, ALWAYS);
            }
        }
    }
}

/// Adds the answers to `operation`, or their codes to an answer it already lists.
fn add(operation: &mut Operation, answers: &[(&str, &str)]) {
    for (status, description) in answers {
        let responses = &mut operation.responses.responses;
        match responses.get_mut(*status) {
            Some(RefOr::T(existing)) => {
                existing.description = format!("{}; or {description}", existing.description);
            }
            _ => {
                let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
                let response = ResponseBuilder::new()
                    .description(description.to_string())
                    .content("application/json", content)
                    .build();
                responses.insert((*status).to_owned(), RefOr::T(response));
            }
        }
    }
}
