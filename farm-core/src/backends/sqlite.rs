//! SQLite wikis: MediaWiki's installer runs once per MediaWiki version and language into a
//! template; each new wiki's `db/` is a copy of it with the owner put in place by SQL. A pool
//! entry's `db/` is made under `pool/<key>/` and moves, whole, to `wikis/<key>/` when a wiki
//! claims it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::OnceCell;
use tracing::info;

use super::{DatabaseSpec, Place, TemplateStarter, WikiDatabase};
use crate::domain::{LanguageCode, ResourceKey, Secret};
use crate::mediawiki::php::Php;
use crate::mediawiki::{Owner, ShardDatabase, StarterContent, TEMPLATE_ADMIN};
use crate::platform::fsutil::{remove_dir_all_if_exists, remove_file_if_exists, sync_dir};
use crate::platform::layout::Layout;

/// The farm's SQLite wikis: where they live and their templates, one per content language,
/// each built once (concurrent callers wait for the one build).
#[derive(Clone)]
pub struct SqliteWikis {
    layout: Layout,
    php: Php,
    templates_dir: PathBuf,
    templates: Arc<Mutex<HashMap<String, Arc<OnceCell<SqliteTemplate>>>>>,
}

impl SqliteWikis {
    pub fn new(layout: Layout, php: Php, templates_dir: PathBuf) -> Self {
        Self { layout, php, templates_dir, templates: Arc::default() }
    }

    /// The template for `language` with `starter`'s pages, made on first use.
    pub async fn template(
        &self,
        language: &LanguageCode,
        starter: Option<&StarterContent>,
    ) -> anyhow::Result<SqliteTemplate> {
        let name = template_name(language, starter);
        let cell = {
            let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
            templates.entry(name.clone()).or_default().clone()
        };
        let template = cell
            .get_or_try_init(|| SqliteTemplate::ensure(&self.php, &self.templates_dir, &name, language, starter))
            .await?;
        Ok(template.clone())
    }

    /// Whether any template for `language` has been made (by this process).
    pub fn template_ready(&self, language: &LanguageCode) -> bool {
        let templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        let prefix = format!("sqlite-{language}-");
        templates.iter().any(|(name, cell)| name.starts_with(&prefix) && cell.initialized())
    }

    /// The wiki's job queue file (`db/{key}_jobqueue.sqlite`).
    fn job_queue_file(&self, key: &ResourceKey) -> PathBuf {
        self.layout.wiki_dir(key).join("db").join(format!("{key}_jobqueue.sqlite"))
    }

    /// What changes when MediaWiki writes the wiki's job queue: the modification time and size
    /// of its file (and of a journal beside it). `None` if it has none.
    pub fn job_queue_signature(&self, key: &ResourceKey) -> Option<(std::time::SystemTime, u64)> {
        let file = self.job_queue_file(key);
        let main = std::fs::metadata(&file).ok()?;
        let mut signature = (main.modified().ok()?, main.len());
        for suffix in ["-journal", "-wal"] {
            let mut side = file.clone().into_os_string();
            side.push(suffix);
            if let Ok(meta) = std::fs::metadata(side) {
                signature.0 = signature.0.max(meta.modified().unwrap_or(signature.0));
                signature.1 = signature.1.wrapping_add(meta.len());
            }
        }
        Some(signature)
    }

    /// Jobs waiting in the wiki's queue (not claimed by a runner), read without writing.
    pub async fn queued_jobs(&self, key: &ResourceKey) -> anyhow::Result<i64> {
        let file = self.job_queue_file(key);
        let options = SqliteConnectOptions::new().filename(&file).read_only(true).create_if_missing(false);
        let mut conn = SqliteConnection::connect_with(&options).await?;
        let count: anyhow::Result<(i64,)> = sqlx::query_as("SELECT COUNT(*) FROM job WHERE job_token = ''")
            .fetch_one(&mut conn)
            .await
            .map_err(Into::into);
        conn.close().await?;
        Ok(count?.0)
    }

