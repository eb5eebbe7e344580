//! Ownership transfers of wikis: offered, then accepted, declined or cancelled. At most one is
//! pending per wiki (a new offer cancels the old one in the same transaction).

use super::{now, Store, Tx};
use crate::error::FarmError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransferRecord {
    pub id: i64,
    pub wiki_id: i64,
    pub from_owner: String,
    pub to_owner: String,
    pub state: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

const COLUMNS: &str = "id, wiki_id, from_owner, to_owner, state, created_at, decided_at";

impl Store {
    pub async fn transfer(&self, id: i64) -> Result<Option<TransferRecord>, FarmError> {
        let sql = format!("SELECT {COLUMNS} FROM wiki_transfers WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    /// Pending transfers to or from `username`, newest first.
    pub async fn pending_transfers_of(&self, username: &str) -> Result<Vec<TransferRecord>, FarmError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM wiki_transfers WHERE state = 'pending' AND (to_owner = ? OR from_owner = ?) \
             ORDER BY id DESC LIMIT 500"
        );
        Ok(sqlx::query_as(&sql).bind(username).bind(username).fetch_all(&self.read).await?)
    }
}

impl Tx {
    /// Offers the wiki to `to`, cancelling an offer still pending; returns the new offer's id.
    pub async fn offer_transfer(&mut self, wiki_id: i64, from: &str, to: &str) -> Result<i64, FarmError> {
        let now = now();
        sqlx::query(
            "UPDATE wiki_transfers SET state = 'cancelled', decided_at = ? WHERE wiki_id = ? AND state = 'pending'",
        )
        .bind(now)
        .bind(wiki_id)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "INSERT INTO wiki_transfers (wiki_id, from_owner, to_owner, state, created_at) VALUES (?, ?, ?, 'pending', ?)",
        )
        .bind(wiki_id)
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        let (id,): (i64,) = sqlx::query_as(
            "SELECT id FROM wiki_transfers WHERE wiki_id = ? AND state = 'pending' ORDER BY id DESC LIMIT 1",
        )
        .bind(wiki_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Ends a pending transfer as `state` (`declined`, `cancelled`); `Ok(false)` if it is not
    /// pending any more.
    pub async fn close_transfer(&mut self, id: i64, state: &'static str) -> Result<bool, FarmError> {
        let done =
            sqlx::query("UPDATE wiki_transfers SET state = ?, decided_at = ? WHERE id = ? AND state = 'pending'")
                .bind(state)
                .bind(now())
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Accepts a pending transfer: the wiki's owner becomes the recipient, if the wiki is still
    /// the offerer's and live. `Ok(false)`: nothing changed.
    pub async fn accept_transfer(&mut self, transfer: &TransferRecord) -> Result<bool, FarmError> {
        if !self.close_transfer(transfer.id, "accepted").await? {
            return Ok(false);
        }
        let moved = sqlx::query(
            "UPDATE wikis SET owner = ?, updated_at = ? WHERE id = ? AND owner = ? \
             AND state IN ('active', 'locked', 'trashed')",
        )
        .bind(&transfer.to_owner)
        .bind(now())
        .bind(transfer.wiki_id)
        .bind(&transfer.from_owner)
        .execute(&mut *self.tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        // The new owner needs no manager row of their own.
        self.remove_manager(transfer.wiki_id, &transfer.to_owner).await?;
        // The old owner stops being the wiki's administrator (the rights job), and who that is
        // must be on record if no run has named the farm's administrators yet.
        let old_owner = crate::domain::Username::parse(&transfer.from_owner)?.mediawiki_name();
        sqlx::query("UPDATE wikis SET rights_synced = COALESCE(rights_synced, ?) WHERE id = ?")
            .bind(old_owner)
            .bind(transfer.wiki_id)
            .execute(&mut *self.tx)
            .await?;
        self.want_rights_sync(transfer.wiki_id).await?;
        Ok(true)
    }
}
