//! The mail outbox: written inside the transaction of the change it reports, so no mail can
//! be lost or invented by a crash; sent in the background ([`crate::jobs::outbox`]).

use super::{now, Store, Tx};
use crate::error::FarmError;

/// A message for the outbox. Its body holds links that grant access, so it is sealed
/// ([`crate::platform::secrets::Sealer`]) before it gets here.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub kind: &'static str,
    pub recipient: String,
    pub subject: String,
    pub body_sealed: String,
}

#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// Sealed, unless an older farmd queued it.
    pub body: String,
    pub sealed: bool,
    pub attempts: i64,
    pub created_at: i64,
}

impl Tx {
    pub async fn enqueue_mail(&mut self, mail: &OutgoingMail) -> Result<(), FarmError> {
        let now = now();
        sqlx::query(
            "INSERT INTO outbox (kind, recipient, subject, body, sealed, created_at, attempts, next_attempt_at) \
             VALUES (?, ?, ?, ?, 1, ?, 0, ?)",
        )
        .bind(mail.kind)
        .bind(&mail.recipient)
        .bind(&mail.subject)
        .bind(&mail.body_sealed)
        .bind(now)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Unsent mail whose time has come, oldest first.
    pub async fn due_mail(&self, limit: u32) -> Result<Vec<QueuedMail>, FarmError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            kind: String,
            recipient: String,
            subject: String,
            body: String,
            sealed: i64,
            attempts: i64,
            created_at: i64,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, recipient, subject, body, sealed, attempts, created_at FROM outbox \
             WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        )
        .bind(now())
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| QueuedMail {
                id: row.id,
                kind: row.kind,
                recipient: row.recipient,
                subject: row.subject,
                body: row.body,
                sealed: row.sealed != 0,
                attempts: row.attempts,
                created_at: row.created_at,
            })
            .collect())
    }

    /// Bodies an older farmd stored unsealed: (id, body).
    pub async fn plain_mail(&self) -> Result<Vec<(i64, String)>, FarmError> {
        Ok(sqlx::query_as("SELECT id, body FROM outbox WHERE sealed = 0").fetch_all(&self.write).await?)
    }

    pub async fn seal_mail_body(&self, id: i64, body_sealed: &str) -> Result<(), FarmError> {
        sqlx::query("UPDATE outbox SET body = ?, sealed = 1 WHERE id = ? AND sealed = 0")
            .bind(body_sealed)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn mark_mail_sent(&self, id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE outbox SET sent_at = ?, last_error = NULL WHERE id = ?")
            .bind(now())
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn retry_mail(&self, id: i64, attempts: i64, retry_at: i64, error: &str) -> Result<(), FarmError> {
        sqlx::query("UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?")
            .bind(attempts)
            .bind(retry_at)
            .bind(error)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Mail not yet sent (for `/healthz` and metrics).
    pub async fn unsent_mail_count(&self) -> Result<i64, FarmError> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetch_one(&self.read).await?;
        Ok(count)
    }

    /// Forgets mail sent more than `keep` seconds ago.
    pub async fn prune_sent_mail(&self, keep: i64) -> Result<(), FarmError> {
        sqlx::query("DELETE FROM outbox WHERE sent_at < ?").bind(now() - keep).execute(&self.write).await?;
        Ok(())
    }

    /// After a restart: every queued message is due now.
    pub async fn retry_all_mail_now(&self) -> Result<(), FarmError> {
        sqlx::query("UPDATE outbox SET next_attempt_at = ? WHERE sent_at IS NULL")
            .bind(now())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
