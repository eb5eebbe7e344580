//! Upgrades: moving wikis to a MediaWiki codebase, or bringing their schemas up to date after
//! the codebase changed in place (a Debian point release). An upgrade is a maintenance run of
//! `update.php` with a target codebase ([`super::maintenance`] runs each wiki's turn); this
//! module holds what is particular to it:
//!
//! - the markers that make a wiki read-only for its readers while it is upgraded
//!   (`upgrading`), and after its upgrade failed (`upgrade-failed`, until a retry succeeds);
//! - which wikis run on a codebase other than the current one ([`CodebaseRouting`]: the
//!   proxy asks it for each request, so it is in memory), changed right after the commit that
//!   moves a wiki;
//! - the canaries, which go first: the other wikis wait until every canary succeeded;
//! - the mail to the farm's admins about a wiki whose upgrade failed;
//! - [`UpgradeWatcher`], which looks at the codebases at start and every `check_interval`:
//!   a new current codebase, or a new version or extension set in it, queues an upgrade of
//!   every served wiki by itself (`[upgrades] automatic`). A change in place while farmd runs
//!   also asks farmd to restart, so that templates, the warm pool and the PHP servers are
//!   rebuilt for the new code (the restart keeps the listening socket: no request is refused).
//!
//! Crash safety: a wiki's move is one commit (its run row, its fingerprint, its codebase);
//! the routing and the markers follow that commit, and at the runner's start markers are made
//! to agree with the control store again ([`UpgradeContext::reconcile_markers`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{CodebaseConfig, Config};
use crate::domain::maintenance::RunWikiState;
use crate::domain::{ResourceKey, Secret};
use crate::error::FarmError;
use crate::mail::MailTemplates;
use crate::mediawiki::{CodebaseEntry, Codebases};
use crate::platform::layout::Layout;
use crate::platform::secrets::Sealer;
use crate::store::{MaintenanceRunRecord, NewRun, RunWikiRecord, Store, WikiRecord};

/// The marker that makes a wiki read-only for its readers while it is upgraded.
pub const UPGRADING_MARKER: &str = "upgrading";
/// The marker of a wiki whose upgrade failed: read-only until a retry succeeds.
pub const UPGRADE_FAILED_MARKER: &str = "upgrade-failed";

/// Which served wikis run on a codebase other than the current one (usually none).
#[derive(Debug)]
pub struct CodebaseRouting {
    current: String,
    elsewhere: RwLock<HashMap<String, String>>,
}

impl CodebaseRouting {
    pub fn new(current: &str) -> Self {
        Self { current: current.to_owned(), elsewhere: RwLock::new(HashMap::new()) }
    }

    /// The codebase the wiki `name` runs on, when it is not the current one.
    pub fn elsewhere(&self, name: &str) -> Option<String> {
        self.elsewhere.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    pub fn set(&self, name: &str, codebase: &str) {
        let mut map = self.elsewhere.write().unwrap_or_else(|e| e.into_inner());
        if codebase == self.current {
            map.remove(name);
        } else {
            map.insert(name.to_owned(), codebase.to_owned());
        }
    }

    /// Reads the whole map again (at start, and after renames).
    pub async fn reload(&self, store: &Store) -> Result<(), FarmError> {
        let rows = store.wikis_off_codebase(&self.current).await?;
        *self.elsewhere.write().unwrap_or_else(|e| e.into_inner()) = rows.into_iter().collect();
        Ok(())
    }
}

/// How an upgrade's wiki ended, as recorded.
pub struct Settled<'a> {
    pub state: RunWikiState,
    pub reason: Option<&'a str>,
    pub output: Option<&'a str>,
}

/// Whether an upgrade's next wiki may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// No canary is left: any wiki.
    Open,
    /// Canaries are pending: they go first.
    Canaries,
    /// Canaries are under way: the others wait for them.
    Wait,
    /// A canary did not succeed: no other wiki starts.
    Closed,
}

/// What upgrades need besides what every maintenance run does.
pub struct UpgradeContext {
    pub store: Store,
    pub layout: Layout,
    /// As found at start (the current one is what this farmd serves new wikis with).
    pub codebases: Codebases,
    pub configs: Vec<CodebaseConfig>,
    pub routing: Arc<CodebaseRouting>,
    pub mail: Arc<MailTemplates>,
    pub farm_name: String,
    pub public_url: String,
}

