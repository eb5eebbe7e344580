//! `/api/v1/wikis/{name}/settings`, its history and rollback, the logo and favicon, and
//! `/api/v1/extensions`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::Json;
use farm_core::app::settings::{RevisionView, SettingsView};
use farm_core::domain::image::{ImageSlot, MAX_IMAGE_BYTES};
use farm_core::domain::settings::{Configuration, RequestedChange, RevisionChanges, DEFINITIONS};
use farm_core::mediawiki::ComponentKind;
use farm_core::platform::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, change))
        .routes(routes!(history))
        .routes(routes!(rollback))
        .routes(routes!(extensions))
}

/// Images have their own body limit.
pub fn image_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_logo))
        .routes(routes!(put_favicon))
        .layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 1024))
}

/// A wiki's settings: every value, the enabled extensions and skins, and the revision they
/// are.
#[derive(Serialize, ToSchema)]
struct SettingsResource {
    wiki: String,
    /// Send it back as `base_revision` with a change.
    revision: i64,
    /// MediaWiki has this revision (false only if writing it failed; it is retried).
    applied: bool,
    /// Every setting by name (see `GET /api/v1/extensions` for the definitions).
    #[schema(value_type = Object)]
    settings: Value,
    extensions: Vec<String>,
    skins: Vec<String>,
}

fn configuration_parts(configuration: &Configuration) -> (Value, Vec<String>, Vec<String>) {
    (
        serde_json::to_value(&configuration.settings).unwrap_or(Value::Null),
        configuration.extensions.iter().cloned().collect(),
        configuration.skins.iter().cloned().collect(),
    )
}

fn resource(view: SettingsView) -> SettingsResource {
    let (settings, extensions, skins) = configuration_parts(&view.configuration);
    SettingsResource { wiki: view.wiki, revision: view.revision, applied: view.applied, settings, extensions, skins }
}

/// A change: settings by name, extensions and skins to turn on (`true`) or off (`false`), on
/// top of the revision it was read from.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    /// The `revision` the change is based on; a newer one means someone else changed the
    /// settings meanwhile (409).
    base_revision: i64,
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: BTreeMap<String, Value>,
    #[serde(default)]
    extensions: BTreeMap<String, bool>,
    #[serde(default)]
    skins: BTreeMap<String, bool>,
}

