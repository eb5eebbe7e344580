//! The portal: the pages people use. For now the home page, which says what this farm is and
//! how to use its API, and the pages that links in mail open (email confirmation, password
//! reset); the self-service pages grow here on top of the same `Farm` calls.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, FromRef, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::get;
use axum::{Form, Router};
use farm_core::ratelimit::Source;
use farm_core::Farm;
use serde::Deserialize;

/// The portal's routes, for any router state that holds the farm.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Farm>: FromRef<S>,
{
    Router::new()
        .route("/", get(home))
        .route("/confirm-email", get(confirm_email))
        .route("/reset-password", get(reset_form).post(reset_password))
}

async fn home() -> Html<&'static str> {
    Html(include_str!("../templates/home.html"))
}

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        // `.html` names turn on HTML escaping of every value.
        if let Err(err) = env.add_template("page.html", include_str!("../templates/page.html")) {
            tracing_free_log(&err.to_string());
        }
        env
    })
}

fn tracing_free_log(message: &str) {
    eprintln!("farm-web: page template: {message}");
}

fn page(
    farm: &Farm,
    status: StatusCode,
    title: &str,
    message: &str,
    reset_token: Option<&str>,
) -> (StatusCode, Html<String>) {
    let rendered = templates()
        .get_template("page.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                farm => farm.config.farm_name, title, message, reset_token,
            })
        })
        .unwrap_or_else(|_| "The page could not be rendered.".into());
    (status, Html(rendered))
}

fn source(farm: &Farm, peer: SocketAddr, headers: &HeaderMap) -> Source {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Source::of_request(Some(peer.ip()), forwarded, &farm.config.trusted_proxies)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The link in the confirmation mail.
async fn confirm_email(
    State(farm): State<Arc<Farm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> (StatusCode, Html<String>) {
    let source = source(&farm, peer, &headers);
    match farm.confirm_email(query.token.as_deref().unwrap_or(""), &source).await {
        Ok(account) => page(
            &farm,
            StatusCode::OK,
            "Email address confirmed",
            &format!(
                "Thank you, {}: your address is confirmed. You can now create or request wikis.",
                account.username
            ),
            None,
        ),
        Err(err) => page(&farm, StatusCode::BAD_REQUEST, "This link does not work", &err.to_string(), None),
    }
}

fn is_mail_secret(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The link in the reset mail: a form for the new password.
async fn reset_form(State(farm): State<Arc<Farm>>, Query(query): Query<TokenQuery>) -> (StatusCode, Html<String>) {
    match query.token.as_deref().filter(|t| is_mail_secret(t)) {
        Some(token) => page(&farm, StatusCode::OK, "Choose a new password", "", Some(token)),
        None => page(&farm, StatusCode::BAD_REQUEST, "This link does not work", "The link is incomplete.", None),
    }
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
}

/// The form needs no CSRF token: the secret from the mail is the proof.
async fn reset_password(
    State(farm): State<Arc<Farm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> (StatusCode, Html<String>) {
    let source = source(&farm, peer, &headers);
    match farm.reset_password(&form.token, &form.password, &source).await {
        Ok(()) => page(&farm, StatusCode::OK, "Password changed", "Log in with your new password.", None),
        Err(err @ farm_core::FarmError::Invalid { field: "password", .. }) => {
            page(&farm, StatusCode::UNPROCESSABLE_ENTITY, "Choose a new password", &err.to_string(), Some(&form.token))
        }
        Err(farm_core::FarmError::Internal(_)) => {
            page(&farm, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again later.", None)
        }
        Err(err) => page(&farm, StatusCode::BAD_REQUEST, "This link does not work", &err.to_string(), None),
    }
}
