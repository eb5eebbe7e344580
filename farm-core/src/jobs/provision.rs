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
//!
//! Its own state changes (ready, failed, deleted, moved to another server, name released) go
//! into the audit log in the transaction that makes them, as the system's.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{Running, Wakeups};
use crate::backends::mariadb::DbServers;
use crate::backends::{Databases, WikiDatabase};
use crate::domain::{Backend, Languages, ResourceKey, WikiName, WikiState};
use crate::mail::Notices;
use crate::mediawiki::{self, Owner};
use crate::platform::fsutil::{remove_dir_all_if_exists, remove_file_if_exists, sync_dir, write_atomic};
use crate::platform::layout::Layout;
use crate::platform::secrets::Sealer;
use crate::platform::time::now;
use crate::store::{AuditEntry, Store, WikiRecord};

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
    /// A wiki created from an archive: its pages, logs and files loaded (no-op otherwise).
    Import,
    /// The host link through which PHP finds the wiki: from here on it is served.
    Route,
}

impl Step {
    pub const ALL: [Step; 6] = [Step::Database, Step::Uploads, Step::Secrets, Step::Shard, Step::Import, Step::Route];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Database => "database",
            Step::Uploads => "uploads",
            Step::Secrets => "secrets",
            Step::Shard => "shard",
            Step::Import => "import",
            Step::Route => "route",
        }
    }
}

/// How many wikis at once, how often to try, how long a deleted wiki's name stays taken.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub workers: usize,
    pub max_attempts: u32,
    pub name_retention: Duration,
}

/// What the pipeline works with.
pub struct Pipeline {
    pub store: Store,
    pub layout: Layout,
    pub databases: Arc<dyn Databases>,
    pub servers: Arc<DbServers>,
    pub sealer: Sealer,
    pub configurator: Arc<super::settings::Configurator>,
    pub notices: Arc<Notices>,
    pub languages: Languages,
    pub settings: PipelineSettings,
    pub wakeups: Arc<Wakeups>,
    pub running: Arc<Running>,
}

