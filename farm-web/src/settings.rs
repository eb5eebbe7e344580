//! A wiki's settings pages: the settings form (one change per submit), the logo upload, the
//! history of revisions with a restore button each. Like every page, they call the same `Farm`
//! methods as the API; what may change and which values are valid is decided there.

use std::collections::BTreeSet;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use farm_core::app::settings::{RevisionView, SettingsView};
use farm_core::domain::image::ImageSlot;
use farm_core::domain::permissions::WikiHolders;
use farm_core::domain::settings::{
    definition, Configuration, RequestedChange, SettingType, DEFINITIONS, UPLOAD_FILE_TYPES,
};
use farm_core::domain::{Actor, WikiState};
use farm_core::mediawiki::{Component, ComponentKind};
use farm_core::platform::time::format_time;
use farm_core::FarmError;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::page::{see_other, url_escape, PageCtx};

/// The settings the form edits (logo and favicon have their own upload).
fn form_settings() -> impl Iterator<Item = &'static farm_core::domain::settings::SettingDefinition> {
    DEFINITIONS.iter().filter(|d| d.kind != SettingType::Image)
}

/// What the form shows: the current configuration, or what was submitted (after an error).
struct Shown {
    settings: Map<String, Value>,
    extensions: BTreeSet<String>,
    skins: BTreeSet<String>,
}

impl Shown {
    fn of(configuration: &Configuration) -> Self {
        let settings = match serde_json::to_value(&configuration.settings) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self { settings, extensions: configuration.extensions.clone(), skins: configuration.skins.clone() }
    }

    /// The submitted form on top of `current`. A field the form does not offer to this visitor
    /// (an admin-only setting, email without a mail server, an unavailable extension) keeps
    /// its current value: a disabled control sends nothing.
    fn submitted(ctx: &PageCtx, actor: &Actor, current: &Configuration, pairs: &[(String, String)]) -> Self {
        let mut shown = Self::of(current);
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let all = |name: &str| -> BTreeSet<String> {
            pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
        };
        for def in form_settings() {
            if !editable(ctx, actor, current, def.name) {
                continue;
            }
            let value = match def.kind {
                SettingType::Boolean => Some(Value::Bool(first(def.name).is_some())),
                SettingType::List => Some(Value::Array(all(def.name).into_iter().map(Value::String).collect())),
                SettingType::Integer => first(def.name).map(|raw| match raw.trim().parse::<i64>() {
                    Ok(n) => Value::from(n),
                    // Sent as typed: the core says what is wrong with it.
                    Err(_) => Value::String(raw),
                }),
                _ => first(def.name).map(Value::String),
            };
            if let Some(value) = value {
                shown.settings.insert(def.name.to_owned(), value);
            }
        }
        for (kind, field, set) in [
            (ComponentKind::Extension, "extensions", &mut shown.extensions),
            (ComponentKind::Skin, "skins", &mut shown.skins),
        ] {
            let wanted = all(field);
            for component in ctx.farm.catalogue().iter().filter(|c| c.kind == kind && c.available()) {
                if wanted.contains(&component.id) {
                    set.insert(component.id.clone());
                } else {
                    set.remove(&component.id);
                }
            }
        }
        shown
    }

    /// The change from `current` to what is shown: only the settings that differ, and the
    /// extensions and skins that flip.
    fn change_from(&self, current: &Configuration) -> RequestedChange {
        let before = Self::of(current);
        let mut change = RequestedChange::default();
        for def in form_settings() {
            let (Some(old), Some(new)) = (before.settings.get(def.name), self.settings.get(def.name)) else {
                continue;
            };
            if normalised(old) != normalised(new) {
                change.settings.insert(def.name.to_owned(), new.clone());
            }
        }
        for (old, new, out) in [
            (&current.extensions, &self.extensions, &mut change.extensions),
            (&current.skins, &self.skins, &mut change.skins),
        ] {
            for id in old.symmetric_difference(new) {
                out.insert(id.clone(), new.contains(id));
            }
        }
        change
    }
}

