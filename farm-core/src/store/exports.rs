//! Exports of whole wikis and their progress.

use super::{now, Store};
use crate::error::FarmError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRecord {
    pub id: i64,
    pub wiki_id: i64,
    pub requested_by: String,
    pub state: String,
    pub phase: String,
    pub done_items: i64,
    pub total_items: i64,
    pub bytes: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str =
    "id, wiki_id, requested_by, state, phase, done_items, total_items, bytes, error, created_at, finished_at, expires_at";

impl Store {
    /// A new export of `wiki_id`, queued; or the one already queued or running for it.
    pub async fn queue_export(&self, wiki_id: i64, requested_by: &str) -> Result<ExportRecord, FarmError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM exports WHERE wiki_id = ? AND state IN ('queued', 'running') ORDER BY id LIMIT 1"
        );
        let mut tx = self.write.begin().await?;
        let existing: Option<ExportRecord> = sqlx::query_as(&sql).bind(wiki_id).fetch_optional(&mut *tx).await?;
        if let Some(existing) = existing {
            return Ok(existing);
        }
        sqlx::query(
            "INSERT INTO exports (wiki_id, requested_by, state, phase, created_at) VALUES (?, ?, 'queued', 'queued', ?)",
        )
        .bind(wiki_id)
        .bind(requested_by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let created: ExportRecord = sqlx::query_as(&sql).bind(wiki_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn export(&self, id: i64) -> Result<Option<ExportRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM exports WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    /// The next export to work on; ones found `running` (the daemon died meanwhile) start over.
    pub async fn next_export(&self) -> Result<Option<ExportRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM exports WHERE state IN ('running', 'queued') ORDER BY id LIMIT 1");
        Ok(sqlx::query_as(&sql).fetch_optional(&self.write).await?)
    }

    pub async fn export_progress(
        &self,
        id: i64,
        state: &str,
        phase: &str,
        done: i64,
        total: i64,
    ) -> Result<(), FarmError> {
        sqlx::query("UPDATE exports SET state = ?, phase = ?, done_items = ?, total_items = ? WHERE id = ?")
            .bind(state)
            .bind(phase)
            .bind(done)
            .bind(total)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn finish_export(
        &self,
        id: i64,
        bytes: i64,
        expires_at: i64,
        error: Option<&str>,
    ) -> Result<(), FarmError> {
        let state = if error.is_some() { "failed" } else { "done" };
        // A finished archive has every entry; a failed one keeps where it stopped.
        let sql = if error.is_some() {
            "UPDATE exports SET state = ?, phase = ?, bytes = ?, error = ?, finished_at = ?, expires_at = ? WHERE id = ?"
        } else {
            "UPDATE exports SET state = ?, phase = ?, bytes = ?, error = ?, finished_at = ?, expires_at = ?, \
             done_items = total_items WHERE id = ?"
        };
        sqlx::query(sql)
            .bind(state)
            .bind(state)
            .bind(bytes)
            .bind(error)
            .bind(now())
            .bind(expires_at)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Finished exports whose time is over; they become `expired`.
    pub async fn expire_exports(&self) -> Result<Vec<i64>, FarmError> {
        let now = now();
        let ids: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM exports WHERE state IN ('done', 'failed') AND expires_at <= ?")
                .bind(now)
                .fetch_all(&self.write)
                .await?;
        sqlx::query("UPDATE exports SET state = 'expired' WHERE state IN ('done', 'failed') AND expires_at <= ?")
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }
}
