//! The warm pool: databases built ahead of demand (a copy of the template, with the owner
//! still the template's), so that a new wiki only needs its owner put in place.
//!
//! Nothing is rendered ahead: a claim dates the starter pages to the wiki's creation, and
//! MediaWiki takes a parser cache entry older than a page's latest revision for stale
//! (`WikiPage::getTouched`), so a Main Page rendered before the claim would never be used.
//!
//! Each entry is a row in `pool_entries`; its resources live under its own resource key
//! (`pool/<key>/` for SQLite, `wiki_<key>` on a MariaDB server). An entry is `filling` while
//! it is built and `ready` after; a claim deletes the row and inserts the wiki with that key
//! in one transaction ([`crate::store::Tx::insert_wiki_from_pool`]). Entries found `filling`
//! that this process is not building are torn down, so a crash leaves nothing.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Wakeups;
use crate::backends::mariadb::{DbPassword, DbServers};
use crate::backends::{DatabaseSpec, Databases, Location, Place, WikiDatabase};
use crate::domain::{Backend, LanguageCode, ResourceKey};
use crate::platform::fsutil::remove_dir_all_if_exists;
use crate::platform::layout::Layout;
use crate::platform::secrets::Sealer;
use crate::store::{PoolSlot, Store};

/// Refilling waits until no wiki has claimed an entry for this long: building a database
/// competes with new wikis for the same disks and cores, and the pool is there to absorb a
/// burst. A pool below a quarter of its size refills at once.
const REFILL_QUIET: Duration = Duration::from_secs(1);

/// What the pool keeps: how many entries per backend, in which language, for which codebase,
/// with which starter (the default).
#[derive(Clone)]
pub struct Plan {
    pub sqlite: usize,
    pub mariadb: usize,
    pub servers: Arc<DbServers>,
    pub language: LanguageCode,
    pub version: String,
    /// The starter's id, and the tag of its content in `language`.
    pub starter: String,
    pub starter_tag: String,
}

/// One place the pool keeps databases: a backend and, for MariaDB, a server.
struct Target {
    backend: Backend,
    server: Option<String>,
    wanted: usize,
}

impl Target {
    fn server_name(&self) -> &str {
        self.server.as_deref().unwrap_or("")
    }
}

/// The pool's level in one slot, for the API and metrics.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct PoolLevel {
    pub backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub language: String,
    pub mediawiki_version: String,
    pub wanted: usize,
    pub ready: i64,
    pub filling: i64,
}

impl Plan {
    /// Whether the pool keeps databases for `backend`, in `language`, with `starter`.
    pub fn pools(&self, backend: Backend, language: &LanguageCode, starter: &str) -> bool {
        let wanted = match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Mariadb => self.mariadb,
        };
        wanted > 0 && *language == self.language && starter == self.starter
    }

    /// The slot of `backend` (and `server`): what an entry there holds.
    pub fn slot<'a>(&'a self, backend: Backend, server: &'a str) -> PoolSlot<'a> {
        PoolSlot {
            backend: backend.as_str(),
            db_server: server,
            language: self.language.as_str(),
            mw_version: &self.version,
            starter: &self.starter_tag,
        }
    }

    fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        if self.sqlite > 0 {
            targets.push(Target { backend: Backend::Sqlite, server: None, wanted: self.sqlite });
        }
        if self.mariadb > 0 {
            for server in self.servers.all() {
                targets.push(Target {
                    backend: Backend::Mariadb,
                    server: Some(server.name().to_owned()),
                    wanted: self.mariadb,
                });
            }
        }
        targets
    }

    /// The pool's levels for every configured slot.
    pub async fn levels(&self, store: &Store) -> anyhow::Result<Vec<PoolLevel>> {
        let rows = store.pool_levels().await?;
        let language = self.language.as_str();
        Ok(self
            .targets()
            .into_iter()
            .map(|target| {
                let count = |state: &str| {
                    rows.iter()
                        .filter(|row| {
                            row.backend == target.backend.as_str()
                                && row.db_server == target.server_name()
                                && row.language == language
                                && row.mw_version == self.version
                                && row.starter == self.starter_tag
                                && row.state == state
                        })
                        .map(|row| row.count)
                        .sum::<i64>()
                };
                PoolLevel {
                    backend: target.backend.as_str().to_owned(),
                    server: target.server.clone(),
                    language: language.to_owned(),
                    mediawiki_version: self.version.clone(),
                    wanted: target.wanted,
                    ready: count("ready"),
                    filling: count("filling"),
                }
            })
            .collect())
    }
}

/// What the pool's job works with.
pub struct Pool {
    pub plan: Plan,
    pub store: Store,
    pub layout: Layout,
    pub databases: Arc<dyn Databases>,
    pub sealer: Sealer,
    pub wakeups: Arc<Wakeups>,
}

