//! The provisioning pipeline: drives every wiki in `provisioning` or `deleting` to its end
//! state through recorded, idempotent steps.
//!
//! Crash safety rests on three rules:
//! 1. Every step can run again after a crash at any point inside it and end in the same place
//!    (files appear through atomic renames; a step checks for its finished result first).
//! 2. A step is marked done in the control store only after its effect is durable.
//! 3. The pipeline's work list *is* the registry (`state IN ('provisioning','deleting')`), so
//!    a restart picks up exactly what was under way. A wiki that cannot be built is torn down
//!    (every resource removed) before it is marked `failed`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::app::Farm;
use crate::backends::mariadb::{DbPassword, DbServer, Ident};
use crate::domain::Backend;
use crate::domain::{LanguageCode, ResourceKey, Sitename, WikiName, WikiState};
use crate::mediawiki::{self, ShardDatabase, ShardValues};
use crate::platform::fsutil::{remove_dir_all_if_exists, remove_file_if_exists, sync_dir, write_atomic};
use crate::platform::layout::Layout;
use crate::store::{now, WikiRecord};

/// The steps that build a wiki, in order. The names are stored in the control store: never
/// rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The wiki's database, with the owner account in it.
    Database,
    /// The upload directory.
    Uploads,
    /// `secrets.php`: secret key and upgrade key, made once.
    Secrets,
    /// `LocalSettings.php`, the wiki's config shard.
    Shard,
    /// The host link through which PHP finds the wiki: from here on it is served.
    Route,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Database, Step::Uploads, Step::Secrets, Step::Shard, Step::Route];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Database => "database",
            Step::Uploads => "uploads",
            Step::Secrets => "secrets",
            Step::Shard => "shard",
            Step::Route => "route",
        }
    }
}

