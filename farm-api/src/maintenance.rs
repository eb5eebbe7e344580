//! `/api/v1/maintenance-runs`: a MediaWiki maintenance script over a selection of wikis, in the
//! background (admins): start one, follow it, read each wiki's report, cancel it, retry its
//! failures. `/api/v1/upgrades` starts the runs that move wikis to a codebase, and
//! `/api/v1/codebases` says what each configured codebase holds.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use farm_core::app::maintenance::{RunView, RunWikiView, StartRun};
use farm_core::app::upgrades::StartUpgrade;
use farm_core::domain::maintenance::SelectionInput;
use farm_core::platform::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(read))
        .routes(routes!(wikis))
        .routes(routes!(cancel))
        .routes(routes!(retry))
        .routes(routes!(upgrade))
        .routes(routes!(codebases))
}

/// Which wikis: `{"all": true}`, or the served wikis that match every criterion given.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Selection {
    /// Every served wiki (alone: not with other criteria).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all: bool,
    /// These wikis (each must be served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wikis: Option<Vec<String>>,
    /// `sqlite` or `mariadb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    /// The database server's name (MariaDB wikis on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    /// `active` or `locked` (default: both, every served wiki).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    /// Wikis that have this extension enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extension: Option<String>,
}

impl From<Selection> for SelectionInput {
    fn from(s: Selection) -> Self {
        SelectionInput {
            all: s.all,
            wikis: s.wikis,
            backend: s.backend,
            server: s.server,
            state: s.state,
            extension: s.extension,
        }
    }
}