    pub(super) fn database(&self, spec: &DatabaseSpec, starter: TemplateStarter) -> SqliteDatabase {
        SqliteDatabase {
            wikis: self.clone(),
            key: spec.key.clone(),
            language: spec.language.clone(),
            starter,
            place: spec.place,
        }
    }
}

/// The folder of the template for `language` and `starter` under the templates directory.
fn template_name(language: &LanguageCode, starter: Option<&StarterContent>) -> String {
    match starter {
        None => format!("sqlite-{language}-empty"),
        Some(starter) => format!("sqlite-{language}-{}", starter.tag),
    }
}

/// One SQLite wiki's (or pool entry's) database files.
pub struct SqliteDatabase {
    wikis: SqliteWikis,
    key: ResourceKey,
    language: LanguageCode,
    starter: TemplateStarter,
    place: Place,
}

impl SqliteDatabase {
    fn dir(&self) -> PathBuf {
        match self.place {
            Place::Pool => self.wikis.layout.pool_entry_dir(&self.key),
            Place::Wiki => self.wikis.layout.wiki_dir(&self.key),
        }
    }

    fn db_file(&self) -> PathBuf {
        self.dir().join("db").join(format!("{}.sqlite", self.key))
    }
}

#[async_trait]
impl WikiDatabase for SqliteDatabase {
    async fn build(&self, owner: Option<Owner<'_>>) -> anyhow::Result<()> {
        let template = self.wikis.template(&self.language, self.starter.content()?).await?;
        template.create_wiki_database(&self.dir().join("db"), &self.key, owner).await
    }

    async fn adopt(&self, owner: Owner<'_>) -> anyhow::Result<()> {
        anyhow::ensure!(self.place == Place::Wiki, "only a wiki adopts a pool entry's database");
        let layout = &self.wikis.layout;
        let wiki_dir = self.dir();
        // The entry moves as a whole by one rename.
        if !wiki_dir.join("db").is_dir() {
            let from_pool = layout.pool_entry_dir(&self.key);
            anyhow::ensure!(from_pool.is_dir(), "the pooled database {} is missing", from_pool.display());
            std::fs::rename(&from_pool, &wiki_dir)?;
            sync_dir(&layout.wikis_dir())?;
        }
        put_owner_in_place(&self.db_file(), owner).await
    }

    async fn drop(&self) -> anyhow::Result<()> {
        Ok(remove_dir_all_if_exists(&self.dir().join("db"))?)
    }

    async fn edited_by_people(&self) -> anyhow::Result<bool> {
        let mut conn = open(&self.db_file()).await?;
        let (count,): (i64,) = sqlx::query_as(&crate::mediawiki::people_edits_sql("")).fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(count > 0)
    }

