//! Backups of whole wikis and restores to them: listed, asked for and restored by the owner
//! or an admin; the work is done in the background ([`crate::jobs::backups`]).

use super::Farm;
use crate::domain::{permissions, Actor, WikiState};
use crate::error::FarmError;
use crate::platform::ratelimit::Source;
use crate::platform::time::now;
use crate::store::{AuditEntry, BackupRecord, RestoreRecord, WikiRecord};

/// How many of a wiki's backups a list shows (newest first).
const LIST_LIMIT: u32 = 200;

/// A backup as its wiki's owner sees it.
#[derive(Debug, Clone)]
pub struct BackupView {
    pub id: i64,
    pub wiki: String,
    /// `scheduled` or `manual`.
    pub kind: String,
    /// `queued`, `running`, `verified`, `failed` or `pruned`.
    pub state: String,
    pub settings_revision: i64,
    pub bytes: i64,
    pub pages: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A restore of a wiki to one of its backups.
#[derive(Debug, Clone)]
pub struct RestoreView {
    pub id: i64,
    pub wiki: String,
    pub backup: i64,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A wiki's backups, newest first, and its latest restore.
#[derive(Debug, Clone)]
pub struct BackupList {
    pub backups: Vec<BackupView>,
    pub restore: Option<RestoreView>,
    /// Seconds since the newest verified backup was finished, if there is one.
    pub last_good_age: Option<i64>,
}

fn backup_view(record: BackupRecord, wiki: &str) -> BackupView {
    BackupView {
        id: record.id,
        wiki: wiki.to_owned(),
        kind: record.kind,
        state: record.state,
        settings_revision: record.settings_revision,
        bytes: record.bytes,
        pages: record.pages,
        error: record.error,
        created_at: record.created_at,
        started_at: record.started_at,
        finished_at: record.finished_at,
    }
}

fn restore_view(record: RestoreRecord, wiki: &str) -> RestoreView {
    RestoreView {
        id: record.id,
        wiki: wiki.to_owned(),
        backup: record.backup_id,
        state: record.state,
        error: record.error,
        created_at: record.created_at,
        finished_at: record.finished_at,
    }
}

fn restore_running(wiki: &WikiRecord) -> FarmError {
    FarmError::Taken {
        field: "backup",
        code: "restore_running",
        message: format!("a restore of the wiki {} is under way; wait until it is done", wiki.name),
    }
}

impl Farm {
    /// The wiki, if `actor` may manage its backups (others get what [`permissions`] says).
    async fn backup_wiki(&self, actor: &Actor, name: &str) -> Result<WikiRecord, FarmError> {
        let (wiki, managers) = self.visible_wiki(actor, name).await?;
        permissions::manage_backups(actor, super::wikis::holders(&wiki, &managers))?;
        Ok(wiki)
    }

    /// The wiki's backups, newest first, and its latest restore.
    pub async fn backups(&self, actor: &Actor, name: &str) -> Result<BackupList, FarmError> {
        let wiki = self.backup_wiki(actor, name).await?;
        let records = self.store.backups_of(wiki.id, LIST_LIMIT).await?;
        let last_good_age = records
            .iter()
            .filter(|b| b.state == "verified")
            .filter_map(|b| b.finished_at)
            .max()
            .map(|t| now().saturating_sub(t).max(0));
        let restore = self.store.last_restore_of(wiki.id).await?.map(|r| restore_view(r, wiki.name.as_str()));
        Ok(BackupList {
            backups: records.into_iter().map(|r| backup_view(r, wiki.name.as_str())).collect(),
            restore,
            last_good_age,
        })
    }

    /// Backs the wiki up now (its owner or an admin); one already queued or running is
    /// answered instead of starting another.
    pub async fn request_backup(&self, actor: &Actor, name: &str, source: &Source) -> Result<BackupView, FarmError> {
        let wiki = self.backup_wiki(actor, name).await?;
        if !matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; only a served wiki is backed up",
                wiki.name,
                wiki.state.as_str()
            )));
        }
        if self.store.restore_pending(wiki.id).await? {
            return Err(restore_running(&wiki));
        }
        let record = self.store.queue_backup(wiki.id, "manual", actor.username.as_str()).await?;
        let mut tx = self.store.begin().await?;
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "wiki.backup",
            target: format!("wiki:{}", wiki.name),
            source: source.label(),
            details: Some(format!("backup {}", record.id)),
        })
        .await?;
        tx.commit().await?;
        self.wakeups.backups.notify_one();
        Ok(backup_view(record, wiki.name.as_str()))
    }

    /// One backup (404 for anyone who may not manage its wiki's backups).
    pub async fn backup(&self, actor: &Actor, id: i64) -> Result<BackupView, FarmError> {
        let record = self.store.backup(id).await?.ok_or(FarmError::NotFound("backup"))?;
        let wiki = self.store.wiki_by_id(record.wiki_id).await?.ok_or(FarmError::NotFound("backup"))?;
        // Managers may not either: without them the answer is the same 404.
        permissions::manage_backups(actor, super::wikis::holders(&wiki, &[]))
            .map_err(|_| FarmError::NotFound("backup"))?;
        Ok(backup_view(record, wiki.name.as_str()))
    }

    /// Restores the wiki to its verified backup `backup_id`, in the background: it is
    /// read-only meanwhile. Checked whole first: a backup of another wiki, an unknown or
    /// unusable one, or a restore already under way change nothing.
    pub async fn request_restore(
        &self,
        actor: &Actor,
        name: &str,
        backup_id: i64,
        source: &Source,
    ) -> Result<RestoreView, FarmError> {
        let wiki = self.backup_wiki(actor, name).await?;
        let backup =
            self.store.backup(backup_id).await?.ok_or_else(|| {
                FarmError::invalid("backup", "backup_unknown", format!("there is no backup {backup_id}"))
            })?;
        if backup.wiki_id != wiki.id {
            return Err(FarmError::invalid(
                "backup",
                "backup_other_wiki",
                format!("backup {backup_id} is not a backup of the wiki {}", wiki.name),
            ));
        }
        if backup.state != "verified" {
            return Err(FarmError::invalid(
                "backup",
                "backup_unusable",
                format!("backup {backup_id} is {}; only a verified backup is restored", backup.state),
            ));
        }
        if wiki.state != WikiState::Active {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; only an active wiki is restored",
                wiki.name,
                wiki.state.as_str()
            )));
        }
        let record = self
            .store
            .queue_restore(wiki.id, backup.id, actor.username.as_str())
            .await?
            .ok_or_else(|| restore_running(&wiki))?;
        let mut tx = self.store.begin().await?;
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "wiki.restore",
            target: format!("wiki:{}", wiki.name),
            source: source.label(),
            details: Some(format!("restore {} to backup {}", record.id, backup.id)),
        })
        .await?;
        tx.commit().await?;
        self.wakeups.backups.notify_one();
        Ok(restore_view(record, wiki.name.as_str()))
    }

    /// One restore (404 for anyone who may not manage its wiki's backups).
    pub async fn restore_status(&self, actor: &Actor, id: i64) -> Result<RestoreView, FarmError> {
        let record = self.store.restore(id).await?.ok_or(FarmError::NotFound("restore"))?;
        let wiki = self.store.wiki_by_id(record.wiki_id).await?.ok_or(FarmError::NotFound("restore"))?;
        // Managers may not either: without them the answer is the same 404.
        permissions::manage_backups(actor, super::wikis::holders(&wiki, &[]))
            .map_err(|_| FarmError::NotFound("restore"))?;
        Ok(restore_view(record, wiki.name.as_str()))
    }
}
