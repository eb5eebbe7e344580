//! Accounts, sessions (issued tokens) and one-time mail tokens.

use super::{is_unique_violation, now, Store, Tx};
use crate::domain::Role;
use crate::error::FarmError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRecord {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub email_confirmed_at: Option<i64>,
    pub created_at: i64,
    /// Set while an admin has the account locked: no login, no session.
    pub locked_at: Option<i64>,
}

pub(super) const ACCOUNT_COLUMNS: &str =
    "id, username, email, password_hash, role, email_confirmed_at, created_at, locked_at";

/// A live portal session as the wikis' sign-on sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PortalSessionRecord {
    pub id: String,
    pub username: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub expires_at: i64,
}

/// A session with the account it belongs to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub kind: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub account: AccountRecord,
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: &'a str,
    pub email_key: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: &'a str,
    pub confirmed: bool,
}

impl Store {
    pub async fn account_by_username_key(&self, key: &str) -> Result<Option<AccountRecord>, FarmError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username_key = ?");
        Ok(sqlx::query_as(&sql).bind(key).fetch_optional(&self.write).await?)
    }

    pub async fn account_by_email_key(&self, key: &str) -> Result<Option<AccountRecord>, FarmError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_key = ?");
        Ok(sqlx::query_as(&sql).bind(key).fetch_optional(&self.write).await?)
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<AccountRecord>, FarmError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    /// Accounts in id order (admins' list).
    pub async fn list_accounts(&self, after_id: i64, limit: u32) -> Result<Vec<AccountRecord>, FarmError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ? ORDER BY id LIMIT ?");
        Ok(sqlx::query_as(&sql).bind(after_id).bind(i64::from(limit)).fetch_all(&self.read).await?)
    }

    /// The session `id` with its account. Read from the writer so a logout is seen at once.
    pub async fn session(&self, id: &str) -> Result<Option<SessionRecord>, FarmError> {
        let row: Option<(String, String, i64, i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT id, kind, created_at, expires_at, revoked_at, account_id FROM sessions WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.write)
        .await?;
        let Some((id, kind, created_at, expires_at, revoked_at, account_id)) = row else { return Ok(None) };
        let Some(account) = self.account_by_id(account_id).await? else { return Ok(None) };
        Ok(Some(SessionRecord { id, kind, created_at, expires_at, revoked_at, account }))
    }

    /// An account's live sessions: (id, kind, created_at, expires_at).
    pub async fn live_sessions(&self, account_id: i64) -> Result<Vec<(String, String, i64, i64)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT id, kind, created_at, expires_at FROM sessions WHERE account_id = ? AND revoked_at IS NULL \
             AND expires_at > ? ORDER BY created_at, id",
        )
        .bind(account_id)
        .bind(now())
        .fetch_all(&self.read)
        .await?)
    }

    /// The ids of every session of an account that has not been pruned, live or ended (whose
    /// sign-on files must go when the account's sessions end).
    pub async fn session_ids(&self, account_id: i64) -> Result<Vec<String>, FarmError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM sessions WHERE account_id = ?")
            .bind(account_id)
            .fetch_all(&self.write)
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Every live portal session of an unlocked account.
    pub async fn live_portal_sessions(&self) -> Result<Vec<PortalSessionRecord>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT s.id, a.username, a.role, s.expires_at FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.kind = 'portal' AND s.revoked_at IS NULL AND s.expires_at > ? AND a.locked_at IS NULL",
        )
        .bind(now())
        .fetch_all(&self.write)
        .await?)
    }

    /// Forgets sessions and mail tokens that ended more than `keep` seconds ago.
    pub async fn prune_sessions(&self, keep: i64) -> Result<(), FarmError> {
        let cutoff = now() - keep;
        sqlx::query("DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?")
            .bind(cutoff)
            .bind(cutoff)
            .execute(&self.write)
            .await?;
        sqlx::query("DELETE FROM account_tokens WHERE expires_at < ?").bind(cutoff).execute(&self.write).await?;
        self.prune_external_logins().await
    }
}