/// Runs the pipeline until `shutdown`: wakes when work is added (or a retry comes due),
/// runs up to `provision_workers` wikis at once, never the same wiki twice at once.
pub async fn run(farm: Arc<Farm>, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(farm.config.provision_workers));
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut last_name_release = 0;
    farm.set_pipeline_running();
    while !shutdown.is_cancelled() {
        if now() - last_name_release >= 60 {
            release_expired_names(&farm).await;
            last_name_release = now();
        }
        if let Err(err) = sweep_db_cleanups(&farm).await {
            warn!(error = %format!("{err:#}"), "could not finish database cleanups; will retry");
        }
        match farm.store.due_work(64).await {
            Ok(due) => {
                for wiki in due {
                    if !lock_set(&in_flight).insert(wiki.id) {
                        continue;
                    }
                    let permit = tokio::select! {
                        permit = permits.clone().acquire_owned() => permit,
                        _ = shutdown.cancelled() => break,
                    };
                    let Ok(permit) = permit else { break };
                    let (farm, in_flight) = (farm.clone(), in_flight.clone());
                    tokio::spawn(async move {
                        let id = wiki.id;
                        work_on(&farm, wiki).await;
                        lock_set(&in_flight).remove(&id);
                        drop(permit);
                        farm.pipeline_wakeup().notify_one();
                    });
                }
            }
            Err(err) => error!(error = %format!("{err:#}"), "pipeline cannot read the registry"),
        }
        let sleep = next_wake_in(&farm).await;
        tokio::select! {
            _ = farm.pipeline_wakeup().notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    // Let running steps finish: each is short, and a half-done one would be redone anyway.
    let _ = permits.acquire_many(farm.config.provision_workers as u32).await;
    info!("provisioning pipeline stopped");
}

fn lock_set(set: &Mutex<HashSet<i64>>) -> std::sync::MutexGuard<'_, HashSet<i64>> {
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn next_wake_in(farm: &Farm) -> Duration {
    match farm.store.next_due_at().await {
        Ok(Some(at)) => Duration::from_secs(u64::try_from(at - now()).unwrap_or(0).clamp(1, 60)),
        _ => Duration::from_secs(60),
    }
}

async fn release_expired_names(farm: &Farm) {
    let retention = i64::try_from(farm.config.deleted_name_retention.as_secs()).unwrap_or(i64::MAX);
    match farm.store.release_names_deleted_before(now().saturating_sub(retention)).await {
        Ok(0) => {}
        Ok(n) => info!(count = n, "released the names of wikis deleted longer ago than the retention window"),
        Err(err) => warn!(error = %format!("{err:#}"), "could not release expired names"),
    }
}

/// One pass over one wiki: finish its provisioning or its teardown; on failure, schedule a
/// retry with backoff, or give up and clean up.
async fn work_on(farm: &Farm, wiki: WikiRecord) {
    let state = wiki.state();
    let result = match state {
        WikiState::Provisioning => provision(farm, &wiki).await,
        WikiState::Deleting => delete(farm, &wiki).await,
        _ => Ok(()),
    };
    let Err(err) = result else { return };
    let attempts = wiki.attempts + 1;
    let message = truncate(&format!("{err:#}"), 2000);
    let give_up = state == WikiState::Provisioning && attempts >= i64::from(farm.config.provision_max_attempts);
    if give_up {
        error!(wiki = %wiki.label, attempts, error = %message, "provisioning failed; cleaning up");
        let cleaned = teardown(farm, &wiki).await;
        let outcome = match cleaned {
            Ok(()) => farm.store.finish_teardown(wiki.id, WikiState::Provisioning, Some(&message)).await,
            Err(cleanup_err) => {
                // Stay in `provisioning` and come back: nothing may be left behind.
                let why = format!("{message}; cleanup failed: {cleanup_err:#}");
                farm.store.schedule_retry(wiki.id, attempts, now() + backoff_secs(attempts), &why).await.map(|_| false)
            }
        };
        if let Err(store_err) = outcome {
            error!(wiki = %wiki.label, error = %format!("{store_err:#}"), "could not record the failure");
        }
        return;
    }
    let retry_at = now() + backoff_secs(attempts);
    warn!(wiki = %wiki.label, state = state.as_str(), attempts, error = %message, "step failed; will retry");
    if let Err(store_err) = farm.store.schedule_retry(wiki.id, attempts, retry_at, &message).await {
        error!(wiki = %wiki.label, error = %format!("{store_err:#}"), "could not schedule a retry");
    }
}

/// At most `max` bytes of `text`, cut at a character boundary (installer output can be long).
fn truncate(text: &str, max: usize) -> String {
    let end = (0..=max.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    text[..end].to_owned()
}

/// 2, 4, 8, ... seconds, at most five minutes.
fn backoff_secs(attempts: i64) -> i64 {
    2i64.saturating_pow(u32::try_from(attempts.clamp(1, 20)).unwrap_or(20)).min(300)
}

/// The validated values of a registry row. The registry only holds values that passed these
/// checks on the way in; parsing again keeps every path and SQL identifier checked at use.
struct Parsed {
    backend: Backend,
    key: ResourceKey,
    name: WikiName,
    sitename: Sitename,
    language: LanguageCode,
}

fn parse_record(farm: &Farm, wiki: &WikiRecord) -> anyhow::Result<Parsed> {
    let languages = farm.languages();
    Ok(Parsed {
        backend: Backend::parse(&wiki.backend).with_context(|| format!("unknown backend {:?}", wiki.backend))?,
        key: wiki.key()?,
        name: WikiName::parse(&wiki.label).map_err(|e| anyhow::anyhow!("registry name: {e}"))?,
        sitename: Sitename::parse(&wiki.sitename).map_err(|e| anyhow::anyhow!("registry sitename: {e}"))?,
        language: languages.parse(&wiki.language).map_err(|e| anyhow::anyhow!("registry language: {e}"))?,
    })
}

async fn provision(farm: &Farm, wiki: &WikiRecord) -> anyhow::Result<()> {
    let parsed = parse_record(farm, wiki)?;
    let done = farm.store.steps_done(wiki.id).await?;
    for step in Step::ALL {
        if done.iter().any(|d| d == step.as_str()) {
            continue;
        }
        // A deletion requested meanwhile takes over; stop building.
        let current = farm.store.wiki_by_id(wiki.id).await?.context("wiki vanished from the registry")?;
        if current.state() != WikiState::Provisioning {
            return Ok(());
        }
        let started = std::time::Instant::now();
        run_step(farm, &current, &parsed, step).await.with_context(|| format!("step {}", step.as_str()))?;
        farm.store.mark_step_done(wiki.id, step.as_str()).await?;
        debug!(wiki = %wiki.label, step = step.as_str(), elapsed_us = started.elapsed().as_micros() as u64, "step done");
        if step == Step::Database {
            farm.store.clear_owner_password_hash(wiki.id).await?;
        }
    }
    let mail = crate::jobs::lifecycle::ready_mail(farm, wiki).await?;
    let mut tx = farm.store.begin().await?;
    if tx.activate(wiki.id).await? {
        if let Some(mail) = &mail {
            tx.enqueue_mail(mail).await?;
        }
        tx.commit().await?;
        farm.mailer.wake();
        info!(wiki = %wiki.label, url = %farm.wiki_url(wiki), "wiki is ready");
    }
    Ok(())
}

async fn run_step(farm: &Farm, wiki: &WikiRecord, parsed: &Parsed, step: Step) -> anyhow::Result<()> {
    let layout = &farm.layout;
    let wiki_dir = layout.wiki_dir(&parsed.key);
    match step {
        Step::Database => {
            let hash = wiki.owner_password_hash.as_deref().context("the owner's password hash is gone")?;
            let owner = crate::domain::Username::parse(&wiki.owner)
                .map_err(|e| anyhow::anyhow!("registry owner: {e}"))?
                .mediawiki_name();
            let pooled = wiki.pooled != 0;
            match parsed.backend {
                Backend::Sqlite if pooled => {
                    let db_dir = wiki_dir.join("db");
                    if !db_dir.is_dir() {
                        let from_pool = layout.pool_entry_dir(&parsed.key);
                        anyhow::ensure!(from_pool.is_dir(), "the pooled database {} is missing", from_pool.display());
                        std::fs::rename(&from_pool, &wiki_dir)?;
                        sync_dir(&layout.wikis_dir())?;
                    }
                    let db_file = db_dir.join(format!("{}.sqlite", parsed.key));
                    crate::backends::sqlite::put_owner_in_place(&db_file, &owner, hash).await
                }
                Backend::Sqlite => {
                    let template = farm.sqlite_template(&parsed.language).await?;
                    template.create_wiki_database(&wiki_dir.join("db"), &parsed.key, Some((&owner, hash))).await
                }
                Backend::Mariadb if pooled => {
                    assigned_server(farm, wiki)?.put_owner_in_place(&parsed.key, &owner, hash).await
                }
                Backend::Mariadb => {
                    let server = reachable_server(farm, wiki, &parsed.key).await?;
                    let template = farm.mariadb_template(server, &parsed.language).await?;
                    let password = db_password(farm, wiki)?;
                    server.create_wiki_database(&template, &parsed.key, &password, Some((&owner, hash))).await
                }
            }
        }
        Step::Uploads => Ok(std::fs::create_dir_all(wiki_dir.join("images"))?),
        Step::Secrets => {
            let path = wiki_dir.join("secrets.php");
            if !path.is_file() {
                let password = match parsed.backend {
                    Backend::Sqlite => None,
                    Backend::Mariadb => Some(db_password(farm, wiki)?),
                };
                let secrets = mediawiki::render_secrets(password.as_ref().map(DbPassword::secret));
                write_atomic(&path, secrets.as_bytes(), 0o640)?;
            }
            Ok(())
        }
        Step::Shard => {
            let database = match parsed.backend {
                Backend::Sqlite => ShardDatabase::Sqlite,
                Backend::Mariadb => {
                    let server = assigned_server(farm, wiki)?;
                    ShardDatabase::Mysql { address: server.wiki_address.clone(), name: Ident::for_wiki(&parsed.key) }
                }
            };
            let taken_namespaces = farm.namespace_names(&parsed.language).await?;
            let shard = mediawiki::render_shard(&ShardValues {
                key: &parsed.key,
                name: &parsed.name,
                sitename: &parsed.sitename,
                language: &parsed.language,
                taken_namespaces: &taken_namespaces,
                database,
            });
            Ok(write_atomic(&wiki_dir.join("LocalSettings.php"), shard.as_bytes(), 0o640)?)
        }
        Step::Route => link_host(layout, &parsed.name, &parsed.key),
    }
}

fn db_password(farm: &Farm, wiki: &WikiRecord) -> anyhow::Result<DbPassword> {
    let sealed = wiki.db_password_sealed.as_deref().context("the wiki has no database password")?;
    DbPassword::check(farm.sealer.open(sealed)?)
}

fn assigned_server<'a>(farm: &'a Farm, wiki: &WikiRecord) -> anyhow::Result<&'a Arc<DbServer>> {
    let name = wiki.db_server.as_deref().context("the wiki has no database server")?;
    farm.db_servers
        .get(name)
        .with_context(|| format!("the wiki's database server {name:?} is not in the configuration"))
}

