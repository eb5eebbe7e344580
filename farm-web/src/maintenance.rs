//! Maintenance runs in the portal (admins): the latest runs with a form to start one, and a
//! run's page (reloading itself while it goes on) with its progress, each wiki's report and a
//! cancel button. The core decides who may do what ([`farm_core::Farm::start_maintenance_run`]).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use farm_core::app::maintenance::{RunView, StartRun};
use farm_core::domain::maintenance::SelectionInput;
use farm_core::platform::time::format_time;
use serde::Deserialize;

use crate::page::{merge, see_other, PageCtx};

/// How many wikis a run's page lists.
const WIKIS_SHOWN: u32 = 500;

#[derive(Deserialize, Default)]
pub struct RunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    script: String,
    /// `all`, `wikis`, `backend` or `extension`.
    #[serde(default)]
    selection: String,
    #[serde(default)]
    wikis: String,
    #[serde(default)]
    backend: String,
    #[serde(default)]
    extension: String,
    #[serde(default)]
    parallel: String,
    #[serde(default)]
    timeout: String,
    #[serde(default)]
    retries: String,
    #[serde(default)]
    force: Option<String>,
    /// One argument per line.
    #[serde(default)]
    args: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn summary(run: &RunView) -> minijinja::Value {
    minijinja::context! {
        id => run.id, script => run.script, state => run.state.as_str(), total => run.total,
        finished => run.finished(), failures => run.failures(), counts => run.counts,
        requested_by => run.requested_by, parallel => run.parallel, created => format_time(run.created_at),
        finished_at => run.finished_at.map(format_time), running => run.running, args => run.args,
        under_way => !run.state.is_finished(), upgrade_to => run.upgrade_to,
        retryable => run.state.is_finished() && (run.failures() > 0
            || (run.upgrade_to.is_some() && run.counts.get("cancelled").copied().unwrap_or(0) > 0)),
    }
}

/// The latest runs and the form.
pub async fn runs(ctx: PageCtx) -> Response {
    runs_page(&ctx, StatusCode::OK, minijinja::context! {}).await
}

async fn runs_page(ctx: &PageCtx, status: StatusCode, extra: minijinja::Value) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let page = match ctx.farm.maintenance_runs(&actor, None, Some(20)).await {
        Ok(page) => page,
        Err(err) => return ctx.error_page(&err),
    };
    let runs: Vec<minijinja::Value> = page.items.iter().map(summary).collect();
    let codebases = match ctx.farm.codebases(&actor).await {
        Ok((views, _)) => views
            .into_iter()
            .map(|v| {
                minijinja::context! {
                    name => v.name, path => v.path, version => v.version, problem => v.problem,
                    current => v.current, wikis => v.wikis,
                }
            })
            .collect::<Vec<_>>(),
        Err(err) => return ctx.error_page(&err),
    };
    let under_way = page.items.iter().any(|r| !r.state.is_finished());
    let defaults = minijinja::context! {
        form => minijinja::context! {
            selection => "all", parallel => ctx.farm.config().maintenance.default_parallel(),
            timeout => ctx.farm.config().maintenance.timeout.as_secs(), retries => 0,
        },
    };
    let page = merge(defaults, minijinja::context! { runs => runs, codebases => codebases });
    ctx.render_with(status, "maintenance.html", merge(page, extra), under_way.then_some(5))
}

/// Starts a run from the form.
pub async fn start(ctx: PageCtx, Form(form): Form<RunForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let mut selection = SelectionInput::default();
    match form.selection.as_str() {
        "wikis" => {
            let names: Vec<String> = form
                .wikis
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            selection.wikis = Some(names);
        }
        "backend" => selection.backend = Some(form.backend.trim().to_owned()),
        "extension" => selection.extension = Some(form.extension.trim().to_owned()),
        _ => selection.all = true,
    }
    let request = StartRun {
        script: form.script.trim().to_owned(),
        args: form.args.lines().map(|l| l.trim_end_matches('\r').to_owned()).filter(|l| !l.is_empty()).collect(),
        selection,
        parallel: number(&form.parallel).map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        timeout_secs: number(&form.timeout),
        retries: number(&form.retries).map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        force: form.force.is_some(),
    };
    match ctx.farm.start_maintenance_run(&actor, &request, &ctx.source).await {
        Ok(run) => see_other(&format!("/admin/maintenance/{}", run.id)),
        Err(err) => {
            use farm_core::FarmError;
            if matches!(err, FarmError::Forbidden(_) | FarmError::Internal(_)) {
                return ctx.error_page(&err);
            }
            let values = minijinja::context! {
                form => minijinja::context! {
                    script => form.script, selection => form.selection, wikis => form.wikis,
                    backend => form.backend, extension => form.extension, parallel => form.parallel,
                    timeout => form.timeout, retries => form.retries, force => form.force.is_some(),
                    args => form.args,
                },
                error => ctx.error(&err),
            };
            runs_page(&ctx, farm_http::status(&err), values).await
        }
    }
}

