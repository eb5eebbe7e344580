//! farmd's JSON API: it parses requests into calls on [`farm_core::Farm`] and turns the answers
//! into JSON, with one error shape; no rule about wikis lives here.

mod accounts;
mod audit;
mod backups;
mod error;
mod exports;
mod extract;
mod health;
mod imports;
mod maintenance;
mod managers;
mod metrics;
mod openapi;
mod requests;
mod servers;
mod settings;
mod starters;
mod transfers;
mod wikis;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::{middleware, Json, Router};
use farm_core::Farm;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;

/// A batch of a thousand wikis fits comfortably.
const BULK_BODY_LIMIT: usize = 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub farm: Arc<Farm>,
    openapi: Arc<utoipa::openapi::OpenApi>,
}

/// Every route of the API, each from an annotated handler, with the layers that go with it.
/// `max_body_bytes` limits the bodies of all but the bulk route.
fn routes(max_body_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(wikis::router())
        .merge(servers::router())
        .merge(accounts::router())
        .merge(requests::router())
        .merge(audit::router())
        .merge(settings::router())
        .merge(transfers::router())
        .merge(managers::router())
        .merge(exports::router())
        .merge(starters::router())
        .merge(backups::router())
        .merge(maintenance::router())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .merge(settings::image_router())
        .merge(wikis::bulk_router().layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
        .merge(imports::router())
        .merge(health::router())
        .merge(metrics::router())
        .routes(routes!(document))
}

/// The router and its description, complete with the answers every operation shares.
fn split(max_body_bytes: usize) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = routes(max_body_bytes).split_for_parts();
    openapi::complete(&mut openapi);
    (router, openapi)
}

/// The API's description (OpenAPI 3.1), as this router serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split(0).1
}

/// The API's routes under `/api/v1`, `/healthz` and `/metrics`, with the JSON answers for
/// unknown paths and methods (they are the fallbacks of whatever router this is merged into).
pub fn router(farm: Arc<Farm>) -> Router {
    let (routes, openapi) = split(farm.config().max_body_bytes);
    let state = AppState { farm, openapi: Arc::new(openapi) };
    routes
        // A browser page of another origin (a wiki's script, above all) changes nothing through
        // the API, cookie or not; programs with a bearer token send neither header checked.
        .layer(middleware::from_fn_with_state(state.clone(), own_origin_only))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::Request {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this resource does not support that method".into(),
            }
        })
        .with_state(state)
}

/// The operator's own listener (`[operator] listen`): `/metrics` and `/healthz` in full, to
/// whoever reaches the address, and nothing else.
pub fn operator_router(farm: Arc<Farm>) -> Router {
    let (routes, openapi) = OpenApiRouter::new().merge(health::router()).merge(metrics::router()).split_for_parts();
    let state = AppState { farm, openapi: Arc::new(openapi) };
    routes
        .layer(axum::Extension(extract::OperatorListener))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

/// This document (no token needed).
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "farm",
    responses((status = 200, description = "The API's OpenAPI 3.1 description", content_type = "application/json"))
)]
async fn document(State(state): State<AppState>) -> Json<Arc<utoipa::openapi::OpenApi>> {
    Json(state.openapi.clone())
}