/// The wiki's server if it answers. If it does not, the wiki moves to another server that
/// takes new wikis (the first one is remembered for cleanup), so one server down does not
/// hold up creation; with no other server, the step fails and is retried.
async fn reachable_server<'a>(
    farm: &'a Farm,
    wiki: &WikiRecord,
    key: &ResourceKey,
) -> anyhow::Result<&'a Arc<DbServer>> {
    let server = assigned_server(farm, wiki)?;
    if server.check().await {
        return Ok(server);
    }
    // Never move onto a server where a cleanup for this wiki is pending: it would drop the
    // new database.
    let pending: Vec<String> = farm
        .store
        .db_cleanups()
        .await?
        .into_iter()
        .filter(|(_, _, k)| k == key.as_str())
        .map(|(_, server, _)| server)
        .collect();
    let mut exclude: Vec<&str> = pending.iter().map(String::as_str).collect();
    exclude.push(server.name());
    let target = farm.place_new_wiki(&exclude).await.map_err(|e| {
        anyhow::anyhow!("database server {} is unreachable and no other can take the wiki: {e}", server.name())
    })?;
    if !farm.store.move_to_server(wiki.id, key.as_str(), server.name(), &target).await? {
        anyhow::bail!("the wiki changed while moving it off database server {}", server.name());
    }
    warn!(wiki = %wiki.label, from = server.name(), to = %target, "database server unreachable; wiki moved");
    farm.db_servers.get(&target).context("the chosen server vanished")
}