impl Pipeline {
    /// Runs until `shutdown`: wakes when work is added (or a retry comes due), works on up to
    /// `workers` wikis at once, never the same wiki twice at once.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let workers = self.settings.workers;
        let permits = Arc::new(Semaphore::new(workers));
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let mut last_name_release = 0;
        self.running.set_pipeline();
        while !shutdown.is_cancelled() {
            if now() - last_name_release >= 60 {
                self.release_expired_names().await;
                last_name_release = now();
            }
            if let Err(err) = self.sweep_db_cleanups().await {
                warn!(error = %format!("{err:#}"), "could not finish database cleanups; will retry");
            }
            match self.store.due_work(64).await {
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
                        let (pipeline, in_flight) = (self.clone(), in_flight.clone());
                        tokio::spawn(async move {
                            let id = wiki.id;
                            pipeline.work_on(wiki).await;
                            lock_set(&in_flight).remove(&id);
                            drop(permit);
                            pipeline.wakeups.pipeline.notify_one();
                        });
                    }
                }
                Err(err) => error!(error = %format!("{err:#}"), "pipeline cannot read the registry"),
            }
            let sleep = self.next_wake_in().await;
            tokio::select! {
                _ = self.wakeups.pipeline.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        // Let running steps finish: each is short, and a half-done one would be redone anyway.
        let _ = permits.acquire_many(u32::try_from(workers).unwrap_or(u32::MAX)).await;
        info!("provisioning pipeline stopped");
    }

    /// One pass over every wiki whose work is due, one after another (for tests: the loop of
    /// [`Pipeline::run`] without the clock). Returns how many it worked on.
    pub async fn run_due(&self) -> anyhow::Result<usize> {
        let due = self.store.due_work(64).await?;
        let count = due.len();
        for wiki in due {
            self.work_on(wiki).await;
        }
        Ok(count)
    }

    async fn next_wake_in(&self) -> Duration {
        match self.store.next_due_at().await {
            Ok(Some(at)) => Duration::from_secs(u64::try_from(at - now()).unwrap_or(0).clamp(1, 60)),
            _ => Duration::from_secs(60),
        }
    }

    async fn release_expired_names(&self) {
        let retention = i64::try_from(self.settings.name_retention.as_secs()).unwrap_or(i64::MAX);
        let released = async {
            let mut tx = self.store.begin().await?;
            let names = tx.release_names_deleted_before(now().saturating_sub(retention)).await?;
            for name in &names {
                tx.audit(&system("wiki.name_released", name, None)).await?;
            }
            tx.commit().await?;
            Ok::<_, crate::FarmError>(names.len())
        };
        match released.await {
            Ok(0) => {}
            Ok(n) => info!(count = n, "released the names of wikis deleted longer ago than the retention window"),
            Err(err) => warn!(error = %format!("{err:#}"), "could not release expired names"),
        }
    }

    /// One pass over one wiki: finish its provisioning or its teardown; on failure, schedule
    /// a retry with backoff, or give up and clean up.
    pub async fn work_on(&self, wiki: WikiRecord) {
        let state = wiki.state;
        let result = match state {
            WikiState::Provisioning => self.provision(&wiki).await,
            WikiState::Deleting => self.delete(&wiki).await,
            _ => Ok(()),
        };
        let Err(err) = result else { return };
        let attempts = wiki.attempts + 1;
        let message = truncate(&format!("{err:#}"), 2000);
        let give_up = state == WikiState::Provisioning && attempts >= i64::from(self.settings.max_attempts);
        if give_up {
            error!(wiki = %wiki.name, attempts, error = %message, "provisioning failed; cleaning up");
            let outcome = match self.teardown(&wiki).await {
                Ok(()) => self.finish(&wiki, WikiState::Provisioning, Some(&message)).await.map(|_| ()),
                Err(cleanup_err) => {
                    // Stay in `provisioning` and come back: nothing may be left behind.
                    let why = format!("{message}; cleanup failed: {cleanup_err:#}");
                    self.store.schedule_retry(wiki.id, attempts, now() + backoff_secs(attempts), &why).await
                }
            };
            if let Err(store_err) = outcome {
                error!(wiki = %wiki.name, error = %format!("{store_err:#}"), "could not record the failure");
            }
            return;
        }
        let retry_at = now() + backoff_secs(attempts);
        warn!(wiki = %wiki.name, state = state.as_str(), attempts, error = %message, "step failed; will retry");
        if let Err(store_err) = self.store.schedule_retry(wiki.id, attempts, retry_at, &message).await {
            error!(wiki = %wiki.name, error = %format!("{store_err:#}"), "could not schedule a retry");
        }
    }

    async fn provision(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        let done = self.store.steps_done(wiki.id).await?;
        for step in Step::ALL {
            if done.iter().any(|d| d == step.as_str()) {
                continue;
            }
            // A deletion requested meanwhile takes over; stop building.
            let current = self.store.wiki_by_id(wiki.id).await?.context("wiki vanished from the registry")?;
            if current.state != WikiState::Provisioning {
                return Ok(());
            }
            let started = std::time::Instant::now();
            self.run_step(&current, step).await.with_context(|| format!("step {}", step.as_str()))?;
            self.store.mark_step_done(wiki.id, step.as_str()).await?;
            debug!(wiki = %wiki.name, step = step.as_str(), elapsed_us = started.elapsed().as_micros() as u64, "step done");
            if step == Step::Database {
                self.store.clear_owner_password_hash(wiki.id).await?;
            }
        }
        let mail = self.notices.ready(wiki).await?;
        let mut tx = self.store.begin().await?;
        if tx.activate(wiki.id).await? {
            if let Some(mail) = &mail {
                tx.enqueue_mail(mail).await?;
            }
            tx.audit(&system("wiki.ready", wiki.name.as_str(), None)).await?;
            tx.commit().await?;
            self.wakeups.outbox.notify_one();
            info!(wiki = %wiki.name, "wiki is ready");
        }
        Ok(())
    }

    /// Runs one step for `wiki` (which must be `provisioning`). Public for tests that drive the
    /// pipeline step by step.
    pub async fn run_step(&self, wiki: &WikiRecord, step: Step) -> anyhow::Result<()> {
        let wiki_dir = self.layout.wiki_dir(&wiki.key);
        match step {
            Step::Database => {
                let hash = wiki.owner_password_hash.as_deref().context("the owner's password hash is gone")?;
                let name = wiki.owner.mediawiki_name();
                let owner = Owner { name: &name, password_hash: hash };
                if wiki.pooled {
                    self.database(wiki, None)?.adopt(owner).await
                } else {
                    let server = self.reachable_server(wiki).await?;
                    self.database(wiki, server)?.build(Some(owner)).await
                }
            }
            Step::Uploads => Ok(std::fs::create_dir_all(wiki_dir.join("images"))?),
            Step::Secrets => {
                let path = wiki_dir.join("secrets.php");
                if !path.is_file() {
                    let database = self.database(wiki, None)?;
                    let secrets = mediawiki::render_secrets(database.password());
                    write_atomic(&path, secrets.as_bytes(), 0o640)?;
                }
                Ok(())
            }
            Step::Shard => self.configurator.write(wiki).await,
            Step::Import => self.import(wiki).await,
            Step::Route => link_host(&self.layout, &wiki.name, &wiki.key),
        }
    }

    /// Loads a wiki's archive (`data/imports/{key}/`) with MediaWiki's own importers, then
    /// rebuilds recent changes and the site statistics. Every script is safe to run again
    /// (the importer skips revisions it has), so a crash in here means running it again.
    async fn import(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        if !wiki.import_pending {
            return Ok(());
        }
        const LONG: Duration = Duration::from_secs(6 * 3600);
        let dir = self.layout.import_dir(&wiki.key);
        anyhow::ensure!(dir.join("pages.xml").is_file(), "the wiki's archive is gone from {}", dir.display());
        let (key, name) = (wiki.key.as_str(), wiki.name.as_str());
        let run = |script: &'static str, args: Vec<String>| async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.configurator.php.run_for_unserved_wiki(key, name, script, &args, LONG).await
        };
        for xml in ["pages.xml", "logs.xml"] {
            let file = dir.join(xml);
            if file.is_file() {
                run(
                    "importDump.php",
                    vec!["--username-prefix=imported".into(), "--no-updates".into(), file.display().to_string()],
                )
                .await?;
            }
        }
        let files = dir.join("files");
        if files.is_dir() {
            // The files as they were stored (hashed folders, old versions); their pages and
            // upload log came with the XML.
            copy_tree(&files, &self.layout.wiki_dir(&wiki.key).join("images"))?;
            run("rebuildImages.php", vec!["--missing".into()]).await?;
        }
        run("rebuildrecentchanges.php", Vec::new()).await?;
        run("initSiteStats.php", vec!["--update".into()]).await?;
        run("refreshLinks.php", Vec::new()).await?;
        self.store.import_done(wiki.id).await?;
        remove_dir_all_if_exists(&dir)?;
        Ok(())
    }

    /// The wiki's database, on `server` if given, else where the registry says.
    fn database(&self, wiki: &WikiRecord, server: Option<String>) -> anyhow::Result<Box<dyn WikiDatabase>> {
        super::settings::wiki_database(self.databases.as_ref(), &self.sealer, &self.languages, wiki, server)
    }

    /// For a MariaDB wiki: its server if it answers. If it does not, the wiki moves to another
    /// server that takes new wikis (the first one is remembered for cleanup), so one server
    /// down does not hold up creation; with no other server, the step fails and is retried.
    async fn reachable_server(&self, wiki: &WikiRecord) -> anyhow::Result<Option<String>> {
        if wiki.backend != Backend::Mariadb {
            return Ok(None);
        }
        let name = wiki.db_server.as_deref().context("the wiki has no database server")?;
        let server =
            self.servers.get(name).with_context(|| format!("the database server {name:?} is not configured"))?;
        if server.check().await {
            return Ok(Some(name.to_owned()));
        }
        // Never move onto a server where a cleanup for this wiki is pending: it would drop the
        // new database.
        let pending: Vec<String> = self
            .store
            .db_cleanups()
            .await?
            .into_iter()
            .filter(|(_, _, k)| k == wiki.key.as_str())
            .map(|(_, server, _)| server)
            .collect();
        let mut exclude: Vec<&str> = pending.iter().map(String::as_str).collect();
        exclude.push(name);
        let counts = self.store.wiki_counts_by_server().await?;
        let target =
            self.servers.place(&counts, &exclude).map(|s| s.name().to_owned()).with_context(|| {
                format!("database server {name} is unreachable and no other takes new wikis right now")
            })?;
        let mut tx = self.store.begin().await?;
        if !tx.move_to_server(wiki.id, wiki.key.as_str(), name, &target).await? {
            anyhow::bail!("the wiki changed while moving it off database server {name}");
        }
        let details = Some(format!("database server {name} unreachable; moved to {target}"));
        tx.audit(&system("wiki.moved", wiki.name.as_str(), details)).await?;
        tx.commit().await?;
        warn!(wiki = %wiki.name, from = name, to = %target, "database server unreachable; wiki moved");
        Ok(Some(target))
    }

    /// Drops databases left on servers that were down when their wiki moved away, once those
    /// servers answer again.
    async fn sweep_db_cleanups(&self) -> anyhow::Result<()> {
        for (id, server_name, key) in self.store.db_cleanups().await? {
            let Some(server) = self.servers.get(&server_name) else {
                continue;
            };
            if !server.is_healthy() {
                continue;
            }
            let key = ResourceKey::parse(&key).context("a cleanup names a malformed key")?;
            let wiki = self.store.wiki_by_resource_key(key.as_str()).await?;
            let lives_there =
                wiki.is_some_and(|w| w.db_server.as_deref() == Some(server_name.as_str()) && w.state.is_live());
            if !lives_there {
                server.drop_wiki(&key).await?;
                info!(server = %server_name, key = %key, "dropped a database left behind by a moved wiki");
            }
            self.store.remove_db_cleanup(id).await?;
        }
        Ok(())
    }

    async fn delete(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        self.teardown(wiki).await?;
        if self.finish(wiki, WikiState::Deleting, None).await? {
            info!(wiki = %wiki.name, "wiki deleted");
        }
        Ok(())
    }

    /// `provisioning` → `failed` or `deleting` → `deleted`, audited.
    async fn finish(
        &self,
        wiki: &WikiRecord,
        from: WikiState,
        failure: Option<&str>,
    ) -> Result<bool, crate::FarmError> {
        let mut tx = self.store.begin().await?;
        let finished = tx.finish_teardown(wiki.id, from, failure).await?;
        if finished {
            let (action, details) = match from {
                WikiState::Provisioning => ("wiki.failed", failure.map(|f| truncate(f, 500))),
                _ => ("wiki.deleted", None),
            };
            tx.audit(&system(action, wiki.name.as_str(), details)).await?;
        }
        tx.commit().await?;
        Ok(finished)
    }

    /// Removes every resource of a wiki, whatever state it reached: first the host link (so
    /// it stops being served), then its database and directory. Idempotent.
    async fn teardown(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        let layout = &self.layout;
        unlink_host(layout, &wiki.name, &wiki.key)?;
        if wiki.backend == Backend::Sqlite || wiki.db_server.is_some() {
            WikiDatabase::drop(self.database(wiki, None)?.as_ref()).await?;
        }
        remove_dir_all_if_exists(&layout.wiki_dir(&wiki.key))?;
        sync_dir(&layout.wikis_dir())?;
        // A pooled database the wiki claimed but had not moved yet, and an archive not loaded.
        remove_dir_all_if_exists(&layout.pool_entry_dir(&wiki.key))?;
        remove_dir_all_if_exists(&layout.import_dir(&wiki.key))?;
        Ok(())
    }
}

