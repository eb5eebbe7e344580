//! `/api/v1/wikis`: create, read, list and delete wikis.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use farm_core::app::{BulkOutcome, CreateWiki, WikiView};
use farm_core::domain::WikiState;
use farm_core::platform::time::rfc3339;
use std::collections::BTreeMap;

use farm_core::domain::settings::RequestedChange;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, delete))
        .routes(routes!(keep))
        .routes(routes!(undelete))
        .routes(routes!(rename))
        .routes(routes!(purge))
        .routes(routes!(check_name))
}

/// Bulk creation has its own, larger body limit (a thousand rows).
pub fn bulk_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_batch))
}

/// A new wiki.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    sitename: String,
    language: Option<String>,
    /// `sqlite` or `mariadb` (admins only).
    backend: Option<String>,
    /// Settings that differ from the farm's defaults for new wikis (see `GET /api/v1/extensions`).
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: BTreeMap<String, Value>,
    /// Extensions to turn on (`true`) or off (`false`) against the defaults.
    #[serde(default)]
    extensions: BTreeMap<String, bool>,
    #[serde(default)]
    skins: BTreeMap<String, bool>,
    /// The starter whose pages the wiki begins with (`GET /api/v1/starters`); default: the
    /// farm's.
    starter: Option<String>,
}

impl CreateBody {
    fn into_request(self) -> CreateWiki {
        CreateWiki {
            name: self.name,
            sitename: self.sitename,
            language: self.language,
            backend: self.backend,
            settings: RequestedChange { settings: self.settings, extensions: self.extensions, skins: self.skins },
            starter: self.starter,
        }
    }
}

/// A wiki as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct WikiResource {
    name: String,
    sitename: String,
    language: String,
    /// `provisioning`, `active`, `locked`, `trashed` (deleted, restorable until
    /// `restorable_until`), `failed`, `deleting` or `deleted`.
    state: &'static str,
    url: String,
    owner: String,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    activated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_at: Option<String>,
    /// Sandbox wikis: when they become read-only unless kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Trashed wikis: until when `POST .../undelete` brings them back.
    #[serde(skip_serializing_if = "Option::is_none")]
    restorable_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<Vec<StepProgress>>,
    /// Where the wiki's resources live: for admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<Storage>,
    /// The starter it began with (none for a wiki made from an archive).
    #[serde(skip_serializing_if = "Option::is_none")]
    starter: Option<String>,
    /// The accounts its owner named to change its settings too.
    managers: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct StepProgress {
    step: &'static str,
    done: bool,
}

#[derive(Serialize, ToSchema)]
struct Storage {
    backend: String,
    key: String,
    directory: String,
    /// The SQLite file, or the database name on `server`.
    database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
}

/// The owner's credentials for the new wiki, shown once, to the creator only. Accounts with a
/// password log in with it (no `password` here); others get a one-time initial password.
#[derive(Serialize, ToSchema)]
struct OwnerCredentials {
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

fn owner_credentials(owner: &str, password: Option<farm_core::domain::Secret>) -> OwnerCredentials {
    let username = farm_core::domain::Username::parse(owner).map_or_else(|_| owner.to_owned(), |u| u.mediawiki_name());
    OwnerCredentials { username, password: password.map(|p| p.expose().to_owned()) }
}

#[derive(Serialize, ToSchema)]
struct Created {
    #[serde(flatten)]
    wiki: WikiResource,
    owner_credentials: OwnerCredentials,
}

pub(crate) fn resource(view: WikiView) -> WikiResource {
    WikiResource {
        name: view.name.to_string(),
        sitename: view.sitename,
        language: view.language,
        state: view.state.as_str(),
        url: view.url,
        owner: view.owner,
        created_at: rfc3339(view.created_at),
        updated_at: rfc3339(view.updated_at),
        activated_at: view.activated_at.map(rfc3339),
        deleted_at: view.deleted_at.map(rfc3339),
        expires_at: view.expires_at.map(rfc3339),
        restorable_until: view.restorable_until.map(rfc3339),
        failure: view.failure,
        progress: view
            .progress
            .map(|steps| steps.into_iter().map(|s| StepProgress { step: s.step, done: s.done }).collect()),
        storage: view.storage.map(|s| Storage {
            backend: s.backend.as_str().to_owned(),
            key: s.key,
            directory: s.directory,
            database: s.database,
            server: s.server,
        }),
        starter: view.starter,
        managers: view.managers,
    }
}

fn location(name: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("/api/v1/wikis/{name}")) {
        headers.insert(header::LOCATION, value);
    }
    headers
}

