//! Maintenance runs: admins run one MediaWiki script over a selection of wikis; the work is
//! done in the background ([`crate::jobs::maintenance`]). Everything is checked before the
//! run exists: the script (its shape, then its place in the codebase), the arguments, the
//! selection (which must match a wiki) and the options; a refused run leaves nothing behind.

use std::collections::BTreeMap;

use super::{page_size, parse_cursor, Farm, Page};
use crate::domain::maintenance::{
    check_args, RunState, RunWikiState, ScriptName, Selection, SelectionInput, MAX_PARALLEL, MAX_RETRIES,
    MAX_TIMEOUT_SECS,
};
use crate::domain::{permissions, Actor, Secret};
use crate::error::FarmError;
use crate::mediawiki::{resolve_script, ComponentKind};
use crate::platform::ratelimit::Source;
use crate::store::{AuditEntry, MaintenanceRunRecord, NewRun, RunWikiRecord};

/// How many names of wikis under way a run's view lists.
const RUNNING_LISTED: u32 = 50;

/// A run as a caller asks for it.
#[derive(Debug, Clone, Default)]
pub struct StartRun {
    /// `update.php`, `maintenance/refreshLinks.php`, `extensions/NAME/maintenance/x.php`.
    pub script: String,
    pub args: Vec<String>,
    pub selection: SelectionInput,
    /// Scripts at the same time (default: `[maintenance] parallel`).
    pub parallel: Option<u32>,
    /// Per wiki (default: `[maintenance] timeout`).
    pub timeout_secs: Option<u64>,
    /// How many more times a wiki whose script failed runs (default 0).
    pub retries: Option<u32>,
    /// update.php: run it on wikis whose schema is current too.
    pub force: bool,
}

/// A run and where it is.
#[derive(Debug, Clone)]
pub struct RunView {
    pub id: i64,
    pub script: String,
    pub args: Vec<String>,
    pub selection: SelectionInput,
    pub parallel: i64,
    pub timeout_secs: i64,
    pub retries: i64,
    pub force: bool,
    pub requested_by: String,
    pub state: RunState,
    pub total: i64,
    /// How many of its wikis are in each state (every state, zeros too).
    pub counts: BTreeMap<&'static str, i64>,
    /// Wikis whose script runs now (up to 50).
    pub running: Vec<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// An upgrade: the codebase its wikis move to.
    pub upgrade_to: Option<String>,
}

impl RunView {
    /// Wikis that are finished, of the total.
    pub fn finished(&self) -> i64 {
        RunWikiState::ALL
            .iter()
            .filter(|s| s.is_finished())
            .map(|s| self.counts.get(s.as_str()).copied().unwrap_or(0))
            .sum()
    }

    /// Wikis whose script failed, timed out or was interrupted.
    pub fn failures(&self) -> i64 {
        RunWikiState::ALL
            .iter()
            .filter(|s| s.is_failure())
            .map(|s| self.counts.get(s.as_str()).copied().unwrap_or(0))
            .sum()
    }
}

/// One wiki's report.
#[derive(Debug, Clone)]
pub struct RunWikiView {
    pub wiki: String,
    pub position: i64,
    pub state: RunWikiState,
    pub attempts: i64,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    /// The end of what the script wrote.
    pub output: Option<String>,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// An upgrade's canary.
    pub canary: bool,
}

fn wiki_view(record: RunWikiRecord) -> RunWikiView {
    RunWikiView {
        wiki: record.wiki,
        position: record.position,
        state: record.state,
        attempts: record.attempts,
        exit_code: record.exit_code,
        duration_ms: record.duration_ms,
        output: record.output,
        reason: record.reason,
        started_at: record.started_at,
        finished_at: record.finished_at,
        canary: record.canary,
    }
}

/// The longest sealed arguments the control store keeps (base64).
const MAX_SEALED_ARGS: usize = 16_000;
/// The longest record of a selection; a longer list of names is cut (the run's wikis are the
/// full list).
const MAX_SELECTION_RECORD: usize = 2000;

/// The selection as JSON for the record, its list of names cut to fit.
fn selection_record(selection: &SelectionInput) -> Result<String, FarmError> {
    let mut record = selection.clone();
    loop {
        let json = serde_json::to_string(&record).map_err(anyhow::Error::from)?;
        if json.len() <= MAX_SELECTION_RECORD {
            return Ok(json);
        }
        match record.wikis.as_mut() {
            Some(names) if !names.is_empty() => {
                let keep = names.len() / 2;
                names.truncate(keep);
            }
            _ => return Ok("{}".into()),
        }
    }
}

fn out_of_range(field: &'static str, message: String) -> FarmError {
    FarmError::invalid(field, "out_of_range", message)
}

