//! Maintenance runs: one MediaWiki script over a selection of wikis, `parallel` at a time,
//! each wiki's run as that wiki (`--wiki NAME`: its shard and `secrets.php`, so its own
//! database account), with a time-out after which its process group is killed.
//!
//! The run's wikis are its work list in the control store. A wiki is claimed (`running`, one
//! more attempt) in a commit *before* its script starts, and its end is recorded after; so a
//! kill at any point leaves every wiki pending (never started), running (started, end
//! unknown) or finished. At start, a wiki found running was interrupted: it runs again only if
//! the run has retries left for it, so no wiki runs twice unless the run asked for retries.
//! Runs go one after another; a cancel kills the scripts of the wikis under way and leaves the
//! rest undone.
//!
//! `update.php` is special in one way: a wiki whose schema is current for this codebase and
//! the extensions it loads (its fingerprint, recorded after each successful update, is the
//! current one) is skipped unless the run forces it; and the wiki's settings wait for it (a
//! settings change runs `update.php` too).
//!
//! What a later upgrade of the codebase can reuse: [`MaintenanceRunner::run_one`] runs one
//! script for one wiki under the same locks and limits, and [`ScriptLocks`] keeps farmd's own
//! scripts from overlapping on a wiki.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::settings::Configurator;
use super::upgrades::Gate;
use super::{ScriptLocks, Wakeups};
use crate::domain::maintenance::{RunState, RunWikiState, ScriptName};
use crate::domain::WikiState;
use crate::mediawiki::php::{Opcache, Php, ScriptEnd, ScriptLimits};
use crate::mediawiki::{resolve_script, update_fingerprint, Codebase, CodebaseEntry};
use crate::platform::secrets::Sealer;
use crate::store::{MaintenanceRunRecord, RunWikiOutcome, RunWikiRecord, Store, WikiRecord};

/// How many pending wikis are read at a time.
const BATCH: u32 = 64;

/// The cancel switches of the runs under way, for [`crate::app::Farm`] to pull.
#[derive(Debug, Default)]
pub struct RunControl {
    cancels: Mutex<HashMap<i64, CancellationToken>>,
}

impl RunControl {
    fn register(&self, run_id: i64) -> CancellationToken {
        let token = CancellationToken::new();
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).insert(run_id, token.clone());
        token
    }

    fn forget(&self, run_id: i64) {
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).remove(&run_id);
    }

    /// Kills the scripts of the run's wikis under way (its cancel is committed already).
    pub fn cancel(&self, run_id: i64) {
        if let Some(token) = self.cancels.lock().unwrap_or_else(|e| e.into_inner()).get(&run_id) {
            token.cancel();
        }
    }
}

pub struct MaintenanceRunner {
    pub store: Store,
    /// PHP over the current codebase.
    pub php: Php,
    pub codebase: Codebase,
    /// What upgrades need: the codebases, the routing of wikis to them, the markers, mail.
    pub upgrades: Arc<super::upgrades::UpgradeContext>,
    pub configurator: Arc<Configurator>,
    pub sealer: Sealer,
    pub control: Arc<RunControl>,
    pub locks: Arc<ScriptLocks>,
    pub wakeups: Arc<Wakeups>,
    pub opcache: Option<Opcache>,
}

/// What every wiki of one run shares.
struct Plan {
    run: MaintenanceRunRecord,
    /// The script's name, for wikis on another codebase than the current one.
    name: ScriptName,
    script: PathBuf,
    is_update: bool,
    /// An upgrade: the codebase its wikis move to.
    upgrade: Option<CodebaseEntry>,
    args: Vec<String>,
    limits: ScriptLimits,
}

/// How one wiki's turn ended.
#[derive(Debug)]
pub struct WikiOutcome {
    pub state: RunWikiState,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub output: Option<String>,
    pub reason: Option<String>,
    /// update.php succeeded: the wiki's schema is now this.
    pub fingerprint: Option<String>,
    /// An upgrade succeeded: the wiki runs on this codebase now.
    pub codebase: Option<String>,
}