/// Drops databases left on servers that were down when their wiki moved away, once those
/// servers answer again.
async fn sweep_db_cleanups(farm: &Farm) -> anyhow::Result<()> {
    for (id, server_name, key) in farm.store.db_cleanups().await? {
        let Some(server) = farm.db_servers.get(&server_name) else {
            continue;
        };
        if !server.is_healthy() {
            continue;
        }
        let key = ResourceKey::parse(&key).context("a cleanup names a malformed key")?;
        let wiki = farm.store.wiki_by_resource_key(key.as_str()).await?;
        let lives_there =
            wiki.is_some_and(|w| w.db_server.as_deref() == Some(server_name.as_str()) && w.state().is_live());
        if !lives_there {
            server.drop_wiki(&key).await?;
            info!(server = %server_name, key = %key, "dropped a database left behind by a moved wiki");
        }
        farm.store.remove_db_cleanup(id).await?;
    }
    Ok(())
}

/// Points `hosts/<name>` at the wiki's directory, atomically (a new link renamed over).
fn link_host(layout: &Layout, name: &WikiName, key: &ResourceKey) -> anyhow::Result<()> {
    let link = layout.host_link(name);
    let target = Layout::host_link_target(key);
    if std::fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
        return Ok(());
    }
    let prefix = format!(".{name}.tmp-");
    crate::platform::fsutil::remove_stale_temporaries(&layout.hosts_dir(), &prefix)?;
    let tmp = layout.hosts_dir().join(format!("{prefix}{}", crate::platform::random::random_hex(4)));
    std::os::unix::fs::symlink(&target, &tmp)?;
    std::fs::rename(&tmp, &link)?;
    sync_dir(&layout.hosts_dir())?;
    Ok(())
}

async fn delete(farm: &Farm, wiki: &WikiRecord) -> anyhow::Result<()> {
    teardown(farm, wiki).await?;
    if farm.store.finish_teardown(wiki.id, WikiState::Deleting, None).await? {
        info!(wiki = %wiki.label, "wiki deleted");
    }
    Ok(())
}

/// Removes every resource of a wiki, whatever state it reached: first the host link (so it
/// stops being served), then its directory. Idempotent.
async fn teardown(farm: &Farm, wiki: &WikiRecord) -> anyhow::Result<()> {
    let key = wiki.key()?;
    let layout = &farm.layout;
    if let Ok(name) = WikiName::parse(&wiki.label) {
        let link = layout.host_link(&name);
        // Only remove the link if it is this wiki's: the name may belong to another by now.
        if std::fs::read_link(&link).ok().as_deref() == Some(Layout::host_link_target(&key).as_path()) {
            remove_file_if_exists(&link)?;
            sync_dir(&layout.hosts_dir())?;
        }
        // A link being made when the daemon died (the wiki still holds its name, so it is ours).
        crate::platform::fsutil::remove_stale_temporaries(&layout.hosts_dir(), &format!(".{name}.tmp-"))?;
    }
    if Backend::parse(&wiki.backend) == Some(Backend::Mariadb) && wiki.db_server.is_some() {
        assigned_server(farm, wiki)?.drop_wiki(&key).await?;
    }
    remove_dir_all_if_exists(&layout.wiki_dir(&key))?;
    sync_dir(&layout.wikis_dir())?;
    // A pooled database the wiki claimed but had not moved yet.
    remove_dir_all_if_exists(&layout.pool_entry_dir(&key))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(3), 8);
        assert_eq!(backoff_secs(50), 300);
    }

    #[test]
    fn host_links_are_atomic_and_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path()).expect("layout");
        let name = WikiName::parse("demo").expect("name");
        let key = ResourceKey::generate();
        link_host(&layout, &name, &key).expect("link");
        link_host(&layout, &name, &key).expect("again");
        assert_eq!(std::fs::read_link(layout.host_link(&name)).expect("link"), Layout::host_link_target(&key));
        assert_eq!(std::fs::read_dir(layout.hosts_dir()).expect("ls").count(), 1);
    }
}