/// A wiki's settings (its owner and admins).
#[utoipa::path(
    get, path = "/api/v1/wikis/{name}/settings", tag = "settings",
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The current settings", body = SettingsResource),
        (status = 403, description = "`forbidden`: only the owner or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki has no settings yet", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SettingsResource>, ApiError> {
    Ok(Json(resource(state.farm.wiki_settings(&actor, &name).await?)))
}

/// Changes settings and turns extensions and skins on or off, as one new revision. Enabling
/// an extension that needs tables creates them first. Answers once MediaWiki has the change.
#[utoipa::path(
    patch, path = "/api/v1/wikis/{name}/settings", tag = "settings", request_body = ChangeBody,
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The new settings", body = SettingsResource),
        (status = 403, description = "`forbidden` (an admin-only setting), `email_unavailable`, `language_locked`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: a stale `base_revision`, or the wiki is not active", body = ErrorBody),
        (status = 422, description = "`change_empty`, `setting_unknown`, `setting_type`, `setting_out_of_range`, `skin_disabled`, `skins_empty`, `component_unknown`, `component_unavailable`, `component_requires`, `component_conflict`, and the sitename and language codes of creation", body = ErrorBody),
        (status = 503, description = "`unavailable`: the extension's tables could not be created", body = ErrorBody),
    )
)]
async fn change(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Json<SettingsResource>, ApiError> {
    let change = RequestedChange { settings: body.settings, extensions: body.extensions, skins: body.skins };
    let view = state.farm.change_settings(&actor, &name, body.base_revision, &change, &source).await?;
    Ok(Json(resource(view)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_before` of the previous page.
    before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct SettingChangeResource {
    setting: String,
    #[schema(value_type = Object)]
    old: Value,
    #[schema(value_type = Object)]
    new: Value,
}

#[derive(Serialize, ToSchema)]
struct RevisionResource {
    revision: i64,
    /// Who made it (`system` for what the farm did itself).
    actor: String,
    created_at: String,
    /// Each setting that changed, with its old and new value.
    changes: Vec<SettingChangeResource>,
    /// Extensions and skins turned on and off.
    enabled: Vec<String>,
    disabled: Vec<String>,
    /// A rollback: the revision it restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    restored_from: Option<i64>,
    #[schema(value_type = Object)]
    settings: Value,
    extensions: Vec<String>,
    skins: Vec<String>,
}

fn revision_resource(view: RevisionView) -> RevisionResource {
    let (settings, extensions, skins) = configuration_parts(&view.configuration);
    let RevisionChanges { settings: changes, enabled, disabled } = view.changes;
    RevisionResource {
        revision: view.revision,
        actor: view.actor,
        created_at: rfc3339(view.created_at),
        changes: changes
            .into_iter()
            .map(|c| SettingChangeResource { setting: c.setting, old: c.old, new: c.new })
            .collect(),
        enabled,
        disabled,
        restored_from: view.restored_from,
        settings,
        extensions,
        skins,
    }
}

#[derive(Serialize, ToSchema)]
struct History {
    revisions: Vec<RevisionResource>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<i64>,
}

/// Every revision of a wiki's settings, newest first.
#[utoipa::path(
    get, path = "/api/v1/wikis/{name}/settings/history", tag = "settings",
    params(("name" = String, Path, description = "The wiki's name"), HistoryParams),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of revisions", body = History),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let page = state.farm.settings_history(&actor, &name, params.before, params.limit).await?;
    Ok(Json(History {
        revisions: page.items.into_iter().map(revision_resource).collect(),
        next_before: page.next_after,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The earlier revision whose settings, extensions and skins come back.
    revision: i64,
}

/// Restores an earlier revision exactly, as a new revision.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/settings/rollback", tag = "settings", request_body = RollbackBody,
    params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The restored settings, as a new revision", body = SettingsResource),
        (status = 403, description = "`forbidden`, `email_unavailable`, `language_locked`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is not active", body = ErrorBody),
        (status = 422, description = "`revision_unknown` (also for another wiki's revision), `component_unavailable`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
async fn rollback(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RollbackBody>,
) -> Result<Json<SettingsResource>, ApiError> {
    Ok(Json(resource(state.farm.rollback_settings(&actor, &name, body.revision, &source).await?)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImageParams {
    /// The revision the change is based on; the current one when absent.
    base_revision: Option<i64>,
}

/// Sets the wiki's logo: the image (PNG, JPEG, WebP, or SVG without scripts or external
/// references; at most 1 MiB) as the request body.
#[utoipa::path(
    put, path = "/api/v1/wikis/{name}/logo", tag = "settings",
    params(("name" = String, Path, description = "The wiki's name"), ImageParams),
    request_body(content = Vec<u8>, content_type = "image/png", description = "The image"),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The settings with the new logo", body = SettingsResource),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 422, description = "`image_empty`, `image_too_large`, `image_type`, `image_svg_active`", body = ErrorBody),
    )
)]
async fn put_logo(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<ImageParams>,
    body: Bytes,
) -> Result<Json<SettingsResource>, ApiError> {
    put_image(state, actor, source, name, params, body, ImageSlot::Logo).await
}

/// Sets the wiki's favicon (PNG, JPEG, WebP, ICO or plain SVG; at most 1 MiB).
#[utoipa::path(
    put, path = "/api/v1/wikis/{name}/favicon", tag = "settings",
    params(("name" = String, Path, description = "The wiki's name"), ImageParams),
    request_body(content = Vec<u8>, content_type = "image/png", description = "The image"),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The settings with the new favicon", body = SettingsResource),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 422, description = "`image_empty`, `image_too_large`, `image_type`, `image_svg_active`", body = ErrorBody),
    )
)]
async fn put_favicon(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<ImageParams>,
    body: Bytes,
) -> Result<Json<SettingsResource>, ApiError> {
    put_image(state, actor, source, name, params, body, ImageSlot::Favicon).await
}

async fn put_image(
    state: AppState,
    actor: farm_core::domain::Actor,
    source: farm_core::platform::ratelimit::Source,
    name: String,
    params: ImageParams,
    body: Bytes,
    slot: ImageSlot,
) -> Result<Json<SettingsResource>, ApiError> {
    let view = state.farm.set_wiki_image(&actor, &name, slot, params.base_revision, &body, &source).await?;
    Ok(Json(resource(view)))
}

/// One extension or skin of the codebase.
#[derive(Serialize, ToSchema)]
struct ComponentResource {
    /// What `extensions`/`skins` in a change name it by.
    id: String,
    /// `extension` or `skin`.
    kind: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// It adds database tables (created before it is first loaded on a wiki).
    needs_tables: bool,
    /// What it needs on the machine beside PHP.
    runtime: Vec<String>,
    requires: Vec<String>,
    conflicts: Vec<String>,
    available: bool,
    /// Why the machine cannot run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable_reason: Option<String>,
    /// New wikis start with it enabled.
    default: bool,
    /// Skins: the skin names the `skin` setting takes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skin_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct SettingDefinitionResource {
    name: &'static str,
    /// `basics`, `look`, `access` or `features`.
    group: &'static str,
    /// `text`, `boolean`, `integer`, `choice`, `list` or `image`.
    #[serde(rename = "type")]
    kind: &'static str,
    label: &'static str,
    /// For choices and lists with fixed values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
    admin_only: bool,
    /// What it becomes in MediaWiki.
    mediawiki: &'static str,
}

#[derive(Serialize, ToSchema)]
struct Catalogue {
    extensions: Vec<ComponentResource>,
    skins: Vec<ComponentResource>,
    /// The settings every wiki has.
    settings: Vec<SettingDefinitionResource>,
}

fn json_name<T: Serialize>(value: T) -> &'static str {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => Box::leak(s.into_boxed_str()),
        _ => "",
    }
}

/// The extensions and skins of the farm's MediaWiki, read from the codebase, with what each
/// needs and whether this machine can run it; and the settings every wiki has.
#[utoipa::path(
    get, path = "/api/v1/extensions", tag = "settings",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The catalogue", body = Catalogue))
)]
async fn extensions(State(state): State<AppState>, Caller(_actor): Caller) -> Json<Catalogue> {
    let farm = &state.farm;
    let (mut extensions, mut skins) = (Vec::new(), Vec::new());
    for c in farm.catalogue() {
        let item = ComponentResource {
            id: c.id.clone(),
            kind: match c.kind {
                ComponentKind::Extension => "extension",
                ComponentKind::Skin => "skin",
            },
            name: c.name.clone(),
            version: c.version.clone(),
            description: c.description.clone(),
            url: c.url.clone(),
            needs_tables: c.needs_tables,
            runtime: c.runtime.clone(),
            requires: c.requires.clone(),
            conflicts: c.conflicts.clone(),
            available: c.available(),
            unavailable_reason: c.unavailable.clone(),
            default: farm.enabled_by_default(&c.id),
            skin_names: c.skin_names.clone(),
        };
        match c.kind {
            ComponentKind::Extension => extensions.push(item),
            ComponentKind::Skin => skins.push(item),
        }
    }
    let settings = DEFINITIONS
        .iter()
        .map(|d| SettingDefinitionResource {
            name: d.name,
            group: json_name(d.group),
            kind: json_name(d.kind),
            label: d.label,
            allowed: d.allowed.to_vec(),
            min: d.min,
            max: d.max,
            admin_only: d.admin_only,
            mediawiki: d.mediawiki,
        })
        .collect();
    Json(Catalogue { extensions, skins, settings })
}