/// Creates a wiki (202): it is built in the background; `state` says how far it is. Accounts
/// without a password get the owner's one-time password here, once.
#[utoipa::path(
    post, path = "/api/v1/wikis", tag = "wikis", request_body = CreateBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The wiki, being built", body = Created),
        (status = 403, description = "`forbidden` (only admins choose the backend), `email_unconfirmed`, `quota_exceeded`, `review_required`", body = ErrorBody),
        (status = 409, description = "`name_taken`", body = ErrorBody),
        (status = 422, description = "`name_too_short`, `name_too_long`, `name_invalid_characters`, `name_hyphen_edge`, `name_idn_prefix`, `name_reserved`, `name_denied`, `sitename_empty`, `sitename_too_long`, `sitename_invalid_characters`, `language_unknown`, `backend_unknown`, `backend_unavailable`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (`Retry-After` says when)", body = ErrorBody),
        (status = 503, description = "`unavailable`: no database server takes new wikis right now", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, HeaderMap, Json<Created>), ApiError> {
    let request = body.into_request();
    let (view, password) = state.farm.create_wiki(&actor, request, &source).await?;
    let headers = location(view.name.as_str());
    let credentials = owner_credentials(&view.owner, password);
    let wiki = resource(view);
    Ok((StatusCode::ACCEPTED, headers, Json(Created { wiki, owner_credentials: credentials })))
}

/// One wiki, with its progress. Others' wikis are "not found" to members.
#[utoipa::path(
    get, path = "/api/v1/wikis/{name}", tag = "wikis", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The wiki", body = WikiResource),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<WikiResource>, ApiError> {
    let view = state.farm.get_wiki(&actor, &name).await?;
    Ok(Json(resource(view)))
}

/// Deletes a wiki (202): it stops being served at once. A served wiki goes to the trash, intact,
/// until `restorable_until` (`deleted_retention` later; then it is purged); one that never went
/// live is torn down in the background.
#[utoipa::path(
    delete, path = "/api/v1/wikis/{name}", tag = "wikis", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The wiki, being deleted", body = WikiResource),
        (status = 403, description = "`forbidden`: only the owner or an admin deletes", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: already deleted, or changed meanwhile", body = ErrorBody),
    )
)]
async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<WikiResource>), ApiError> {
    let view = state.farm.delete_wiki(&actor, &name, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(resource(view))))
}