fn system(action: &'static str, name: &str, details: Option<String>) -> AuditEntry {
    AuditEntry { actor: "system".into(), action, target: format!("wiki:{name}"), source: None, details }
}

fn lock_set(set: &Mutex<HashSet<i64>>) -> std::sync::MutexGuard<'_, HashSet<i64>> {
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// Points `hosts/<name>` at the wiki's directory, atomically (a new link renamed over).
/// Copies a folder tree (files by atomic writes; existing files are replaced).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            let tmp = to.join(format!(".{}.import-tmp", entry.file_name().to_string_lossy()));
            crate::platform::fsutil::copy_as_new(&entry.path(), &tmp)?;
            std::fs::rename(&tmp, &target)?;
        }
    }
    Ok(())
}

/// Stops serving a wiki: removes its host link if the link is this wiki's (the name may belong
/// to another by now), and a link being made when the daemon died. Idempotent.
pub(crate) fn unlink_host(layout: &Layout, name: &WikiName, key: &ResourceKey) -> anyhow::Result<()> {
    let link = layout.host_link(name);
    if std::fs::read_link(&link).ok().as_deref() == Some(Layout::host_link_target(key).as_path()) {
        remove_file_if_exists(&link)?;
        sync_dir(&layout.hosts_dir())?;
    }
    crate::platform::fsutil::remove_stale_temporaries(&layout.hosts_dir(), &format!(".{name}.tmp-"))?;
    Ok(())
}