impl From<SelectionInput> for Selection {
    fn from(s: SelectionInput) -> Self {
        Selection {
            all: s.all,
            wikis: s.wikis,
            backend: s.backend,
            server: s.server,
            state: s.state,
            extension: s.extension,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// A script of the codebase: `update.php` (MediaWiki's `maintenance/`),
    /// `maintenance/storage/compressOld.php`, or an extension's,
    /// `extensions/NAME/maintenance/x.php`.
    script: String,
    /// Its arguments, each passed as it is (one argv entry, never through a shell); the runner
    /// adds `--wiki NAME` for each wiki.
    #[serde(default)]
    args: Vec<String>,
    selection: Selection,
    /// Scripts at the same time, 1 to 64 (default: `[maintenance] parallel`, the cores).
    parallel: Option<u32>,
    /// How long the script may run for one wiki before its process group is killed, 1 to
    /// 86400 (default: `[maintenance] timeout`).
    timeout_seconds: Option<u64>,
    /// How many more times a wiki whose script failed, timed out or was interrupted runs, 0
    /// to 5 (default 0: no wiki runs twice).
    retries: Option<u32>,
    /// `update.php` only: also the wikis whose schema is current for this codebase and their
    /// extensions (skipped otherwise).
    #[serde(default)]
    force: bool,
}

#[derive(Serialize, ToSchema)]
struct Run {
    id: i64,
    /// Relative to the codebase, e.g. `maintenance/update.php`.
    script: String,
    args: Vec<String>,
    selection: Selection,
    parallel: i64,
    timeout_seconds: i64,
    retries: i64,
    force: bool,
    requested_by: String,
    /// `queued` (another run goes first), `running`, `done` (every wiki finished; see
    /// `failures`) or `cancelled`.
    state: String,
    /// Wikis in the run.
    total: i64,
    /// Wikis finished (done, failed, timed out, interrupted, skipped, cancelled).
    finished: i64,
    /// Wikis whose script failed, timed out or was interrupted.
    failures: i64,
    /// Wikis by state: pending, running, done, failed, timed_out, interrupted, skipped, cancelled.
    counts: BTreeMap<String, i64>,
    /// Wikis whose script runs now.
    running: Vec<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// An upgrade: the codebase its wikis move to.
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade_to: Option<String>,
}

fn run(view: RunView) -> Run {
    Run {
        finished: view.finished(),
        failures: view.failures(),
        id: view.id,
        script: view.script,
        args: view.args,
        selection: view.selection.into(),
        parallel: view.parallel,
        timeout_seconds: view.timeout_secs,
        retries: view.retries,
        force: view.force,
        requested_by: view.requested_by,
        state: view.state.as_str().to_owned(),
        total: view.total,
        counts: view.counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        running: view.running,
        created_at: rfc3339(view.created_at),
        started_at: view.started_at.map(rfc3339),
        finished_at: view.finished_at.map(rfc3339),
        upgrade_to: view.upgrade_to,
    }
}

/// One wiki's report.
#[derive(Serialize, ToSchema)]
struct RunWiki {
    wiki: String,
    /// `pending`, `running`, `done` (exit status 0), `failed`, `timed_out` (its process group
    /// was killed), `interrupted` (farmd stopped while it ran), `skipped`, `cancelled`.
    state: String,
    /// How many times its script was started.
    attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<i64>,
    /// The end of what the script wrote (stdout and stderr, at most 4 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    /// Why it ended so, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// An upgrade's canary: it went first, and the others waited for it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    canary: bool,
}

fn run_wiki(view: RunWikiView) -> RunWiki {
    RunWiki {
        wiki: view.wiki,
        state: view.state.as_str().to_owned(),
        attempts: view.attempts,
        exit_code: view.exit_code,
        duration_ms: view.duration_ms,
        output: view.output,
        reason: view.reason,
        started_at: view.started_at.map(rfc3339),
        finished_at: view.finished_at.map(rfc3339),
        canary: view.canary,
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RunList {
    /// Newest first.
    runs: Vec<Run>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Maintenance runs, newest first (admins).
#[utoipa::path(
    get, path = "/api/v1/maintenance-runs", tag = "maintenance", params(PageParams),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 400, description = "`invalid_cursor`, `invalid_query`", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<RunList>, ApiError> {
    let page = state.farm.maintenance_runs(&actor, params.cursor.as_deref(), params.limit).await?;
    Ok(Json(RunList {
        runs: page.items.into_iter().map(run).collect(),
        next_cursor: page.next_after.map(|id| id.to_string()),
    }))
}

/// Runs a maintenance script over a selection of wikis, in the background (admins): each wiki
/// as itself (`--wiki NAME`, its own database account), `parallel` at a time, each with a
/// time-out. Everything is checked first: a refused run runs nothing. Poll the answer's `id`.
#[utoipa::path(
    post, path = "/api/v1/maintenance-runs", tag = "maintenance", request_body = RunBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The run, queued", body = Run),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 422, description = "`script_invalid`, `script_unknown`, `script_outside_codebase`, `argument_invalid` (a NUL, too many or too long), `argument_reserved` (`--wiki`, `--conf`), `selection_missing`, `selection_invalid`, `selection_unknown` (a listed wiki is not served), `selection_empty` (no wiki matches), `out_of_range` (`parallel`, `timeout_seconds`, `retries`), `force_not_update`", body = ErrorBody),
    )
)]
async fn start(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiJson(body): ApiJson<RunBody>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let request = StartRun {
        script: body.script,
        args: body.args,
        selection: body.selection.into(),
        parallel: body.parallel,
        timeout_secs: body.timeout_seconds,
        retries: body.retries,
        force: body.force,
    };
    let view = state.farm.start_maintenance_run(&actor, &request, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(run(view))))
}

/// One run's progress (admins).
#[utoipa::path(
    get, path = "/api/v1/maintenance-runs/{id}", tag = "maintenance", params(("id" = i64, Path, description = "The run")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(run(state.farm.maintenance_run(&actor, id).await?)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WikiParams {
    /// Only the wikis in this state (`failed`, `done`, ...).
    state: Option<String>,
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RunWikis {
    /// In the run's order.
    wikis: Vec<RunWiki>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The run's wikis, each with its report: state, exit status, duration, the end of its output
/// (admins).
#[utoipa::path(
    get, path = "/api/v1/maintenance-runs/{id}/wikis", tag = "maintenance",
    params(("id" = i64, Path, description = "The run"), WikiParams),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the run's wikis", body = RunWikis),
        (status = 400, description = "`invalid_state`, `invalid_cursor`, `invalid_query`", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
async fn wikis(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<WikiParams>,
) -> Result<Json<RunWikis>, ApiError> {
    let page = state
        .farm
        .maintenance_run_wikis(&actor, id, params.state.as_deref(), params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(RunWikis {
        wikis: page.items.into_iter().map(run_wiki).collect(),
        next_cursor: page.next_after.map(|position| position.to_string()),
    }))
}

/// Cancels a queued or running run (admins): wikis not yet run stay undone, and the scripts
/// under way are killed (their process groups).
#[utoipa::path(
    post, path = "/api/v1/maintenance-runs/{id}/cancel", tag = "maintenance", params(("id" = i64, Path, description = "The run")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The run, cancelled", body = Run),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the run has finished", body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(run(state.farm.cancel_maintenance_run(&actor, id, &source).await?)))
}

/// Tries a finished run's failures again (admins): its wikis that failed, timed out or were
/// interrupted (and, for an upgrade, those a failed canary held back) go back to pending.
#[utoipa::path(
    post, path = "/api/v1/maintenance-runs/{id}/retry", tag = "maintenance", params(("id" = i64, Path, description = "The run")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The run, queued again", body = Run),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the run has not finished, has no failure, or another upgrade is under way", body = ErrorBody),
    )
)]
async fn retry(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(run(state.farm.retry_maintenance_run(&actor, id, &source).await?))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    /// The codebase to move the wikis to, a `[[codebases]]` name (default: the current one).
    codebase: Option<String>,
    /// These served wikis (default: every served wiki).
    wikis: Option<Vec<String>>,
    /// Also the wikis already on it whose schema is current (skipped otherwise).
    #[serde(default)]
    force: bool,
}

/// Upgrades wikis (admins), in the background: each wiki in turn is read-only for its readers,
/// its job queue drained, its schema updated by the target's `update.php`, then served by the
/// target and writable again; the others keep serving. `[upgrades] canary` wikis go first.
/// A wiki whose upgrade fails stays read-only on its codebase (retry the run). Poll the
/// answer's `id` at `/api/v1/maintenance-runs/{id}`.
#[utoipa::path(
    post, path = "/api/v1/upgrades", tag = "maintenance", request_body = UpgradeBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "The upgrade, queued", body = Run),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 409, description = "`conflict`: another upgrade is queued or under way", body = ErrorBody),
        (status = 422, description = "`codebase_unknown` (not in the configuration), `codebase_invalid` (not a MediaWiki, or not the version configured), `selection_unknown`, `selection_empty`", body = ErrorBody),
    )
)]
async fn upgrade(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiJson(body): ApiJson<UpgradeBody>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let request = StartUpgrade { codebase: body.codebase, wikis: body.wikis, force: body.force };
    let view = state.farm.start_upgrade(&actor, &request, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(run(view))))
}

/// One configured codebase.
#[derive(Serialize, ToSchema)]
struct CodebaseInfo {
    name: String,
    path: String,
    /// Its MediaWiki version (`MW_VERSION`), when farmd can use it.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// Why farmd cannot use it.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    /// New wikis get it, and upgrades move wikis to it by default.
    current: bool,
    /// Wikis on it (not deleted).
    wikis: i64,
}

#[derive(Serialize, ToSchema)]
struct CodebaseList {
    codebases: Vec<CodebaseInfo>,
    /// The upgrade queued or under way (a maintenance run's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade: Option<i64>,
}

/// The configured codebases, as they are on disk now (admins).
#[utoipa::path(
    get, path = "/api/v1/codebases", tag = "maintenance",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The codebases", body = CodebaseList),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
    )
)]
async fn codebases(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<CodebaseList>, ApiError> {
    let (views, upgrade) = state.farm.codebases(&actor).await?;
    Ok(Json(CodebaseList {
        codebases: views
            .into_iter()
            .map(|v| CodebaseInfo {
                name: v.name,
                path: v.path,
                version: v.version,
                problem: v.problem,
                current: v.current,
                wikis: v.wikis,
            })
            .collect(),
        upgrade,
    }))
}