/// Lists compare as sets (the order of checkboxes is not a change).
fn normalised(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<String> = items.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect();
            items.sort();
            items.dedup();
            Value::Array(items.into_iter().map(Value::String).collect())
        }
        other => other.clone(),
    }
}

/// Whether the form lets `actor` change `name`.
fn editable(ctx: &PageCtx, actor: &Actor, current: &Configuration, name: &str) -> bool {
    match name {
        "email" => ctx.farm.features().email_available || current.settings.email,
        _ => definition(name).is_some_and(|d| !d.admin_only || actor.is_admin()),
    }
}

fn settings_path(name: &str) -> String {
    format!("/wikis/{}/settings", url_escape(name))
}

/// `scheme://host[:port]` of a URL (the wiki's origin, for the content security policy).
fn origin_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find('/').map_or(url.len(), |i| url.len() - rest.len() + i);
    Some(&url[..end])
}

/// The farm's logo, shown until the owner uploads one (see `install_farm_logo`).
fn farm_logo_file(ctx: &PageCtx) -> String {
    let extension = ctx
        .farm
        .config()
        .new_wikis
        .logo
        .as_ref()
        .and_then(|path| path.extension())
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .map(|e| if e == "jpeg" { "jpg".to_owned() } else { e })
        .filter(|e| ["png", "jpg", "webp", "svg"].contains(&e.as_str()))
        .unwrap_or_else(|| "svg".to_owned());
    format!("farm-logo.{extension}")
}

fn component_context(component: &Component, enabled: bool) -> minijinja::Value {
    minijinja::context! {
        id => component.id, name => component.name, description => component.description,
        needs_tables => component.needs_tables, runtime => component.runtime,
        requires => component.requires, conflicts => component.conflicts,
        unavailable => component.unavailable, enabled => enabled,
    }
}