impl Tx {
    /// An account, read inside the transaction (on SQLite the transaction holds the only
    /// writer connection: never read through the store while one is open).
    pub async fn account(&mut self, id: i64) -> Result<Option<AccountRecord>, FarmError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *self.tx).await?)
    }

    /// Inserts an account; a taken user name or address is a [`FarmError::Taken`].
    pub async fn insert_account(&mut self, new: &NewAccount<'_>) -> Result<i64, FarmError> {
        let now = now();
        let inserted = sqlx::query(
            "INSERT INTO accounts (username, username_key, email, email_key, password_hash, role, \
             email_confirmed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.username)
        .bind(new.username_key)
        .bind(new.email)
        .bind(new.email_key)
        .bind(new.password_hash)
        .bind(new.role)
        .bind(new.confirmed.then_some(now))
        .bind(now)
        .bind(now)
        .execute(&mut *self.tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                let username_taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM accounts WHERE username_key = ?")
                    .bind(new.username_key)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                return Err(if username_taken.is_some() {
                    FarmError::Taken {
                        field: "username",
                        code: "username_taken",
                        message: "that user name is taken".into(),
                    }
                } else {
                    FarmError::Taken {
                        field: "email",
                        code: "email_taken",
                        message: "an account with that email address exists; log in or reset its password".into(),
                    }
                });
            }
            Err(e) => return Err(e.into()),
        }
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM accounts WHERE username_key = ?")
            .bind(new.username_key)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(id)
    }

    pub async fn insert_session(
        &mut self,
        id: &str,
        account_id: i64,
        kind: &str,
        expires_at: i64,
    ) -> Result<(), FarmError> {
        sqlx::query("INSERT INTO sessions (id, account_id, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(account_id)
            .bind(kind)
            .bind(now())
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Revokes one session of `account_id`. Returns whether a live one was revoked.
    pub async fn revoke_session(&mut self, id: &str, account_id: i64) -> Result<bool, FarmError> {
        let result =
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL")
                .bind(now())
                .bind(id)
                .bind(account_id)
                .execute(&mut *self.tx)
                .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Locks or unlocks an account; returns whether that changed anything.
    pub async fn set_locked(&mut self, account_id: i64, locked: bool) -> Result<bool, FarmError> {
        let result = if locked {
            sqlx::query("UPDATE accounts SET locked_at = ? WHERE id = ? AND locked_at IS NULL").bind(now())
        } else {
            sqlx::query("UPDATE accounts SET locked_at = NULL WHERE id = ? AND locked_at IS NOT NULL")
        }
        .bind(account_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn revoke_all_sessions(&mut self, account_id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL")
            .bind(now())
            .bind(account_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_account_token(
        &mut self,
        token_hash: &str,
        account_id: i64,
        purpose: &str,
        expires_at: i64,
    ) -> Result<(), FarmError> {
        sqlx::query(
            "INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(purpose)
        .bind(now())
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Spends a one-time token: the account it was made for, once, before it expires.
    pub async fn use_account_token(&mut self, token_hash: &str, purpose: &str) -> Result<Option<i64>, FarmError> {
        let now = now();
        let spent = sqlx::query(
            "UPDATE account_tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL \
             AND expires_at > ?",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(None);
        }
        let (account_id,): (i64,) = sqlx::query_as("SELECT account_id FROM account_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(Some(account_id))
    }

    pub async fn confirm_email(&mut self, account_id: i64) -> Result<(), FarmError> {
        let now = now();
        sqlx::query(
            "UPDATE accounts SET email_confirmed_at = COALESCE(email_confirmed_at, ?), updated_at = ? WHERE id = ?",
        )
        .bind(now)
        .bind(now)
        .bind(account_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn set_password_hash(&mut self, account_id: i64, hash: &str) -> Result<(), FarmError> {
        sqlx::query("UPDATE accounts SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(hash)
            .bind(now())
            .bind(account_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_role(&mut self, account_id: i64, role: Role) -> Result<(), FarmError> {
        sqlx::query("UPDATE accounts SET role = ?, updated_at = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(now())
            .bind(account_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Serialises changes to one account's holdings (quota checks) on MariaDB; SQLite has a
    /// single writer already.
    pub async fn lock_account(&mut self, account_id: i64) -> Result<(), FarmError> {
        if self.dialect == super::Dialect::Mysql {
            sqlx::query("SELECT id FROM accounts WHERE id = ? FOR UPDATE")
                .bind(account_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// What `owner` holds against the quota: live wikis plus open requests.
    pub async fn holdings(&mut self, owner: &str) -> Result<i64, FarmError> {
        let (wikis,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM wikis WHERE owner = ? AND state IN ('provisioning', 'active', 'locked')",
        )
        .bind(owner)
        .fetch_one(&mut *self.tx)
        .await?;
        let (requests,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM wiki_requests WHERE requester = ? AND state IN ('pending', 'needs-more-info')",
        )
        .bind(owner)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(wikis + requests)
    }
}
