//! Settings revisions: immutable, numbered per wiki from 1, each the whole configuration. A
//! new revision is taken only on top of the revision its writer read (a compare-and-set on
//! `wikis.settings_revision`), so a stale write changes nothing.

use super::{now, unknown, Store, Tx};
use crate::domain::settings::{Configuration, RevisionChanges};
use crate::error::FarmError;

/// The `changes` of a revision that changed nothing (a wiki's first).
pub(super) const NO_CHANGES: &str = r#"{"settings":[],"enabled":[],"disabled":[]}"#;

/// One revision as stored.
#[derive(Debug, Clone)]
pub struct SettingsRevision {
    pub revision: i64,
    pub actor: String,
    pub created_at: i64,
    pub configuration: Configuration,
    pub changes: RevisionChanges,
    pub restored_from: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    revision: i64,
    actor: String,
    created_at: i64,
    configuration: String,
    changes: String,
    restored_from: Option<i64>,
}

impl TryFrom<RevisionRow> for SettingsRevision {
    type Error = FarmError;

    fn try_from(row: RevisionRow) -> Result<Self, FarmError> {
        Ok(Self {
            revision: row.revision,
            actor: row.actor,
            created_at: row.created_at,
            configuration: serde_json::from_str(&row.configuration)
                .map_err(|e| unknown("settings configuration", &e.to_string()))?,
            changes: serde_json::from_str(&row.changes).map_err(|e| unknown("settings changes", &e.to_string()))?,
            restored_from: row.restored_from,
        })
    }
}

const REVISION_COLUMNS: &str = "revision, actor, created_at, configuration, changes, restored_from";

/// A revision to add on top of `base`.
pub struct NewRevision<'a> {
    pub wiki_id: i64,
    pub base: i64,
    pub actor: &'a str,
    pub configuration: &'a Configuration,
    pub changes: &'a RevisionChanges,
    pub restored_from: Option<i64>,
}

impl Store {
    pub async fn settings_revision(&self, wiki_id: i64, revision: i64) -> Result<Option<SettingsRevision>, FarmError> {
        let sql = format!("SELECT {REVISION_COLUMNS} FROM wiki_settings WHERE wiki_id = ? AND revision = ?");
        let row: Option<RevisionRow> =
            sqlx::query_as(&sql).bind(wiki_id).bind(revision).fetch_optional(&self.write).await?;
        row.map(SettingsRevision::try_from).transpose()
    }

    /// Newest first; `before` pages on (revisions below it).
    pub async fn settings_history(
        &self,
        wiki_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SettingsRevision>, FarmError> {
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM wiki_settings WHERE wiki_id = ? AND revision < ? \
             ORDER BY revision DESC LIMIT ?"
        );
        let rows: Vec<RevisionRow> = sqlx::query_as(&sql)
            .bind(wiki_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(SettingsRevision::try_from).collect()
    }

    /// Records that the wiki's shard (and tables) have `revision`; never goes back.
    pub async fn mark_settings_applied(&self, wiki_id: i64, revision: i64) -> Result<(), FarmError> {
        sqlx::query("UPDATE wikis SET applied_revision = ? WHERE id = ? AND applied_revision < ?")
            .bind(revision)
            .bind(wiki_id)
            .bind(revision)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn set_schema_extensions(&self, wiki_id: i64, extensions: &[String]) -> Result<(), FarmError> {
        let json = serde_json::to_string(extensions).map_err(anyhow::Error::from)?;
        sqlx::query("UPDATE wikis SET schema_extensions = ? WHERE id = ?")
            .bind(json)
            .bind(wiki_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Served wikis whose shard lags behind their settings (after a crash between the commit
    /// of a revision and the shard write).
    pub async fn unapplied_settings(&self, limit: u32) -> Result<Vec<super::WikiRecord>, FarmError> {
        self.wikis_where("state IN ('active', 'locked') AND applied_revision < settings_revision", limit).await
    }

    /// Live wikis made before settings existed (no revision yet).
    pub async fn wikis_without_settings(&self, limit: u32) -> Result<Vec<super::WikiRecord>, FarmError> {
        self.wikis_where("state IN ('provisioning', 'active', 'locked') AND settings_revision = 0", limit).await
    }
}

impl Tx {
    /// Adds a revision on top of `new.base`, if that is still the wiki's current one and the
    /// wiki is served read-write; the wiki row takes its sitename, language and privacy.
    /// `Ok(false)`: stale or not active, nothing written.
    pub async fn add_settings_revision(&mut self, new: &NewRevision<'_>) -> Result<bool, FarmError> {
        let settings = &new.configuration.settings;
        let updated = sqlx::query(
            "UPDATE wikis SET settings_revision = ?, sitename = ?, language = ?, private = ?, updated_at = ? \
             WHERE id = ? AND settings_revision = ? AND state = 'active'",
        )
        .bind(new.base + 1)
        .bind(&settings.sitename)
        .bind(&settings.language)
        .bind(i64::from(settings.private))
        .bind(now())
        .bind(new.wiki_id)
        .bind(new.base)
        .execute(&mut *self.tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        self.insert_revision(new.wiki_id, new.base + 1, new).await?;
        Ok(true)
    }

    /// Revision 1 for a wiki made before settings existed; `Ok(false)` if it has one by now.
    pub async fn add_first_settings_revision(
        &mut self,
        wiki_id: i64,
        configuration: &Configuration,
    ) -> Result<bool, FarmError> {
        let updated = sqlx::query("UPDATE wikis SET settings_revision = 1 WHERE id = ? AND settings_revision = 0")
            .bind(wiki_id)
            .execute(&mut *self.tx)
            .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        let changes = RevisionChanges::default();
        let first =
            NewRevision { wiki_id, base: 0, actor: "system", configuration, changes: &changes, restored_from: None };
        self.insert_revision(wiki_id, 1, &first).await?;
        Ok(true)
    }

    async fn insert_revision(&mut self, wiki_id: i64, revision: i64, new: &NewRevision<'_>) -> Result<(), FarmError> {
        let configuration = serde_json::to_string(new.configuration).map_err(anyhow::Error::from)?;
        let changes = serde_json::to_string(new.changes).map_err(anyhow::Error::from)?;
        sqlx::query(
            "INSERT INTO wiki_settings (wiki_id, revision, actor, created_at, configuration, changes, restored_from) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(wiki_id)
        .bind(revision)
        .bind(new.actor)
        .bind(now())
        .bind(configuration)
        .bind(changes)
        .bind(new.restored_from)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