impl Pool {
    /// Keeps every slot filled until `shutdown`, one entry at a time, waking when a wiki
    /// claims an entry.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            // Nothing is being built by this process yet: every `filling` entry is a leftover.
            if let Err(err) = self.clear_leftovers().await {
                warn!(error = %format!("{err:#}"), "could not clear unfinished pool entries; will retry");
            }
            let mut built = false;
            match self.plan.levels(&self.store).await {
                Ok(levels) => {
                    for (target, level) in self.plan.targets().into_iter().zip(levels) {
                        if shutdown.is_cancelled() {
                            return;
                        }
                        let usable = target
                            .server
                            .as_deref()
                            .is_none_or(|name| self.plan.servers.get(name).is_some_and(|s| s.takes_new_wikis()));
                        if usable && ((level.ready + level.filling) as usize) < target.wanted {
                            match self.fill_one(&target).await {
                                Ok(()) => built = true,
                                Err(err) => warn!(
                                    backend = target.backend.as_str(),
                                    server = target.server_name(),
                                    error = %format!("{err:#}"),
                                    "could not add a database to the pool"
                                ),
                            }
                        }
                    }
                }
                Err(err) => warn!(error = %format!("{err:#}"), "cannot read the pool's levels"),
            }
            if built {
                continue;
            }
            tokio::select! {
                _ = self.wakeups.pool.notified() => self.wait_for_quiet(&shutdown).await,
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    async fn wait_for_quiet(&self, shutdown: &CancellationToken) {
        loop {
            let running_low = self
                .plan
                .levels(&self.store)
                .await
                .map(|levels| levels.iter().any(|l| (l.ready as usize) * 4 < l.wanted))
                .unwrap_or(true);
            if running_low {
                return;
            }
            tokio::select! {
                _ = self.wakeups.pool.notified() => {}
                _ = tokio::time::sleep(REFILL_QUIET) => return,
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// The entry's database (its password is needed to build it, not to drop it).
    fn database(
        &self,
        key: &ResourceKey,
        target: &Target,
        password: Option<&DbPassword>,
    ) -> anyhow::Result<Box<dyn WikiDatabase>> {
        let location = match &target.server {
            None => Location::Sqlite,
            Some(server) => {
                Location::Mariadb { server: server.clone(), password: password.map(|p| p.secret().clone()) }
            }
        };
        let spec = DatabaseSpec {
            key: key.clone(),
            language: self.plan.language.clone(),
            starter: Some(self.plan.starter.clone()),
            place: Place::Pool,
            location,
        };
        self.databases.open(&spec)
    }

    async fn fill_one(&self, target: &Target) -> anyhow::Result<()> {
        let key = ResourceKey::generate();
        let password = DbPassword::generate();
        let sealed = match target.backend {
            Backend::Sqlite => None,
            Backend::Mariadb => Some(self.sealer.seal(password.secret())?),
        };
        let slot = self.plan.slot(target.backend, target.server_name());
        let id = self.store.insert_pool_entry(key.as_str(), &slot, sealed.as_deref()).await?;
        let database = self.database(&key, target, Some(&password))?;
        let built = database.build(None).await;
        match built {
            Ok(()) => {
                self.store.mark_pool_entry_ready(id).await?;
                debug!(backend = slot.backend, server = slot.db_server, key = %key, "pool entry ready");
                Ok(())
            }
            Err(err) => {
                if self.teardown(&key, database.as_ref()).await.is_ok() {
                    self.store.delete_pool_entry(id).await?;
                }
                Err(err)
            }
        }
    }

    /// Tears down `filling` entries (this process builds one at a time and only inside
    /// [`Pool::fill_one`], so any other is left from a crash), and ready ones made for another
    /// language, codebase or starter, which no wiki will claim.
    async fn clear_leftovers(&self) -> anyhow::Result<()> {
        let current = self.plan.slot(Backend::Sqlite, "");
        for entry in self.store.pool_entries_to_clear(&current).await? {
            let server = (entry.backend == Backend::Mariadb).then(|| entry.server.clone());
            if let Some(name) = &server {
                if !self.plan.servers.get(name).is_some_and(|s| s.is_healthy()) {
                    continue; // Cleared when the server answers.
                }
            }
            let target = Target { backend: entry.backend, server, wanted: 0 };
            let database = self.database(&entry.key, &target, None)?;
            self.teardown(&entry.key, database.as_ref()).await?;
            self.store.delete_pool_entry(entry.id).await?;
            info!(key = %entry.key, "removed a pool entry left unfinished by a crash or made for other templates");
        }
        Ok(())
    }

    async fn teardown(&self, key: &ResourceKey, database: &dyn WikiDatabase) -> anyhow::Result<()> {
        database.drop().await?;
        remove_dir_all_if_exists(&self.layout.pool_entry_dir(key))?;
        Ok(())
    }
}