/// One run: progress, the wikis under way, each wiki's report.
pub async fn run(ctx: PageCtx, Path(id): Path<String>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else { return ctx.not_found() };
    let run = match ctx.farm.maintenance_run(&actor, id).await {
        Ok(run) => run,
        Err(err) => return ctx.error_page(&err),
    };
    let wikis = match ctx.farm.maintenance_run_wikis(&actor, id, None, None, Some(WIKIS_SHOWN)).await {
        Ok(page) => page,
        Err(err) => return ctx.error_page(&err),
    };
    let more = wikis.next_after.is_some();
    let wikis: Vec<minijinja::Value> = wikis
        .items
        .into_iter()
        .map(|w| {
            minijinja::context! {
                wiki => w.wiki, state => w.state.as_str(), attempts => w.attempts, exit_code => w.exit_code,
                seconds => w.duration_ms.map(|ms| format!("{:.1}", ms as f64 / 1000.0)), output => w.output,
                reason => w.reason, failed => w.state.is_failure(), canary => w.canary,
            }
        })
        .collect();
    let under_way = !run.state.is_finished();
    let page = minijinja::context! { run => summary(&run), wikis => wikis, more => more };
    ctx.render_with(StatusCode::OK, "maintenance_run.html", page, under_way.then_some(2))
}

/// An admin's action on run `id` from a form: the actor and the run's id, or the answer.
// The answer is the page to send, as `PageCtx::require_actor` gives it.
#[allow(clippy::result_large_err)]
fn run_action(ctx: &PageCtx, id: &str, csrf: &str) -> Result<(farm_core::domain::Actor, i64), Response> {
    let actor = ctx.require_actor()?.clone();
    ctx.check_csrf(csrf)?;
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ctx.not_found())?;
    Ok((actor, id))
}

/// Cancels the run.
pub async fn cancel(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    let (actor, id) = match run_action(&ctx, &id, &form.csrf) {
        Ok(action) => action,
        Err(answer) => return answer,
    };
    match ctx.farm.cancel_maintenance_run(&actor, id, &ctx.source).await {
        // A run that finished meanwhile: its page says how it ended.
        Ok(_) | Err(farm_core::FarmError::Conflict(_)) => see_other(&format!("/admin/maintenance/{id}")),
        Err(err) => ctx.error_page(&err),
    }
}

#[derive(Deserialize)]
pub struct UpgradeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    codebase: String,
}

/// Upgrades every served wiki to the chosen codebase.
pub async fn upgrade(ctx: PageCtx, Form(form): Form<UpgradeForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let codebase = Some(form.codebase.trim().to_owned()).filter(|c| !c.is_empty());
    let request = farm_core::app::upgrades::StartUpgrade { codebase, wikis: None, force: false };
    match ctx.farm.start_upgrade(&actor, &request, &ctx.source).await {
        Ok(run) => see_other(&format!("/admin/maintenance/{}", run.id)),
        Err(err) => {
            use farm_core::FarmError;
            if matches!(err, FarmError::Forbidden(_) | FarmError::Internal(_)) {
                return ctx.error_page(&err);
            }
            runs_page(&ctx, farm_http::status(&err), minijinja::context! { upgrade_error => ctx.error(&err) }).await
        }
    }
}

/// Tries the run's failed wikis again.
pub async fn retry(ctx: PageCtx, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    let (actor, id) = match run_action(&ctx, &id, &form.csrf) {
        Ok(action) => action,
        Err(answer) => return answer,
    };
    match ctx.farm.retry_maintenance_run(&actor, id, &ctx.source).await {
        Ok(_) | Err(farm_core::FarmError::Conflict(_)) => see_other(&format!("/admin/maintenance/{id}")),
        Err(err) => ctx.error_page(&err),
    }
}
