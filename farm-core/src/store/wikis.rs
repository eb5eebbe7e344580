//! The wikis table: the registry itself, and the guarded state changes of each wiki.

use super::pool::PoolSlot;
use super::{flag, is_unique_violation, now, unknown, Store, Tx};
use crate::domain::{Backend, ResourceKey, Sitename, Username, WikiName, WikiState};
use crate::error::FarmError;

/// A wiki as the registry records it, decoded: every value checked on the way out as it was
/// on the way in.
#[derive(Debug, Clone)]
pub struct WikiRecord {
    pub id: i64,
    pub name: WikiName,
    pub key: ResourceKey,
    pub sitename: Sitename,
    /// Checked against the codebase's languages where it is used ([`crate::domain::Languages`]).
    pub language: String,
    pub owner: Username,
    pub backend: Backend,
    pub state: WikiState,
    pub failure: Option<String>,
    pub owner_password_hash: Option<String>,
    pub db_server: Option<String>,
    pub db_password_sealed: Option<String>,
    /// Its database came from the warm pool.
    pub pooled: bool,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub activated_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// Sandbox wikis: when they lock (read-only); `None` for permanent wikis.
    pub expires_at: Option<i64>,
    pub expiry_warnings_sent: i64,
    /// Mail the owner when the wiki is ready (single creations and approved requests).
    pub notify_owner: bool,
    /// The current settings revision (0: none yet) and the one its shard has.
    pub settings_revision: i64,
    pub applied_revision: i64,
    /// Extensions whose tables its database has.
    pub schema_extensions: Vec<String>,
    pub private: bool,
    /// In the trash: the state it comes back to, and when it is purged.
    pub trashed_from: Option<WikiState>,
    pub purge_after: Option<i64>,
    /// Created from an archive whose content the pipeline has not loaded yet.
    pub import_pending: bool,
    /// The starter it began with (`None`: made from an archive, or before starters).
    pub starter: Option<String>,
    /// The codebase it runs on (`[[codebases]]` name).
    pub codebase: String,
}

/// A row as the driver reads it (the `Any` driver knows no booleans or enums).
#[derive(sqlx::FromRow)]
struct WikiRow {
    id: i64,
    label: String,
    resource_key: String,
    sitename: String,
    language: String,
    owner: String,
    backend: String,
    state: String,
    failure: Option<String>,
    owner_password_hash: Option<String>,
    db_server: Option<String>,
    db_password_sealed: Option<String>,
    pooled: i64,
    attempts: i64,
    created_at: i64,
    updated_at: i64,
    activated_at: Option<i64>,
    deleted_at: Option<i64>,
    expires_at: Option<i64>,
    expiry_warnings_sent: i64,
    notify_owner: i64,
    settings_revision: i64,
    applied_revision: i64,
    schema_extensions: String,
    private: i64,
    trashed_from: Option<String>,
    purge_after: Option<i64>,
    import_pending: i64,
    starter: Option<String>,
    codebase: String,
}

impl TryFrom<WikiRow> for WikiRecord {
    type Error = FarmError;

    fn try_from(row: WikiRow) -> Result<Self, FarmError> {
        Ok(Self {
            id: row.id,
            name: WikiName::parse(&row.label).map_err(|_| unknown("wiki name", &row.label))?,
            key: ResourceKey::parse(&row.resource_key).ok_or_else(|| unknown("resource key", &row.resource_key))?,
            sitename: Sitename::parse(&row.sitename).map_err(|_| unknown("sitename", &row.sitename))?,
            language: row.language,
            owner: Username::parse(&row.owner).map_err(|_| unknown("owner", &row.owner))?,
            backend: Backend::parse(&row.backend).ok_or_else(|| unknown("backend", &row.backend))?,
            state: WikiState::parse(&row.state).ok_or_else(|| unknown("wiki state", &row.state))?,
            failure: row.failure,
            owner_password_hash: row.owner_password_hash,
            db_server: row.db_server,
            db_password_sealed: row.db_password_sealed,
            pooled: flag("pooled", row.pooled)?,
            attempts: row.attempts,
            created_at: row.created_at,
            updated_at: row.updated_at,
            activated_at: row.activated_at,
            deleted_at: row.deleted_at,
            expires_at: row.expires_at,
            expiry_warnings_sent: row.expiry_warnings_sent,
            notify_owner: flag("notify_owner", row.notify_owner)?,
            settings_revision: row.settings_revision,
            applied_revision: row.applied_revision,
            schema_extensions: serde_json::from_str(&row.schema_extensions)
                .map_err(|_| unknown("schema_extensions", &row.schema_extensions))?,
            private: flag("private", row.private)?,
            trashed_from: row
                .trashed_from
                .map(|s| WikiState::parse(&s).ok_or_else(|| unknown("trashed_from", &s)))
                .transpose()?,
            purge_after: row.purge_after,
            import_pending: flag("import_pending", row.import_pending)?,
            starter: row.starter,
            codebase: row.codebase,
        })
    }
}