impl WikiOutcome {
    fn settled(&self) -> super::upgrades::Settled<'_> {
        super::upgrades::Settled { state: self.state, reason: self.reason.as_deref(), output: self.output.as_deref() }
    }

    fn skipped(reason: impl Into<String>) -> Self {
        Self::without_script(RunWikiState::Skipped, reason)
    }

    fn without_script(state: RunWikiState, reason: impl Into<String>) -> Self {
        Self {
            state,
            exit_code: None,
            duration_ms: None,
            output: None,
            reason: Some(reason.into()),
            fingerprint: None,
            codebase: None,
        }
    }
}

impl MaintenanceRunner {
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        // Also the wikis of runs cancelled while farmd was down, which are not executed again.
        if let Err(err) = this.recover().await {
            warn!(error = %format!("{err:#}"), "cannot recover the maintenance runs farmd stopped during");
        }
        loop {
            let next = tokio::select! {
                next = this.store.next_maintenance_run() => next,
                _ = shutdown.cancelled() => return,
            };
            let pause = match next {
                Ok(Some(run)) => {
                    let id = run.id;
                    // Dropped at shutdown: the scripts die with their tasks (and rows stay
                    // `running`, found interrupted at the next start).
                    let worked = tokio::select! {
                        worked = this.clone().execute(run) => worked,
                        _ = shutdown.cancelled() => return,
                    };
                    match worked {
                        Ok(()) => continue,
                        Err(err) => {
                            warn!(run = id, error = %format!("{err:#}"), "maintenance run stopped; trying again soon");
                            Duration::from_secs(5)
                        }
                    }
                }
                Ok(None) => Duration::from_secs(30),
                Err(err) => {
                    warn!(error = %format!("{err:#}"), "cannot read the maintenance runs");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = this.wakeups.maintenance.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// At start: every wiki found running was interrupted by the stop. It runs again if its
    /// run has a retry left for it; otherwise it is `interrupted`, and never run twice.
    async fn recover(&self) -> anyhow::Result<()> {
        for row in self.store.running_run_wikis().await? {
            let Some(run) = self.store.maintenance_run(row.run_id).await? else { continue };
            if run.state == RunState::Cancelled {
                let outcome = WikiOutcome::without_script(RunWikiState::Cancelled, "the run was cancelled");
                self.record(&row, &outcome).await?;
                self.upgrades.settle(&run, &row, &outcome.settled()).await;
            } else if row.attempts <= run.retries {
                let reason =
                    "interrupted (farmd stopped while the script was under way); run again: the run asked for retries";
                self.store.retry_run_wiki(run.id, row.wiki_id, run.total, reason).await?;
                warn!(run = run.id, wiki = %row.wiki, "a maintenance script was interrupted by a stop; it runs again");
            } else {
                let outcome = WikiOutcome::without_script(
                    RunWikiState::Interrupted,
                    "farmd stopped while the script was under way (started, or about to start); not run again: \
                     the run asked for no more retries",
                );
                self.record(&row, &outcome).await?;
                self.upgrades.settle(&run, &row, &outcome.settled()).await;
                warn!(run = run.id, wiki = %row.wiki, "a maintenance script was interrupted by a stop");
            }
        }
        // A kill between an upgrade's commit and the marker's removal (or a failure's record
        // and its marker) left a marker that no longer says the truth.
        self.upgrades.reconcile_markers().await?;
        Ok(())
    }

    async fn execute(self: Arc<Self>, run: MaintenanceRunRecord) -> anyhow::Result<()> {
        // Runs go one at a time, so no script is under way now: a wiki left `running` (its end
        // could not be recorded) is settled as after a stop, and the run can end.
        self.recover().await?;
        let token = self.control.register(run.id);
        let _forget = Forget(&self.control, run.id);
        // Registered first, then started: a cancel committed meanwhile is seen here.
        if !self.store.start_maintenance_run(run.id).await? {
            return Ok(());
        }
        let run = self.store.maintenance_run(run.id).await?.context("the run is gone")?;
        if run.state != RunState::Running {
            return Ok(());
        }
        let plan = match self.plan(&run) {
            Ok(plan) => Arc::new(plan),
            Err(reason) => {
                // Nothing can run: every wiki left fails with the reason.
                warn!(run = run.id, reason = %reason, "maintenance run cannot start");
                while let Some(row) = self.store.pending_run_wikis(run.id, BATCH).await?.into_iter().next() {
                    if self.store.claim_run_wiki(run.id, row.wiki_id).await? {
                        let outcome = WikiOutcome::without_script(RunWikiState::Failed, reason.clone());
                        self.record(&row, &outcome).await?;
                        self.upgrades.settle(&run, &row, &outcome.settled()).await;
                    }
                }
                self.store.finish_maintenance_run(run.id).await?;
                return Ok(());
            }
        };
        info!(run = run.id, script = %run.script, wikis = run.total, parallel = run.parallel, "maintenance run started");
        let parallel = usize::try_from(run.parallel.clamp(1, 64)).unwrap_or(1);
        let mut tasks = JoinSet::new();
        let mut queue: VecDeque<RunWikiRecord> = VecDeque::new();
        let mut failed = None;
        loop {
            while failed.is_none() && tasks.len() < parallel && !token.is_cancelled() {
                // An upgrade's canaries go first, alone: the others wait until every canary
                // has succeeded, and stay pending (the run ends held) if one did not.
                if plan.upgrade.is_some() {
                    match self.upgrades.canary_gate(run.id).await {
                        Ok(Gate::Open) => {}
                        // Canaries first: a stale list might start with another wiki.
                        Ok(Gate::Canaries) => queue.clear(),
                        Ok(Gate::Wait) if !tasks.is_empty() => break,
                        Ok(Gate::Wait) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        Ok(Gate::Closed) => {
                            queue.clear();
                            break;
                        }
                        Err(err) => {
                            failed = Some(err.into());
                            break;
                        }
                    }
                }
                match self.next_claimed(run.id, &mut queue).await {
                    Ok(Some(row)) => {
                        tasks.spawn(self.clone().finish_wiki(plan.clone(), row, token.clone()));
                    }
                    Ok(None) => break,
                    // The scripts under way finish and are recorded first.
                    Err(err) => failed = Some(err),
                }
            }
            let Some(joined) = tasks.join_next().await else { break };
            if let Err(err) = joined {
                warn!(run = run.id, error = %err, "a maintenance task ended abnormally");
            }
        }
        if let Some(err) = failed {
            return Err(err);
        }
        if plan.upgrade.is_some() && self.upgrades.canary_gate(run.id).await? == Gate::Closed {
            self.upgrades.hold(run.id).await?;
        }
        if self.store.finish_maintenance_run(run.id).await? {
            let counts = self.store.run_wiki_counts(run.id).await?;
            let count = |state: RunWikiState| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
            info!(
                run = run.id, script = %run.script, done = count(RunWikiState::Done),
                failed = count(RunWikiState::Failed) + count(RunWikiState::TimedOut) + count(RunWikiState::Interrupted),
                skipped = count(RunWikiState::Skipped), "maintenance run finished"
            );
        }
        Ok(())
    }

    /// The next pending wiki of the run, claimed (`running`) in a commit of its own; `None`
    /// when none is left. Writes another transaction was in the way of are tried again.
    async fn next_claimed(
        &self,
        run_id: i64,
        queue: &mut VecDeque<RunWikiRecord>,
    ) -> anyhow::Result<Option<RunWikiRecord>> {
        loop {
            if queue.is_empty() {
                queue.extend(retrying(|| self.store.pending_run_wikis(run_id, BATCH)).await?);
            }
            let Some(row) = queue.pop_front() else { return Ok(None) };
            if retrying(|| self.store.claim_run_wiki(run_id, row.wiki_id)).await? {
                return Ok(Some(row));
            }
        }
    }

    /// What the run's wikis share, or why none of them can run.
    fn plan(&self, run: &MaintenanceRunRecord) -> Result<Plan, String> {
        let name = ScriptName::parse(&run.script).map_err(|e| format!("the run's script: {e}"))?;
        let upgrade = match &run.upgrade_to {
            Some(target) => Some(self.upgrades.target(target)?),
            None => None,
        };
        let root = match &upgrade {
            Some(target) => target.found.as_ref().map(|c| c.dir.clone()).map_err(Clone::clone)?,
            None => self.codebase.dir.clone(),
        };
        let script = resolve_script(&root, &name).map_err(|e| format!("the run's script: {e}"))?;
        let args =
            self.sealer.open(&run.args_sealed).map_err(|e| format!("cannot read the run's arguments: {e}")).and_then(
                |sealed| {
                    serde_json::from_str::<Vec<String>>(sealed.expose())
                        .map_err(|e| format!("cannot read the run's arguments: {e}"))
                },
            )?;
        let timeout = Duration::from_secs(u64::try_from(run.timeout_secs.max(1)).unwrap_or(1));
        Ok(Plan {
            run: run.clone(),
            is_update: name.is_update(),
            name,
            script,
            upgrade,
            args,
            limits: ScriptLimits { timeout, opcache: self.opcache.clone() },
        })
    }

    /// Runs the claimed wiki and records its end (or puts it back for a retry).
    async fn finish_wiki(self: Arc<Self>, plan: Arc<Plan>, row: RunWikiRecord, token: CancellationToken) {
        let outcome = match self.work(&plan, &row, &token).await {
            Ok(outcome) => outcome,
            Err(err) => {
                warn!(run = plan.run.id, wiki = %row.wiki, error = %format!("{err:#}"), "cannot run the maintenance script");
                WikiOutcome::without_script(RunWikiState::Failed, "farmd could not run the script; its log says why")
            }
        };
        // This attempt is the claim's: attempts + 1.
        let retry = outcome.state.is_failure() && row.attempts < plan.run.retries && !token.is_cancelled();
        let recorded = if retry {
            let reason = format!(
                "attempt {} {}; run again: the run asked for retries",
                row.attempts + 1,
                outcome.reason.as_deref().unwrap_or("failed")
            );
            self.store
                .retry_run_wiki(plan.run.id, row.wiki_id, plan.run.total, &reason)
                .await
                .map(|_| ())
                .map_err(Into::into)
        } else {
            self.record(&row, &outcome).await
        };
        match recorded {
            Ok(()) if !retry => self.upgrades.settle(&plan.run, &row, &outcome.settled()).await,
            Ok(()) => {}
            Err(err) => {
                warn!(run = plan.run.id, wiki = %row.wiki, error = %format!("{err:#}"), "cannot record a maintenance script's end")
            }
        }
    }

    async fn work(&self, plan: &Plan, row: &RunWikiRecord, token: &CancellationToken) -> anyhow::Result<WikiOutcome> {
        let Some(wiki) = self.store.wiki_by_id(row.wiki_id).await? else {
            return Ok(WikiOutcome::skipped("the wiki is gone"));
        };
        if let Some(target) = &plan.upgrade {
            return self.upgrade_one(&wiki, target, &plan.args, &plan.limits, plan.run.force_all, token).await;
        }
        // A wiki still on another codebase runs that codebase's script.
        let on = self.upgrades.codebases.serving(&wiki.codebase);
        let script = if on.dir == self.codebase.dir {
            plan.script.clone()
        } else {
            let Ok(script) = resolve_script(&on.dir, &plan.name) else {
                return Ok(WikiOutcome::skipped(format!(
                    "the wiki is still on the codebase {:?}, which has no {}",
                    wiki.codebase, plan.name.relative
                )));
            };
            script
        };
        let php = self.php.on(&on);
        let run = RunOn { php: &php, codebase: &on };
        self.run_one(&wiki, run, &script, plan.is_update, &plan.args, &plan.limits, plan.run.force_all, token).await
    }

    /// Moves `wiki` to `target` (or brings its schema up to date there): read-only for its
    /// readers, its job queue drained on the code it runs now, `update.php` of the target,
    /// then in one commit its new codebase and schema fingerprint, then served by the target
    /// and writable again. A failure leaves it served read-only where it was.
    async fn upgrade_one(
        &self,
        wiki: &WikiRecord,
        target: &CodebaseEntry,
        args: &[String],
        limits: &ScriptLimits,
        force: bool,
        token: &CancellationToken,
    ) -> anyhow::Result<WikiOutcome> {
        let Ok(target_code) = &target.found else {
            return Ok(WikiOutcome::without_script(RunWikiState::Failed, "the target codebase cannot be used"));
        };
        if !matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            return Ok(WikiOutcome::skipped(format!(
                "the wiki is {}: only served wikis are upgraded",
                wiki.state.as_str()
            )));
        }
        if self.store.restore_pending(wiki.id).await? {
            return Ok(WikiOutcome::skipped("a restore of the wiki is under way"));
        }
        let cancelled =
            || WikiOutcome::without_script(RunWikiState::Cancelled, "the run was cancelled before its turn");
        let _settings = tokio::select! {
            guard = self.configurator.lock(wiki.id) => guard,
            _ = token.cancelled() => return Ok(cancelled()),
        };
        let _script = tokio::select! {
            guard = self.locks.lock(wiki.id) => guard,
            _ = token.cancelled() => return Ok(cancelled()),
        };
        let wiki = self.store.wiki_by_id(wiki.id).await?.context("the wiki is gone")?;
        let revision = self.store.settings_revision(wiki.id, wiki.settings_revision).await?;
        let extensions = revision.map(|r| r.configuration.extensions).unwrap_or_default();
        let fingerprint = update_fingerprint(&target_code.version, extensions.iter().map(String::as_str));
        let moving = wiki.codebase != target.name;
        if !force && !moving && self.store.update_fingerprint(wiki.id).await?.as_deref() == Some(fingerprint.as_str()) {
            self.upgrades.clear_failed_marker(&wiki);
            return Ok(WikiOutcome::skipped(format!(
                "already on {} with a current schema for it and the wiki's extensions",
                target.name
            )));
        }
        self.upgrades.mark_upgrading(&wiki)?;
        let started = std::time::Instant::now();
        // Jobs queued for the old code run on it, before the schema moves under them.
        let current = self.upgrades.codebases.serving(&wiki.codebase);
        let drain_limits = ScriptLimits { timeout: limits.timeout.min(Duration::from_secs(300)), ..limits.clone() };
        let drain = self
            .php
            .on(&current)
            .run_script(&current.dir.join("maintenance/runJobs.php"), wiki.name.as_str(), &[], &drain_limits, token)
            .await?;
        let mut log = String::new();
        if !matches!(drain.end, ScriptEnd::Exited(0)) {
            // Not fatal: what is left runs after the upgrade, on the new code.
            log.push_str(&format!("(draining the job queue ended {:?}; its jobs run after the upgrade)\n", drain.end));
        }
        let mut update_args = vec!["--quick".to_owned()];
        update_args.extend(args.iter().filter(|a| *a != "--quick").cloned());
        let update = self.php.on(target_code);
        let script = target_code.dir.join("maintenance/update.php");
        let ran = update.run_script(&script, wiki.name.as_str(), &update_args, limits, token).await?;
        log.push_str(&ran.output);
        let mut outcome = script_outcome(ran.end, limits);
        outcome.duration_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        outcome.output = Some(tail_of(&log));
        if outcome.state == RunWikiState::Done {
            outcome.fingerprint = Some(fingerprint);
            outcome.codebase = Some(target.name.clone());
        }
        Ok(outcome)
    }

    /// Runs `script` for `wiki` if it is served and not being restored, one farmd script at a
    /// time on it (and for `update.php` under the wiki's settings lock, skipped when its schema
    /// is current unless `force`).
    #[allow(clippy::too_many_arguments)]
    pub async fn run_one(
        &self,
        wiki: &WikiRecord,
        on: RunOn<'_>,
        script: &std::path::Path,
        is_update: bool,
        args: &[String],
        limits: &ScriptLimits,
        force: bool,
        token: &CancellationToken,
    ) -> anyhow::Result<WikiOutcome> {
        if !matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            return Ok(WikiOutcome::skipped(format!(
                "the wiki is {}: scripts run on served wikis only",
                wiki.state.as_str()
            )));
        }
        if self.store.restore_pending(wiki.id).await? {
            return Ok(WikiOutcome::skipped("a restore of the wiki is under way"));
        }
        let cancelled =
            || WikiOutcome::without_script(RunWikiState::Cancelled, "the run was cancelled before its turn");
        // Locks in one order everywhere (the wiki's settings, then its scripts), as a restore
        // takes them.
        let settings = if is_update {
            tokio::select! {
                guard = self.configurator.lock(wiki.id) => Some(guard),
                _ = token.cancelled() => return Ok(cancelled()),
            }
        } else {
            None
        };
        let _script = tokio::select! {
            guard = self.locks.lock(wiki.id) => guard,
            _ = token.cancelled() => return Ok(cancelled()),
        };
        let fingerprint = if settings.is_some() {
            // Read under the lock: the extensions this update.php loads.
            let wiki = self.store.wiki_by_id(wiki.id).await?.context("the wiki is gone")?;
            let revision = self.store.settings_revision(wiki.id, wiki.settings_revision).await?;
            let extensions = revision.map(|r| r.configuration.extensions).unwrap_or_default();
            let fingerprint = update_fingerprint(&on.codebase.version, extensions.iter().map(String::as_str));
            if !force && self.store.update_fingerprint(wiki.id).await?.as_deref() == Some(fingerprint.as_str()) {
                return Ok(WikiOutcome::skipped(
                    "the schema is current for this codebase and the wiki's extensions (force runs it anyway)",
                ));
            }
            Some(fingerprint)
        } else {
            None
        };
        let ran = on.php.run_script(script, wiki.name.as_str(), args, limits, token).await?;
        let mut outcome = script_outcome(ran.end, limits);
        outcome.duration_ms = Some(i64::try_from(ran.duration.as_millis()).unwrap_or(i64::MAX));
        outcome.output = Some(ran.output);
        outcome.fingerprint = fingerprint.filter(|_| outcome.state == RunWikiState::Done);
        Ok(outcome)
    }

    /// The wiki's end, with its schema's fingerprint after a successful update; tried again
    /// when another transaction was in the way (two wikis finishing at once on MariaDB).
    async fn record(&self, row: &RunWikiRecord, outcome: &WikiOutcome) -> anyhow::Result<()> {
        Ok(retrying(|| self.record_once(row, outcome)).await?)
    }

    async fn record_once(&self, row: &RunWikiRecord, outcome: &WikiOutcome) -> Result<(), crate::FarmError> {
        let mut tx = self.store.begin().await?;
        let recorded = tx
            .finish_run_wiki(
                row.run_id,
                row.wiki_id,
                &RunWikiOutcome {
                    state: outcome.state,
                    exit_code: outcome.exit_code,
                    duration_ms: outcome.duration_ms,
                    output: outcome.output.as_deref(),
                    reason: outcome.reason.as_deref(),
                },
            )
            .await?;
        if let (true, Some(fingerprint)) = (recorded, &outcome.fingerprint) {
            tx.set_update_fingerprint(row.wiki_id, fingerprint, row.run_id).await?;
        }
        if let (true, Some(codebase)) = (recorded, &outcome.codebase) {
            tx.set_wiki_codebase(row.wiki_id, codebase).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How a script's end reads in a report.
fn script_outcome(end: ScriptEnd, limits: &ScriptLimits) -> WikiOutcome {
    let (state, exit_code, reason) = match end {
        ScriptEnd::Exited(0) => (RunWikiState::Done, Some(0), None),
        ScriptEnd::Exited(code) => {
            (RunWikiState::Failed, Some(i64::from(code)), Some(format!("exited with status {code}")))
        }
        ScriptEnd::Signalled(signal) => (RunWikiState::Failed, None, Some(format!("killed by signal {signal}"))),
        ScriptEnd::TimedOut => (
            RunWikiState::TimedOut,
            None,
            Some(format!("still running after {} s: its process group was killed", limits.timeout.as_secs())),
        ),
        ScriptEnd::Cancelled => (
            RunWikiState::Cancelled,
            None,
            Some("the run was cancelled while the script ran: its process group was killed".into()),
        ),
    };
    WikiOutcome { state, exit_code, duration_ms: None, output: None, reason, fingerprint: None, codebase: None }
}

/// The end of a report's output, as much as the control store keeps.
fn tail_of(text: &str) -> String {
    let keep = crate::mediawiki::php::OUTPUT_TAIL_BYTES;
    if text.len() <= keep {
        return text.to_owned();
    }
    let mut start = text.len() - keep;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// The PHP and codebase one wiki's script runs with.
#[derive(Clone, Copy)]
pub struct RunOn<'a> {
    pub php: &'a Php,
    pub codebase: &'a Codebase,
}

/// `write`, again (up to five more times, a moment apart) while it fails only because another
/// transaction was in the way.
async fn retrying<T, F, Fut>(mut write: F) -> Result<T, crate::FarmError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::FarmError>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(err) if attempt < 5 && crate::store::is_transient(&err) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            done => return done,
        }
    }
}

/// Forgets the run's cancel switch when its execution ends, however it ends.
struct Forget<'a>(&'a RunControl, i64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}
