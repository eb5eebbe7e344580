//! The farm's background work. Each job holds only what it needs (its own small struct of
//! dependencies, made by [`crate::app::Farm::open`]), and [`Jobs::start`] starts them all, in
//! one order, under one shutdown token.

pub mod backups;
pub mod cdn_bans;
pub mod exports;
pub mod job_queues;
pub mod lifecycle;
pub mod maintenance;
pub mod outbox;
pub mod pool;
pub mod provision;
pub mod rights;
pub mod settings;
pub mod upgrades;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;

use crate::backends::FarmDatabases;
use crate::domain::LanguageCode;
use crate::mediawiki::password::PasswordStock;
use crate::mediawiki::php::{Php, PhpServers};

/// How the use cases tell the jobs that there is new work.
#[derive(Debug, Default)]
pub struct Wakeups {
    pub pipeline: Notify,
    pub pool: Notify,
    pub outbox: Notify,
    pub exports: Notify,
    pub backups: Notify,
    /// A wiki's owner or managers changed: its administrators on MediaWiki follow.
    pub rights: Notify,
    pub maintenance: Notify,
    pub job_queues: Notify,
}

impl Wakeups {
    /// A wiki was added or is to go (and maybe took a pool entry).
    pub fn provisioning(&self) {
        self.pool.notify_one();
        self.pipeline.notify_one();
    }
}

/// One of farmd's own scripts at a time on a wiki (a maintenance run's, a job queue turn): a
/// run waits for a wiki's job queue turn to end; the job queue passes over a wiki a run works on.
#[derive(Debug, Default)]
pub struct ScriptLocks {
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl ScriptLocks {
    fn of(&self, wiki_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Locks nobody holds or waits for go, so the map stays as small as the work under way.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(wiki_id).or_default().clone()
    }

    pub async fn lock(&self, wiki_id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        self.of(wiki_id).lock_owned().await
    }

    pub fn try_lock(&self, wiki_id: i64) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        self.of(wiki_id).try_lock_owned().ok()
    }
}

/// What readiness needs to know of the jobs.
#[derive(Debug, Default)]
pub struct Running {
    pipeline: AtomicBool,
    php_servers: OnceLock<Arc<PhpServers>>,
    /// The PHP servers of the other codebases, by name.
    elsewhere: OnceLock<std::collections::HashMap<String, Arc<PhpServers>>>,
}

