//! Exports of whole wikis: asked for by the owner or an admin, built in the background
//! ([`crate::jobs::exports`]), downloadable until they expire.

use std::path::PathBuf;

use super::Farm;
use crate::domain::{permissions, Actor, WikiState};
use crate::error::FarmError;
use crate::platform::ratelimit::Source;
use crate::store::{AuditEntry, ExportRecord};

/// An export as its requester sees it.
#[derive(Debug, Clone)]
pub struct ExportView {
    pub id: i64,
    pub wiki: String,
    /// `queued`, `running`, `done`, `failed` or `expired`.
    pub state: String,
    /// `queued`, `pages`, `files`, then `done` or `failed`.
    pub phase: String,
    pub done_items: i64,
    pub total_items: i64,
    pub bytes: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// Bytes under a folder (files only).
fn folder_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

impl Farm {
    fn export_view(&self, record: ExportRecord, wiki: &str) -> ExportView {
        ExportView {
            id: record.id,
            wiki: wiki.to_owned(),
            state: record.state,
            phase: record.phase,
            done_items: record.done_items,
            total_items: record.total_items,
            bytes: record.bytes,
            error: record.error,
            created_at: record.created_at,
            finished_at: record.finished_at,
            expires_at: record.expires_at,
        }
    }

    /// Asks for an export of the wiki (its owner or an admin); one already under way is
    /// answered instead of starting another.
    pub async fn request_export(&self, actor: &Actor, name: &str, source: &Source) -> Result<ExportView, FarmError> {
        let (wiki, managers) = self.visible_wiki(actor, name).await?;
        permissions::export_wiki(actor, super::wikis::holders(&wiki, &managers))?;
        if !matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; only a served wiki is exported",
                wiki.name,
                wiki.state.as_str()
            )));
        }
        // The database's and files' size on disk, as an upper bound of the archive.
        let dir = self.layout.wiki_dir(&wiki.key);
        let size =
            tokio::task::spawn_blocking(move || folder_size(&dir)).await.map_err(|e| FarmError::Internal(e.into()))?;
        if size > self.config.export_max_bytes {
            return Err(FarmError::denied(
                "export_too_large",
                format!(
                    "the wiki holds {size} bytes; this farm exports wikis of up to {} bytes",
                    self.config.export_max_bytes
                ),
            ));
        }
        let record = self.store.queue_export(wiki.id, actor.username.as_str()).await?;
        let mut tx = self.store.begin().await?;
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "wiki.export",
            target: format!("wiki:{}", wiki.name),
            source: source.label(),
            details: Some(format!("export {}", record.id)),
        })
        .await?;
        tx.commit().await?;
        self.wakeups.exports.notify_one();
        Ok(self.export_view(record, wiki.name.as_str()))
    }

    /// An export and, when it is done, the archive's path (for the download).
    pub async fn export(&self, actor: &Actor, id: i64) -> Result<(ExportView, Option<PathBuf>), FarmError> {
        let record = self.store.export(id).await?.ok_or(FarmError::NotFound("export"))?;
        let wiki = self.store.wiki_by_id(record.wiki_id).await?.ok_or(FarmError::NotFound("export"))?;
        let managers = self.manager_names(wiki.id).await?;
        permissions::export_wiki(actor, super::wikis::holders(&wiki, &managers))
            .map_err(|_| FarmError::NotFound("export"))?;
        let archive = (record.state == "done").then(|| self.layout.export_archive(record.id)).filter(|p| p.is_file());
        Ok((self.export_view(record, wiki.name.as_str()), archive))
    }
}