/// A sandbox wiki becomes permanent (admins, reviewers); a locked one becomes writable.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/keep", tag = "wikis", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The wiki, kept", body = WikiResource),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the wiki is not live", body = ErrorBody),
    )
)]
async fn keep(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<WikiResource>, ApiError> {
    let view = state.farm.keep_wiki(&actor, &name, &source).await?;
    Ok(Json(resource(view)))
}

/// Brings a wiki back from the trash, exactly as it was (its owner or an admin).
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/undelete", tag = "wikis", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The wiki, served again", body = WikiResource),
        (status = 403, description = "`forbidden`, `quota_exceeded`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not in the trash, or its time there is over", body = ErrorBody),
    )
)]
async fn undelete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<WikiResource>, ApiError> {
    Ok(Json(resource(state.farm.undelete_wiki(&actor, &name, &source).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    /// The new name (the rules of a new wiki's name apply).
    name: String,
}

/// Renames an active wiki (its owner or an admin): same data at a new address; the old
/// address redirects there, and its name stays taken, for `deleted_name_retention`.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/rename", tag = "wikis", request_body = RenameBody,
    params(("name" = String, Path, description = "The wiki's current name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The wiki under its new name", body = WikiResource),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`name_taken`, `request_exists`, `conflict`: the wiki is not active", body = ErrorBody),
        (status = 422, description = "`name_unchanged` and the rules of wiki names", body = ErrorBody),
    )
)]
async fn rename(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RenameBody>,
) -> Result<Json<WikiResource>, ApiError> {
    Ok(Json(resource(state.farm.rename_wiki(&actor, &name, &body.name, &source).await?)))
}

/// Purges a wiki from the trash before its time (admins, 202): everything goes, as a delete
/// without the trash.
#[utoipa::path(
    post, path = "/api/v1/wikis/{name}/purge", tag = "wikis", params(("name" = String, Path, description = "The wiki's name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The wiki, being torn down", body = WikiResource),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not in the trash", body = ErrorBody),
    )
)]
async fn purge(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<WikiResource>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(resource(state.farm.purge_wiki(&actor, &name, &source).await?))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only wikis in this state.
    state: Option<String>,
    /// Admins and reviewers: one owner's wikis.
    owner: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct WikiList {
    wikis: Vec<WikiResource>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn bad_query(code: &'static str, message: &str) -> ApiError {
    ApiError::Request { status: StatusCode::BAD_REQUEST, code, message: message.to_owned() }
}

/// Wikis, a page at a time: members see their own, admins and reviewers all.
#[utoipa::path(
    get, path = "/api/v1/wikis", tag = "wikis", params(ListParams),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of wikis", body = WikiList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_state`", body = ErrorBody),
        (status = 403, description = "`forbidden`: members do not filter by owner", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<WikiList>, ApiError> {
    let wiki_state = match params.state.as_deref() {
        None => None,
        Some(s) => Some(WikiState::parse(s).ok_or_else(|| {
            bad_query("invalid_state", "state must be one of provisioning, active, locked, failed, deleting, deleted")
        })?),
    };
    let page = state
        .farm
        .list_wikis(&actor, params.owner.as_deref(), wiki_state, params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(WikiList {
        wikis: page.items.into_iter().map(resource).collect(),
        next_cursor: page.next_after.map(|id| id.to_string()),
    }))
}

/// Up to 1000 new wikis.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    wikis: Vec<CreateBody>,
}

#[derive(Serialize, ToSchema)]
struct BatchResult {
    name: String,
    /// `created`, `exists` (a repeated run: nothing done) or `refused`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wiki: Option<WikiResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_credentials: Option<OwnerCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

#[derive(Serialize, ToSchema)]
struct BatchResponse {
    created: usize,
    existing: usize,
    refused: usize,
    results: Vec<BatchResult>,
}

/// Many wikis at once, one result per row in order: `created`, `exists` (the caller already
/// holds it: repeating a batch creates nothing twice) or `refused` with the error of a single
/// creation.
#[utoipa::path(
    post, path = "/api/v1/wiki-batches", tag = "wikis", request_body = BatchBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "One result per row", body = BatchResponse),
        (status = 422, description = "`bulk_size`: between 1 and 1000 rows", body = ErrorBody),
    )
)]
async fn create_batch(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Json<BatchResponse>, ApiError> {
    let names: Vec<String> = body.wikis.iter().map(|w| w.name.clone()).collect();
    let rows = body.wikis.into_iter().map(CreateBody::into_request).collect();
    let outcomes = state.farm.create_wikis(&actor, rows, &source).await?;
    let mut response =
        BatchResponse { created: 0, existing: 0, refused: 0, results: Vec::with_capacity(outcomes.len()) };
    for (name, outcome) in names.into_iter().zip(outcomes) {
        let result = match outcome {
            BulkOutcome::Created(view, password) => {
                response.created += 1;
                let credentials = owner_credentials(&view.owner, password);
                BatchResult {
                    name,
                    status: "created",
                    wiki: Some(resource(view)),
                    owner_credentials: Some(credentials),
                    error: None,
                }
            }
            BulkOutcome::Exists(view) => {
                response.existing += 1;
                BatchResult { name, status: "exists", wiki: Some(resource(view)), owner_credentials: None, error: None }
            }
            BulkOutcome::Refused(err) => {
                response.refused += 1;
                BatchResult {
                    name,
                    status: "refused",
                    wiki: None,
                    owner_credentials: None,
                    error: Some(ApiError::from(err).detail()),
                }
            }
        };
        response.results.push(result);
    }
    Ok(Json(response))
}

#[derive(Serialize, ToSchema)]
struct NameCheck {
    name: String,
    available: bool,
    /// Why not, in the API's error shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

/// Whether a new wiki could take the name now (the portal's live check). Always 200 for a
/// question that could be asked; the answer says why not.
#[utoipa::path(
    get, path = "/api/v1/names/{name}", tag = "wikis", params(("name" = String, Path, description = "A name to check")),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Available, or why not", body = NameCheck))
)]
async fn check_name(
    State(state): State<AppState>,
    Caller(_actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<NameCheck>, ApiError> {
    match state.farm.check_name(&name).await {
        Ok(parsed) => Ok(Json(NameCheck { name: parsed.to_string(), available: true, error: None })),
        Err(err @ farm_core::FarmError::Internal(_)) => Err(err.into()),
        Err(err) => Ok(Json(NameCheck { name, available: false, error: Some(ApiError::from(err).detail()) })),
    }
}
