//! The warm pool's entries: databases built ahead of demand.

use super::{now, unknown, Store};
use crate::domain::{Backend, ResourceKey};
use crate::error::FarmError;

/// How many pool entries are in one slot and state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PoolLevelRow {
    pub backend: String,
    pub db_server: String,
    pub language: String,
    pub mw_version: String,
    pub starter: String,
    pub state: String,
    pub count: i64,
}

/// An entry that was being built when the daemon stopped.
#[derive(Debug, Clone)]
pub struct UnfinishedEntry {
    pub id: i64,
    pub key: ResourceKey,
    pub backend: Backend,
    pub server: String,
}

/// Which pool entries fit a wiki: backend, server (`""` for SQLite), language and version.
#[derive(Debug, Clone, Copy)]
pub struct PoolSlot<'a> {
    pub backend: &'a str,
    pub db_server: &'a str,
    pub language: &'a str,
    pub mw_version: &'a str,
    /// The tag of the starter its database holds.
    pub starter: &'a str,
}

impl Store {
    /// Pool entries per slot and state.
    pub async fn pool_levels(&self) -> Result<Vec<PoolLevelRow>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT backend, db_server, language, mw_version, starter, state, COUNT(*) AS count FROM pool_entries \
             GROUP BY backend, db_server, language, mw_version, starter, state \
             ORDER BY backend, db_server, language, mw_version, starter, state",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// Records a pool entry about to be built (state `filling`).
    pub async fn insert_pool_entry(
        &self,
        key: &str,
        slot: &PoolSlot<'_>,
        sealed_password: Option<&str>,
    ) -> Result<i64, FarmError> {
        sqlx::query(
            "INSERT INTO pool_entries (resource_key, backend, db_server, language, mw_version, starter, db_password_sealed, \
             state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'filling', ?)",
        )
        .bind(key)
        .bind(slot.backend)
        .bind(slot.db_server)
        .bind(slot.language)
        .bind(slot.mw_version)
        .bind(slot.starter)
        .bind(sealed_password)
        .bind(now())
        .execute(&self.write)
        .await?;
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM pool_entries WHERE resource_key = ?")
            .bind(key)
            .fetch_one(&self.write)
            .await?;
        Ok(id)
    }

    pub async fn mark_pool_entry_ready(&self, id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE pool_entries SET state = 'ready' WHERE id = ? AND state = 'filling'")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Entries still `filling`, and ready ones no wiki will claim: made for another language,
    /// templates or starter than `current`'s.
    pub async fn pool_entries_to_clear(&self, current: &PoolSlot<'_>) -> Result<Vec<UnfinishedEntry>, FarmError> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT id, resource_key, backend, db_server FROM pool_entries WHERE state = 'filling' \
             OR language <> ? OR mw_version <> ? OR starter <> ?",
        )
        .bind(current.language)
        .bind(current.mw_version)
        .bind(current.starter)
        .fetch_all(&self.write)
        .await?;
        rows.into_iter()
            .map(|(id, key, backend, server)| {
                Ok(UnfinishedEntry {
                    id,
                    key: ResourceKey::parse(&key).ok_or_else(|| unknown("resource key", &key))?,
                    backend: Backend::parse(&backend).ok_or_else(|| unknown("backend", &backend))?,
                    server,
                })
            })
            .collect()
    }

    pub async fn delete_pool_entry(&self, id: i64) -> Result<(), FarmError> {
        sqlx::query("DELETE FROM pool_entries WHERE id = ?").bind(id).execute(&self.write).await?;
        Ok(())
    }
}