/// Serves a wiki: its host link, made by an atomic rename. Idempotent.
pub(crate) fn link_host(layout: &Layout, name: &WikiName, key: &ResourceKey) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::backends::DatabaseSpec;
    use crate::config::Config;
    use crate::domain::{NamespaceNames, Secret};
    use crate::mail::MailTemplates;
    use crate::mediawiki::{Namespaces, ShardDatabase, WikiUrls};
    use crate::store::NewWiki;

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

    /// A backend that keeps its databases in a list, and fails the next `failures` builds.
    #[derive(Default)]
    struct FakeDatabases {
        built: Mutex<Vec<(String, String)>>,
        dropped: Mutex<Vec<String>>,
        failures: AtomicUsize,
    }

    struct FakeDatabase {
        key: ResourceKey,
        fake: Arc<FakeDatabases>,
    }

    struct Shared(Arc<FakeDatabases>);

    impl Databases for Shared {
        fn open(&self, spec: &DatabaseSpec) -> anyhow::Result<Box<dyn WikiDatabase>> {
            Ok(Box::new(FakeDatabase { key: spec.key.clone(), fake: self.0.clone() }))
        }
    }

    #[async_trait]
    impl WikiDatabase for FakeDatabase {
        async fn build(&self, owner: Option<Owner<'_>>) -> anyhow::Result<()> {
            let failing = self.fake.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            anyhow::ensure!(failing.is_err(), "the fake server is down");
            let owner = owner.map(|o| o.name.to_owned()).unwrap_or_default();
            self.fake.built.lock().expect("lock").push((self.key.to_string(), owner));
            Ok(())
        }

        async fn adopt(&self, _owner: Owner<'_>) -> anyhow::Result<()> {
            anyhow::bail!("these tests use no pool")
        }

        async fn drop(&self) -> anyhow::Result<()> {
            self.fake.dropped.lock().expect("lock").push(self.key.to_string());
            Ok(())
        }

        async fn edited_by_people(&self) -> anyhow::Result<bool> {
            Ok(false)
        }

        fn shard(&self) -> ShardDatabase {
            ShardDatabase::Sqlite
        }

        fn password(&self) -> Option<&Secret> {
            None
        }
    }

    struct Harness {
        pipeline: Pipeline,
        fake: Arc<FakeDatabases>,
        _dir: tempfile::TempDir,
    }

    async fn harness(max_attempts: u32) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(&dir.path().join("data")).expect("layout");
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", layout.root().join("control.sqlite").display()))
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        let sealer = Sealer::load_or_create(layout.root()).expect("sealer");
        let urls = WikiUrls::new(&Config::default(), "127.0.0.1:8080".parse().expect("addr"));
        let templates = Arc::new(MailTemplates::new(sealer.clone()));
        let notices = Arc::new(Notices::new(store.clone(), templates, "Farm".into(), urls, Duration::from_secs(60)));
        let fake = Arc::new(FakeDatabases::default());
        let databases: Arc<dyn Databases> = Arc::new(Shared(fake.clone()));
        let features = Arc::new(crate::mediawiki::Features::for_tests());
        let pipeline = Pipeline {
            store: store.clone(),
            layout: layout.clone(),
            databases: databases.clone(),
            servers: Arc::new(DbServers::new(Vec::new(), "0123abcd").expect("servers")),
            sealer: sealer.clone(),
            configurator: Arc::new(crate::jobs::settings::Configurator::new(
                store.clone(),
                layout.clone(),
                crate::mediawiki::php::Php {
                    binary: "php".into(),
                    mediawiki_dir: "/nonexistent".into(),
                    entry_file: "/nonexistent".into(),
                },
                features.clone(),
                Arc::new(Namespaces::fixed(NamespaceNames::new(["Special", "User"]))),
                Languages::from_codes(&["en"]),
                databases.clone(),
                sealer.clone(),
            )),
            notices,
            languages: Languages::from_codes(&["en"]),
            settings: PipelineSettings { workers: 1, max_attempts, name_retention: Duration::from_secs(3600) },
            wakeups: Arc::default(),
            running: Arc::default(),
        };
        Harness { pipeline, fake, _dir: dir }
    }

    impl Harness {
        async fn add_wiki(&self, name: &str) -> WikiRecord {
            let key = ResourceKey::generate();
            let sitename = crate::domain::Sitename::parse("Special").expect("sitename");
            let initial = self.pipeline.configurator.features.initial(&sitename, "en");
            let configuration = serde_json::to_string(&initial).expect("json");
            let mut tx = self.pipeline.store.begin().await.expect("tx");
            tx.insert_wiki(NewWiki {
                name,
                resource_key: key.as_str(),
                sitename: "Special",
                language: "en",
                owner: "olga",
                backend: "sqlite",
                owner_password_hash: ":pbkdf2:x",
                db_server: None,
                db_password_sealed: None,
                expires_at: None,
                notify_owner: false,
                configuration: &configuration,
                private: false,
                schema_extensions: "[]",
                import_pending: false,
                starter: None,
                codebase: "default",
            })
            .await
            .expect("insert");
            tx.commit().await.expect("commit");
            self.wiki(name).await
        }

        async fn wiki(&self, name: &str) -> WikiRecord {
            self.pipeline.store.wiki_by_name(name).await.expect("read").expect("the wiki")
        }

        /// Makes a scheduled retry due now, instead of waiting for its backoff.
        async fn retry_now(&self, wiki: &WikiRecord) {
            let wiki = self.pipeline.store.wiki_by_id(wiki.id).await.expect("read").expect("wiki");
            self.pipeline.store.schedule_retry(wiki.id, wiki.attempts, now(), "test").await.expect("retry");
        }

        async fn actions(&self, name: &str) -> Vec<String> {
            let filter =
                crate::store::AuditFilter { target: Some(&format!("wiki:{name}")), limit: 50, ..Default::default() };
            let entries = self.pipeline.store.audit_entries(&filter).await.expect("audit");
            entries.into_iter().map(|e| e.action).collect()
        }
    }

    #[tokio::test]
    async fn a_wiki_is_built_step_by_step_and_its_readiness_audited() {
        let farm = harness(5).await;
        let wiki = farm.add_wiki("alpha").await;
        assert_eq!(farm.pipeline.run_due().await.expect("run"), 1);
        let wiki = farm.pipeline.store.wiki_by_id(wiki.id).await.expect("read").expect("wiki");
        assert_eq!(wiki.state, WikiState::Active);
        assert!(wiki.owner_password_hash.is_none(), "the hash is forgotten once the owner is in place");
        assert_eq!(*farm.fake.built.lock().expect("lock"), [(wiki.key.to_string(), "Olga".to_owned())]);
        let dir = farm.pipeline.layout.wiki_dir(&wiki.key);
        assert!(dir.join("images").is_dir() && dir.join("secrets.php").is_file());
        let shard = std::fs::read_to_string(dir.join("LocalSettings.php")).expect("shard");
        assert!(shard.contains("$wgMetaNamespace = 'Project';"), "a sitename that names a namespace: {shard}");
        assert_eq!(
            std::fs::read_link(farm.pipeline.layout.host_link(&wiki.name)).expect("link"),
            Layout::host_link_target(&wiki.key)
        );
        assert_eq!(farm.actions("alpha").await, ["wiki.ready"]);
        assert_eq!(farm.pipeline.run_due().await.expect("run"), 0, "nothing left to do");
    }

    #[tokio::test]
    async fn after_a_crash_between_steps_a_new_pipeline_finishes_the_rest_once() {
        let farm = harness(5).await;
        let wiki = farm.add_wiki("beta").await;
        // The first two steps done, then the daemon dies.
        for step in [Step::Database, Step::Uploads] {
            farm.pipeline.run_step(&wiki, step).await.expect("step");
            farm.pipeline.store.mark_step_done(wiki.id, step.as_str()).await.expect("mark");
        }
        let restarted = Pipeline { running: Arc::default(), wakeups: Arc::default(), ..farm.pipeline };
        assert_eq!(restarted.run_due().await.expect("run"), 1);
        assert_eq!(farm.fake.built.lock().expect("lock").len(), 1, "the database is not built twice");
        let wiki = restarted.store.wiki_by_id(wiki.id).await.expect("read").expect("wiki");
        assert_eq!(wiki.state, WikiState::Active);
        assert!(restarted.layout.wiki_dir(&wiki.key).join("LocalSettings.php").is_file());
    }

    #[tokio::test]
    async fn a_failing_step_is_retried_and_then_succeeds() {
        let farm = harness(5).await;
        farm.fake.failures.store(2, Ordering::SeqCst);
        let wiki = farm.add_wiki("gamma").await;
        for attempt in 1..=2 {
            farm.pipeline.run_due().await.expect("run");
            let now_wiki = farm.wiki("gamma").await;
            assert_eq!((now_wiki.state, now_wiki.attempts), (WikiState::Provisioning, attempt));
            assert!(now_wiki.failure.as_deref().is_some_and(|f| f.contains("the fake server is down")));
            assert_eq!(farm.pipeline.run_due().await.expect("run"), 0, "the retry waits for its backoff");
            farm.retry_now(&wiki).await;
        }
        farm.pipeline.run_due().await.expect("run");
        assert_eq!(farm.wiki("gamma").await.state, WikiState::Active);
    }

    #[tokio::test]
    async fn a_wiki_that_cannot_be_built_is_torn_down_before_it_is_failed() {
        let farm = harness(2).await;
        farm.fake.failures.store(usize::MAX, Ordering::SeqCst);
        let wiki = farm.add_wiki("delta").await;
        farm.pipeline.run_due().await.expect("run");
        farm.retry_now(&wiki).await;
        farm.pipeline.run_due().await.expect("run");
        let failed = farm.pipeline.store.wiki_by_id(wiki.id).await.expect("read").expect("wiki");
        assert_eq!(failed.state, WikiState::Failed);
        assert!(!farm.pipeline.layout.wiki_dir(&wiki.key).exists(), "nothing left on disk");
        assert!(std::fs::symlink_metadata(farm.pipeline.layout.host_link(&wiki.name)).is_err());
        assert_eq!(*farm.fake.dropped.lock().expect("lock"), [wiki.key.to_string()]);
        assert_eq!(farm.actions("delta").await, ["wiki.failed"]);
        // Its owner sees why, and deleting it gives the name back (it never went live).
        assert_eq!(farm.wiki("delta").await.state, WikiState::Failed);
    }

    #[tokio::test]
    async fn a_deleted_wiki_loses_everything_and_keeps_its_name_for_a_while() {
        let farm = harness(5).await;
        let wiki = farm.add_wiki("epsilon").await;
        farm.pipeline.run_due().await.expect("build");
        let mut tx = farm.pipeline.store.begin().await.expect("tx");
        assert!(tx.request_delete(wiki.id).await.expect("delete"));
        tx.commit().await.expect("commit");
        farm.pipeline.run_due().await.expect("teardown");
        let gone = farm.pipeline.store.wiki_by_id(wiki.id).await.expect("read").expect("wiki");
        assert_eq!(gone.state, WikiState::Deleted);
        assert!(!farm.pipeline.layout.wiki_dir(&wiki.key).exists());
        assert!(std::fs::symlink_metadata(farm.pipeline.layout.host_link(&wiki.name)).is_err());
        assert_eq!(farm.actions("epsilon").await, ["wiki.deleted", "wiki.ready"]);
        assert!(farm.pipeline.store.wiki_by_name("epsilon").await.expect("read").is_some(), "the name stays taken");
    }
}
