//! The portal's pages. Each handler parses the form, calls the same `Farm` method as the API,
//! and renders the answer; rules live in the domain core, never here.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use farm_core::app::accounts::SignUp;
use farm_core::app::requests::{Decision, RequestInput};
use farm_core::app::CreateWiki;
use farm_core::domain::permissions::{self, WayToAWiki};
use farm_core::domain::{Actor, RequestState, SessionKind, WikiState};
use farm_core::platform::time::format_time;
use farm_core::FarmError;
use farm_http::security::{cookie_names, set_cookie, sign_on_hint_cookie};
use serde::Deserialize;

use crate::page::{local_path, merge, see_other, PageCtx, LANGUAGES, LANG_COOKIE};

/// Name rules the live check can report, for its localised messages.
const NAME_CODES: &[&str] = &[
    "name_too_short",
    "name_too_long",
    "name_invalid_characters",
    "name_hyphen_edge",
    "name_idn_prefix",
    "name_reserved",
    "name_denied",
    "name_taken",
    "request_exists",
];

fn form_map<const N: usize>(fields: [(&str, &str); N]) -> BTreeMap<String, String> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

pub async fn home(ctx: PageCtx) -> Response {
    let wikis: Vec<_> = match ctx.farm.directory(None, 100).await {
        Ok(page) => page
            .items
            .into_iter()
            .map(|w| minijinja::context! { name => w.name, sitename => w.sitename, url => w.url })
            .collect(),
        Err(err) => return ctx.error_page(&err),
    };
    ctx.render(StatusCode::OK, "home.html", minijinja::context! { wikis => wikis })
}

