//! The warm pool: databases built ahead of demand (a copy of the template, with the owner
//! still the template's, and the Main Page already in the parser cache), so that a new wiki
//! only needs its owner put in place and its first view is a cache hit.
//!
//! Each entry is a row in `pool_entries`; its resources live under its own resource key
//! (`pool/<key>/` for SQLite, `wiki_<key>` on a MariaDB server). An entry is `filling` while
//! it is built and `ready` after; a claim deletes the row and inserts the wiki with that key
//! in one transaction ([`crate::store::Store::insert_wiki_from_pool`]). Entries found
//! `filling` that this process is not building are torn down, so a crash leaves nothing.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::Farm;
use crate::backends::mariadb::{DbPassword, DbServer, Ident};
use crate::domain::Backend;
use crate::domain::{LanguageCode, NamespaceNames, ResourceKey, Sitename, WikiName};
use crate::mediawiki::{self, ShardDatabase, ShardValues};
use crate::platform::fsutil::{remove_dir_all_if_exists, remove_file_if_exists, sync_dir, write_atomic};
use crate::store::PoolSlot;

/// Refilling waits until no wiki has claimed an entry for this long: building a database
/// competes with new wikis for the same disks and cores, and the pool is there to absorb a
/// burst. A pool below a quarter of its size refills at once.
const REFILL_QUIET: Duration = Duration::from_secs(1);