fn decode_one(row: Option<WikiRow>) -> Result<Option<WikiRecord>, FarmError> {
    row.map(WikiRecord::try_from).transpose()
}

fn decode_all(rows: Vec<WikiRow>) -> Result<Vec<WikiRecord>, FarmError> {
    rows.into_iter().map(WikiRecord::try_from).collect()
}

const WIKI_COLUMNS: &str = "id, label, resource_key, sitename, language, owner, backend, state, failure, \
     owner_password_hash, db_server, db_password_sealed, pooled, attempts, created_at, updated_at, activated_at, deleted_at, \
     expires_at, expiry_warnings_sent, notify_owner, settings_revision, applied_revision, schema_extensions, private, \
     trashed_from, purge_after, import_pending, starter, codebase";

#[derive(Clone, Copy)]
pub struct NewWiki<'a> {
    pub name: &'a str,
    pub resource_key: &'a str,
    pub sitename: &'a str,
    pub language: &'a str,
    pub owner: &'a str,
    pub backend: &'a str,
    pub owner_password_hash: &'a str,
    pub db_server: Option<&'a str>,
    pub db_password_sealed: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub notify_owner: bool,
    /// Revision 1 of its settings, as [`crate::domain::settings::Configuration`] JSON.
    pub configuration: &'a str,
    pub private: bool,
    /// JSON list of the extensions whose tables its database will have (the template's).
    pub schema_extensions: &'a str,
    /// Its content comes from an archive in `data/imports/{key}/`.
    pub import_pending: bool,
    /// The starter whose pages it begins with.
    pub starter: Option<&'a str>,
    /// The codebase it is made on: the current one.
    pub codebase: &'a str,
}

async fn insert_wiki_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewWiki<'_>,
    pooled: bool,
) -> Result<(), FarmError> {
    let now = now();
    // The old name of a renamed wiki stays taken while it redirects.
    let redirect: Option<(i64,)> = sqlx::query_as("SELECT wiki_id FROM wiki_redirects WHERE name = ? AND until > ?")
        .bind(new.name)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
    if redirect.is_some() {
        return Err(FarmError::NameTaken(new.name.to_owned()));
    }
    let inserted = sqlx::query(
        "INSERT INTO wikis (name, label, resource_key, sitename, language, owner, backend, state, \
         owner_password_hash, db_server, db_password_sealed, pooled, attempts, next_attempt_at, created_at, updated_at, \
         expires_at, notify_owner, settings_revision, schema_extensions, private, import_pending, starter, codebase) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
    )
    .bind(new.name)
    .bind(new.name)
    .bind(new.resource_key)
    .bind(new.sitename)
    .bind(new.language)
    .bind(new.owner)
    .bind(new.backend)
    .bind(WikiState::Provisioning.as_str())
    .bind(new.owner_password_hash)
    .bind(new.db_server)
    .bind(new.db_password_sealed)
    .bind(i64::from(pooled))
    .bind(now)
    .bind(now)
    .bind(new.expires_at)
    .bind(i64::from(new.notify_owner))
    .bind(new.schema_extensions)
    .bind(i64::from(new.private))
    .bind(i64::from(new.import_pending))
    .bind(new.starter)
    .bind(new.codebase)
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(FarmError::NameTaken(new.name.to_owned())),
        Err(e) => return Err(e.into()),
    }
    // Revision 1 of its settings: what it was created with.
    sqlx::query(
        "INSERT INTO wiki_settings (wiki_id, revision, actor, created_at, configuration, changes) \
         SELECT id, 1, owner, ?, ?, ? FROM wikis WHERE resource_key = ?",
    )
    .bind(now)
    .bind(new.configuration)
    .bind(super::settings::NO_CHANGES)
    .bind(new.resource_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct WikiFilter<'a> {
    pub owner: Option<&'a str>,
    /// With `owner`: also the wikis that account manages.
    pub or_managed: bool,
    pub state: Option<WikiState>,
    /// Keyset pagination: only wikis with a larger id.
    pub after_id: Option<i64>,
    pub limit: u32,
    /// Leave out private wikis (the public directory).
    pub public_only: bool,
}