/// The settings page for `view`, showing `shown` (the current values unless a submit failed).
fn render_settings(
    ctx: &PageCtx,
    actor: &Actor,
    view: &SettingsView,
    shown: &Shown,
    status: StatusCode,
    extra: minijinja::Value,
) -> Response {
    let current = &view.configuration;
    let wiki_url = ctx.farm.urls().wiki_url(&view.wiki);
    let logo_file = current.settings.logo.clone().unwrap_or_else(|| farm_logo_file(ctx));
    let logo_url = format!("{wiki_url}farm-assets/{logo_file}");
    let text = |name: &str| shown.settings.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();

    let mut languages: Vec<minijinja::Value> = crate::pages::languages_for_wikis(ctx);
    let language = text("language");
    if !languages.iter().any(|l| l.get_attr("code").ok().as_ref().and_then(|c| c.as_str()) == Some(language.as_str())) {
        languages.insert(0, minijinja::context! { code => language, label => language });
    }
    let timezones: Vec<&str> = ctx.farm.features().timezones.iter().map(String::as_str).collect();
    let catalogue = ctx.farm.catalogue();
    let mut skin_names: Vec<String> = catalogue
        .iter()
        .filter(|c| c.kind == ComponentKind::Skin && shown.skins.contains(&c.id))
        .flat_map(|c| c.skin_names.iter().cloned())
        .collect();
    let skin = text("skin");
    if !skin_names.contains(&skin) {
        skin_names.insert(0, skin);
    }
    let file_types = shown.settings.get("file_types").map(normalised).unwrap_or(Value::Array(vec![]));
    let file_types: Vec<minijinja::Value> = UPLOAD_FILE_TYPES
        .iter()
        .map(|t| minijinja::context! { value => t, checked => file_types.as_array().is_some_and(|a| a.iter().any(|v| v == t)) })
        .collect();
    let choices = |name: &str| definition(name).map(|d| d.allowed.to_vec()).unwrap_or_default();
    let extensions: Vec<_> = catalogue
        .iter()
        .filter(|c| c.kind == ComponentKind::Extension)
        .map(|c| component_context(c, shown.extensions.contains(&c.id)))
        .collect();
    let skins: Vec<_> = catalogue
        .iter()
        .filter(|c| c.kind == ComponentKind::Skin)
        .map(|c| component_context(c, shown.skins.contains(&c.id)))
        .collect();
    let base = minijinja::context! {
        wiki => minijinja::context! { name => view.wiki, url => wiki_url, sitename => current.settings.sitename },
        revision => view.revision,
        applied => view.applied,
        s => minijinja::Value::from_serialize(&shown.settings),
        logo_url => logo_url,
        custom_logo => current.settings.logo.is_some(),
        wiki_languages => languages,
        timezones => timezones,
        licences => choices("licence"),
        account_creations => choices("account_creation"),
        edit_rights => choices("edit"),
        skin_names => skin_names,
        file_types => file_types,
        admin => actor.is_admin(),
        email_editable => editable(ctx, actor, current, "email"),
        extensions => extensions,
        skins => skins,
    };
    let mut response = ctx.render(status, "settings.html", crate::page::merge(base, extra));
    // The preview of the logo comes from the wiki's own address: images (only) from there too.
    if let Some(origin) = origin_of(&wiki_url) {
        let policy = crate::content_security_policy(Some(origin));
        if let Ok(value) = HeaderValue::from_str(&policy) {
            response.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

/// The page with the wiki's current settings and, if given, the outcome of what was just done.
async fn fresh_page(ctx: &PageCtx, actor: &Actor, name: &str, status: StatusCode, extra: minijinja::Value) -> Response {
    match ctx.farm.wiki_settings(actor, name).await {
        Ok(view) => render_settings(ctx, actor, &view, &Shown::of(&view.configuration), status, extra),
        Err(err) => ctx.error_page(&err),
    }
}

/// A domain error about a change, as the settings page shows it (a banner above the form).
fn change_error(ctx: &PageCtx, err: &FarmError, stale: bool) -> minijinja::Value {
    let mut detail = ctx.error(err);
    if stale {
        detail.message = ctx.t("settings_stale");
    }
    minijinja::context! { error => detail }
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    saved: Option<i64>,
    restored: Option<i64>,
    unchanged: Option<String>,
}

pub async fn settings(ctx: PageCtx, Path(name): Path<String>, Query(query): Query<SettingsQuery>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let notice = match (query.saved, query.restored, query.unchanged.is_some()) {
        (Some(revision), _, _) => Some(ctx.t("settings_saved").replace("{revision}", &revision.to_string())),
        (_, Some(revision), _) => Some(ctx.t("settings_restored").replace("{revision}", &revision.to_string())),
        (_, _, true) => Some(ctx.t("settings_unchanged")),
        _ => None,
    };
    fresh_page(&ctx, &actor, &name, StatusCode::OK, minijinja::context! { notice => notice }).await
}

/// The whole form, as pairs: checkboxes of one name come several times.
pub async fn save_settings(
    ctx: PageCtx,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let field = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Err(refused) = ctx.check_csrf(field("csrf").unwrap_or("")) {
        return refused;
    }
    let view = match ctx.farm.wiki_settings(&actor, &name).await {
        Ok(view) => view,
        Err(err) => return ctx.error_page(&err),
    };
    let Some(base) = field("base_revision").and_then(|b| b.parse::<i64>().ok()) else {
        let err = FarmError::invalid("base_revision", "invalid_body", "the form lacks its revision".into());
        return fresh_page(&ctx, &actor, &name, StatusCode::UNPROCESSABLE_ENTITY, change_error(&ctx, &err, false))
            .await;
    };
    // The change is computed against the revision the form was made from, so only what the
    // visitor touched is sent; if that is not the current one, the core refuses it as stale.
    let against = if base == view.revision {
        view.configuration.clone()
    } else {
        match revision_configuration(&ctx, &actor, &name, base).await {
            Some(configuration) => configuration,
            None => view.configuration.clone(),
        }
    };
    let shown = Shown::submitted(&ctx, &actor, &against, &pairs);
    let change = shown.change_from(&against);
    if change.is_empty() {
        return see_other(&format!("{}?unchanged=1", settings_path(&name)));
    }
    match ctx.farm.change_settings(&actor, &name, base, &change, &ctx.source).await {
        Ok(view) => see_other(&format!("{}?saved={}", settings_path(&name), view.revision)),
        Err(err @ FarmError::Conflict(_)) => {
            // Someone else changed them meanwhile (or the wiki is not active): the fresh values.
            let stale = base != view.revision;
            fresh_page(&ctx, &actor, &name, StatusCode::CONFLICT, change_error(&ctx, &err, stale)).await
        }
        Err(err @ (FarmError::NotFound(_) | FarmError::Internal(_))) => ctx.error_page(&err),
        Err(err) => {
            // What was typed stays in the form, with what is wrong with it.
            render_settings(&ctx, &actor, &view, &shown, farm_http::status(&err), change_error(&ctx, &err, false))
        }
    }
}

/// The configuration of an earlier revision of the wiki, if it has it.
async fn revision_configuration(ctx: &PageCtx, actor: &Actor, name: &str, revision: i64) -> Option<Configuration> {
    let page = ctx.farm.settings_history(actor, name, Some(revision + 1), Some(1)).await.ok()?;
    page.items.into_iter().find(|r| r.revision == revision).map(|r| r.configuration)
}

/// `multipart/form-data` with `csrf`, `base_revision` and the image as `logo`.
pub async fn upload_logo(
    ctx: PageCtx,
    Path(name): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let (mut csrf, mut base, mut image) = (String::new(), None, None);
    let mut too_large = false;
    if let Ok(mut multipart) = multipart {
        loop {
            match multipart.next_field().await {
                Ok(Some(field)) => {
                    let field_name = field.name().unwrap_or_default().to_owned();
                    match field.bytes().await {
                        Ok(bytes) => match field_name.as_str() {
                            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                            "base_revision" => base = String::from_utf8_lossy(&bytes).trim().parse::<i64>().ok(),
                            "logo" => image = Some(bytes),
                            _ => {}
                        },
                        Err(err) => {
                            too_large = err.status() == StatusCode::PAYLOAD_TOO_LARGE;
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    too_large = err.status() == StatusCode::PAYLOAD_TOO_LARGE;
                    break;
                }
            }
        }
    }
    // The token comes first in the form; a body cut short before it is refused like any other.
    if let Err(refused) = ctx.check_csrf(&csrf) {
        return refused;
    }
    let outcome = if too_large {
        Err(FarmError::invalid("image", "image_too_large", ctx.t("error_image_too_large")))
    } else {
        let bytes = image.unwrap_or_default();
        ctx.farm.set_wiki_image(&actor, &name, ImageSlot::Logo, base, &bytes, &ctx.source).await
    };
    match outcome {
        Ok(view) => see_other(&format!("{}?saved={}#look", settings_path(&name), view.revision)),
        Err(err @ FarmError::NotFound(_)) => ctx.error_page(&err),
        Err(err) => {
            let stale = matches!(err, FarmError::Conflict(_)) && base.is_some();
            let status = if too_large { StatusCode::PAYLOAD_TOO_LARGE } else { farm_http::status(&err) };
            fresh_page(&ctx, &actor, &name, status, change_error(&ctx, &err, stale)).await
        }
    }
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
}

/// A setting's value as people read it.
fn show_value(ctx: &PageCtx, setting: &str, value: &Value) -> String {
    match value {
        Value::Null => ctx.t("value_none"),
        Value::Bool(true) => ctx.t("value_on"),
        Value::Bool(false) => ctx.t("value_off"),
        Value::String(s) => ctx.tr().get(&format!("choice_{setting}_{s}")).cloned().unwrap_or_else(|| s.clone()),
        Value::Array(items) if items.is_empty() => ctx.t("value_none"),
        Value::Array(items) => items.iter().map(|v| show_value(ctx, setting, v)).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn setting_label(ctx: &PageCtx, setting: &str) -> String {
    ctx.tr()
        .get(&format!("setting_{setting}"))
        .cloned()
        .or_else(|| definition(setting).map(|d| d.label.to_owned()))
        .unwrap_or_else(|| setting.to_owned())
}

fn revision_context(ctx: &PageCtx, r: &RevisionView, current: i64) -> minijinja::Value {
    let changes: Vec<_> = r
        .changes
        .settings
        .iter()
        .map(|c| {
            minijinja::context! {
                setting => c.setting, label => setting_label(ctx, &c.setting),
                old => show_value(ctx, &c.setting, &c.old), new => show_value(ctx, &c.setting, &c.new),
            }
        })
        .collect();
    minijinja::context! {
        revision => r.revision, actor => r.actor, when => format_time(r.created_at),
        changes => changes, enabled => r.changes.enabled, disabled => r.changes.disabled,
        restored_from => r.restored_from, current => r.revision == current,
        sitename => r.configuration.settings.sitename,
    }
}

async fn history_page(
    ctx: &PageCtx,
    actor: &Actor,
    name: &str,
    before: Option<i64>,
    status: StatusCode,
    extra: minijinja::Value,
) -> Response {
    let view = match ctx.farm.wiki_settings(actor, name).await {
        Ok(view) => view,
        Err(err) => return ctx.error_page(&err),
    };
    let page = match ctx.farm.settings_history(actor, name, before, Some(50)).await {
        Ok(page) => page,
        Err(err) => return ctx.error_page(&err),
    };
    let revisions: Vec<_> = page.items.iter().map(|r| revision_context(ctx, r, view.revision)).collect();
    let base = minijinja::context! {
        wiki => minijinja::context! { name => view.wiki, sitename => view.configuration.settings.sitename },
        revisions => revisions,
        next_before => page.next_after,
        older => before.is_some(),
    };
    ctx.render(status, "settings_history.html", crate::page::merge(base, extra))
}

pub async fn history(ctx: PageCtx, Path(name): Path<String>, Query(query): Query<HistoryQuery>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    history_page(&ctx, &actor, &name, query.before, StatusCode::OK, minijinja::context! {}).await
}

#[derive(Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    revision: String,
}

pub async fn rollback(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<RollbackForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let Some(revision) = form.revision.trim().parse::<i64>().ok().filter(|r| *r > 0) else {
        let err = FarmError::invalid("revision", "revision_unknown", "the form names no revision".into());
        return history_page(
            &ctx,
            &actor,
            &name,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            change_error(&ctx, &err, false),
        )
        .await;
    };
    match ctx.farm.rollback_settings(&actor, &name, revision, &ctx.source).await {
        Ok(_) => see_other(&format!("{}?restored={revision}", settings_path(&name))),
        Err(err @ FarmError::NotFound(_)) => ctx.error_page(&err),
        Err(err) => {
            let status = farm_http::status(&err);
            history_page(&ctx, &actor, &name, None, status, change_error(&ctx, &err, false)).await
        }
    }
}

/// Whether the wiki page links the settings (they change only while the wiki is active, and
/// can be read while it is locked).
pub fn settings_link(actor: &Actor, wiki: WikiHolders<'_>, state: WikiState) -> bool {
    farm_core::domain::permissions::may_manage_settings(actor, wiki)
        && matches!(state, WikiState::Active | WikiState::Locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_wiki_urls() {
        assert_eq!(origin_of("http://demo.localhost:8080/"), Some("http://demo.localhost:8080"));
        assert_eq!(origin_of("https://demo.example.org/"), Some("https://demo.example.org"));
        assert_eq!(origin_of("https://demo.example.org"), Some("https://demo.example.org"));
        assert_eq!(origin_of("demo"), None);
    }

    #[test]
    fn lists_compare_as_sets() {
        let a = serde_json::json!(["png", "jpg", "png"]);
        let b = serde_json::json!(["jpg", "png"]);
        assert_eq!(normalised(&a), normalised(&b));
        assert_ne!(normalised(&a), normalised(&serde_json::json!(["png"])));
    }

    #[test]
    fn every_setting_and_choice_has_a_message() {
        for (code, messages) in crate::page::catalogs() {
            for def in DEFINITIONS {
                assert!(messages.contains_key(&format!("setting_{}", def.name)), "{code} lacks setting_{}", def.name);
                if def.kind == SettingType::Choice {
                    for value in def.allowed {
                        let key = format!("choice_{}_{value}", def.name);
                        assert!(messages.contains_key(&key), "{code} lacks {key}");
                    }
                }
            }
        }
    }
}
