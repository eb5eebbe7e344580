//! Logging in through identity providers: a button per OpenID Connect provider (to the
//! provider and back), a form per LDAP directory, and the choice page of a first login whose
//! user name or address belongs to an account already. Each ends in the same portal session
//! cookie as a password login.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use farm_core::app::accounts::Login;
use farm_core::app::external_login::{ChoiceView, ExternalOutcome, OidcCallback};
use farm_core::FarmError;
use farm_http::security::{cookie_names, cookies_can_be_tossed, from_same_site_page, set_cookie, sign_on_hint_cookie};
use serde::Deserialize;

use crate::page::{local_path, merge, see_other, PageCtx};

/// The login page with the farm's ways in, and `extra` (an error, the typed login).
pub(crate) fn login_page(ctx: &PageCtx, status: StatusCode, extra: minijinja::Value) -> Response {
    let ways = ctx.farm.login_ways();
    ctx.render(status, "login.html", merge(minijinja::context! { ways => ways, next => "/wikis" }, extra))
}

/// The end of every login: the session cookie, and on to `next` (a path of this site).
pub(crate) fn logged_in(ctx: &PageCtx, login: &Login, next: &str) -> Response {
    let mut response = see_other(&local_path(Some(next), "/wikis"));
    let max_age = time::Duration::seconds(login.expires_at - farm_core::platform::time::now());
    let cookie = set_cookie(&ctx.farm, cookie_names(&ctx.farm).session, &login.token, max_age, true);
    response.headers_mut().append(SET_COOKIE, cookie);
    // Tells the wikis that a sign-on check may find someone now (farm-sign-on.php).
    let hint = farm_core::platform::random::random_hex(8);
    response.headers_mut().append(SET_COOKIE, sign_on_hint_cookie(&ctx.farm, Some(&hint), max_age));
    response
}

/// A login the farm refused: a page saying why (its status from the error), and the way back.
fn refused(ctx: &PageCtx, err: &FarmError) -> Response {
    if let FarmError::NotFound(_) = err {
        return ctx.not_found();
    }
    let detail = ctx.error(err);
    let link = minijinja::context! { href => "/login", label => ctx.t("login_again") };
    ctx.render(
        farm_http::status(err),
        "message.html",
        minijinja::context! {
            anchor => "login-refused", code => detail.code, title => ctx.t("login_refused_title"),
            message => detail.message, link => link,
        },
    )
}

fn choice_page(ctx: &PageCtx, status: StatusCode, choice: &ChoiceView, extra: minijinja::Value) -> Response {
    ctx.render(status, "choice.html", merge(minijinja::context! { choice => choice }, extra))
}

fn outcome(ctx: &PageCtx, outcome: ExternalOutcome) -> Response {
    match outcome {
        ExternalOutcome::LoggedIn { login, next } => logged_in(ctx, &login, &next),
        ExternalOutcome::Choose(choice) => choice_page(ctx, StatusCode::OK, &choice, minijinja::context! {}),
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// The button of an OpenID Connect provider: off to the provider.
pub async fn start_oidc(ctx: PageCtx, Path(provider): Path<String>, Form(form): Form<StartForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let Some(presession) = ctx.presession() else {
        return ctx.message(StatusCode::FORBIDDEN, "csrf-failed", "csrf_title", &ctx.t("csrf"), None);
    };
    let next = local_path(form.next.as_deref(), "/wikis");
    match ctx.farm.begin_oidc_login(&provider, presession, &next, &ctx.source).await {
        // A page that moves on by itself, not a redirect: the login page's policy allows forms
        // to send only to the portal (`form-action 'self'`), and browsers apply that to a
        // form's redirects too.
        Ok(url) => {
            let name = ctx.farm.login_ways().oidc.into_iter().find(|p| p.id == provider).map(|p| p.name);
            let link = minijinja::context! { href => url, label => ctx.t("login_redirect_continue") };
            ctx.render(
                StatusCode::OK,
                "message.html",
                minijinja::context! {
                    anchor => "oidc-redirect", title => ctx.t("login_redirect_title"),
                    message => ctx.t("login_redirect").replace("{provider}", &name.unwrap_or_default()),
                    link => link, refresh => format!("0; url={url}"),
                },
            )
        }
        Err(err) => refused(&ctx, &err),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back.
pub async fn oidc_callback(
    ctx: PageCtx,
    Path(provider): Path<String>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or(CallbackQuery { state: None, code: None, error: None });
    // Over plain http a wiki can set the pre-session cookie of a visitor who has none: a
    // callback that a wiki's page sent the browser to is not bound to the visitor.
    let tossable = cookies_can_be_tossed(&ctx.farm) && from_same_site_page(&headers);
    let presession = if tossable { None } else { ctx.presession() };
    let callback = OidcCallback { state: query.state, code: query.code, error: query.error };
    match ctx.farm.finish_oidc_login(&provider, &callback, presession, &ctx.source).await {
        Ok(done) => outcome(&ctx, done),
        Err(err) => refused(&ctx, &err),
    }
}

#[derive(Deserialize)]
pub struct LdapForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The form of an LDAP directory.
pub async fn ldap(ctx: PageCtx, Path(provider): Path<String>, Form(form): Form<LdapForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let Some(presession) = ctx.presession() else {
        return ctx.message(StatusCode::FORBIDDEN, "csrf-failed", "csrf_title", &ctx.t("csrf"), None);
    };
    let next = local_path(form.next.as_deref(), "/wikis");
    match ctx.farm.log_in_ldap(&provider, &form.login, &form.password, presession, &next, &ctx.source).await {
        Ok(done) => outcome(&ctx, done),
        Err(FarmError::NotFound(_)) => ctx.not_found(),
        Err(err) => login_page(
            &ctx,
            farm_http::status(&err),
            minijinja::context! {
                error => ctx.error(&err), provider_error => provider, next => next,
                form => minijinja::context! { login => form.login },
            },
        ),
    }
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// The choice "this is my account": its farm password links it.
pub async fn link(ctx: PageCtx, Form(form): Form<LinkForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let presession = ctx.presession();
    match ctx.farm.link_external_identity(&form.token, &form.login, &form.password, presession, &ctx.source).await {
        Ok((login, next)) => logged_in(&ctx, &login, &next),
        Err(err) => match ctx.farm.external_choice(&form.token, presession).await {
            Ok(choice) => choice_page(
                &ctx,
                farm_http::status(&err),
                &choice,
                minijinja::context! { error => ctx.error(&err), form => minijinja::context! { login => form.login } },
            ),
            Err(_) => refused(&ctx, &err),
        },
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
}

/// The choice "make a new account" with a user name of the person's choosing.
pub async fn create_account(ctx: PageCtx, Form(form): Form<CreateForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let presession = ctx.presession();
    match ctx.farm.create_from_external(&form.token, &form.username, presession, &ctx.source).await {
        Ok((login, next)) => logged_in(&ctx, &login, &next),
        Err(err) => match ctx.farm.external_choice(&form.token, presession).await {
            Ok(choice) => choice_page(
                &ctx,
                farm_http::status(&err),
                &choice,
                merge(
                    ctx.error_context(&err),
                    minijinja::context! { form => minijinja::context! { username => form.username } },
                ),
            ),
            Err(_) => refused(&ctx, &err),
        },
    }
}
