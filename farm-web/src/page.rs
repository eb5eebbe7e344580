//! What every page needs: the language and its messages, the visitor's session, the CSRF
//! token of its forms, and rendering with the shared layout.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{ACCEPT_LANGUAGE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use farm_core::app::accounts::Session;
use farm_core::domain::{permissions, Actor, FarmMode};
use farm_core::platform::ratelimit::Source;
use farm_core::{Farm, FarmError};
use serde::Serialize;

use farm_http::security::{constant_time_eq, cookie_names, from_own_origin, read_cookie, set_cookie, CookieValue};

/// The visitor's choice of language (anyone may set it; it decides nothing else).
pub const LANG_COOKIE: &str = "farm_lang";

/// The portal's languages: code, name in that language, messages.
pub const LANGUAGES: &[(&str, &str, &str)] =
    &[("en", "English", include_str!("../locales/en.json")), ("de", "Deutsch", include_str!("../locales/de.json"))];

pub type Messages = BTreeMap<String, String>;

pub fn catalogs() -> &'static BTreeMap<&'static str, Messages> {
    static CATALOGS: OnceLock<BTreeMap<&'static str, Messages>> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        LANGUAGES.iter().map(|(code, _, json)| (*code, serde_json::from_str(json).unwrap_or_default())).collect()
    })
}

pub(crate) fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        // `.html` names turn on HTML escaping of every value.
        for (name, source) in crate::TEMPLATES {
            if let Err(err) = env.add_template(name, source) {
                eprintln!("farm-web: template {name}: {err}");
            }
        }
        env
    })
}

/// The request as a page sees it.
pub struct PageCtx {
    pub farm: Arc<Farm>,
    pub lang: &'static str,
    pub session: Option<Session>,
    /// The token every form of this page carries (see [`crate::security`]).
    pub csrf: String,
    /// The visitor's pre-session id, and whether this request made it (then its cookie is
    /// set with the answer, and no form could have been made for it yet).
    presession: String,
    new_presession: bool,
    /// A farm cookie came twice: someone tossed one in. Nothing changes on this request.
    tampered: bool,
    /// The request came from the portal's own pages (`Origin`, `Sec-Fetch-Site`).
    own_origin: bool,
    /// Path and query of this request, for "come back here" links.
    pub here: String,
    pub source: Source,
}

#[derive(Serialize)]
struct UserCtx<'a> {
    name: &'a str,
    staff: bool,
    admin: bool,
    confirmed: bool,
}

#[derive(Serialize)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

fn language_of(parts: &Parts) -> &'static str {
    let known = |code: &str| LANGUAGES.iter().map(|(c, _, _)| *c).find(|c| *c == code);
    if let Some(lang) = read_cookie(&parts.headers, LANG_COOKIE).value().and_then(known) {
        return lang;
    }
    let accept = parts.headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept
        .split(',')
        .filter_map(|item| item.split(';').next())
        .filter_map(|tag| known(tag.trim().split('-').next().unwrap_or("").to_ascii_lowercase().as_str()))
        .next()
        .unwrap_or("en")
}

impl<S> FromRequestParts<S> for PageCtx
where
    S: Send + Sync,
    Arc<Farm>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let farm = Arc::<Farm>::from_ref(state);
        let names = cookie_names(&farm);
        let session_cookie = read_cookie(&parts.headers, names.session);
        let session = match session_cookie.value() {
            Some(token) => farm.authenticate(token).await.ok(),
            None => None,
        };
        let presession_cookie = read_cookie(&parts.headers, names.presession);
        let tampered = session_cookie == CookieValue::Tampered || presession_cookie == CookieValue::Tampered;
        let existing = presession_cookie.value().filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let (presession, new_presession) = match existing {
            Some(value) => (value.to_owned(), false),
            None => (farm_core::platform::random::random_hex(16), true),
        };
        let csrf = match &session {
            Some(session) => farm.csrf_token(&session.session_id),
            None => farm.anonymous_csrf_token(&presession),
        };
        let own_origin = from_own_origin(&parts.headers, &farm);
        let source = farm_http::client_source(parts, &farm);
        let here = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Self {
            lang: language_of(parts),
            farm,
            session,
            csrf,
            presession,
            new_presession,
            tampered,
            own_origin,
            here,
            source,
        })
    }
}

/// Only paths on this site: `/x`, never `//host` or `http://`.
pub fn local_path(next: Option<&str>, default: &str) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => default.to_owned(),
    }
}