impl Store {
    pub async fn inserted(&self, key: &str) -> Result<WikiRecord, FarmError> {
        self.wiki_by_key(key).await?.ok_or_else(|| FarmError::Internal(anyhow::anyhow!("inserted wiki vanished")))
    }

    /// Registers `count` placeholder wikis named `{prefix}-{n}` (state `active`, no resources
    /// behind them), for measuring the registry at scale. Never used by the farm itself.
    pub async fn seed_placeholder_wikis(&self, prefix: &str, count: u64) -> Result<(), FarmError> {
        const BATCH: u64 = 500;
        let now = now();
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let mut sql = String::from(
                "INSERT INTO wikis (name, label, resource_key, sitename, language, owner, backend, state, \
                 attempts, next_attempt_at, created_at, updated_at, activated_at) VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?, 'en', ?, 'sqlite', 'active', 0, 0, ?, ?, ?)"; n as usize].join(", "));
            let mut query = sqlx::query(&sql);
            for i in done..done + n {
                let name = format!("{prefix}-{i}");
                query = query
                    .bind(name.clone())
                    .bind(name)
                    .bind(ResourceKey::generate().as_str().to_owned())
                    .bind(format!("Placeholder {i}"))
                    .bind(format!("owner{}", i % 1000))
                    .bind(now)
                    .bind(now)
                    .bind(now);
            }
            query.execute(&self.write).await?;
            done += n;
        }
        Ok(())
    }

    /// The wiki that holds `name` now (live, failed, or deleted within the retention window).
    /// Wikis matching `condition` (fixed SQL from this module's callers, never user text), by id.
    pub(super) async fn wikis_where(&self, condition: &'static str, limit: u32) -> Result<Vec<WikiRecord>, FarmError> {
        let sql = format!("SELECT {WIKI_COLUMNS} FROM wikis WHERE {condition} ORDER BY id LIMIT ?");
        decode_all(sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(&self.read).await?)
    }

    pub async fn wiki_by_name(&self, name: &str) -> Result<Option<WikiRecord>, FarmError> {
        let sql = format!("SELECT {WIKI_COLUMNS} FROM wikis WHERE name = ?");
        decode_one(sqlx::query_as(&sql).bind(name).fetch_optional(&self.read).await?)
    }

    async fn wiki_by_key(&self, key: &str) -> Result<Option<WikiRecord>, FarmError> {
        let sql = format!("SELECT {WIKI_COLUMNS} FROM wikis WHERE resource_key = ?");
        // Read from the writer: the caller has just written this row.
        decode_one(sqlx::query_as(&sql).bind(key).fetch_optional(&self.write).await?)
    }

    pub async fn wiki_by_id(&self, id: i64) -> Result<Option<WikiRecord>, FarmError> {
        let sql = format!("SELECT {WIKI_COLUMNS} FROM wikis WHERE id = ?");
        decode_one(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    /// Wikis in id order, filtered. Deleted wikis are listed only when asked for by state.
    pub async fn list_wikis(&self, filter: &WikiFilter<'_>) -> Result<Vec<WikiRecord>, FarmError> {
        let mut sql = format!("SELECT {WIKI_COLUMNS} FROM wikis WHERE id > ?");
        match filter.owner {
            Some(_) if filter.or_managed => {
                sql.push_str(" AND (owner = ? OR id IN (SELECT wiki_id FROM wiki_managers WHERE username = ?))")
            }
            Some(_) => sql.push_str(" AND owner = ?"),
            None => {}
        }
        if filter.state.is_some() {
            sql.push_str(" AND state = ?");
        } else {
            sql.push_str(" AND state <> 'deleted'");
        }
        if filter.public_only {
            sql.push_str(" AND private = 0");
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        let mut query = sqlx::query_as(&sql).bind(filter.after_id.unwrap_or(0));
        if let Some(owner) = filter.owner {
            query = query.bind(owner);
            if filter.or_managed {
                query = query.bind(owner);
            }
        }
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        decode_all(query.bind(i64::from(filter.limit)).fetch_all(&self.read).await?)
    }

    /// Wikis that the pipeline has work for and whose retry time has come.
    pub async fn due_work(&self, limit: u32) -> Result<Vec<WikiRecord>, FarmError> {
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM wikis WHERE state IN ('provisioning', 'deleting') \
             AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?"
        );
        decode_all(sqlx::query_as(&sql).bind(now()).bind(i64::from(limit)).fetch_all(&self.write).await?)
    }

    /// The earliest retry time among pending work, if any.
    pub async fn next_due_at(&self) -> Result<Option<i64>, FarmError> {
        let row: (Option<i64>,) =
            sqlx::query_as("SELECT MIN(next_attempt_at) FROM wikis WHERE state IN ('provisioning', 'deleting')")
                .fetch_one(&self.write)
                .await?;
        Ok(row.0)
    }

    /// The owner account exists in the wiki's database: forget the password hash.
    pub async fn clear_owner_password_hash(&self, wiki_id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET owner_password_hash = NULL WHERE id = ?")
            .bind(wiki_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub async fn schedule_retry(
        &self,
        wiki_id: i64,
        attempts: i64,
        retry_at: i64,
        error: &str,
    ) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET attempts = ?, next_attempt_at = ?, failure = ?, updated_at = ? WHERE id = ?")
            .bind(attempts)
            .bind(retry_at)
            .bind(error)
            .bind(now())
            .bind(wiki_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Wikis per state (for metrics).
    pub async fn wiki_counts_by_state(&self) -> Result<Vec<(String, i64)>, FarmError> {
        Ok(sqlx::query_as("SELECT state, COUNT(*) FROM wikis GROUP BY state").fetch_all(&self.read).await?)
    }

    /// Live wikis per database server (for placement and the servers view).
    pub async fn wiki_counts_by_server(&self) -> Result<Vec<(String, i64)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT db_server, COUNT(*) FROM wikis WHERE db_server IS NOT NULL \
             AND state IN ('provisioning', 'active', 'locked', 'deleting') GROUP BY db_server",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// The wiki whose resources carry `key`, if any.
    pub async fn wiki_by_resource_key(&self, key: &str) -> Result<Option<WikiRecord>, FarmError> {
        self.wiki_by_key(key).await
    }

    /// Sandbox wikis that need the lifecycle task: live, expiring before `horizon`.
    pub async fn expiring_wikis(&self, horizon: i64, limit: u32) -> Result<Vec<WikiRecord>, FarmError> {
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM wikis WHERE expires_at IS NOT NULL AND expires_at <= ? \
             AND state IN ('active', 'locked') ORDER BY expires_at, id LIMIT ?"
        );
        decode_all(sqlx::query_as(&sql).bind(horizon).bind(i64::from(limit)).fetch_all(&self.write).await?)
    }

    /// Wikis whose read-only marker does not match their state: (wiki, lock wanted).
    pub async fn lock_mismatches(&self, limit: u32) -> Result<Vec<WikiRecord>, FarmError> {
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM wikis WHERE (state = 'locked' AND lock_applied = 0) \
             OR (state = 'active' AND lock_applied = 1) ORDER BY id LIMIT ?"
        );
        decode_all(sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(&self.write).await?)
    }

    pub async fn set_lock_applied(&self, wiki_id: i64, applied: bool, state: WikiState) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET lock_applied = ? WHERE id = ? AND state = ?")
            .bind(i64::from(applied))
            .bind(wiki_id)
            .bind(state.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

impl Tx {
    /// After a teardown: `provisioning` → `failed` (with the reason), or `deleting` →
    /// `deleted`. A wiki that never went live gives its name back at once.
    pub async fn finish_teardown(
        &mut self,
        wiki_id: i64,
        from: WikiState,
        failure: Option<&str>,
    ) -> Result<bool, FarmError> {
        let now = now();
        let result = match from {
            WikiState::Provisioning => {
                sqlx::query(
                    "UPDATE wikis SET state = 'failed', failure = ?, owner_password_hash = NULL, updated_at = ? \
                     WHERE id = ? AND state = 'provisioning'",
                )
                .bind(failure)
                .bind(now)
                .bind(wiki_id)
                .execute(&mut *self.tx)
                .await?
            }
            WikiState::Deleting => {
                sqlx::query(
                    "UPDATE wikis SET state = 'deleted', failure = ?, owner_password_hash = NULL, updated_at = ?, \
                     deleted_at = ?, lock_applied = 0, name = CASE WHEN activated_at IS NULL THEN NULL ELSE name END \
                     WHERE id = ? AND state = 'deleting'",
                )
                .bind(failure)
                .bind(now)
                .bind(now)
                .bind(wiki_id)
                .execute(&mut *self.tx)
                .await?
            }
            other => return Err(FarmError::Internal(anyhow::anyhow!("no teardown from state {}", other.as_str()))),
        };
        sqlx::query("DELETE FROM wiki_steps WHERE wiki_id = ?").bind(wiki_id).execute(&mut *self.tx).await?;
        if from == WikiState::Deleting {
            self.remove_all_managers(wiki_id).await?;
        }
        Ok(result.rows_affected() == 1)
    }

    /// Frees the names of wikis deleted before `cutoff`; returns the names freed.
    pub async fn release_names_deleted_before(&mut self, cutoff: i64) -> Result<Vec<String>, FarmError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, label FROM wikis WHERE state = 'deleted' AND name IS NOT NULL AND deleted_at < ? ORDER BY id",
        )
        .bind(cutoff)
        .fetch_all(&mut *self.tx)
        .await?;
        for (id, _) in &rows {
            sqlx::query("UPDATE wikis SET name = NULL WHERE id = ? AND state = 'deleted'")
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(rows.into_iter().map(|(_, label)| label).collect())
    }

    /// Moves a wiki that is still being built to another server, remembering that its first
    /// server may hold a partial database to drop later.
    pub async fn move_to_server(&mut self, wiki_id: i64, key: &str, from: &str, to: &str) -> Result<bool, FarmError> {
        let moved = sqlx::query(
            "UPDATE wikis SET db_server = ?, updated_at = ? WHERE id = ? AND db_server = ? AND state = 'provisioning'",
        )
        .bind(to)
        .bind(now())
        .bind(wiki_id)
        .bind(from)
        .execute(&mut *self.tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO db_cleanups (db_server, resource_key, created_at) VALUES (?, ?, ?)")
            .bind(from)
            .bind(key)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }
    pub async fn wiki_id_by_key(&mut self, key: &str) -> Result<i64, FarmError> {
        let (id,): (i64,) =
            sqlx::query_as("SELECT id FROM wikis WHERE resource_key = ?").bind(key).fetch_one(&mut *self.tx).await?;
        Ok(id)
    }

    /// `provisioning` → `active`, only if nobody changed the state meanwhile.
    pub async fn activate(&mut self, wiki_id: i64) -> Result<bool, FarmError> {
        let now = now();
        let result = sqlx::query(
            "UPDATE wikis SET state = 'active', owner_password_hash = NULL, failure = NULL, attempts = 0, \
             activated_at = ?, updated_at = ? WHERE id = ? AND state = 'provisioning'",
        )
        .bind(now)
        .bind(now)
        .bind(wiki_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn insert_wiki(&mut self, new: NewWiki<'_>) -> Result<(), FarmError> {
        insert_wiki_row(&mut self.tx, &new, false).await
    }

    /// Like [`Tx::insert_wiki`], but the wiki takes a ready database from the pool that
    /// matches `pool` (and that entry's key and password), in the same transaction: an entry
    /// goes to exactly one wiki, and back to the pool if the insert fails. `None` when the
    /// pool has no such entry, else the key the wiki got.
    pub async fn insert_wiki_from_pool(
        &mut self,
        new: NewWiki<'_>,
        pool: &PoolSlot<'_>,
    ) -> Result<Option<String>, FarmError> {
        let tx = &mut self.tx;
        let pick = if self.dialect == super::Dialect::Sqlite {
            "SELECT id, resource_key, db_password_sealed FROM pool_entries WHERE backend = ? AND db_server = ? \
             AND language = ? AND mw_version = ? AND starter = ? AND state = 'ready' ORDER BY id LIMIT 1"
        } else {
            "SELECT id, resource_key, db_password_sealed FROM pool_entries WHERE backend = ? AND db_server = ? \
             AND language = ? AND mw_version = ? AND starter = ? AND state = 'ready' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        };
        let entry: Option<(i64, String, Option<String>)> = sqlx::query_as(pick)
            .bind(pool.backend)
            .bind(pool.db_server)
            .bind(pool.language)
            .bind(pool.mw_version)
            .bind(pool.starter)
            .fetch_optional(&mut **tx)
            .await?;
        let Some((id, key, sealed)) = entry else { return Ok(None) };
        let claimed = sqlx::query("DELETE FROM pool_entries WHERE id = ? AND state = 'ready'")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let new = NewWiki { resource_key: &key, db_password_sealed: sealed.as_deref(), ..new };
        insert_wiki_row(tx, &new, true).await?;
        Ok(Some(key))
    }

    /// Sandbox: records that the warnings up to number `to` went out (guarded, so each goes once).
    pub async fn record_expiry_warning(&mut self, wiki_id: i64, sent: i64, to: i64) -> Result<bool, FarmError> {
        let result = sqlx::query(
            "UPDATE wikis SET expiry_warnings_sent = ? WHERE id = ? AND expiry_warnings_sent = ? AND state = 'active'",
        )
        .bind(to)
        .bind(wiki_id)
        .bind(sent)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Sandbox: `active` → `locked` once the wiki has expired.
    pub async fn lock_expired(&mut self, wiki_id: i64) -> Result<bool, FarmError> {
        let now = now();
        let result = sqlx::query(
            "UPDATE wikis SET state = 'locked', updated_at = ? WHERE id = ? AND state = 'active' \
             AND expires_at IS NOT NULL AND expires_at <= ?",
        )
        .bind(now)
        .bind(wiki_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Makes a wiki permanent (and writable again if it was locked). Returns whether it is live.
    pub async fn keep_wiki(&mut self, wiki_id: i64) -> Result<bool, FarmError> {
        let result = sqlx::query(
            "UPDATE wikis SET expires_at = NULL, expiry_warnings_sent = 0, updated_at = ?, \
             state = CASE WHEN state = 'locked' THEN 'active' ELSE state END \
             WHERE id = ? AND state IN ('provisioning', 'active', 'locked')",
        )
        .bind(now())
        .bind(wiki_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Moves a wiki to `deleting` unless it is already on its way out. Returns whether it moved.
    pub async fn request_delete(&mut self, id: i64) -> Result<bool, FarmError> {
        let result = sqlx::query(
            "UPDATE wikis SET state = 'deleting', attempts = 0, next_attempt_at = 0, updated_at = ? \
             WHERE id = ? AND state IN ('provisioning', 'active', 'failed', 'locked', 'trashed')",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// An active or locked wiki goes to the trash until `purge_after`. `Ok(false)`: it is in
    /// another state by now.
    pub async fn trash(&mut self, id: i64, purge_after: i64) -> Result<bool, FarmError> {
        let now = now();
        let result = sqlx::query(
            "UPDATE wikis SET trashed_from = state, state = 'trashed', deleted_at = ?, purge_after = ?, updated_at = ? \
             WHERE id = ? AND state IN ('active', 'locked')",
        )
        .bind(now)
        .bind(purge_after)
        .bind(now)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// A trashed wiki comes back to the state it had, if its time in the trash is not over.
    pub async fn undelete(&mut self, id: i64) -> Result<bool, FarmError> {
        let now = now();
        let result = sqlx::query(
            "UPDATE wikis SET state = trashed_from, trashed_from = NULL, deleted_at = NULL, purge_after = NULL, \
             updated_at = ? WHERE id = ? AND state = 'trashed' AND purge_after > ? AND trashed_from IS NOT NULL",
        )
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

impl Store {
    /// Trashed wikis whose time in the trash is over.
    pub async fn trash_due(&self, limit: u32) -> Result<Vec<WikiRecord>, FarmError> {
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM wikis WHERE state = 'trashed' AND purge_after <= ? ORDER BY id LIMIT ?"
        );
        decode_all(sqlx::query_as(&sql).bind(now()).bind(i64::from(limit)).fetch_all(&self.read).await?)
    }

    /// Wikis in `state`, a page at a time by id (for start-up checks over every wiki).
    pub async fn wikis_in_state(
        &self,
        state: WikiState,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<WikiRecord>, FarmError> {
        let sql = format!("SELECT {WIKI_COLUMNS} FROM wikis WHERE state = ? AND id > ? ORDER BY id LIMIT ?");
        decode_all(
            sqlx::query_as(&sql)
                .bind(state.as_str())
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?,
        )
    }

    pub async fn import_done(&self, wiki_id: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET import_pending = 0 WHERE id = ?").bind(wiki_id).execute(&self.write).await?;
        Ok(())
    }

    /// Whether a renamed wiki's old name still redirects (and so is taken).
    pub async fn name_redirects(&self, name: &str) -> Result<bool, FarmError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT wiki_id FROM wiki_redirects WHERE name = ? AND until > ?")
            .bind(name)
            .bind(now())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    /// Pending redirects of old names: (old name, the wiki's current name, until).
    pub async fn redirects(&self) -> Result<Vec<(String, String, i64)>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT r.name, w.name, r.until FROM wiki_redirects r JOIN wikis w ON w.id = r.wiki_id \
             WHERE w.name IS NOT NULL ORDER BY r.name",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// Forgets redirects whose time is over; returns their names.
    pub async fn expire_redirects(&self) -> Result<Vec<String>, FarmError> {
        let now = now();
        let names: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM wiki_redirects WHERE until <= ?").bind(now).fetch_all(&self.write).await?;
        sqlx::query("DELETE FROM wiki_redirects WHERE until <= ?").bind(now).execute(&self.write).await?;
        Ok(names.into_iter().map(|(n,)| n).collect())
    }
}

impl Tx {
    /// Renames an active wiki and keeps its old name as a redirect until `until`. A name some
    /// other wiki holds or redirects from is taken; this wiki's own old names may come back.
    pub async fn rename(&mut self, id: i64, old: &str, new: &str, until: i64) -> Result<bool, FarmError> {
        let now = now();
        let holder: Option<(i64,)> = sqlx::query_as("SELECT wiki_id FROM wiki_redirects WHERE name = ? AND until > ?")
            .bind(new)
            .bind(now)
            .fetch_optional(&mut *self.tx)
            .await?;
        if holder.is_some_and(|(wiki,)| wiki != id) {
            return Err(FarmError::NameTaken(new.to_owned()));
        }
        sqlx::query("DELETE FROM wiki_redirects WHERE name = ?").bind(new).execute(&mut *self.tx).await?;
        let renamed = sqlx::query(
            "UPDATE wikis SET name = ?, label = ?, updated_at = ? WHERE id = ? AND name = ? AND state = 'active'",
        )
        .bind(new)
        .bind(new)
        .bind(now)
        .bind(id)
        .bind(old)
        .execute(&mut *self.tx)
        .await;
        match renamed {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => return Ok(false),
            Err(e) if is_unique_violation(&e) => return Err(FarmError::NameTaken(new.to_owned())),
            Err(e) => return Err(e.into()),
        }
        sqlx::query("DELETE FROM wiki_redirects WHERE name = ?").bind(old).execute(&mut *self.tx).await?;
        sqlx::query("INSERT INTO wiki_redirects (name, wiki_id, until) VALUES (?, ?, ?)")
            .bind(old)
            .bind(id)
            .bind(until)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }
}