impl UpgradeContext {
    /// The codebase named `name`, looked at now (it may have changed or gone since start).
    pub fn target(&self, name: &str) -> Result<CodebaseEntry, String> {
        let config = self
            .configs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("the codebase {name:?} is no longer in the configuration"))?;
        let entry = CodebaseEntry::detect(config);
        match &entry.found {
            Ok(_) => Ok(entry),
            Err(why) => Err(format!("the codebase {name:?} cannot be used: {why}")),
        }
    }

    pub async fn canary_gate(&self, run_id: i64) -> Result<Gate, FarmError> {
        let (pending, running, failed) = self.store.canary_counts(run_id).await?;
        Ok(if failed > 0 {
            Gate::Closed
        } else if pending > 0 {
            Gate::Canaries
        } else if running > 0 {
            Gate::Wait
        } else {
            Gate::Open
        })
    }

    /// A canary failed: the other wikis stay where they are (and writable); a retry of the
    /// run takes them again.
    pub async fn hold(&self, run_id: i64) -> Result<(), FarmError> {
        let held = self
            .store
            .hold_run_wikis(run_id, "not upgraded: a canary wiki's upgrade did not succeed (retry the run)")
            .await?;
        if held > 0 {
            warn!(run = run_id, held, "a canary wiki's upgrade failed: the other wikis are not upgraded");
        }
        Ok(())
    }

    fn marker(&self, key: &ResourceKey, name: &str) -> std::path::PathBuf {
        self.layout.wiki_dir(key).join(name)
    }

    pub fn mark_upgrading(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        crate::platform::fsutil::write_atomic(
            &self.marker(&wiki.key, UPGRADING_MARKER),
            b"This wiki is being upgraded.\n",
            0o644,
        )?;
        Ok(())
    }

    pub fn clear_failed_marker(&self, wiki: &WikiRecord) {
        remove(&self.marker(&wiki.key, UPGRADE_FAILED_MARKER));
    }

    /// After an upgrade's wiki was recorded as `outcome`: a success is served by its new
    /// codebase and writable; a failure stays read-only where it was, and the admins are told.
    pub async fn settle(&self, run: &MaintenanceRunRecord, row: &RunWikiRecord, outcome: &Settled<'_>) {
        let Some(target) = &run.upgrade_to else { return };
        let wiki = match self.store.wiki_by_id(row.wiki_id).await {
            Ok(Some(wiki)) => wiki,
            Ok(None) => return,
            Err(err) => {
                warn!(wiki = %row.wiki, error = %err, "cannot read the upgraded wiki; its markers are settled at the next start");
                return;
            }
        };
        let upgrading = self.marker(&wiki.key, UPGRADING_MARKER);
        if outcome.state.is_failure() {
            let failed = self.marker(&wiki.key, UPGRADE_FAILED_MARKER);
            if let Err(err) = crate::platform::fsutil::write_atomic(&failed, b"This wiki's upgrade failed.\n", 0o644) {
                warn!(wiki = %wiki.name, error = %err, "cannot mark the wiki's failed upgrade");
            }
            remove(&upgrading);
            warn!(
                wiki = %wiki.name, run = run.id, codebase = %target, reason = outcome.reason.unwrap_or(""),
                "the wiki's upgrade failed: it stays read-only on its codebase; retry the run once the cause is fixed"
            );
            if let Err(err) = self.mail_failure(run, &wiki, target, outcome).await {
                warn!(wiki = %wiki.name, error = %err, "cannot queue the mail about a failed upgrade");
            }
            return;
        }
        if outcome.state == RunWikiState::Done {
            self.routing.set(wiki.name.as_str(), &wiki.codebase);
            remove(&self.marker(&wiki.key, UPGRADE_FAILED_MARKER));
            info!(wiki = %wiki.name, run = run.id, codebase = %wiki.codebase, "wiki upgraded");
        }
        // Skipped or cancelled before its turn: it never became read-only for this run.
        remove(&upgrading);
    }

    async fn mail_failure(
        &self,
        run: &MaintenanceRunRecord,
        wiki: &WikiRecord,
        target: &str,
        outcome: &Settled<'_>,
    ) -> Result<(), FarmError> {
        let admins = self.store.admin_emails().await?;
        if admins.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        for (username, email) in admins {
            let mail = self.mail.render(
                "upgrade_failed",
                &email,
                minijinja::context! {
                    username => username, farm => self.farm_name, wiki => wiki.name.as_str(), codebase => target,
                    reason => outcome.reason.unwrap_or("it failed"),
                    output => outcome.output.map(|o| tail_lines(o, 15)).unwrap_or_default(),
                    run => run.id, url => format!("{}/admin/maintenance/{}", self.public_url, run.id),
                },
            )?;
            tx.enqueue_mail(&mail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes the markers agree with the control store when no upgrade script runs (at the
    /// runner's start): `upgrading` goes; a wiki whose last upgrade did not succeed keeps (or
    /// gets) `upgrade-failed`.
    pub async fn reconcile_markers(&self) -> Result<(), FarmError> {
        for (id, name, key, _) in self.store.served_wikis().await? {
            let Some(key) = ResourceKey::parse(&key) else { continue };
            let upgrading = self.marker(&key, UPGRADING_MARKER);
            if !upgrading.exists() {
                continue;
            }
            if self.store.last_upgrade_failed(id).await? {
                let failed = self.marker(&key, UPGRADE_FAILED_MARKER);
                if let Err(err) =
                    crate::platform::fsutil::write_atomic(&failed, b"This wiki's upgrade failed.\n", 0o644)
                {
                    warn!(wiki = %name, error = %err, "cannot mark the wiki's failed upgrade");
                    continue;
                }
            }
            remove(&upgrading);
        }
        Ok(())
    }
}

fn remove(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => warn!(path = %path.display(), error = %err, "cannot remove an upgrade marker"),
    }
}

fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What an upgrade is asked for.
pub struct UpgradeRequest<'a> {
    pub target: &'a str,
    /// Served wikis `(id, name)`, in order.
    pub wikis: Vec<(i64, String)>,
    pub canary: &'a [String],
    pub parallel: u32,
    pub timeout: Duration,
    pub force: bool,
    pub requested_by: &'a str,
    /// The client's address, when a client asked.
    pub source: Option<String>,
}

/// Queues an upgrade (in the caller's view: checked already), unless one is queued or under
/// way: then `Err(Conflict)`. Its id.
pub async fn queue_upgrade(store: &Store, sealer: &Sealer, request: &UpgradeRequest<'_>) -> Result<i64, FarmError> {
    let args_sealed = sealer.seal(&Secret::new("[]".to_owned()))?;
    let selection = serde_json::json!({ "codebase": request.target }).to_string();
    let wikis: Vec<(i64, String, bool)> =
        request.wikis.iter().map(|(id, name)| (*id, name.clone(), request.canary.iter().any(|c| c == name))).collect();
    let mut tx = store.begin().await?;
    if let Some(id) = tx.active_upgrade().await? {
        return Err(FarmError::Conflict(format!(
            "upgrade {id} is queued or under way; wait for it to end (or cancel it) before asking for another"
        )));
    }
    let id = tx
        .insert_maintenance_run(
            &NewRun {
                script: "maintenance/update.php",
                args_sealed: &args_sealed,
                args_count: 0,
                selection: &selection,
                parallel: i64::from(request.parallel),
                timeout_secs: i64::try_from(request.timeout.as_secs()).unwrap_or(i64::MAX),
                // An update interrupted by a stop runs again: update.php is idempotent.
                retries: 1,
                force_all: request.force,
                requested_by: request.requested_by,
                upgrade_to: Some(request.target),
            },
            &wikis,
        )
        .await?;
    tx.audit(&crate::store::AuditEntry {
        actor: request.requested_by.to_owned(),
        action: "upgrade.start",
        target: format!("maintenance:{id}"),
        source: request.source.clone(),
        details: Some(format!(
            "to {} over {} wiki(s), {} canary, {} at a time",
            request.target,
            wikis.len(),
            wikis.iter().filter(|w| w.2).count(),
            request.parallel
        )),
    })
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Looks at the codebases at start and every `check_interval`.
pub struct UpgradeWatcher {
    pub store: Store,
    pub sealer: Sealer,
    pub config: Config,
    /// The current codebase as this farmd opened it: `version` with the extension tables'
    /// digest (the templates' name).
    pub opened_as: String,
    /// How `opened_as` is computed for what is on disk now.
    pub fingerprint: Arc<dyn Fn(&crate::mediawiki::Codebase) -> String + Send + Sync>,
    pub routing: Arc<CodebaseRouting>,
    pub wakeups: Arc<super::Wakeups>,
    /// Cancelled to ask farmd to restart (the current codebase changed in place).
    pub restart: CancellationToken,
}

impl UpgradeWatcher {
    pub async fn run(self, shutdown: CancellationToken) {
        let current = self.config.current_codebase();
        if let Err(err) = self.at_start(&current).await {
            warn!(error = %format!("{err:#}"), "cannot look at the codebases' versions");
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.upgrades.check_interval) => {}
                _ = shutdown.cancelled() => return,
            }
            let Some(config) = self.config.all_codebases().into_iter().find(|c| c.name == current) else { return };
            let entry = CodebaseEntry::detect(&config);
            let Ok(codebase) = &entry.found else {
                warn!(codebase = %current, "the current codebase is not a usable MediaWiki any more; the wikis keep running on what PHP finds");
                continue;
            };
            let now_as = (self.fingerprint)(codebase);
            if now_as != self.opened_as {
                info!(
                    codebase = %current, from = %self.opened_as, to = %now_as,
                    "the current MediaWiki codebase changed in place: farmd restarts to build templates for it and upgrade the wikis"
                );
                self.restart.cancel();
                return;
            }
            if let Err(err) = self.routing.reload(&self.store).await {
                warn!(error = %err, "cannot read which wikis run on which codebase");
            }
        }
    }

    /// Records what the codebases hold now; a change of the current one (or a new current
    /// one) since it was last recorded queues an upgrade of every served wiki.
    async fn at_start(&self, current: &str) -> anyhow::Result<()> {
        let named = self.store.name_unnamed_codebases(current).await?;
        if named > 0 {
            info!(codebase = %current, wikis = named, "wikis from before codebases had names run on the current one");
        }
        self.routing.reload(&self.store).await?;
        let recorded = self.store.codebase_version(current).await?;
        let path = self
            .config
            .all_codebases()
            .into_iter()
            .find(|c| c.name == current)
            .map(|c| c.path.to_string_lossy().into_owned())
            .unwrap_or_default();
        if recorded.as_deref() == Some(self.opened_as.as_str()) {
            return Ok(());
        }
        let elsewhere = self.store.wikis_off_codebase(current).await?.len();
        info!(
            codebase = %current, was = recorded.as_deref().unwrap_or("(not recorded)"), now = %self.opened_as,
            wikis_elsewhere = elsewhere, "the current MediaWiki codebase is new or changed"
        );
        if self.config.upgrades.automatic {
            let wikis: Vec<(i64, String)> =
                self.store.served_wikis().await?.into_iter().map(|(id, name, _, _)| (id, name)).collect();
            if !wikis.is_empty() {
                let request = UpgradeRequest {
                    target: current,
                    wikis,
                    canary: &self.config.upgrades.canary,
                    parallel: upgrade_parallel(&self.config),
                    timeout: self.config.upgrades.timeout,
                    force: false,
                    requested_by: "farmd",
                    source: None,
                };
                match queue_upgrade(&self.store, &self.sealer, &request).await {
                    Ok(id) => {
                        info!(run = id, codebase = %current, "upgrade queued by itself");
                        self.wakeups.maintenance.notify_one();
                    }
                    // One is under way (from before a restart): it goes on.
                    Err(FarmError::Conflict(message)) => info!(%message, "no new upgrade queued"),
                    Err(err) => return Err(err.into()),
                }
            }
        }
        self.store.record_codebase_version(current, &path, &self.opened_as).await?;
        Ok(())
    }
}

/// `[upgrades] parallel`, or `[maintenance]`'s.
pub fn upgrade_parallel(config: &Config) -> u32 {
    match config.upgrades.parallel {
        0 => config.maintenance.default_parallel(),
        n => u32::try_from(n).unwrap_or(1),
    }
}