impl PageCtx {
    pub fn tr(&self) -> &'static Messages {
        static EMPTY: OnceLock<Messages> = OnceLock::new();
        catalogs().get(self.lang).unwrap_or_else(|| EMPTY.get_or_init(Messages::new))
    }

    pub fn t(&self, key: &str) -> String {
        self.tr().get(key).cloned().unwrap_or_else(|| key.to_owned())
    }

    /// The visitor's pre-session id, when their browser sent exactly one (not one made for
    /// this request, not a tossed duplicate): what logins under way are bound to.
    pub fn presession(&self) -> Option<&str> {
        (!self.new_presession && !self.tampered).then_some(self.presession.as_str())
    }

    pub fn actor(&self) -> Option<&Actor> {
        self.session.as_ref().map(|s| &s.actor)
    }

    /// The visitor must be logged in: else a redirect to the login page (and back).
    // The Err is the page the handler answers with, at once: boxing it would buy nothing.
    #[allow(clippy::result_large_err)]
    pub fn require_actor(&self) -> Result<&Actor, Response> {
        self.actor().ok_or_else(|| {
            let next: String = url_escape(&self.here);
            see_other(&format!("/login?next={next}"))
        })
    }

    /// A form must come from the portal's own pages and carry the token of this visitor's
    /// session (see [`crate::security`]).
    // The Err is the page the handler answers with, at once: boxing it would buy nothing.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, presented: &str) -> Result<(), Response> {
        let ok = self.own_origin
            && !self.tampered
            && (self.session.is_some() || !self.new_presession)
            && constant_time_eq(presented.as_bytes(), self.csrf.as_bytes());
        if ok {
            Ok(())
        } else {
            Err(self.message(StatusCode::FORBIDDEN, "csrf-failed", "csrf_title", &self.t("csrf"), None))
        }
    }

    /// A domain error as people read it, in the page's language.
    pub fn error(&self, err: &FarmError) -> FieldError {
        if let FarmError::Internal(inner) = err {
            tracing_log(&format!("{inner:#}"));
        }
        let code = err.code();
        let message = self.tr().get(&format!("error_{code}")).cloned().unwrap_or_else(|| err.to_string());
        FieldError { code, message }
    }

    /// Splits an error into the field it concerns (`errors`) or the page (`error`).
    pub fn error_context(&self, err: &FarmError) -> minijinja::Value {
        let detail = self.error(err);
        match err.field() {
            Some(field) => {
                let mut errors = BTreeMap::new();
                errors.insert(field, detail);
                minijinja::context! { errors => errors }
            }
            None => minijinja::context! { error => detail },
        }
    }

    pub fn render(&self, status: StatusCode, template: &str, extra: minijinja::Value) -> Response {
        self.render_with(status, template, extra, None)
    }

    pub fn render_with(
        &self,
        status: StatusCode,
        template: &str,
        extra: minijinja::Value,
        refresh: Option<u32>,
    ) -> Response {
        let user = self.actor().map(|actor| UserCtx {
            name: actor.username.as_str(),
            // The menu offers what the rules allow.
            staff: permissions::review_requests(actor).is_ok(),
            admin: permissions::see_farm(actor).is_ok(),
            confirmed: actor.confirmed,
        });
        let languages: Vec<_> =
            LANGUAGES.iter().map(|(code, label, _)| minijinja::context! { code => code, label => label }).collect();
        let policy = match self.farm.config().policy {
            FarmMode::Open => "open",
            FarmMode::Review => "review",
            FarmMode::Sandbox => "sandbox",
        };
        let base = minijinja::context! {
            farm => self.farm.config().farm_name,
            lang => self.lang,
            tr => self.tr(),
            languages => languages,
            user => user,
            csrf => self.csrf,
            policy => policy,
            here => url_escape(&self.here),
            refresh => refresh,
            errors => BTreeMap::<String, String>::new(),
            form => BTreeMap::<String, String>::new(),
        };
        // The page's own values win over the defaults.
        let context = merge(base, extra);
        let body = templates().get_template(template).and_then(|t| t.render(context));
        let mut response = match body {
            Ok(html) => (status, Html(html)).into_response(),
            Err(err) => {
                tracing_log(&format!("rendering {template}: {err:#}"));
                (StatusCode::INTERNAL_SERVER_ERROR, Html("The page could not be shown.".to_owned())).into_response()
            }
        };
        if self.new_presession {
            let name = cookie_names(&self.farm).presession;
            let cookie = set_cookie(&self.farm, name, &self.presession, time::Duration::days(1), true);
            response.headers_mut().append(SET_COOKIE, cookie);
        }
        response
    }

    /// A page with a title and a message (confirmations, errors).
    pub fn message(
        &self,
        status: StatusCode,
        anchor: &str,
        title_key: &str,
        message: &str,
        link: Option<(&str, String)>,
    ) -> Response {
        let link = link.map(|(href, label)| minijinja::context! { href => href, label => label });
        self.render(
            status,
            "message.html",
            minijinja::context! { anchor => anchor, title => self.t(title_key), message => message, link => link },
        )
    }

    pub fn not_found(&self) -> Response {
        self.message(StatusCode::NOT_FOUND, "not-found", "not_found_title", &self.t("not_found"), None)
    }

    /// The page for an error that is not about a form field.
    pub fn error_page(&self, err: &FarmError) -> Response {
        if let FarmError::NotFound(_) = err {
            return self.not_found();
        }
        let status = farm_http::status(err);
        let detail = self.error(err);
        self.message(status, "error", "forbidden_title", &detail.message, None)
    }
}

/// `over` on top of `under`: keys of `over` win (minijinja's merge lets the later map win).
pub fn merge(under: minijinja::Value, over: minijinja::Value) -> minijinja::Value {
    minijinja::value::merge_maps([under, over])
}

/// 303 See Other: after a form, the browser GETs the next page.
pub fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(path) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn tracing_log(message: &str) {
    tracing::error!(error = %message, "portal");
}