async fn own_origin_only(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let allowed = |r: &axum::extract::Request| {
        !farm_http::security::changes_state(r.method())
            || farm_http::security::from_own_origin(r.headers(), &state.farm)
    };
    if allowed(&request) {
        next.run(request).await
    } else {
        extract::csrf_failed().into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// (method, path) of every route the router itself holds, read from its `Debug` output
    /// (axum prints each route's path and which methods it has).
    fn router_routes(router: &Router<AppState>) -> BTreeSet<(String, String)> {
        let debug = format!("{router:?}");
        // The routes proper; the fallback router that follows holds axum's own catch-alls.
        let debug = debug.split("fallback_router:").next().unwrap_or("");
        let mut routes = BTreeSet::new();
        // `RouteId(3): "/api/v1/wikis"` in the node's paths; `RouteId(3): MethodRouter(MethodRouter { get: …` in the routes.
        let paths: Vec<(String, String)> = debug
            .match_indices("RouteId(")
            .filter_map(|(i, _)| {
                let rest = &debug[i + 8..];
                let id = rest.split(')').next()?.to_owned();
                let after = rest[id.len() + 1..].strip_prefix(": \"")?;
                Some((id, after.split('"').next()?.to_owned()))
            })
            .collect();
        for (id, path) in paths {
            let marker = format!("RouteId({id}): MethodRouter(MethodRouter {{ ");
            let Some(start) = debug.find(&marker) else { continue };
            let methods = &debug[start + marker.len()..];
            let methods = &methods[..methods.find(", fallback:").unwrap_or(methods.len())];
            for part in methods.split(", ") {
                if let Some((method, endpoint)) = part.split_once(": ") {
                    if endpoint != "None" {
                        routes.insert((method.to_uppercase(), path.clone()));
                    }
                }
            }
        }
        routes
    }

    #[test]
    fn every_route_of_the_router_is_in_the_document_and_no_more() {
        let (router, openapi) = split(1024);
        let in_router = router_routes(&router);
        assert!(in_router.len() > 25, "the router's routes were read: {in_router:?}");
        let mut documented = BTreeSet::new();
        for (path, item) in &openapi.paths.paths {
            for (method, operation) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if let Some(operation) = operation {
                    documented.insert((method.to_owned(), path.clone()));
                    let statuses: Vec<&String> = operation.responses.responses.keys().collect();
                    assert!(statuses.iter().any(|s| s.starts_with('2')), "{method} {path} documents a success");
                    assert!(statuses.iter().any(|s| *s == "500"), "{method} {path} documents its errors");
                }
            }
        }
        // GET routes answer HEAD too; axum lists HEAD only when a handler asks for it.
        let in_router: BTreeSet<_> = in_router.into_iter().filter(|(m, _)| m != "HEAD").collect();
        assert_eq!(in_router, documented, "the router and the document list the same routes");
    }
}

/// The README's error table lists exactly the codes the code can answer with.
#[cfg(test)]
mod error_codes {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// A snake_case string literal at the start of `text` (after white space), without quotes.
    fn literal(text: &str) -> Option<&str> {
        let rest = text.trim_start().strip_prefix('"')?;
        let end = rest.find('"')?;
        let code = &rest[..end];
        (!code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then_some(code)
    }

    /// The codes a file names where codes go: `denied("c", ..)`, `bad_request("c", ..)`,
    /// `fail("c", ..)`, `invalid(field, "c", ..)`, `code: "c"`, `(StatusCode::X, "c")`, and the
    /// fixed codes of `FarmError::code`.
    fn codes_in(text: &str, is_error_rs: bool, codes: &mut BTreeSet<String>) {
        let after = |prefix: &'static str| text.match_indices(prefix).map(move |(i, _)| &text[i + prefix.len()..]);
        for prefix in ["denied(", "bad_request(", "fail(", "code: "] {
            codes.extend(after(prefix).filter_map(literal).map(str::to_owned));
        }
        for rest in after("invalid(") {
            // The second argument, after the field (not a call without arguments).
            let Some((field, second)) = rest.split_once(',') else { continue };
            if let Some(code) = literal(second).filter(|_| !field.contains(')')) {
                codes.insert(code.to_owned());
            }
        }
        for rest in after("(StatusCode::") {
            // `(StatusCode::X, "code")`: a rejection's status and code.
            let Some((_, second)) = rest.split_once(',') else { continue };
            if let Some(code) = literal(second).filter(|c| second.trim_start()[c.len() + 2..].starts_with(')')) {
                codes.insert(code.to_owned());
            }
        }
        if is_error_rs {
            codes.extend(after("=> ").filter_map(literal).map(str::to_owned));
        }
    }

    fn codes_in_sources() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut codes = BTreeSet::new();
        let mut pending: Vec<_> = ["farm-core/src", "farm-api/src", "farm-http/src", "farm-web/src"]
            .iter()
            .map(|dir| root.join(dir))
            .collect();
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                pending.extend(std::fs::read_dir(&path).expect("read_dir").map(|e| e.expect("entry").path()));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read");
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
                codes_in(code, path.ends_with("farm-core/src/error.rs"), &mut codes);
            }
        }
        codes
    }

    fn codes_in_readme() -> BTreeSet<String> {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
        let mut codes = BTreeSet::new();
        for row in readme.lines().filter(|l| l.starts_with("| 4") || l.starts_with("| 5")) {
            let cell = row.split('|').nth(3).unwrap_or("");
            codes.extend(cell.split('`').skip(1).step_by(2).map(str::to_owned));
        }
        codes
    }

    #[test]
    fn the_readme_lists_every_error_code_and_no_other() {
        let (code, readme) = (codes_in_sources(), codes_in_readme());
        assert!(code.len() > 40, "the sources' codes were read: {code:?}");
        let missing: Vec<_> = code.difference(&readme).collect();
        let extra: Vec<_> = readme.difference(&code).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "not in the README: {missing:?}; only in the README: {extra:?}"
        );
    }
}
