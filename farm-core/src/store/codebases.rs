//! Which codebase each wiki runs on, the versions farmd last saw in each codebase, and the
//! upgrade under way.

use super::{now, Dialect, Store, Tx};
use crate::error::FarmError;

/// The upgrade queued or under way.
const ACTIVE_UPGRADE: &str =
    "SELECT id FROM maintenance_runs WHERE upgrade_to IS NOT NULL AND state IN ('queued', 'running') ORDER BY id LIMIT 1";

impl Store {
    /// Wikis from before codebases had names ran on the only one there was, the current one.
    pub async fn name_unnamed_codebases(&self, current: &str) -> Result<u64, FarmError> {
        let done =
            sqlx::query("UPDATE wikis SET codebase = ? WHERE codebase = ''").bind(current).execute(&self.write).await?;
        Ok(done.rows_affected())
    }

    /// Served wikis (`active`, `locked`) not on `current`: `(name, codebase)`.
    pub async fn wikis_off_codebase(&self, current: &str) -> Result<Vec<(String, String)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT label, codebase FROM wikis WHERE state IN ('active', 'locked') AND codebase <> ? ORDER BY id",
        )
        .bind(current)
        .fetch_all(&self.read)
        .await?)
    }

    /// Wikis per codebase (those not deleted).
    pub async fn wikis_per_codebase(&self) -> Result<Vec<(String, i64)>, FarmError> {
        Ok(sqlx::query_as("SELECT codebase, COUNT(*) FROM wikis WHERE state <> 'deleted' GROUP BY codebase")
            .fetch_all(&self.read)
            .await?)
    }

    /// The version farmd last recorded for the codebase.
    pub async fn codebase_version(&self, name: &str) -> Result<Option<String>, FarmError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT version FROM codebase_versions WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.write)
            .await?;
        Ok(row.map(|(version,)| version))
    }

    pub async fn record_codebase_version(&self, name: &str, path: &str, version: &str) -> Result<(), FarmError> {
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "INSERT INTO codebase_versions (name, path, version, seen_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET path = excluded.path, version = excluded.version, \
                 seen_at = excluded.seen_at"
            }
            Dialect::Mysql => {
                "INSERT INTO codebase_versions (name, path, version, seen_at) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE path = VALUES(path), version = VALUES(version), seen_at = VALUES(seen_at)"
            }
        };
        sqlx::query(sql).bind(name).bind(path).bind(version).bind(now()).execute(&self.write).await?;
        Ok(())
    }

    /// Served wikis: `(id, name, resource key, codebase)`.
    pub async fn served_wikis(&self) -> Result<Vec<(i64, String, String, String)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT id, label, resource_key, codebase FROM wikis WHERE state IN ('active', 'locked') ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// An upgrade's canaries: how many are pending, running, and finished without success.
    pub async fn canary_counts(&self, run_id: i64) -> Result<(i64, i64, i64), FarmError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM maintenance_run_wikis WHERE run_id = ? AND canary = 1 GROUP BY state",
        )
        .bind(run_id)
        .fetch_all(&self.write)
        .await?;
        let count = |states: &[&str]| rows.iter().filter(|(s, _)| states.contains(&s.as_str())).map(|(_, n)| n).sum();
        Ok((count(&["pending"]), count(&["running"]), count(&["failed", "timed_out", "interrupted", "cancelled"])))
    }

    /// A canary failed: the run's other pending wikis are not upgraded (a retry of the run
    /// takes them again).
    pub async fn hold_run_wikis(&self, run_id: i64, reason: &str) -> Result<u64, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_run_wikis SET state = 'cancelled', reason = ?, finished_at = ? \
             WHERE run_id = ? AND state = 'pending' AND canary = 0",
        )
        .bind(reason)
        .bind(now())
        .bind(run_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    /// Whether the wiki's latest turn in an upgrade did not succeed.
    pub async fn last_upgrade_failed(&self, wiki_id: i64) -> Result<bool, FarmError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT w.state FROM maintenance_run_wikis w JOIN maintenance_runs r ON r.id = w.run_id \
             WHERE w.wiki_id = ? AND r.upgrade_to IS NOT NULL AND w.state <> 'pending' \
             ORDER BY w.run_id DESC LIMIT 1",
        )
        .bind(wiki_id)
        .fetch_optional(&self.write)
        .await?;
        Ok(row.is_some_and(|(state,)| matches!(state.as_str(), "failed" | "timed_out" | "interrupted" | "running")))
    }

    /// The addresses of the farm's admins who can be reached (not locked).
    pub async fn admin_emails(&self) -> Result<Vec<(String, String)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT username, email FROM accounts WHERE role = 'admin' AND locked_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// The upgrade queued or under way, if any.
    pub async fn active_upgrade(&self) -> Result<Option<i64>, FarmError> {
        let row: Option<(i64,)> = sqlx::query_as(ACTIVE_UPGRADE).fetch_optional(&self.write).await?;
        Ok(row.map(|(id,)| id))
    }
}

impl Tx {
    /// The wiki now runs on `codebase`.
    pub async fn set_wiki_codebase(&mut self, wiki_id: i64, codebase: &str) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET codebase = ?, updated_at = ? WHERE id = ?")
            .bind(codebase)
            .bind(now())
            .bind(wiki_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The upgrade queued or under way, if any (read in the transaction that would add one).
    pub async fn active_upgrade(&mut self) -> Result<Option<i64>, FarmError> {
        let row: Option<(i64,)> = sqlx::query_as(ACTIVE_UPGRADE).fetch_optional(&mut *self.tx).await?;
        Ok(row.map(|(id,)| id))
    }
}
