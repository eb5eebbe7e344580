//! SQLite wikis: MediaWiki's installer runs once per MediaWiki version into a template; each
//! new wiki is a copy of the template with the owner account put in place by SQL.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};
use tracing::info;

use crate::domain::ResourceKey;
use crate::fsutil::{remove_dir_all_if_exists, sync_dir};
use crate::php::Php;

/// The installer's database name in the template, and its administrator, whom each copy
/// renames to the wiki's owner.
const TEMPLATE_DB: &str = "tpl";
pub const TEMPLATE_ADMIN: &str = "FarmTemplateOwner";

/// The template's files that a wiki needs, by suffix after the database name. The
/// installer's `*_l10n_cache.sqlite` is left out (the farm shares a file-based localisation
/// cache) and `wikicache.sqlite` is made by MediaWiki on first use.
const DB_FILE_SUFFIXES: &[&str] = &[".sqlite", "_jobqueue.sqlite"];

/// An installed SQLite template for one MediaWiki version.
#[derive(Debug, Clone)]
pub struct SqliteTemplate {
    dir: PathBuf,
}

impl SqliteTemplate {
    /// The template under `templates_dir`, running MediaWiki's installer to make it if absent.
    /// The installer writes into a scratch folder that is renamed into place when complete, so
    /// a crash leaves either no template or a whole one.
    pub async fn ensure(php: &Php, templates_dir: &Path) -> anyhow::Result<Self> {
        let dir = templates_dir.join("sqlite");
        if dir.join(format!("{TEMPLATE_DB}.sqlite")).is_file() {
            return Ok(Self { dir });
        }
        std::fs::create_dir_all(templates_dir)?;
        remove_stale_builds(templates_dir)?;
        let scratch = templates_dir.join(format!(".sqlite.building-{}", crate::secrets::random_hex(4)));
        std::fs::create_dir_all(scratch.join("conf"))?;
        info!(dir = %dir.display(), "running MediaWiki's installer for the SQLite template");
        let started = std::time::Instant::now();
        let result = Self::install(php, &scratch).await;
        if let Err(err) = result {
            let _ = remove_dir_all_if_exists(&scratch);
            return Err(err);
        }
        // The installer's LocalSettings.php holds a throwaway secret key: keep nothing but the
        // database files.
        remove_dir_all_if_exists(&scratch.join("conf"))?;
        std::fs::rename(&scratch, &dir)?;
        sync_dir(templates_dir)?;
        info!(elapsed_ms = started.elapsed().as_millis() as u64, "SQLite template ready");
        Ok(Self { dir })
    }

    async fn install(php: &Php, scratch: &Path) -> anyhow::Result<()> {
        let db_dir = scratch.to_string_lossy().into_owned();
        let conf_dir = scratch.join("conf").to_string_lossy().into_owned();
        let password = crate::secrets::random_password(24);
        let mut cmd = php.command();
        // The installer refuses to run when the config file it would load exists.
        cmd.env("MW_CONFIG_FILE", scratch.join("conf/absent.php"));
        let output = cmd
            .arg(php.mediawiki_dir.join("maintenance/install.php"))
            .args(["--dbtype", "sqlite", "--dbpath", &db_dir, "--dbname", TEMPLATE_DB, "--confpath", &conf_dir])
            .args(["--server", "http://template.invalid", "--scriptpath", "", "--lang", "en"])
            .args(["--pass", password.expose(), "Farm template", TEMPLATE_ADMIN])
            .output()
            .await
            .context("starting MediaWiki's installer")?;
        if !output.status.success() {
            anyhow::bail!(
                "MediaWiki's installer failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Makes `db_dir` hold a copy of the template whose administrator is `owner` with the
    /// given MediaWiki password hash. Idempotent: an existing `db_dir` is the finished result.
    pub async fn create_wiki_database(&self, db_dir: &Path, key: &ResourceKey, owner: &str, password_hash: &str) -> anyhow::Result<()> {
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
        put_owner_in_place(&scratch.join(format!("{key}.sqlite")), owner, password_hash).await?;
        for entry in std::fs::read_dir(&scratch)? {
            std::fs::File::open(entry?.path())?.sync_all()?;
        }
        std::fs::rename(&scratch, db_dir)?;
        sync_dir(parent)?;
        Ok(())
    }
}

fn remove_stale_builds(templates_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(templates_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(".sqlite.building-") {
            remove_dir_all_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// Renames the template's administrator to the owner and sets their password. MediaWiki keys
/// users by `user_name` and `actor_name`; the account-creation log entry names the user as its
/// target page.
async fn put_owner_in_place(db_file: &Path, owner: &str, password_hash: &str) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db_file.display()))?
        .journal_mode(SqliteJournalMode::Delete)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let now = mediawiki_timestamp(time::OffsetDateTime::now_utc());
    let token = crate::secrets::random_hex(16);
    let mut tx = conn.begin().await?;
    let renamed = sqlx::query(
        "UPDATE user SET user_name = ?, user_password = ?, user_token = ?, user_touched = ?, \
         user_registration = ?, user_email = '', user_email_authenticated = NULL WHERE user_name = ?",
    )
    .bind(owner)
    .bind(password_hash)
    .bind(&token)
    .bind(&now)
    .bind(&now)
    .bind(TEMPLATE_ADMIN)
    .execute(&mut *tx)
    .await?;
    anyhow::ensure!(renamed.rows_affected() == 1, "the template has no user {TEMPLATE_ADMIN}");
    sqlx::query("UPDATE actor SET actor_name = ? WHERE actor_name = ?").bind(owner).bind(TEMPLATE_ADMIN).execute(&mut *tx).await?;
    sqlx::query("UPDATE logging SET log_title = ?, log_timestamp = ? WHERE log_namespace = 2 AND log_title = ?")
        .bind(owner)
        .bind(&now)
        .bind(TEMPLATE_ADMIN)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE recentchanges SET rc_title = ? WHERE rc_namespace = 2 AND rc_title = ?")
        .bind(owner)
        .bind(TEMPLATE_ADMIN)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// MediaWiki's `TS_MW` timestamp: `YYYYMMDDHHMMSS` in UTC.
fn mediawiki_timestamp(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    at.format(&format).unwrap_or_else(|_| "19700101000000".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_use_mediawiki_format() {
        let at = time::macros::datetime!(2026-11-26 13:05:09 UTC);
        assert_eq!(mediawiki_timestamp(at), "20261126130509");
    }
}
