//! SQLite wikis: MediaWiki's installer runs once per MediaWiki version into a template; each
//! new wiki is a copy of the template with the owner account put in place by SQL.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};
use tracing::info;

use crate::domain::{LanguageCode, ResourceKey};
use crate::mediawiki::php::Php;
use crate::mediawiki::TEMPLATE_ADMIN;
use crate::platform::fsutil::{remove_dir_all_if_exists, sync_dir};

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
    pub async fn ensure(php: &Php, templates_dir: &Path, language: &LanguageCode) -> anyhow::Result<Self> {
        let dir = templates_dir.join(format!("sqlite-{language}"));
        if dir.join(format!("{TEMPLATE_DB}.sqlite")).is_file() {
            return Ok(Self { dir });
        }
        std::fs::create_dir_all(templates_dir)?;
        let scratch_prefix = format!(".sqlite-{language}.building-");
        remove_stale_builds(templates_dir, &scratch_prefix)?;
        let scratch = templates_dir.join(format!("{scratch_prefix}{}", crate::platform::random::random_hex(4)));
        std::fs::create_dir_all(scratch.join("conf"))?;
        info!(dir = %dir.display(), "running MediaWiki's installer for a SQLite template");
        let started = std::time::Instant::now();
        if let Err(err) = Self::install(php, &scratch, language).await {
            let _ = remove_dir_all_if_exists(&scratch);
            return Err(err);
        }
        // The installer's LocalSettings.php holds a throwaway secret key: keep nothing but the
        // database files.
        remove_dir_all_if_exists(&scratch.join("conf"))?;
        std::fs::rename(&scratch, &dir)?;
        sync_dir(templates_dir)?;
        info!(elapsed_ms = started.elapsed().as_millis() as u64, language = %language, "SQLite template ready");
        Ok(Self { dir })
    }

    async fn install(php: &Php, scratch: &Path, language: &LanguageCode) -> anyhow::Result<()> {
        let db_dir = scratch.to_string_lossy().into_owned();
        let database = ["--dbtype", "sqlite", "--dbpath", &db_dir, "--dbname", TEMPLATE_DB];
        crate::mediawiki::install_template(php, &scratch.join("conf"), &database, language).await?;
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
        owner: Option<(&str, &str)>,
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
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
        if let Some((owner, password_hash)) = owner {
            put_owner_in_place(&scratch.join(format!("{key}.sqlite")), owner, password_hash).await?;
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

/// Renames the template's administrator to the owner and sets their password (idempotent). In a fresh
/// install the name is only in `user` and `actor`; groups hang off the user id. A new
/// `user_token` keeps the template's token from being shared by every wiki.
pub async fn put_owner_in_place(db_file: &Path, owner: &str, password_hash: &str) -> anyhow::Result<()> {
    let mut conn = open(db_file).await?;
    let now = crate::mediawiki::mediawiki_timestamp(time::OffsetDateTime::now_utc());
    let mut tx = conn.begin().await?;
    // The owner's name too, so that running this again after a crash ends the same way.
    let renamed = sqlx::query(
        "UPDATE user SET user_name = ?, user_password = ?, user_token = ?, user_touched = ?, \
         user_registration = ?, user_email = '', user_email_authenticated = NULL WHERE user_name IN (?, ?)",
    )
    .bind(owner)
    .bind(password_hash)
    .bind(crate::platform::random::random_hex(16))
    .bind(&now)
    .bind(&now)
    .bind(TEMPLATE_ADMIN)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    anyhow::ensure!(renamed.rows_affected() == 1, "the database has no user {TEMPLATE_ADMIN} to rename");
    sqlx::query("UPDATE actor SET actor_name = ? WHERE actor_name IN (?, ?)")
        .bind(owner)
        .bind(TEMPLATE_ADMIN)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}
