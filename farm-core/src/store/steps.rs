//! The pipeline's progress per wiki, and databases left behind on servers a wiki moved off.

use super::{now, Store};
use crate::error::FarmError;

impl Store {
    pub async fn steps_done(&self, wiki_id: i64) -> Result<Vec<String>, FarmError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT step FROM wiki_steps WHERE wiki_id = ? ORDER BY done_at, step")
                .bind(wiki_id)
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(|(step,)| step).collect())
    }

    pub async fn mark_step_done(&self, wiki_id: i64, step: &str) -> Result<(), FarmError> {
        let result = sqlx::query("INSERT INTO wiki_steps (wiki_id, step, done_at) VALUES (?, ?, ?)")
            .bind(wiki_id)
            .bind(step)
            .bind(now())
            .execute(&self.write)
            .await;
        match result {
            Err(e) if super::is_unique_violation(&e) => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// Pending cleanups: (id, server, resource key).
    pub async fn db_cleanups(&self) -> Result<Vec<(i64, String, String)>, FarmError> {
        Ok(sqlx::query_as("SELECT id, db_server, resource_key FROM db_cleanups ORDER BY id")
            .fetch_all(&self.write)
            .await?)
    }

    pub async fn remove_db_cleanup(&self, id: i64) -> Result<(), FarmError> {
        sqlx::query("DELETE FROM db_cleanups WHERE id = ?").bind(id).execute(&self.write).await?;
        Ok(())
    }
}