impl Running {
    pub fn pipeline(&self) -> bool {
        self.pipeline.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pipeline(&self) {
        self.pipeline.store(true, Ordering::Relaxed);
    }

    /// The PHP servers, once started (none when the farm does not serve wikis itself).
    pub fn php_servers(&self) -> Option<&Arc<PhpServers>> {
        self.php_servers.get()
    }

    /// Every other codebase's PHP servers have one ready (true when there are none).
    pub fn other_codebases_served(&self) -> bool {
        self.elsewhere.get().is_none_or(|sets| sets.values().all(|s| s.ready_count() > 0))
    }

    /// The PHP servers of the codebase `name`, when it is not the current one.
    pub fn php_servers_of(&self, name: &str) -> Option<&Arc<PhpServers>> {
        self.elsewhere.get()?.get(name)
    }
}

/// Every job, ready to start.
pub struct Jobs {
    pub pipeline: provision::Pipeline,
    pub pool: pool::Pool,
    pub lifecycle: lifecycle::Lifecycle,
    pub outbox: outbox::Outbox,
    pub exporter: exports::Exporter,
    pub backups: backups::Backups,
    pub rights: rights::RightsSync,
    pub maintenance: maintenance::MaintenanceRunner,
    pub job_queues: job_queues::JobQueues,
    pub upgrades: upgrades::UpgradeWatcher,
    /// Bans in the operator's caches (none without `[cache] purge`).
    pub cdn_bans: Option<Arc<cdn_bans::CdnBans>>,
    pub codebases: crate::mediawiki::Codebases,
    pub passwords: Arc<PasswordStock>,
    pub databases: Arc<FarmDatabases>,
    pub default_language: LanguageCode,
    /// The PHP built-in servers: how many, and their router script.
    pub php: Php,
    pub configurator: Arc<settings::Configurator>,
    pub php_workers: usize,
    pub router: PathBuf,
    pub running: Arc<Running>,
}

/// Length of the one-time passwords of accounts without a password of their own.
pub const INITIAL_PASSWORD_LEN: usize = 20;

impl Jobs {
    /// Starts everything, in this order: the PHP servers (the wikis are served as soon as
    /// possible), the database servers' health checks (placement needs them), the templates,
    /// the provisioning pipeline, the warm pool, the stock of passwords, the lifecycle, the exports, the
    /// backups, the maintenance runs, the job queues, the caches' bans and the outbox. All stop when `shutdown` is cancelled; `tasks` tracks them.
    pub async fn start(self, shutdown: CancellationToken, tasks: &TaskTracker) {
        if self.php_workers > 0 {
            // The other codebases' servers serve the wikis not yet moved to the current one.
            let mut elsewhere = std::collections::HashMap::new();
            for entry in self.codebases.entries() {
                let Ok(codebase) = &entry.found else { continue };
                if entry.name == self.codebases.current_name() {
                    continue;
                }
                let php = self.php.on(codebase);
                let servers = PhpServers::start(php, self.router.clone(), self.php_workers, shutdown.clone(), tasks);
                elsewhere.insert(entry.name.clone(), servers);
            }
            let _ = self.running.elsewhere.set(elsewhere);
            let servers = PhpServers::start(self.php, self.router, self.php_workers, shutdown.clone(), tasks);
            let _ = self.running.php_servers.set(servers);
        }
        // Know which database servers answer before the first creation asks.
        self.databases.servers.check_all().await;
        tasks.spawn(self.databases.servers.clone().watch(shutdown.clone()));
        tasks.spawn(prepare_templates(self.databases, self.default_language, shutdown.clone()));
        // Settings committed but not yet in a shard (a kill between the two), and wikis made
        // before settings existed.
        tasks.spawn({
            let configurator = self.configurator;
            async move {
                if let Err(err) = configurator.heal().await {
                    error!(error = %format!("{err:#}"), "cannot bring the wikis' shards up to date");
                }
            }
        });
        tasks.spawn(Arc::new(self.pipeline).run(shutdown.clone()));
        tasks.spawn(self.pool.run(shutdown.clone()));
        tasks.spawn({
            let (passwords, shutdown) = (self.passwords, shutdown.clone());
            async move { passwords.run(INITIAL_PASSWORD_LEN, shutdown).await }
        });
        tasks.spawn(self.lifecycle.run(shutdown.clone()));
        tasks.spawn(self.exporter.run(shutdown.clone()));
        tasks.spawn(self.backups.run(shutdown.clone()));
        tasks.spawn(self.rights.run(shutdown.clone()));
        tasks.spawn(self.maintenance.run(shutdown.clone()));
        tasks.spawn(self.job_queues.run(shutdown.clone()));
        tasks.spawn(self.upgrades.run(shutdown.clone()));
        if let Some(bans) = self.cdn_bans {
            tasks.spawn(bans.run(shutdown.clone()));
        }
        tasks.spawn(self.outbox.run(shutdown));
    }
}

/// Builds the default language's templates at start, so that the first wiki does not wait
/// for MediaWiki's installer; retried every 10 s until it works.
async fn prepare_templates(databases: Arc<FarmDatabases>, language: LanguageCode, shutdown: CancellationToken) {
    loop {
        match databases.prepare_templates(&language).await {
            Ok(()) => return,
            Err(err) => error!(error = %format!("{err:#}"), "cannot prepare the SQLite template; retrying in 10 s"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