async fn wait_for_quiet(farm: &Farm, shutdown: &CancellationToken) {
    loop {
        let running_low =
            levels(farm).await.map(|levels| levels.iter().any(|l| (l.ready as usize) * 4 < l.wanted)).unwrap_or(true);
        if running_low {
            return;
        }
        tokio::select! {
            _ = farm.pool_wakeup().notified() => {}
            _ = tokio::time::sleep(REFILL_QUIET) => return,
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One place the pool keeps databases: a backend and, for MariaDB, a server.
struct Target {
    backend: Backend,
    server: Option<Arc<DbServer>>,
    wanted: usize,
}

impl Target {
    fn server_name(&self) -> &str {
        self.server.as_ref().map_or("", |s| s.name())
    }
}

/// The pool's level in one slot, for the API and metrics.
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

fn targets(farm: &Farm) -> Vec<Target> {
    let mut targets = Vec::new();
    if farm.config.pool_sqlite > 0 {
        targets.push(Target { backend: Backend::Sqlite, server: None, wanted: farm.config.pool_sqlite });
    }
    if farm.config.pool_mariadb > 0 {
        for server in farm.db_servers.all() {
            targets.push(Target {
                backend: Backend::Mariadb,
                server: Some(server.clone()),
                wanted: farm.config.pool_mariadb,
            });
        }
    }
    targets
}

/// The pool's levels for every configured slot.
pub async fn levels(farm: &Farm) -> anyhow::Result<Vec<PoolLevel>> {
    let rows = farm.store.pool_levels().await?;
    let language = farm.default_language().as_str();
    let version = farm.codebase.version.as_str();
    Ok(targets(farm)
        .into_iter()
        .map(|target| {
            let count = |state: &str| {
                rows.iter()
                    .filter(|(b, s, l, v, st, _)| {
                        b == target.backend.as_str()
                            && s == target.server_name()
                            && l == language
                            && v == version
                            && st == state
                    })
                    .map(|row| row.5)
                    .sum::<i64>()
            };
            PoolLevel {
                backend: target.backend.as_str().to_owned(),
                server: target.server.as_ref().map(|s| s.name().to_owned()),
                language: language.to_owned(),
                mediawiki_version: version.to_owned(),
                wanted: target.wanted,
                ready: count("ready"),
                filling: count("filling"),
            }
        })
        .collect())
}

/// Keeps every slot filled until `shutdown`, one entry at a time, waking when a wiki
/// claims an entry.
pub async fn run(farm: Arc<Farm>, shutdown: CancellationToken) {
    // Nothing is being built by this process yet: every `filling` entry is a leftover.
    while !shutdown.is_cancelled() {
        if let Err(err) = clear_leftovers(&farm).await {
            warn!(error = %format!("{err:#}"), "could not clear unfinished pool entries; will retry");
        }
        let mut built = false;
        match levels(&farm).await {
            Ok(levels) => {
                for (target, level) in targets(&farm).into_iter().zip(levels) {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    let usable = target.server.as_ref().is_none_or(|s| s.takes_new_wikis());
                    if usable && ((level.ready + level.filling) as usize) < target.wanted {
                        match fill_one(&farm, &target).await {
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
            _ = farm.pool_wakeup().notified() => wait_for_quiet(&farm, &shutdown).await,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

async fn fill_one(farm: &Farm, target: &Target) -> anyhow::Result<()> {
    let language = farm.default_language().clone();
    let key = ResourceKey::generate();
    let password = DbPassword::generate();
    let sealed = match target.backend {
        Backend::Sqlite => None,
        Backend::Mariadb => Some(farm.sealer.seal(password.secret())?),
    };
    let slot = PoolSlot {
        backend: target.backend.as_str(),
        db_server: target.server_name(),
        language: language.as_str(),
        mw_version: &farm.codebase.version,
    };
    let id = farm.store.insert_pool_entry(key.as_str(), &slot, sealed.as_deref()).await?;
    let built = async {
        match (&target.backend, &target.server) {
            (Backend::Sqlite, _) => {
                let template = farm.sqlite_template(&language).await?;
                template.create_wiki_database(&farm.layout.pool_entry_dir(&key).join("db"), &key, None).await
            }
            (Backend::Mariadb, Some(server)) => {
                let template = farm.mariadb_template(server, &language).await?;
                server.create_wiki_database(&template, &key, &password, None).await
            }
            (Backend::Mariadb, None) => anyhow::bail!("a MariaDB pool entry needs a server"),
        }?;
        // A cold entry is still a good one: a failed render only costs the first view.
        match prewarm(farm, target, &key, &password, &language).await {
            Ok(None) => debug!(key = %key, "pool entry's main page prerendered"),
            Ok(Some(reason)) => info!(key = %key, reason = %reason, "pool entry's main page not prerendered"),
            Err(err) => warn!(key = %key, error = %format!("{err:#}"), "could not prerender a pool entry's main page"),
        }
        remove_prewarm_files(farm, &key, target.backend)
    }
    .await;
    match built {
        Ok(()) => {
            farm.store.mark_pool_entry_ready(id).await?;
            debug!(backend = slot.backend, server = slot.db_server, key = %key, "pool entry ready");
            Ok(())
        }
        Err(err) => {
            if teardown(farm, &key, target.backend, target.server.as_deref()).await.is_ok() {
                farm.store.delete_pool_entry(id).await?;
            }
            Err(err)
        }
    }
}

/// How long rendering one entry's Main Page may take.
const PREWARM_TIMEOUT: Duration = Duration::from_secs(120);

/// Renders the entry's Main Page into its own parser cache (`farm-prewarm.php`, one PHP run
/// per entry, off the create path), so that the first view of the wiki that claims it is a
/// cache hit instead of a parse and two cache writes. The entry's database already has its
/// final name, so the cache keys are the wiki's; the shard written for the run has a
/// placeholder sitename and address with a random token, and the script caches nothing if
/// the page mentions it. `Ok(Some(reason))` when the script chose not to cache. The shard
/// and secrets stay behind for [`remove_prewarm_files`].
async fn prewarm(
    farm: &Farm,
    target: &Target,
    key: &ResourceKey,
    password: &DbPassword,
    language: &LanguageCode,
) -> anyhow::Result<Option<String>> {
    let dir = farm.layout.pool_entry_dir(key);
    std::fs::create_dir_all(&dir)?;
    let token = crate::platform::random::random_hex(8);
    let (database, password) = match &target.server {
        Some(server) => (
            ShardDatabase::Mysql { address: server.wiki_address.clone(), name: Ident::for_wiki(key) },
            Some(password.secret()),
        ),
        None => (ShardDatabase::Sqlite, None),
    };
    let shard = mediawiki::render_shard(&ShardValues {
        key,
        name: &WikiName::parse(&format!("prewarm-{token}")).map_err(|e| anyhow::anyhow!("{e}"))?,
        sitename: &Sitename::parse(&format!("Prewarm {token}")).map_err(|e| anyhow::anyhow!("{e}"))?,
        language,
        // A placeholder name with a random token names no namespace.
        taken_namespaces: &NamespaceNames::default(),
        database,
    });
    write_atomic(&dir.join("LocalSettings.php"), shard.as_bytes(), 0o640)?;
    write_atomic(&dir.join("secrets.php"), mediawiki::render_secrets(password).as_bytes(), 0o640)?;
    let script = farm.layout.farm_files_dir().join(mediawiki::PREWARM_FILE);
    let stdout = farm
        .php
        .run_farm_script(
            &script,
            &["-d", "apc.enable_cli=1"],
            &[("FARM_POOL_ENTRY", key.as_str()), ("FARM_PREWARM_TOKEN", &token)],
            PREWARM_TIMEOUT,
        )
        .await?;
    // The SQLite cache file is new in db/ (MediaWiki made it with the umask's mode): same mode
    // as the wiki's other databases, and lasting like the rest of the entry.
    let cache = dir.join("db").join("wikicache.sqlite");
    if target.backend == Backend::Sqlite && cache.is_file() {
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600))?;
        sync_dir(&dir.join("db"))?;
    }
    let last = stdout.lines().last().unwrap_or("").trim();
    if last == "cached" {
        return Ok(None);
    }
    match last.strip_prefix("skipped: ") {
        Some(reason) => Ok(Some(reason.to_owned())),
        None => anyhow::bail!("farm-prewarm.php said {last:?}"),
    }
}

/// Removes what [`prewarm`] wrote next to the entry's database: a claimed SQLite entry moves
/// as a whole into `wikis/<key>`, where the wiki's own shard and secrets are made.
fn remove_prewarm_files(farm: &Farm, key: &ResourceKey, backend: Backend) -> anyhow::Result<()> {
    let dir = farm.layout.pool_entry_dir(key);
    match backend {
        Backend::Sqlite => {
            remove_file_if_exists(&dir.join("LocalSettings.php"))?;
            remove_file_if_exists(&dir.join("secrets.php"))?;
            sync_dir(&dir)?;
        }
        Backend::Mariadb => {
            remove_dir_all_if_exists(&dir)?;
            sync_dir(&farm.layout.pool_dir())?;
        }
    }
    Ok(())
}

/// Tears down `filling` entries (this process builds one at a time and only inside
/// [`fill_one`], so any other is left from a crash).
async fn clear_leftovers(farm: &Farm) -> anyhow::Result<()> {
    for (id, key, backend, server) in farm.store.filling_pool_entries().await? {
        let key = ResourceKey::parse(&key).ok_or_else(|| anyhow::anyhow!("a pool entry has a malformed key"))?;
        let backend = Backend::parse(&backend).ok_or_else(|| anyhow::anyhow!("a pool entry has an unknown backend"))?;
        let server = farm.db_servers.get(&server).cloned();
        if backend == Backend::Mariadb && !server.as_ref().is_some_and(|s| s.is_healthy()) {
            continue; // Cleared when the server answers.
        }
        teardown(farm, &key, backend, server.as_deref()).await?;
        farm.store.delete_pool_entry(id).await?;
        info!(key = %key, "removed a pool entry left unfinished by a crash");
    }
    Ok(())
}

async fn teardown(farm: &Farm, key: &ResourceKey, backend: Backend, server: Option<&DbServer>) -> anyhow::Result<()> {
    remove_dir_all_if_exists(&farm.layout.pool_entry_dir(key))?;
    if let (Backend::Mariadb, Some(server)) = (backend, server) {
        server.drop_wiki(key).await?;
    }
    Ok(())
}
