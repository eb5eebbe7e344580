//! Managers of wikis: other accounts a wiki's owner named. Rows hang off the wiki's id, so a
//! rename keeps them; a wiki deleted for good, or a manager who becomes the owner, loses them.

use std::collections::HashMap;

use super::{is_unique_violation, now, Store, Tx};
use crate::error::FarmError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagerRecord {
    pub wiki_id: i64,
    pub username: String,
    pub added_by: String,
    pub added_at: i64,
}

const COLUMNS: &str = "wiki_id, username, added_by, added_at";

impl Store {
    /// The managers of a wiki, by name.
    pub async fn managers(&self, wiki_id: i64) -> Result<Vec<ManagerRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM wiki_managers WHERE wiki_id = ? ORDER BY username");
        Ok(sqlx::query_as(&sql).bind(wiki_id).fetch_all(&self.write).await?)
    }

    /// The managers' names of each of `wiki_ids` (one query for a page of wikis).
    pub async fn manager_names_of(&self, wiki_ids: &[i64]) -> Result<HashMap<i64, Vec<String>>, FarmError> {
        let mut names: HashMap<i64, Vec<String>> = HashMap::new();
        if wiki_ids.is_empty() {
            return Ok(names);
        }
        let placeholders = vec!["?"; wiki_ids.len()].join(", ");
        let sql = format!(
            "SELECT wiki_id, username FROM wiki_managers WHERE wiki_id IN ({placeholders}) ORDER BY wiki_id, username"
        );
        let mut query = sqlx::query_as::<_, (i64, String)>(&sql);
        for id in wiki_ids {
            query = query.bind(*id);
        }
        for (wiki_id, username) in query.fetch_all(&self.read).await? {
            names.entry(wiki_id).or_default().push(username);
        }
        Ok(names)
    }
}

/// A wiki whose administrators on MediaWiki lag behind its owner and managers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RightsPending {
    pub wiki_id: i64,
    pub wiki_key: String,
    pub name: String,
    pub owner: String,
    pub rights_wanted: i64,
    /// Whom the last run made administrators (MediaWiki names, comma-separated).
    pub rights_synced: Option<String>,
}

impl Store {
    /// Up to `limit` wikis with a database whose rights need a run, oldest change first.
    pub async fn rights_pending(&self, limit: u32) -> Result<Vec<RightsPending>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT id AS wiki_id, resource_key AS wiki_key, name, owner, rights_wanted, rights_synced FROM wikis \
             WHERE rights_wanted > rights_done AND state IN ('active', 'locked', 'trashed') ORDER BY id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?)
    }

    /// Records that the wiki's rights are as of change `done`, with `synced` its farm-made
    /// administrators.
    pub async fn record_rights(&self, wiki_id: i64, done: i64, synced: &str) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET rights_done = ?, rights_synced = ? WHERE id = ? AND rights_done < ?")
            .bind(done)
            .bind(synced)
            .bind(wiki_id)
            .bind(done)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

impl Tx {
    /// The wiki's administrators on MediaWiki must follow a change of its owner or managers.
    pub async fn want_rights_sync(&mut self, wiki_id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET rights_wanted = rights_wanted + 1 WHERE id = ?")
            .bind(wiki_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Names `username` a manager of the wiki; `Ok(false)` if they already are one.
    pub async fn add_manager(&mut self, wiki_id: i64, username: &str, added_by: &str) -> Result<bool, FarmError> {
        let inserted =
            sqlx::query("INSERT INTO wiki_managers (wiki_id, username, added_by, added_at) VALUES (?, ?, ?, ?)")
                .bind(wiki_id)
                .bind(username)
                .bind(added_by)
                .bind(now())
                .execute(&mut *self.tx)
                .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// `Ok(false)`: `username` was no manager of the wiki.
    pub async fn remove_manager(&mut self, wiki_id: i64, username: &str) -> Result<bool, FarmError> {
        let removed = sqlx::query("DELETE FROM wiki_managers WHERE wiki_id = ? AND username = ?")
            .bind(wiki_id)
            .bind(username)
            .execute(&mut *self.tx)
            .await?;
        Ok(removed.rows_affected() == 1)
    }

    /// A wiki gone for good keeps no managers.
    pub(super) async fn remove_all_managers(&mut self, wiki_id: i64) -> Result<(), FarmError> {
        sqlx::query("DELETE FROM wiki_managers WHERE wiki_id = ?").bind(wiki_id).execute(&mut *self.tx).await?;
        Ok(())
    }
}