impl Farm {
    /// Starts a run (admins): checked whole first; then the run and one row per selected wiki
    /// are committed with the audit entry, and the runner takes it in turn.
    pub async fn start_maintenance_run(
        &self,
        actor: &Actor,
        request: &StartRun,
        source: &Source,
    ) -> Result<RunView, FarmError> {
        permissions::run_maintenance(actor)?;
        let script = ScriptName::parse(&request.script)?;
        check_args(&request.args)?;
        let selection = Selection::parse(&request.selection)?;
        let parallel = request.parallel.unwrap_or_else(|| self.config.maintenance.default_parallel());
        if parallel == 0 || parallel > MAX_PARALLEL {
            return Err(out_of_range("parallel", format!("parallel is 1 to {MAX_PARALLEL}")));
        }
        let timeout = request.timeout_secs.unwrap_or(self.config.maintenance.timeout.as_secs());
        if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
            return Err(out_of_range("timeout_seconds", format!("timeout_seconds is 1 to {MAX_TIMEOUT_SECS}")));
        }
        let retries = request.retries.unwrap_or(0);
        if retries > MAX_RETRIES {
            return Err(out_of_range("retries", format!("retries is 0 to {MAX_RETRIES}")));
        }
        if request.force && !script.is_update() {
            return Err(FarmError::invalid(
                "force",
                "force_not_update",
                "force is for update.php only (other scripts skip no wiki)".into(),
            ));
        }
        resolve_script(&self.codebase.dir, &script)?;
        let wikis = self.select_wikis(&selection).await?;
        let args_json = serde_json::to_string(&request.args).map_err(anyhow::Error::from)?;
        let args_sealed = self.sealer.seal(&Secret::new(args_json))?;
        if args_sealed.len() > MAX_SEALED_ARGS {
            return Err(FarmError::invalid("args", "argument_invalid", "the arguments are too long together".into()));
        }
        let selection_json = selection_record(&request.selection)?;
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_maintenance_run(
                &NewRun {
                    script: &script.relative,
                    args_sealed: &args_sealed,
                    args_count: i64::try_from(request.args.len()).unwrap_or(i64::MAX),
                    selection: &selection_json,
                    parallel: i64::from(parallel),
                    timeout_secs: i64::try_from(timeout).unwrap_or(i64::MAX),
                    retries: i64::from(retries),
                    force_all: request.force,
                    requested_by: actor.username.as_str(),
                    upgrade_to: None,
                },
                &wikis.iter().map(|(id, name)| (*id, name.clone(), false)).collect::<Vec<_>>(),
            )
            .await?;
        // The arguments' values stay out of the log (one may be a password).
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "maintenance.run",
            target: format!("maintenance:{id}"),
            source: source.label(),
            details: Some(format!(
                "{} with {} argument(s) over {} wiki(s), {parallel} at a time{}",
                script.relative,
                request.args.len(),
                wikis.len(),
                if request.force { ", forced" } else { "" }
            )),
        })
        .await?;
        tx.commit().await?;
        self.wakeups.maintenance.notify_one();
        self.maintenance_run(actor, id).await
    }

    /// The served wikis `selection` names, in id order: `(id, name)`. A wiki named in the list
    /// that is not served, and a selection that matches none, are refused.
    pub(super) async fn select_wikis(&self, selection: &Selection) -> Result<Vec<(i64, String)>, FarmError> {
        if let Some(server) = &selection.server {
            if self.servers.get(server).is_none() {
                return Err(FarmError::invalid(
                    "selection",
                    "selection_invalid",
                    format!("the farm has no database server named {server:?}"),
                ));
            }
        }
        if let Some(extension) = &selection.extension {
            if self.features.catalogue.get(extension).is_none_or(|c| c.kind != ComponentKind::Extension) {
                return Err(FarmError::invalid(
                    "selection",
                    "selection_invalid",
                    format!("the codebase has no extension {extension:?}"),
                ));
            }
        }
        let like = selection.extension.as_ref().map(|e| format!("%\"{e}\"%"));
        let candidates = self
            .store
            .selectable_wikis(selection.backend, selection.server.as_deref(), selection.state, like.as_deref())
            .await?;
        let mut chosen: Vec<(i64, String)> = Vec::new();
        for wiki in candidates {
            if let Some(extension) = &selection.extension {
                let configuration: crate::domain::settings::Configuration =
                    serde_json::from_str(wiki.configuration.as_deref().unwrap_or("{}"))
                        .map_err(|e| anyhow::anyhow!("a wiki's configuration does not parse: {e}"))?;
                if !configuration.extensions.contains(extension) {
                    continue;
                }
            }
            chosen.push((wiki.id, wiki.name));
        }
        if let Some(names) = &selection.wikis {
            let wanted: std::collections::BTreeSet<&str> = names.iter().map(|n| n.as_str()).collect();
            chosen.retain(|(_, name)| wanted.contains(name.as_str()));
            let found: std::collections::BTreeSet<&str> = chosen.iter().map(|(_, n)| n.as_str()).collect();
            let missing: Vec<&str> = wanted.difference(&found).copied().collect();
            // A listed name must be a served wiki (and match the other criteria given).
            if !missing.is_empty() {
                let shown: Vec<&str> = missing.iter().take(10).copied().collect();
                return Err(FarmError::invalid(
                    "selection",
                    "selection_unknown",
                    format!(
                        "not served wikis matching the selection: {}{}",
                        shown.join(", "),
                        if missing.len() > shown.len() { ", ..." } else { "" }
                    ),
                ));
            }
        }
        if chosen.is_empty() {
            return Err(FarmError::invalid(
                "selection",
                "selection_empty",
                "the selection matches no served wiki; nothing was run".into(),
            ));
        }
        Ok(chosen)
    }

    /// One run and its progress (admins).
    pub async fn maintenance_run(&self, actor: &Actor, id: i64) -> Result<RunView, FarmError> {
        permissions::run_maintenance(actor)?;
        let record = self.store.maintenance_run(id).await?.ok_or(FarmError::NotFound("maintenance run"))?;
        self.run_view(record, true).await
    }

    async fn run_view(&self, record: MaintenanceRunRecord, with_running: bool) -> Result<RunView, FarmError> {
        let mut counts: BTreeMap<&'static str, i64> = RunWikiState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for (state, count) in self.store.run_wiki_counts(record.id).await? {
            counts.insert(state.as_str(), count);
        }
        let running = if with_running && counts.get("running").copied().unwrap_or(0) > 0 {
            let rows = self.store.run_wikis(record.id, Some(RunWikiState::Running), None, RUNNING_LISTED).await?;
            rows.into_iter().map(|r| r.wiki).collect()
        } else {
            Vec::new()
        };
        let args = self
            .sealer
            .open(&record.args_sealed)
            .ok()
            .and_then(|secret| serde_json::from_str(secret.expose()).ok())
            .unwrap_or_default();
        let selection = serde_json::from_str(&record.selection).unwrap_or_default();
        Ok(RunView {
            id: record.id,
            script: record.script,
            args,
            selection,
            parallel: record.parallel,
            timeout_secs: record.timeout_secs,
            retries: record.retries,
            force: record.force_all,
            requested_by: record.requested_by,
            state: record.state,
            total: record.total,
            counts,
            running,
            created_at: record.created_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            upgrade_to: record.upgrade_to,
        })
    }

    /// Runs, newest first (admins).
    pub async fn maintenance_runs(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<RunView>, FarmError> {
        permissions::run_maintenance(actor)?;
        let limit = page_size(limit)?;
        let before = parse_cursor(cursor)?;
        let records = self.store.maintenance_runs(before, limit + 1).await?;
        let page = Page::from_rows(records, limit, |r| r.id);
        let mut views = Vec::with_capacity(page.items.len());
        for record in page.items {
            views.push(self.run_view(record, false).await?);
        }
        Ok(Page { items: views, next_after: page.next_after })
    }

    /// The run's wikis in order, each with its report (admins); `state` filters.
    pub async fn maintenance_run_wikis(
        &self,
        actor: &Actor,
        id: i64,
        state: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<RunWikiView>, FarmError> {
        permissions::run_maintenance(actor)?;
        let limit = page_size(limit)?;
        let after = parse_cursor(cursor)?;
        let state = state
            .map(|s| {
                RunWikiState::parse(s).ok_or_else(|| {
                    FarmError::bad_request(
                        "invalid_state",
                        "state is pending, running, done, failed, timed_out, interrupted, skipped or cancelled",
                    )
                })
            })
            .transpose()?;
        self.store.maintenance_run(id).await?.ok_or(FarmError::NotFound("maintenance run"))?;
        let rows = self.store.run_wikis(id, state, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |r| r.position).map(wiki_view))
    }

    /// Cancels a queued or running run (admins): wikis not yet run stay undone, the scripts
    /// under way are killed. A finished run is a conflict.
    pub async fn cancel_maintenance_run(&self, actor: &Actor, id: i64, source: &Source) -> Result<RunView, FarmError> {
        permissions::run_maintenance(actor)?;
        let record = self.store.maintenance_run(id).await?.ok_or(FarmError::NotFound("maintenance run"))?;
        let mut tx = self.store.begin().await?;
        if !tx.cancel_maintenance_run(id).await? {
            return Err(FarmError::Conflict(format!(
                "maintenance run {id} is {}; only a queued or running run is cancelled",
                record.state.as_str()
            )));
        }
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "maintenance.cancel",
            target: format!("maintenance:{id}"),
            source: source.label(),
            details: Some(record.script.clone()),
        })
        .await?;
        tx.commit().await?;
        self.maintenance.cancel(id);
        self.maintenance_run(actor, id).await
    }
}
