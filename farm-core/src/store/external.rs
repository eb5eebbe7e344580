//! Logins through identity providers: the links from a provider's subject to an account, and
//! the logins under way (single-use, short-lived rows; see the migration 0017).

use super::accounts::ACCOUNT_COLUMNS;
use super::{is_unique_violation, now, AccountRecord, Store, Tx};
use crate::error::FarmError;

/// A login under way, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExternalLoginRecord {
    pub id_hash: String,
    pub purpose: String,
    pub provider: String,
    pub presession_hash: String,
    /// Sealed JSON.
    pub payload: String,
    pub expires_at: i64,
}

const LOGIN_COLUMNS: &str = "id_hash, purpose, provider, presession_hash, payload, expires_at";

impl Store {
    /// The account a provider's subject is linked to.
    pub async fn account_by_identity(&self, provider: &str, subject: &str) -> Result<Option<AccountRecord>, FarmError> {
        let columns = ACCOUNT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns} FROM accounts a JOIN external_identities e ON e.account_id = a.id \
             WHERE e.provider = ? AND e.subject = ?"
        );
        Ok(sqlx::query_as(&sql).bind(provider).bind(subject).fetch_optional(&self.write).await?)
    }

    /// A login under way that has not expired (read, not used up).
    pub async fn external_login(&self, id_hash: &str, purpose: &str) -> Result<Option<ExternalLoginRecord>, FarmError> {
        let sql =
            format!("SELECT {LOGIN_COLUMNS} FROM external_logins WHERE id_hash = ? AND purpose = ? AND expires_at > ?");
        Ok(sqlx::query_as(&sql).bind(id_hash).bind(purpose).bind(now()).fetch_optional(&self.write).await?)
    }

    /// Forgets logins under way that expired.
    pub async fn prune_external_logins(&self) -> Result<(), FarmError> {
        sqlx::query("DELETE FROM external_logins WHERE expires_at <= ?").bind(now()).execute(&self.write).await?;
        Ok(())
    }
}

impl Tx {
    pub async fn insert_external_login(
        &mut self,
        id_hash: &str,
        purpose: &str,
        provider: &str,
        presession_hash: &str,
        payload: &str,
        expires_at: i64,
    ) -> Result<(), FarmError> {
        sqlx::query(
            "INSERT INTO external_logins (id_hash, purpose, provider, presession_hash, payload, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(purpose)
        .bind(provider)
        .bind(presession_hash)
        .bind(payload)
        .bind(now())
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Uses up a login under way: the row is deleted whatever it says, so it works once. An
    /// expired row is deleted too, and is not returned.
    pub async fn take_external_login(
        &mut self,
        id_hash: &str,
        purpose: &str,
    ) -> Result<Option<ExternalLoginRecord>, FarmError> {
        let sql = format!("SELECT {LOGIN_COLUMNS} FROM external_logins WHERE id_hash = ? AND purpose = ?");
        let row: Option<ExternalLoginRecord> =
            sqlx::query_as(&sql).bind(id_hash).bind(purpose).fetch_optional(&mut *self.tx).await?;
        let Some(row) = row else { return Ok(None) };
        let deleted =
            sqlx::query("DELETE FROM external_logins WHERE id_hash = ?").bind(id_hash).execute(&mut *self.tx).await?;
        if deleted.rows_affected() != 1 || row.expires_at <= now() {
            return Ok(None);
        }
        Ok(Some(row))
    }

    /// Links a provider's subject to an account; `false` if the subject is linked already.
    pub async fn link_identity(&mut self, provider: &str, subject: &str, account_id: i64) -> Result<bool, FarmError> {
        let now = now();
        let inserted = sqlx::query(
            "INSERT INTO external_identities (provider, subject, account_id, created_at, last_login_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(provider)
        .bind(subject)
        .bind(account_id)
        .bind(now)
        .bind(now)
        .execute(&mut *self.tx)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn touch_identity(&mut self, provider: &str, subject: &str) -> Result<(), FarmError> {
        sqlx::query("UPDATE external_identities SET last_login_at = ? WHERE provider = ? AND subject = ?")
            .bind(now())
            .bind(provider)
            .bind(subject)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
