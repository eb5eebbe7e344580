//! The portal: server-rendered pages (minijinja templates, English and German) over the same
//! [`farm_core::Farm`] calls as the API, with a little JavaScript where it helps (the live
//! name check, following a wiki being built). Every form works without JavaScript and carries
//! a CSRF token; every response has a strict content security policy.

mod page;
mod pages;
mod settings;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use farm_core::domain::image::MAX_IMAGE_BYTES;
use farm_core::Farm;
use tower_http::set_header::SetResponseHeaderLayer;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("create.html", include_str!("../templates/create.html")),
    ("wikis.html", include_str!("../templates/wikis.html")),
    ("wiki.html", include_str!("../templates/wiki.html")),
    ("request.html", include_str!("../templates/request.html")),
    ("decide.html", include_str!("../templates/decide.html")),
    ("review.html", include_str!("../templates/review.html")),
    ("admin.html", include_str!("../templates/admin.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    ("settings_history.html", include_str!("../templates/settings_history.html")),
];

/// Scripts, styles, forms and fetches only from this site; no frames, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page that also shows images from `img_origin` (a wiki's own address, where
/// the wiki serves its logo): the same but for that one image source.
pub(crate) fn content_security_policy(img_origin: Option<&str>) -> String {
    match img_origin {
        Some(origin) if !origin.contains([';', ',', ' ', '\'', '"']) => {
            CONTENT_SECURITY_POLICY.replace("img-src 'self' data:;", &format!("img-src 'self' data: {origin};"))
        }
        _ => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

/// The portal's routes, for any router state that holds the farm.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Farm>: FromRef<S>,
{
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::overriding(HeaderName::from_static(name), HeaderValue::from_static(value))
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/signup", get(pages::signup_form).post(pages::sign_up))
        .route("/login", get(pages::login_form).post(pages::log_in))
        .route("/logout", post(pages::log_out))
        .route("/confirm-email", get(pages::confirm_email))
        .route("/forgot-password", get(pages::forgot_form).post(pages::forgot))
        .route("/reset-password", get(pages::reset_form).post(pages::reset_password))
        .route("/language/{code}", get(pages::language))
        .route("/wikis", get(pages::my_wikis))
        .route("/wikis/new", get(pages::create_form).post(pages::create))
        .route("/wikis/{name}", get(pages::wiki))
        .route("/wikis/{name}/delete", post(pages::delete_wiki))
        .route("/wikis/{name}/settings", get(settings::settings).post(settings::save_settings))
        .route("/wikis/{name}/settings/history", get(settings::history))
        .route("/wikis/{name}/settings/rollback", post(settings::rollback))
        .route(
            "/wikis/{name}/logo",
            post(settings::upload_logo).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 64 * 1024)),
        )
        .route("/requests/{id}", get(pages::request))
        .route("/requests/{id}/comment", post(pages::comment))
        .route("/requests/{id}/withdraw", post(pages::withdraw))
        .route("/requests/{id}/review", post(pages::review_request))
        .route("/review", get(pages::review_queue))
        .route("/admin", get(pages::admin))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        // A page may widen its own policy (the settings page shows the wiki's logo).
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(header("x-content-type-options", "nosniff"))
        .layer(header("x-frame-options", "DENY"))
        .layer(header("referrer-policy", "same-origin"))
}

async fn css() -> ([(axum::http::HeaderName, &'static str); 2], &'static str) {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "max-age=300")], include_str!("../static/portal.css"))
}

async fn js() -> ([(axum::http::HeaderName, &'static str); 2], &'static str) {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "max-age=300")],
        include_str!("../static/portal.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(page::templates().get_template(name).is_ok(), "{name} does not parse");
        }
    }

    #[test]
    fn every_language_has_every_message() {
        let catalogs = page::catalogs();
        let english: Vec<&String> = catalogs["en"].keys().collect();
        assert!(english.len() > 100);
        for (code, messages) in catalogs {
            assert_eq!(messages.keys().collect::<Vec<_>>(), english, "{code} differs from en");
            assert!(messages.values().all(|m| !m.trim().is_empty()), "{code} has an empty message");
        }
    }

    #[test]
    fn every_message_a_template_uses_exists() {
        let english = &page::catalogs()["en"];
        for (name, source) in TEMPLATES {
            for (i, _) in source.match_indices("tr.") {
                let key: String = source[i + 3..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                assert!(english.contains_key(&key), "{name} uses tr.{key}, which en.json lacks");
            }
        }
    }
}
