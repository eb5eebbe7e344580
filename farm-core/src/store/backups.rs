//! Backups of whole wikis and restores to them.

use super::{now, Store};
use crate::error::FarmError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupRecord {
    pub id: i64,
    pub wiki_id: i64,
    /// `scheduled` or `manual`.
    pub kind: String,
    pub requested_by: String,
    /// `queued`, `running`, `verified`, `failed` or `pruned`.
    pub state: String,
    pub settings_revision: i64,
    pub bytes: i64,
    pub pages: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RestoreRecord {
    pub id: i64,
    pub wiki_id: i64,
    pub backup_id: i64,
    pub requested_by: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One wiki's last good backup, for the metrics.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LastGoodBackup {
    pub wiki: String,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, wiki_id, kind, requested_by, state, settings_revision, bytes, pages, error, created_at, \
                       started_at, finished_at";
const RESTORE_COLUMNS: &str = "id, wiki_id, backup_id, requested_by, state, error, created_at, finished_at";

impl Store {
    /// A new backup of `wiki_id`, queued; or the one already queued or running for it.
    pub async fn queue_backup(&self, wiki_id: i64, kind: &str, requested_by: &str) -> Result<BackupRecord, FarmError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM backups WHERE wiki_id = ? AND state IN ('queued', 'running') ORDER BY id LIMIT 1"
        );
        let mut tx = self.write.begin().await?;
        let existing: Option<BackupRecord> = sqlx::query_as(&sql).bind(wiki_id).fetch_optional(&mut *tx).await?;
        if let Some(existing) = existing {
            return Ok(existing);
        }
        sqlx::query(
            "INSERT INTO backups (wiki_id, kind, requested_by, state, created_at) VALUES (?, ?, ?, 'queued', ?)",
        )
        .bind(wiki_id)
        .bind(kind)
        .bind(requested_by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let created: BackupRecord = sqlx::query_as(&sql).bind(wiki_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn backup(&self, id: i64) -> Result<Option<BackupRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM backups WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    /// A wiki's backups, newest first (pruned ones too, up to `limit`).
    pub async fn backups_of(&self, wiki_id: i64, limit: u32) -> Result<Vec<BackupRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM backups WHERE wiki_id = ? ORDER BY id DESC LIMIT ?");
        Ok(sqlx::query_as(&sql).bind(wiki_id).bind(i64::from(limit)).fetch_all(&self.read).await?)
    }

    /// A wiki's verified backups, newest first (what retention chooses from).
    pub async fn verified_backups_of(&self, wiki_id: i64) -> Result<Vec<BackupRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM backups WHERE wiki_id = ? AND state = 'verified' ORDER BY id DESC");
        Ok(sqlx::query_as(&sql).bind(wiki_id).fetch_all(&self.write).await?)
    }

    /// The oldest queued backup.
    pub async fn next_backup(&self) -> Result<Option<BackupRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM backups WHERE state = 'queued' ORDER BY id LIMIT 1");
        Ok(sqlx::query_as(&sql).fetch_optional(&self.write).await?)
    }

    /// Backups found `running` at start (the daemon died during them).
    pub async fn running_backups(&self) -> Result<Vec<BackupRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM backups WHERE state = 'running' ORDER BY id");
        Ok(sqlx::query_as(&sql).fetch_all(&self.write).await?)
    }

    /// `queued` → `running`; false if it was not queued any more.
    pub async fn start_backup(&self, id: i64) -> Result<bool, FarmError> {
        let done =
            sqlx::query("UPDATE backups SET state = 'running', started_at = ? WHERE id = ? AND state = 'queued'")
                .bind(now())
                .bind(id)
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn finish_backup(
        &self,
        id: i64,
        settings_revision: i64,
        bytes: i64,
        pages: i64,
        error: Option<&str>,
    ) -> Result<(), FarmError> {
        let state = if error.is_some() { "failed" } else { "verified" };
        sqlx::query(
            "UPDATE backups SET state = ?, settings_revision = ?, bytes = ?, pages = ?, error = ?, finished_at = ? \
             WHERE id = ? AND state = 'running'",
        )
        .bind(state)
        .bind(settings_revision)
        .bind(bytes)
        .bind(pages)
        .bind(error)
        .bind(now())
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A verified backup's folder is gone (retention).
    pub async fn mark_backup_pruned(&self, id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE backups SET state = 'pruned' WHERE id = ? AND state = 'verified'")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The first served wiki (active or locked) with no backup asked for since `since`.
    pub async fn wiki_due_for_backup(&self, since: i64) -> Result<Option<i64>, FarmError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT w.id FROM wikis w WHERE w.state IN ('active', 'locked') AND NOT EXISTS \
             (SELECT 1 FROM backups b WHERE b.wiki_id = w.id AND b.created_at > ?) ORDER BY w.id LIMIT 1",
        )
        .bind(since)
        .fetch_optional(&self.write)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Verified backups of wikis that are gone (`deleted` or `failed`): their folders go too.
    pub async fn backups_of_gone_wikis(&self, limit: u32) -> Result<Vec<(i64, String)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT b.id, w.resource_key FROM backups b JOIN wikis w ON w.id = b.wiki_id \
             WHERE b.state = 'verified' AND w.state IN ('deleted', 'failed') ORDER BY b.id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?)
    }

    /// Every served wiki's last verified backup.
    pub async fn last_good_backups(&self) -> Result<Vec<LastGoodBackup>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT w.label AS wiki, MAX(b.finished_at) AS finished_at FROM backups b JOIN wikis w ON w.id = b.wiki_id \
             WHERE b.state = 'verified' AND w.state IN ('active', 'locked') GROUP BY w.label",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// How many backups failed, ever.
    pub async fn failed_backup_count(&self) -> Result<i64, FarmError> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM backups WHERE state = 'failed'").fetch_one(&self.read).await?;
        Ok(count)
    }

    /// A new restore of `wiki_id` to `backup_id`, queued; `None` if one is queued or running
    /// for that wiki already.
    pub async fn queue_restore(
        &self,
        wiki_id: i64,
        backup_id: i64,
        requested_by: &str,
    ) -> Result<Option<RestoreRecord>, FarmError> {
        let mut tx = self.write.begin().await?;
        let busy: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM restores WHERE wiki_id = ? AND state IN ('queued', 'running') LIMIT 1")
                .bind(wiki_id)
                .fetch_optional(&mut *tx)
                .await?;
        if busy.is_some() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO restores (wiki_id, backup_id, requested_by, state, created_at) VALUES (?, ?, ?, 'queued', ?)",
        )
        .bind(wiki_id)
        .bind(backup_id)
        .bind(requested_by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "SELECT {RESTORE_COLUMNS} FROM restores WHERE wiki_id = ? AND state = 'queued' ORDER BY id DESC LIMIT 1"
        );
        let created: RestoreRecord = sqlx::query_as(&sql).bind(wiki_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(created))
    }

    pub async fn restore(&self, id: i64) -> Result<Option<RestoreRecord>, FarmError> {
        let sql = format!("SELECT {RESTORE_COLUMNS} FROM restores WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    /// A wiki's latest restore.
    pub async fn last_restore_of(&self, wiki_id: i64) -> Result<Option<RestoreRecord>, FarmError> {
        let sql = format!("SELECT {RESTORE_COLUMNS} FROM restores WHERE wiki_id = ? ORDER BY id DESC LIMIT 1");
        Ok(sqlx::query_as(&sql).bind(wiki_id).fetch_optional(&self.read).await?)
    }

    /// Whether a restore of the wiki is queued or running.
    pub async fn restore_pending(&self, wiki_id: i64) -> Result<bool, FarmError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM restores WHERE wiki_id = ? AND state IN ('queued', 'running') LIMIT 1")
                .bind(wiki_id)
                .fetch_optional(&self.write)
                .await?;
        Ok(row.is_some())
    }

    /// The next restore to run: one found `running` (the daemon died during it) first.
    pub async fn next_restore(&self) -> Result<Option<RestoreRecord>, FarmError> {
        let sql = format!(
            "SELECT {RESTORE_COLUMNS} FROM restores WHERE state IN ('running', 'queued') \
             ORDER BY CASE state WHEN 'running' THEN 0 ELSE 1 END, id LIMIT 1"
        );
        Ok(sqlx::query_as(&sql).fetch_optional(&self.write).await?)
    }

    pub async fn start_restore(&self, id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE restores SET state = 'running' WHERE id = ? AND state IN ('queued', 'running')")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn finish_restore(&self, id: i64, error: Option<&str>) -> Result<(), FarmError> {
        let state = if error.is_some() { "failed" } else { "done" };
        sqlx::query("UPDATE restores SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running'")
            .bind(state)
            .bind(error)
            .bind(now())
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