pub async fn signup_form(ctx: PageCtx) -> Response {
    let ways = ctx.farm.login_ways();
    ctx.render(StatusCode::OK, "signup.html", minijinja::context! { ways => ways })
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn sign_up(ctx: PageCtx, Form(form): Form<SignupForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let values = form_map([("username", &form.username), ("email", &form.email)]);
    let signup = SignUp { username: form.username.clone(), email: form.email.clone(), password: form.password };
    match ctx.farm.sign_up(signup, &ctx.source).await {
        Ok(_) => ctx.message(StatusCode::CREATED, "signup-done", "signup_done_title", &ctx.t("signup_done"), None),
        Err(err) => ctx.render(
            status_of(&err),
            "signup.html",
            merge(ctx.error_context(&err), minijinja::context! { form => values, ways => ctx.farm.login_ways() }),
        ),
    }
}

fn status_of(err: &FarmError) -> StatusCode {
    farm_http::status(err)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(ctx: PageCtx, Query(query): Query<NextQuery>) -> Response {
    let next = local_path(query.next.as_deref(), "/wikis");
    crate::login::login_page(&ctx, StatusCode::OK, minijinja::context! { next => next })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn log_in(ctx: PageCtx, Form(form): Form<LoginForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let next = local_path(form.next.as_deref(), "/wikis");
    match ctx.farm.log_in(&form.login, &form.password, SessionKind::Portal, &ctx.source).await {
        Ok(login) => crate::login::logged_in(&ctx, &login, &next),
        Err(err) => crate::login::login_page(
            &ctx,
            status_of(&err),
            minijinja::context! { error => ctx.error(&err), next => next, form => form_map([("login", &form.login)]) },
        ),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn log_out(ctx: PageCtx, Form(form): Form<CsrfForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    if let Some(session) = &ctx.session {
        if let Err(err) = ctx.farm.log_out(session, &ctx.source).await {
            return ctx.error_page(&err);
        }
    }
    let mut response = see_other("/");
    let cookie = set_cookie(&ctx.farm, cookie_names(&ctx.farm).session, "", time::Duration::ZERO, true);
    response.headers_mut().append(SET_COOKIE, cookie);
    response.headers_mut().append(SET_COOKIE, sign_on_hint_cookie(&ctx.farm, None, time::Duration::ZERO));
    response
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The link in the confirmation mail.
pub async fn confirm_email(ctx: PageCtx, Query(query): Query<TokenQuery>) -> Response {
    match ctx.farm.confirm_email(query.token.as_deref().unwrap_or(""), &ctx.source).await {
        Ok(_) => {
            let link = if ctx.actor().is_some() {
                ("/wikis/new", ctx.t("nav_create"))
            } else {
                ("/login", ctx.t("nav_login"))
            };
            ctx.message(StatusCode::OK, "confirmed", "confirmed_title", &ctx.t("confirmed"), Some(link))
        }
        Err(err) => {
            let detail = ctx.error(&err);
            ctx.message(StatusCode::BAD_REQUEST, "link-broken", "link_broken_title", &detail.message, None)
        }
    }
}

pub async fn forgot_form(ctx: PageCtx) -> Response {
    ctx.render(StatusCode::OK, "forgot.html", minijinja::context! {})
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn forgot(ctx: PageCtx, Form(form): Form<ForgotForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.request_password_reset(&form.email, &ctx.source).await {
        Ok(()) => ctx.render(StatusCode::ACCEPTED, "forgot.html", minijinja::context! { sent => true }),
        Err(err) => ctx.render(
            status_of(&err),
            "forgot.html",
            merge(ctx.error_context(&err), minijinja::context! { form => form_map([("email", &form.email)]) }),
        ),
    }
}

fn is_mail_secret(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The link in the reset mail: a form for the new password.
pub async fn reset_form(ctx: PageCtx, Query(query): Query<TokenQuery>) -> Response {
    match query.token.as_deref().filter(|t| is_mail_secret(t)) {
        Some(token) => ctx.render(StatusCode::OK, "reset.html", minijinja::context! { reset_token => token }),
        None => {
            let message = ctx.t("error_link_invalid");
            ctx.message(StatusCode::BAD_REQUEST, "link-broken", "link_broken_title", &message, None)
        }
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

pub async fn reset_password(ctx: PageCtx, Form(form): Form<ResetForm>) -> Response {
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.reset_password(&form.token, &form.password, &ctx.source).await {
        Ok(()) => ctx.message(
            StatusCode::OK,
            "reset-done",
            "reset_done_title",
            &ctx.t("reset_done"),
            Some(("/login", ctx.t("nav_login"))),
        ),
        Err(err @ FarmError::Invalid { field: "password", .. }) if is_mail_secret(&form.token) => ctx.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reset.html",
            merge(ctx.error_context(&err), minijinja::context! { reset_token => form.token }),
        ),
        Err(err) => {
            let detail = ctx.error(&err);
            ctx.message(status_of(&err), "link-broken", "link_broken_title", &detail.message, None)
        }
    }
}

/// `/language/de?next=/wikis`: remember the choice in a cookie and go back.
pub async fn language(ctx: PageCtx, Path(code): Path<String>, Query(query): Query<NextQuery>) -> Response {
    let Some((code, _, _)) = LANGUAGES.iter().find(|(c, _, _)| *c == code) else { return ctx.not_found() };
    let mut response = see_other(&local_path(query.next.as_deref(), "/"));
    let cookie = set_cookie(&ctx.farm, LANG_COOKIE, code, time::Duration::days(365), false);
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

pub(crate) fn languages_for_wikis(ctx: &PageCtx) -> Vec<minijinja::Value> {
    // The portal offers its own languages plus MediaWiki's most used ones; the API takes any.
    ["en", "de", "fr", "es", "it", "nl", "pl", "pt", "sv", "eo", "ja", "zh"]
        .into_iter()
        .filter(|code| ctx.farm.languages().parse(code).is_ok())
        .map(|code| minijinja::context! { code => code, label => code })
        .collect()
}

/// Whether this visitor asks for a wiki (review policy) rather than creating one.
pub(crate) fn is_review(ctx: &PageCtx) -> bool {
    ctx.farm.way_to_a_wiki(ctx.actor()) == WayToAWiki::Request
}

fn create_page(ctx: &PageCtx, status: StatusCode, extra: minijinja::Value) -> Response {
    let base = minijinja::context! {
        review => is_review(ctx),
        base_domain => ctx.farm.urls().base_domain(),
        wiki_languages => languages_for_wikis(ctx),
        name_codes => NAME_CODES,
        starters => ctx.farm.starters(Some(ctx.lang)).unwrap_or_default(),
    };
    ctx.render(status, "create.html", merge(base, extra))
}

pub async fn create_form(ctx: PageCtx) -> Response {
    if let Err(login) = ctx.require_actor() {
        return login;
    }
    create_page(&ctx, StatusCode::OK, minijinja::context! { form => form_map([("language", "en")]) })
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    sitename: String,
    language: Option<String>,
    purpose: Option<String>,
    reason: Option<String>,
    starter: Option<String>,
}

pub async fn create(ctx: PageCtx, Form(form): Form<CreateForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let language = form.language.clone().filter(|l| !l.is_empty());
    let values = form_map([
        ("name", &form.name),
        ("sitename", &form.sitename),
        ("language", language.as_deref().unwrap_or("en")),
        ("purpose", form.purpose.as_deref().unwrap_or("")),
        ("reason", form.reason.as_deref().unwrap_or("")),
        ("starter", form.starter.as_deref().unwrap_or("")),
    ]);
    let outcome = if is_review(&ctx) {
        let input = RequestInput {
            name: form.name.clone(),
            sitename: form.sitename.clone(),
            language,
            purpose: form.purpose.unwrap_or_default(),
            reason: form.reason.unwrap_or_default(),
            starter: form.starter.clone().filter(|s| !s.is_empty()),
        };
        ctx.farm.submit_request(&actor, input, &ctx.source).await.map(|r| format!("/requests/{}", r.id))
    } else {
        let request = CreateWiki {
            name: form.name.clone(),
            sitename: form.sitename.clone(),
            language,
            backend: None,
            settings: Default::default(),
            starter: form.starter.clone().filter(|s| !s.is_empty()),
        };
        ctx.farm.create_wiki(&actor, request, &ctx.source).await.map(|(view, _)| format!("/wikis/{}", view.name))
    };
    match outcome {
        Ok(next) => see_other(&next),
        Err(err) => {
            create_page(&ctx, status_of(&err), merge(ctx.error_context(&err), minijinja::context! { form => values }))
        }
    }
}

#[derive(Deserialize)]
pub struct WikisQuery {
    accepted: Option<String>,
    declined: Option<String>,
}

pub async fn my_wikis(ctx: PageCtx, Query(query): Query<WikisQuery>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    // What the form before this page did (POST-redirect-GET).
    let notice = match (query.accepted.is_some(), query.declined.is_some()) {
        (true, _) => Some(ctx.t("offer_accepted")),
        (_, true) => Some(ctx.t("offer_declined")),
        _ => None,
    };
    wikis_page(&ctx, &actor, StatusCode::OK, minijinja::context! { notice => notice }).await
}

/// "My wikis": the caller's wikis, the offers made to them and their open requests, with
/// `extra` (a notice, or the error of a form) on top.
async fn wikis_page(ctx: &PageCtx, actor: &Actor, status: StatusCode, extra: minijinja::Value) -> Response {
    let wikis = match ctx.farm.list_wikis(actor, None, None, None, Some(500)).await {
        Ok(page) => page
            .items
            .into_iter()
            .map(|w| {
                minijinja::context! {
                    name => w.name, sitename => w.sitename, state => w.state.as_str(), url => w.url,
                }
            })
            .collect::<Vec<_>>(),
        Err(err) => return ctx.error_page(&err),
    };
    let offers = match ctx.farm.my_transfers(actor).await {
        Ok(transfers) => transfers
            .into_iter()
            .filter(|t| t.state == "pending" && t.to == actor.username.as_str())
            .map(|t| minijinja::context! { id => t.id, wiki => t.wiki, from => t.from, when => format_time(t.created_at) })
            .collect::<Vec<_>>(),
        Err(err) => return ctx.error_page(&err),
    };
    let requests = match ctx.farm.list_requests(actor, None, None, None, Some(500)).await {
        Ok(page) => page
            .items
            .into_iter()
            .filter(|r| r.state != RequestState::Approved)
            .map(|r| minijinja::context! { id => r.id, name => r.name, state => r.state.as_str() })
            .collect::<Vec<_>>(),
        Err(err) => return ctx.error_page(&err),
    };
    let base = minijinja::context! { wikis => wikis, offers => offers, requests => requests };
    ctx.render(status, "wikis.html", merge(base, extra))
}

#[derive(Deserialize)]
pub struct WikiQuery {
    undeleted: Option<String>,
    purged: Option<String>,
    renamed: Option<String>,
    offered: Option<String>,
    cancelled: Option<String>,
    manager_added: Option<String>,
    manager_removed: Option<String>,
}

pub async fn wiki(ctx: PageCtx, Path(name): Path<String>, Query(query): Query<WikiQuery>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    // What the form before this page did (POST-redirect-GET).
    // The notice of an offer names its recipient, from the offer itself (see `wiki_page`).
    let notice = if query.undeleted.is_some() {
        Some(ctx.t("wiki_undeleted"))
    } else if query.purged.is_some() {
        Some(ctx.t("wiki_purged"))
    } else if query.renamed.is_some() {
        Some(ctx.t("wiki_renamed"))
    } else if query.cancelled.is_some() {
        Some(ctx.t("transfer_cancelled"))
    } else if query.manager_added.is_some() {
        Some(ctx.t("manager_added"))
    } else if query.manager_removed.is_some() {
        Some(ctx.t("manager_removed"))
    } else {
        None
    };
    let extra = minijinja::context! { notice => notice, offered => query.offered.is_some() };
    wiki_page(&ctx, &actor, &name, StatusCode::OK, extra).await
}

/// The wiki page, with `extra` (a notice, or the error of a form) on top.
async fn wiki_page(ctx: &PageCtx, actor: &Actor, name: &str, status: StatusCode, extra: minijinja::Value) -> Response {
    let view = match ctx.farm.get_wiki(actor, name).await {
        Ok(view) => view,
        Err(err) => return ctx.error_page(&err),
    };
    let state = view.state;
    let steps: Vec<_> = view
        .progress
        .iter()
        .flatten()
        .map(|step| minijinja::context! { name => step.step, done => step.done })
        .collect();
    let trashed = state == WikiState::Trashed;
    let trash_notice = trashed.then(|| match view.restorable_until {
        Some(until) => ctx.t("trash_notice").replace("{date}", &format_time(until)),
        None => ctx.t("trash_notice_undated"),
    });
    let wiki = minijinja::context! {
        name => view.name, sitename => view.sitename, state => state.as_str(), url => view.url,
        language => view.language, owner => view.owner, expires => view.expires_at.map(format_time),
        restorable_until => view.restorable_until,
    };
    // Who may delete may undelete; purging before the time is over is for admins.
    let can_delete = view.deletable && !matches!(state, WikiState::Deleting | WikiState::Deleted | WikiState::Trashed);
    let can_undelete = view.deletable && trashed;
    let can_purge = trashed && permissions::purge_wiki(actor, view.holders()).is_ok();
    // The confirmation says what the delete does: a served wiki goes to the trash (unless the
    // farm keeps none); one that never went live goes at once.
    let to_trash =
        matches!(state, WikiState::Active | WikiState::Locked) && !ctx.farm.config().deleted_retention.is_zero();
    let can_manage_settings = crate::settings::settings_link(actor, view.holders(), state);
    // Renaming and handing over are for who may delete, on an active wiki.
    let can_rename = state == WikiState::Active && permissions::may_delete_wiki(actor, view.holders());
    let can_transfer = can_rename;
    // Exporting and backups are for the owner or an admin, on a served wiki.
    let can_export = can_manage_settings && permissions::export_wiki(actor, view.holders()).is_ok();
    let can_change_managers = permissions::may_change_managers(actor, view.holders())
        && !matches!(state, WikiState::Deleting | WikiState::Deleted);
    // The caller's own pending offer of this wiki, with its cancel button.
    let outgoing = match ctx.farm.my_transfers(actor).await {
        Ok(transfers) => transfers
            .into_iter()
            .find(|t| t.state == "pending" && t.wiki == view.name.as_str() && t.from == actor.username.as_str()),
        Err(err) => return ctx.error_page(&err),
    };
    // After the transfer form (`offered` in `extra`), the notice names the offer's recipient.
    let offered_notice = extra.get_attr("offered").is_ok_and(|v| v.is_true()).then(|| match &outgoing {
        Some(t) => ctx.t("transfer_offered").replace("{user}", &t.to),
        None => ctx.t("transfer_offered_plain"),
    });
    let outgoing = outgoing.map(|t| {
        let text = ctx.t("transfer_pending").replace("{user}", &t.to).replace("{date}", &format_time(t.created_at));
        minijinja::context! { id => t.id, to => t.to, text => text }
    });
    // Without JavaScript the page reloads itself while the wiki is being built.
    let refresh = (state == WikiState::Provisioning || state == WikiState::Deleting).then_some(2);
    let base = minijinja::context! {
        wiki => wiki, steps => steps, can_delete => can_delete, can_manage_settings => can_manage_settings,
        delete_to_trash => to_trash, trash_notice => trash_notice, can_undelete => can_undelete,
        can_purge => can_purge, can_rename => can_rename, can_transfer => can_transfer, outgoing => outgoing,
        can_export => can_export, managers => view.managers, can_change_managers => can_change_managers,
    };
    let mut page = merge(base, extra);
    if let Some(notice) = offered_notice {
        page = merge(page, minijinja::context! { notice => notice });
    }
    ctx.render_with(status, "wiki.html", page, refresh)
}

/// After a form on the wiki page failed: the page again, with what went wrong above it
/// (`conflict_key` says it for a wiki that is not, or no longer, in the state the form needs).
pub(crate) async fn wiki_form_error(
    ctx: &PageCtx,
    actor: &Actor,
    name: &str,
    err: &FarmError,
    conflict_key: &str,
) -> Response {
    wiki_field_error(ctx, actor, name, err, conflict_key, None).await
}

/// [`wiki_form_error`] for a form with one input (`input`: its name and what was typed): an
/// error about that field is shown next to it, with the value kept.
async fn wiki_field_error(
    ctx: &PageCtx,
    actor: &Actor,
    name: &str,
    err: &FarmError,
    conflict_key: &str,
    input: Option<(&str, &str)>,
) -> Response {
    match err {
        FarmError::NotFound(_) | FarmError::Internal(_) => ctx.error_page(err),
        _ => {
            let mut detail = ctx.error(err);
            if matches!(err, FarmError::Conflict(_)) {
                detail.message = ctx.t(conflict_key);
            }
            let extra = match input {
                Some((field, value)) if err.field().is_some() => {
                    let errors = BTreeMap::from([(field.to_owned(), detail)]);
                    minijinja::context! { errors => errors, form => form_map([(field, value)]) }
                }
                Some((field, value)) => minijinja::context! { error => detail, form => form_map([(field, value)]) },
                None => minijinja::context! { error => detail },
            };
            wiki_page(ctx, actor, name, status_of(err), extra).await
        }
    }
}

fn wiki_path(name: &str) -> String {
    format!("/wikis/{}", crate::page::url_escape(name))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    confirm: Option<String>,
}

pub async fn delete_wiki(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<DeleteForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    if form.confirm.as_deref() != Some("yes") {
        return see_other(&wiki_path(&name));
    }
    match ctx.farm.delete_wiki(&actor, &name, &ctx.source).await {
        Ok(view) => see_other(&format!("/wikis/{}", view.name)),
        Err(err) => ctx.error_page(&err),
    }
}

/// Brings a wiki back from the trash (its owner or an admin).
pub async fn undelete_wiki(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.undelete_wiki(&actor, &name, &ctx.source).await {
        Ok(view) => see_other(&format!("/wikis/{}?undeleted=1", view.name)),
        Err(err) => wiki_form_error(&ctx, &actor, &name, &err, "undelete_conflict").await,
    }
}

/// Removes a wiki in the trash before its time (admins), once confirmed.
pub async fn purge_wiki(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<DeleteForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    if form.confirm.as_deref() != Some("yes") {
        return see_other(&wiki_path(&name));
    }
    match ctx.farm.purge_wiki(&actor, &name, &ctx.source).await {
        Ok(view) => see_other(&format!("/wikis/{}?purged=1", view.name)),
        Err(err) => wiki_form_error(&ctx, &actor, &name, &err, "purge_conflict").await,
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_name: String,
}

/// Gives an active wiki a new name (its owner or an admin); the page moves with it.
pub async fn rename_wiki(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<RenameForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let new_name = form.new_name.trim();
    match ctx.farm.rename_wiki(&actor, &name, new_name, &ctx.source).await {
        Ok(view) => see_other(&format!("{}?renamed=1", wiki_path(view.name.as_str()))),
        Err(err) => wiki_field_error(&ctx, &actor, &name, &err, "rename_conflict", Some(("new_name", new_name))).await,
    }
}

#[derive(Deserialize)]
pub struct ManagerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

/// Names another account a manager of the wiki (its owner or an admin).
pub async fn add_manager(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<ManagerForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let username = form.username.trim();
    match ctx.farm.add_manager(&actor, &name, username, &ctx.source).await {
        Ok(_) => see_other(&format!("{}?manager_added=1", wiki_path(&name))),
        Err(err) => wiki_field_error(&ctx, &actor, &name, &err, "manager_conflict", Some(("username", username))).await,
    }
}

/// Removes a manager of the wiki (its owner or an admin).
pub async fn remove_manager(
    ctx: PageCtx,
    Path((name, username)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.remove_manager(&actor, &name, &username, &ctx.source).await {
        Ok(_) => see_other(&format!("{}?manager_removed=1", wiki_path(&name))),
        Err(err) => wiki_form_error(&ctx, &actor, &name, &err, "manager_conflict").await,
    }
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

/// Offers a served wiki to another account (its owner or an admin); it moves when accepted.
pub async fn offer_transfer(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<TransferForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let to = form.to.trim();
    match ctx.farm.offer_transfer(&actor, &name, to, &ctx.source).await {
        Ok(view) => see_other(&format!("{}?offered=1", wiki_path(&view.wiki))),
        Err(err) => wiki_field_error(&ctx, &actor, &name, &err, "transfer_conflict", Some(("to", to))).await,
    }
}

/// The recipient accepts a transfer offered to them.
pub async fn accept_transfer(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    decide_transfer(ctx, &id, Some(true), &form.csrf).await
}

/// The recipient declines a transfer offered to them.
pub async fn decline_transfer(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    decide_transfer(ctx, &id, Some(false), &form.csrf).await
}

/// The offerer (or an admin) takes an offer back.
pub async fn cancel_transfer(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    decide_transfer(ctx, &id, None, &form.csrf).await
}

/// Accept and decline go back to "My wikis", cancel to the wiki's page; a refusal is shown there.
async fn decide_transfer(ctx: PageCtx, id: &str, accept: Option<bool>, csrf: &str) -> Response {
    let (Some(id), Some(actor)) = (request_id(id), ctx.actor().cloned()) else {
        return ctx.require_actor().err().unwrap_or_else(|| ctx.not_found());
    };
    if let Err(refused) = ctx.check_csrf(csrf) {
        return refused;
    }
    match (ctx.farm.decide_transfer(&actor, id, accept, &ctx.source).await, accept) {
        (Ok(_), Some(true)) => see_other("/wikis?accepted=1"),
        (Ok(_), Some(false)) => see_other("/wikis?declined=1"),
        (Ok(view), None) => see_other(&format!("{}?cancelled=1", wiki_path(&view.wiki))),
        (Err(err @ (FarmError::NotFound(_) | FarmError::Internal(_) | FarmError::Forbidden(_))), _) => {
            ctx.error_page(&err)
        }
        (Err(err), _) => {
            let mut detail = ctx.error(&err);
            if matches!(err, FarmError::Conflict(_)) {
                detail.message = ctx.t("offer_conflict");
            }
            wikis_page(&ctx, &actor, status_of(&err), minijinja::context! { error => detail }).await
        }
    }
}

fn request_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

async fn request_page(ctx: &PageCtx, id: i64, status: StatusCode, extra: minijinja::Value) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let view = match ctx.farm.get_request(&actor, id).await {
        Ok(view) => view,
        Err(err) => return ctx.error_page(&err),
    };
    let history: Vec<_> = view
        .history
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            minijinja::context! { actor => e.actor, action => e.action, comment => e.comment, when => format_time(e.at) }
        })
        .collect();
    let request = minijinja::context! {
        id => view.id, name => view.name, sitename => view.sitename, language => view.language,
        purpose => view.purpose, reason => view.reason, requester => view.requester,
        state => view.state.as_str(), wiki => view.wiki, history => history,
    };
    let base = minijinja::context! {
        request => request,
        open => view.state.is_open(),
        mine => view.requester == actor.username.as_str(),
    };
    ctx.render(status, "request.html", merge(base, extra))
}

pub async fn request(ctx: PageCtx, Path(id): Path<String>) -> Response {
    match request_id(&id) {
        Some(id) => request_page(&ctx, id, StatusCode::OK, minijinja::context! {}).await,
        None => ctx.not_found(),
    }
}

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
}

pub async fn comment(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CommentForm>) -> Response {
    let (Some(id), Some(actor)) = (request_id(&id), ctx.actor().cloned()) else {
        return ctx.require_actor().err().unwrap_or_else(|| ctx.not_found());
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.comment_on_request(&actor, id, &form.comment, &ctx.source).await {
        Ok(_) => see_other(&format!("/requests/{id}")),
        Err(err @ FarmError::Invalid { .. }) => {
            request_page(&ctx, id, StatusCode::UNPROCESSABLE_ENTITY, ctx.error_context(&err)).await
        }
        Err(err) => ctx.error_page(&err),
    }
}

pub async fn withdraw(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    let (Some(id), Some(actor)) = (request_id(&id), ctx.actor().cloned()) else {
        return ctx.require_actor().err().unwrap_or_else(|| ctx.not_found());
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.withdraw_request(&actor, id, &ctx.source).await {
        Ok(_) => see_other(&format!("/requests/{id}")),
        Err(err) => ctx.error_page(&err),
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    comment: Option<String>,
    back: Option<String>,
}

pub async fn review_request(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<DecisionForm>) -> Response {
    let (Some(id), Some(actor)) = (request_id(&id), ctx.actor().cloned()) else {
        return ctx.require_actor().err().unwrap_or_else(|| ctx.not_found());
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let Some(decision) = Decision::parse(&form.decision) else {
        return ctx.error_page(&FarmError::invalid("decision", "decision_unknown", "unknown decision".into()));
    };
    let comment = form.comment.as_deref().filter(|c| !c.trim().is_empty());
    match ctx.farm.review_request(&actor, id, decision, comment, &ctx.source).await {
        Ok(_) => see_other(&local_path(form.back.as_deref(), &format!("/requests/{id}"))),
        Err(err @ FarmError::Invalid { .. }) => {
            request_page(&ctx, id, StatusCode::UNPROCESSABLE_ENTITY, ctx.error_context(&err)).await
        }
        Err(err) => ctx.error_page(&err),
    }
}

#[derive(Deserialize)]
pub struct QueueQuery {
    state: Option<String>,
    sort: Option<String>,
}

pub async fn review_queue(ctx: PageCtx, Query(query): Query<QueueQuery>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let state = query.state.as_deref().and_then(RequestState::parse).unwrap_or(RequestState::Pending);
    let newest_first = query.sort.as_deref() == Some("newest");
    let mut requests = match ctx.farm.review_queue(&actor, state).await {
        Ok(page) => page.items,
        Err(err) => return ctx.error_page(&err),
    };
    if newest_first {
        requests.reverse();
    }
    let rows: Vec<_> = requests
        .into_iter()
        .map(|r| {
            let request = minijinja::context! { id => r.id };
            minijinja::context! {
                id => r.id, name => r.name, sitename => r.sitename, requester => r.requester,
                purpose => r.purpose, state => r.state.as_str(), open => r.state.is_open(), request => request,
            }
        })
        .collect();
    let states: Vec<&str> = RequestState::ALL.iter().map(|s| s.as_str()).collect();
    ctx.render(
        StatusCode::OK,
        "review.html",
        minijinja::context! {
            requests => rows, states => states, state => state.as_str(), back => "/review",
            sort => if newest_first { "newest" } else { "oldest" },
        },
    )
}

pub async fn admin(ctx: PageCtx) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let overview = match ctx.farm.overview(&actor).await {
        Ok(overview) => overview,
        Err(err) => return ctx.error_page(&err),
    };
    let (states, servers, pool, audit) =
        (overview.wikis_by_state, overview.servers, overview.pool, overview.recent_audit);
    let states: Vec<_> = states.into_iter().map(|(state, count)| minijinja::context! { state, count }).collect();
    let servers: Vec<_> = servers
        .iter()
        .map(|s| minijinja::context! { name => s.name, healthy => s.healthy, wikis => s.wiki_count })
        .collect();
    let pool = minijinja::Value::from_serialize(&pool);
    let audit: Vec<_> = audit
        .into_iter()
        .map(|e| {
            minijinja::context! {
                when => format_time(e.at), actor => e.actor, action => e.action, target => e.target, source => e.source,
            }
        })
        .collect();
    ctx.render(
        StatusCode::OK,
        "admin.html",
        minijinja::context! {
            states => states, servers => servers, pool => pool, audit => audit,
            mail_on => overview.mail_on, mail_queued => overview.mail_queued,
        },
    )
}
