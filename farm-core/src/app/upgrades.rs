//! Upgrades (admins): move wikis to a codebase, or bring their schemas up to date on the
//! current one; the work is a maintenance run with a target ([`crate::jobs::upgrades`]). A
//! retry takes a finished run's failed wikis again.

use super::maintenance::RunView;
use super::Farm;
use crate::config::is_codebase_name;
use crate::domain::maintenance::{Selection, SelectionInput};
use crate::domain::{permissions, Actor};
use crate::error::FarmError;
use crate::jobs::upgrades::{queue_upgrade, upgrade_parallel, UpgradeRequest};
use crate::mediawiki::CodebaseEntry;
use crate::platform::ratelimit::Source;
use crate::store::AuditEntry;

/// An upgrade as a caller asks for it.
#[derive(Debug, Clone, Default)]
pub struct StartUpgrade {
    /// Default: the current codebase.
    pub codebase: Option<String>,
    /// Default: every served wiki.
    pub wikis: Option<Vec<String>>,
    /// Also the wikis already on it with a current schema.
    pub force: bool,
}

/// A configured codebase and what is there now.
#[derive(Debug, Clone)]
pub struct CodebaseView {
    pub name: String,
    pub path: String,
    /// Its MediaWiki version, when it can be used.
    pub version: Option<String>,
    /// Why it cannot be used.
    pub problem: Option<String>,
    pub current: bool,
    /// Wikis on it (not deleted).
    pub wikis: i64,
}

impl Farm {
    /// The codebases, looked at now (admins), and the upgrade queued or under way.
    pub async fn codebases(&self, actor: &Actor) -> Result<(Vec<CodebaseView>, Option<i64>), FarmError> {
        permissions::run_maintenance(actor)?;
        let counts = self.store.wikis_per_codebase().await?;
        let views = self
            .config
            .all_codebases()
            .iter()
            .map(|config| {
                let entry = CodebaseEntry::detect(config);
                CodebaseView {
                    wikis: counts.iter().find(|(name, _)| *name == config.name).map_or(0, |(_, n)| *n),
                    current: config.name == self.codebases.current_name(),
                    version: entry.found.as_ref().ok().map(|c| c.version.clone()),
                    problem: entry.found.err(),
                    name: config.name.clone(),
                    path: config.path.to_string_lossy().into_owned(),
                }
            })
            .collect();
        Ok((views, self.store.active_upgrade().await?))
    }

    /// Queues an upgrade (admins). Checked first: the codebase (configured, and a MediaWiki
    /// now), the wikis (served), and that no other upgrade is queued or under way.
    pub async fn start_upgrade(
        &self,
        actor: &Actor,
        request: &StartUpgrade,
        source: &Source,
    ) -> Result<RunView, FarmError> {
        permissions::run_maintenance(actor)?;
        let target = request.codebase.clone().unwrap_or_else(|| self.codebases.current_name().to_owned());
        if !is_codebase_name(&target) {
            return Err(FarmError::invalid(
                "codebase",
                "codebase_unknown",
                "a codebase name is 1-32 letters, digits, '.', '-' or '_'".into(),
            ));
        }
        let Some(config) = self.config.all_codebases().into_iter().find(|c| c.name == target) else {
            return Err(FarmError::invalid(
                "codebase",
                "codebase_unknown",
                format!("no codebase {target:?} in the configuration ([[codebases]])"),
            ));
        };
        if let Err(why) = CodebaseEntry::detect(&config).found {
            return Err(FarmError::invalid("codebase", "codebase_invalid", why));
        }
        let selection = match &request.wikis {
            Some(names) => SelectionInput { wikis: Some(names.clone()), ..SelectionInput::default() },
            None => SelectionInput { all: true, ..SelectionInput::default() },
        };
        let wikis = self.select_wikis(&Selection::parse(&selection)?).await?;
        let id = queue_upgrade(
            &self.store,
            &self.sealer,
            &UpgradeRequest {
                target: &target,
                wikis,
                canary: &self.config.upgrades.canary,
                parallel: upgrade_parallel(&self.config),
                timeout: self.config.upgrades.timeout,
                force: request.force,
                requested_by: actor.username.as_str(),
                source: source.label(),
            },
        )
        .await?;
        tracing::info!(run = id, codebase = %target, "upgrade queued");
        self.wakeups.maintenance.notify_one();
        self.maintenance_run(actor, id).await
    }

    /// Tries a finished run's failed wikis again (admins): those that failed, timed out or
    /// were interrupted, and an upgrade's wikis a failed canary held back.
    pub async fn retry_maintenance_run(&self, actor: &Actor, id: i64, source: &Source) -> Result<RunView, FarmError> {
        permissions::run_maintenance(actor)?;
        let record = self.store.maintenance_run(id).await?.ok_or(FarmError::NotFound("maintenance run"))?;
        let mut tx = self.store.begin().await?;
        if record.upgrade_to.is_some() {
            if let Some(other) = tx.active_upgrade().await?.filter(|other| *other != id) {
                return Err(FarmError::Conflict(format!(
                    "upgrade {other} is queued or under way; retry this one when it has ended"
                )));
            }
        }
        let requeued = tx.requeue_failed_run_wikis(id).await?;
        if requeued == 0 {
            return Err(FarmError::Conflict(format!(
                "maintenance run {id} is {} with no failed wiki; only a finished run's failures are retried",
                record.state.as_str()
            )));
        }
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "maintenance.retry",
            target: format!("maintenance:{id}"),
            source: source.label(),
            details: Some(format!("{requeued} wiki(s) again")),
        })
        .await?;
        tx.commit().await?;
        self.wakeups.maintenance.notify_one();
        self.maintenance_run(actor, id).await
    }
}