    async fn back_up(&self, dir: &Path) -> anyhow::Result<i64> {
        let live = self.db_file();
        anyhow::ensure!(live.is_file(), "the wiki has no database file");
        // A read transaction on the live file holds its shared lock (MediaWiki's SQLite runs in
        // rollback-journal mode), so no writer commits between the count and the copy.
        let mut snapshot = open(&live).await?;
        sqlx::query("BEGIN").execute(&mut snapshot).await?;
        let (pages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM page").fetch_one(&mut snapshot).await?;
        let copied = async {
            for suffix in DB_FILE_SUFFIXES {
                let from = self.dir().join("db").join(format!("{}{suffix}", self.key));
                if !from.is_file() {
                    continue;
                }
                let to = dir.join(format!("{}{suffix}", self.key));
                let mut conn = open(&from).await?;
                sqlx::query("VACUUM INTO ?").bind(to.to_string_lossy().into_owned()).execute(&mut conn).await?;
                conn.close().await?;
                std::fs::File::open(&to)?.sync_all()?;
            }
            anyhow::Ok(())
        }
        .await;
        let _ = sqlx::query("COMMIT").execute(&mut snapshot).await;
        let _ = snapshot.close().await;
        copied?;
        Ok(pages)
    }

    async fn verify_backup(&self, dir: &Path) -> anyhow::Result<i64> {
        let copy = dir.join(format!("{}.sqlite", self.key));
        anyhow::ensure!(copy.is_file(), "the backup has no database file");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", copy.display()))?.read_only(true);
        let mut conn = SqliteConnection::connect_with(&options).await?;
        let (check,): (String,) = sqlx::query_as("PRAGMA quick_check").fetch_one(&mut conn).await?;
        anyhow::ensure!(check == "ok", "the copied database fails its integrity check: {check}");
        let (pages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM page").fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(pages)
    }

    async fn restore_backup(&self, dir: &Path) -> anyhow::Result<()> {
        let db_dir = self.dir().join("db");
        std::fs::create_dir_all(&db_dir)?;
        anyhow::ensure!(dir.join(format!("{}.sqlite", self.key)).is_file(), "the backup has no database file");
        for suffix in DB_FILE_SUFFIXES {
            let from = dir.join(format!("{}{suffix}", self.key));
            if !from.is_file() {
                continue;
            }
            let live = db_dir.join(format!("{}{suffix}", self.key));
            let scratch = db_dir.join(format!("{}{suffix}.restoring", self.key));
            crate::platform::fsutil::copy_as_new(&from, &scratch)
                .with_context(|| format!("copying {}", from.display()))?;
            std::fs::File::open(&scratch)?.sync_all()?;
            // The live file's exclusive lock, held while the copy takes its place: no writer
            // is half-way through a transaction on it (and MediaWiki is read-only by now).
            let mut holder = None;
            if live.is_file() {
                let mut conn = open(&live).await?;
                sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await?;
                holder = Some(conn);
            }
            std::fs::rename(&scratch, &live)?;
            if let Some(mut conn) = holder {
                let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
                let _ = conn.close().await;
            }
        }
        // The object cache (sessions, parser cache) belongs to the replaced database.
        remove_file_if_exists(&db_dir.join("wikicache.sqlite"))?;
        sync_dir(&db_dir)?;
        Ok(())
    }

    fn shard(&self) -> ShardDatabase {
        ShardDatabase::Sqlite
    }

    fn password(&self) -> Option<&Secret> {
        None
    }
}

/// The installer's database name in the template.
const TEMPLATE_DB: &str = "tpl";

/// The template's files that a wiki needs, by suffix after the database name. The
/// installer's `*_l10n_cache.sqlite` is left out (the farm shares a file-based localisation
/// cache) and `wikicache.sqlite` is made by MediaWiki on first use.
const DB_FILE_SUFFIXES: &[&str] = &[".sqlite", "_jobqueue.sqlite"];

/// An installed SQLite template for one MediaWiki version and content language (the
/// installer names the main page in the content language, so one template per language).
#[derive(Debug, Clone)]
pub struct SqliteTemplate {
    dir: PathBuf,
}

impl SqliteTemplate {
    /// The template under `templates_dir`, running MediaWiki's installer to make it if absent.
    /// The installer writes into a scratch folder that is renamed into place when complete, so
    /// a crash leaves either no template or a whole one.
    pub async fn ensure(
        php: &Php,
        templates_dir: &Path,
        name: &str,
        language: &LanguageCode,
        starter: Option<&StarterContent>,
    ) -> anyhow::Result<Self> {
        let dir = templates_dir.join(name);
        if dir.join(format!("{TEMPLATE_DB}.sqlite")).is_file() {
            return Ok(Self { dir });
        }
        std::fs::create_dir_all(templates_dir)?;
        let scratch_prefix = format!(".{name}.building-");
        remove_stale_builds(templates_dir, &scratch_prefix)?;
        let scratch = templates_dir.join(format!("{scratch_prefix}{}", crate::platform::random::random_hex(4)));
        std::fs::create_dir_all(scratch.join("conf"))?;
        info!(dir = %dir.display(), "running MediaWiki's installer for a SQLite template");
        let started = std::time::Instant::now();
        if let Err(err) = Self::install(php, &scratch, language, starter).await {
            let _ = remove_dir_all_if_exists(&scratch);
            return Err(err);
        }
        // The installer's LocalSettings.php holds a throwaway secret key: keep nothing but the
        // database files.
        remove_dir_all_if_exists(&scratch.join("conf"))?;
        std::fs::rename(&scratch, &dir)?;
        sync_dir(templates_dir)?;
        info!(elapsed_ms = started.elapsed().as_millis() as u64, template = name, "SQLite template ready");
        Ok(Self { dir })
    }

    async fn install(
        php: &Php,
        scratch: &Path,
        language: &LanguageCode,
        starter: Option<&StarterContent>,
    ) -> anyhow::Result<()> {
        let db_dir = scratch.to_string_lossy().into_owned();
        let database = ["--dbtype", "sqlite", "--dbpath", &db_dir, "--dbname", TEMPLATE_DB];
        crate::mediawiki::install_template(php, &scratch.join("conf"), &database, language, starter).await?;
        // The installer queues jobs in the main database, where the farm's job queue never
        // looks, and leaves cache rows behind: copies start clean.
        let mut conn = open(&scratch.join(format!("{TEMPLATE_DB}.sqlite"))).await?;
        for statement in ["DELETE FROM job", "DELETE FROM objectcache", "VACUUM"] {
            sqlx::query(statement).execute(&mut conn).await?;
        }
        conn.close().await?;
        Ok(())
    }

    /// Makes `db_dir` hold a copy of the template whose administrator is `owner` (name and
    /// MediaWiki password hash), or still the template's for a pool entry. Idempotent: an
    /// existing `db_dir` is the finished result.
    pub async fn create_wiki_database(
        &self,
        db_dir: &Path,
        key: &ResourceKey,
        owner: Option<Owner<'_>>,
    ) -> anyhow::Result<()> {
        if db_dir.is_dir() {
            return Ok(());
        }
        let parent = db_dir.parent().context("database directory has no parent")?;
        std::fs::create_dir_all(parent)?;
        let scratch = parent.join("db.building");
        remove_dir_all_if_exists(&scratch)?;
        std::fs::create_dir_all(&scratch)?;
        for suffix in DB_FILE_SUFFIXES {
            let from = self.dir.join(format!("{TEMPLATE_DB}{suffix}"));
            let to = scratch.join(format!("{key}{suffix}"));
            crate::platform::fsutil::copy_as_new(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
        if let Some(owner) = owner {
            put_owner_in_place(&scratch.join(format!("{key}.sqlite")), owner).await?;
        }
        for entry in std::fs::read_dir(&scratch)? {
            std::fs::File::open(entry?.path())?.sync_all()?;
        }
        std::fs::rename(&scratch, db_dir)?;
        sync_dir(parent)?;
        Ok(())
    }
}

async fn open(db_file: &Path) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db_file.display()))?
        .journal_mode(SqliteJournalMode::Delete)
        .create_if_missing(false);
    Ok(SqliteConnection::connect_with(&options).await?)
}

fn remove_stale_builds(templates_dir: &Path, prefix: &str) -> std::io::Result<()> {
    for entry in std::fs::read_dir(templates_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            remove_dir_all_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// Renames the template's administrator to the owner and sets their password (idempotent; see
/// [`Owner::statements`]).
async fn put_owner_in_place(db_file: &Path, owner: Owner<'_>) -> anyhow::Result<()> {
    let mut conn = open(db_file).await?;
    let mut tx = conn.begin().await?;
    for (i, statement) in owner.statements("").into_iter().enumerate() {
        let mut query = sqlx::query(&statement.sql);
        for value in &statement.values {
            query = query.bind(value);
        }
        let changed = query.execute(&mut *tx).await?.rows_affected();
        anyhow::ensure!(i > 0 || changed == 1, "the database has no user {TEMPLATE_ADMIN} to rename");
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}
