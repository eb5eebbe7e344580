//! The audit log: written inside the transaction of the change it records, so no entry can
//! be lost or invented by a crash.

use super::{now, Store, Tx};
use crate::error::FarmError;

/// One state-changing action: who, what, to which target, from where.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// A user name, or `system` for the daemon's own actions (sandbox expiry).
    pub actor: String,
    pub action: &'static str,
    /// What was acted on, as `kind:id` (`wiki:my-wiki`, `account:alice`, `request:12`).
    pub target: String,
    /// The client's address, when a client asked.
    pub source: Option<String>,
    pub details: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source: Option<String>,
    pub details: Option<String>,
}

#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Newest first: only entries with a smaller id.
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Tx {
    pub async fn audit(&mut self, entry: &AuditEntry) -> Result<(), FarmError> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, source, details) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(now())
            .bind(&entry.actor)
            .bind(entry.action)
            .bind(&entry.target)
            .bind(entry.source.as_deref())
            .bind(entry.details.as_deref())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Audit entries, newest first, filtered.
    pub async fn audit_entries(&self, filter: &AuditFilter<'_>) -> Result<Vec<AuditRecord>, FarmError> {
        let mut sql = String::from("SELECT id, at, actor, action, target, source, details FROM audit_log WHERE id < ?");
        for (present, clause) in [
            (filter.actor.is_some(), " AND actor = ?"),
            (filter.action.is_some(), " AND action = ?"),
            (filter.target.is_some(), " AND target = ?"),
            (filter.since.is_some(), " AND at >= ?"),
            (filter.until.is_some(), " AND at < ?"),
        ] {
            if present {
                sql.push_str(clause);
            }
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let mut query = sqlx::query_as(&sql).bind(filter.before_id.unwrap_or(i64::MAX));
        for value in [filter.actor, filter.action, filter.target].into_iter().flatten() {
            query = query.bind(value);
        }
        for value in [filter.since, filter.until].into_iter().flatten() {
            query = query.bind(value);
        }
        Ok(query.bind(i64::from(filter.limit)).fetch_all(&self.read).await?)
    }
}
