//! Backups of whole wikis and restores to them, one at a time, in the background.
//!
//! A backup is a folder `{backups}/{key}/{id}/`: `database/` (SQLite: a `VACUUM INTO` copy of
//! each of the wiki's database files; MariaDB: `database.sql` from `mariadb-dump
//! --single-transaction` as the wiki's own account), `images/` (the uploaded files, old
//! versions and deleted ones; no thumbnails, stash or locks), `assets/` (logo, favicon),
//! `settings.json` (the settings revision it was taken at, its configuration, the extensions
//! whose tables the database has) and, last, `manifest.json` (format, wiki, times, page count
//! and each file's size and SHA-256). It is written under `{id}.partial/` and renamed when
//! whole, then verified: every file is read back against the manifest and the database copy
//! is opened (SQLite: integrity check and page count, compared with the live count in the
//! same snapshot) or parsed (MariaDB: a complete dump, its page rows counted).
//!
//! A restore puts the wiki's `restoring` marker in place (MediaWiki is read-only while it is
//! there), checks the backup against its manifest, replaces the database, the upload folder
//! and the assets, takes the backup's settings as a new revision (if they differ) and writes
//! the shard, then removes the marker. Every step can run again, so a restore found running at
//! start is run again from the beginning. A backup found running at start failed: its folders
//! go.
//!
//! Retention, after each good backup: the newest good backup of each of the last
//! `keep_daily` days and of each of the last `keep_weekly` weeks (UTC) stays, and the newest
//! good one always does.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::settings::Configurator;
use super::Wakeups;
use crate::config::BackupsConfig;
use crate::domain::settings::RevisionChanges;
use crate::domain::{ResourceKey, WikiState};
use crate::platform::fsutil::{remove_dir_all_if_exists, remove_file_if_exists, sync_dir, write_atomic};
use crate::platform::layout::{create_private_dir, Layout};
use crate::platform::time::{now, rfc3339};
use crate::store::{AuditEntry, BackupRecord, NewRevision, RestoreRecord, Store, WikiRecord};

/// The format named in every backup's manifest.
pub const FORMAT: &str = "farmd-backup/1";
/// The marker in a wiki's directory that makes MediaWiki read-only while it is restored
/// (FarmSettings.php).
pub const RESTORING_MARKER: &str = "restoring";
/// Top-level folders of the upload area that are not kept: thumbnails (made again), the
/// upload stash, locks and caches.
const SKIPPED_UPLOADS: &[&str] = &["temp", "lockdir", "cache", "thumb"];
const DAY: i64 = 24 * 3600;

pub struct Backups {
    pub store: Store,
    pub layout: Layout,
    pub configurator: Arc<Configurator>,
    /// A restore waits for a job queue turn or a maintenance script on the wiki to end, and
    /// none starts during it.
    pub locks: Arc<super::ScriptLocks>,
    pub wakeups: Arc<Wakeups>,
    pub config: BackupsConfig,
}

/// One file of a backup, as its manifest lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Entry {
    path: String,
    size: u64,
    sha256: String,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: String,
    wiki: String,
    key: String,
    backend: String,
    created_at: String,
    settings_revision: i64,
    pages: i64,
    entries: Vec<Entry>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedSettings {
    revision: i64,
    configuration: Option<crate::domain::settings::Configuration>,
    schema_extensions: Vec<String>,
}

impl Backups {
    pub async fn run(self, shutdown: CancellationToken) {
        if let Err(err) = self.recover().await {
            warn!(error = %format!("{err:#}"), "cannot clean up interrupted backups");
        }
        let idle = if self.config.interval.is_zero() {
            Duration::from_secs(30)
        } else {
            self.config.interval.clamp(Duration::from_secs(1), Duration::from_secs(30))
        };
        loop {
            let worked = tokio::select! {
                worked = self.step() => worked,
                _ = shutdown.cancelled() => return,
            };
            match worked {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => warn!(error = %format!("{err:#}"), "cannot read the backup queue"),
            }
            tokio::select! {
                _ = self.wakeups.backups.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// At start: backups that were running failed (a kill or a stop during them); their
    /// folders go, as does any `*.partial` folder.
    async fn recover(&self) -> anyhow::Result<()> {
        for backup in self.store.running_backups().await? {
            if let Some(wiki) = self.store.wiki_by_id(backup.wiki_id).await? {
                remove_dir_all_if_exists(&self.layout.backup_partial_dir(&wiki.key, backup.id))?;
                remove_dir_all_if_exists(&self.layout.backup_dir(&wiki.key, backup.id))?;
            }
            self.store.finish_backup(backup.id, 0, 0, 0, Some("interrupted: farmd stopped during the backup")).await?;
            warn!(backup = backup.id, "a backup was interrupted; its files are removed");
        }
        let root = self.layout.backups_dir().to_path_buf();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for wiki in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                for entry in std::fs::read_dir(wiki.path()).into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().ends_with(".partial") {
                        remove_dir_all_if_exists(&entry.path())?;
                    }
                }
            }
            Ok(())
        })
        .await??;
        Ok(())
    }

    /// One piece of work: a restore, a queued backup, a scheduled one, or housekeeping.
    /// `Ok(false)` when there was nothing to do.
    async fn step(&self) -> anyhow::Result<bool> {
        if let Some(restore) = self.store.next_restore().await? {
            self.run_restore(restore).await;
            return Ok(true);
        }
        if let Some(backup) = self.store.next_backup().await? {
            self.run_backup(backup).await;
            return Ok(true);
        }
        if !self.config.interval.is_zero() {
            let since = now().saturating_sub(i64::try_from(self.config.interval.as_secs()).unwrap_or(i64::MAX));
            if let Some(wiki_id) = self.store.wiki_due_for_backup(since).await? {
                self.store.queue_backup(wiki_id, "scheduled", "system").await?;
                return Ok(true);
            }
        }
        // Backups of wikis that are gone go with them.
        for (id, key) in self.store.backups_of_gone_wikis(100).await? {
            let key = ResourceKey::parse(&key).context("the registry holds a bad resource key")?;
            remove_dir_all_if_exists(&self.layout.backup_dir(&key, id))?;
            self.store.mark_backup_pruned(id).await?;
        }
        Ok(false)
    }

    async fn run_backup(&self, backup: BackupRecord) {
        match self.store.start_backup(backup.id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                warn!(backup = backup.id, error = %err, "cannot start a backup");
                return;
            }
        }
        let wiki = match self.store.wiki_by_id(backup.wiki_id).await {
            Ok(Some(wiki)) => wiki,
            _ => {
                let _ = self.store.finish_backup(backup.id, 0, 0, 0, Some("the wiki is gone")).await;
                return;
            }
        };
        let started = std::time::Instant::now();
        let outcome = if matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            self.write_backup(&wiki, backup.id).await
        } else {
            Err(anyhow::anyhow!("the wiki is {}; only served wikis are backed up", wiki.state.as_str()))
        };
        let recorded = match outcome {
            Ok((revision, bytes, pages)) => {
                info!(
                    wiki = %wiki.name, backup = backup.id, bytes, pages,
                    elapsed_ms = started.elapsed().as_millis() as u64, "backup written and verified"
                );
                self.store.finish_backup(backup.id, revision, bytes, pages, None).await
            }
            Err(err) => {
                warn!(wiki = %wiki.name, backup = backup.id, error = %format!("{err:#}"), "backup failed");
                let _ = remove_dir_all_if_exists(&self.layout.backup_partial_dir(&wiki.key, backup.id));
                let _ = remove_dir_all_if_exists(&self.layout.backup_dir(&wiki.key, backup.id));
                self.store
                    .finish_backup(backup.id, 0, 0, 0, Some("the backup could not be made; the farm's log says why"))
                    .await
            }
        };
        if let Err(err) = recorded {
            warn!(backup = backup.id, error = %err, "cannot record the backup's end");
        }
        if let Err(err) = self.prune(&wiki).await {
            warn!(wiki = %wiki.name, error = %format!("{err:#}"), "cannot apply the backup retention");
        }
    }

    /// Writes and verifies one backup; (settings revision, bytes, pages).
    async fn write_backup(&self, wiki: &WikiRecord, id: i64) -> anyhow::Result<(i64, i64, i64)> {
        let partial = self.layout.backup_partial_dir(&wiki.key, id);
        let done = self.layout.backup_dir(&wiki.key, id);
        remove_dir_all_if_exists(&partial)?;
        create_private_dir(&partial.join("database"))?;
        let database = self.configurator.database(wiki)?;
        let pages = database.back_up(&partial.join("database")).await.context("copying the database")?;
        anyhow::ensure!(pages > 0, "the database copy holds no pages");
        let revision = self.store.settings_revision(wiki.id, wiki.settings_revision).await?;
        let settings = SavedSettings {
            revision: wiki.settings_revision,
            configuration: revision.map(|r| r.configuration),
            schema_extensions: wiki.schema_extensions.clone(),
        };
        let manifest_head = Manifest {
            format: FORMAT.into(),
            wiki: wiki.name.to_string(),
            key: wiki.key.to_string(),
            backend: wiki.backend.as_str().into(),
            created_at: rfc3339(now()),
            settings_revision: wiki.settings_revision,
            pages,
            entries: Vec::new(),
        };
        let wiki_dir = self.layout.wiki_dir(&wiki.key);
        let settings_json = serde_json::to_vec_pretty(&settings)?;
        let (partial_c, done_c) = (partial.clone(), done.clone());
        let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
            write_atomic(&partial_c.join("settings.json"), &settings_json, 0o600)?;
            copy_tree(&wiki_dir.join("images"), &partial_c.join("images"), SKIPPED_UPLOADS)?;
            copy_tree(&wiki_dir.join("assets"), &partial_c.join("assets"), &[])?;
            let mut manifest = manifest_head;
            manifest.entries = list_entries(&partial_c)?;
            let bytes = manifest.entries.iter().map(|e| e.size).sum::<u64>();
            write_atomic(&partial_c.join("manifest.json"), &serde_json::to_vec_pretty(&manifest)?, 0o600)?;
            std::fs::rename(&partial_c, &done_c)?;
            if let Some(parent) = done_c.parent() {
                sync_dir(parent)?;
            }
            Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
        })
        .await??;
        // Read back what was written.
        let check = done.clone();
        tokio::task::spawn_blocking(move || check_against_manifest(&check)).await??;
        let copied = database.verify_backup(&done.join("database")).await.context("verifying the database copy")?;
        anyhow::ensure!(copied == pages, "the database copy holds {copied} pages, the wiki had {pages}");
        Ok((wiki.settings_revision, bytes, pages))
    }

    /// Removes the wiki's good backups that retention does not keep (none while a restore of
    /// the wiki waits or runs).
    async fn prune(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        if self.store.restore_pending(wiki.id).await? {
            return Ok(());
        }
        let verified = self.store.verified_backups_of(wiki.id).await?;
        let times: Vec<(i64, i64)> = verified.iter().map(|b| (b.id, b.finished_at.unwrap_or(b.created_at))).collect();
        let keep = retained(&times, now(), self.config.keep_daily, self.config.keep_weekly);
        for backup in verified.iter().filter(|b| !keep.contains(&b.id)) {
            remove_dir_all_if_exists(&self.layout.backup_dir(&wiki.key, backup.id))?;
            self.store.mark_backup_pruned(backup.id).await?;
            info!(wiki = %wiki.name, backup = backup.id, "old backup removed by the retention policy");
        }
        Ok(())
    }

    async fn run_restore(&self, restore: RestoreRecord) {
        if let Err(err) = self.store.start_restore(restore.id).await {
            warn!(restore = restore.id, error = %err, "cannot start a restore");
            return;
        }
        let loaded = async {
            let wiki = self.store.wiki_by_id(restore.wiki_id).await?.context("the wiki is gone")?;
            let backup = self.store.backup(restore.backup_id).await?.context("the backup is gone")?;
            anyhow::Ok((wiki, backup))
        }
        .await;
        let (wiki, backup) = match loaded {
            Ok(found) => found,
            Err(err) => {
                warn!(restore = restore.id, error = %format!("{err:#}"), "restore failed");
                let _ = self.store.finish_restore(restore.id, Some("the wiki or the backup is gone")).await;
                return;
            }
        };
        let started = std::time::Instant::now();
        let mut changed = false;
        let outcome = self.restore_wiki(&wiki, &backup, &restore, &mut changed).await;
        let marker = self.layout.wiki_dir(&wiki.key).join(RESTORING_MARKER);
        let (error, action) = match &outcome {
            Ok(()) => {
                info!(
                    wiki = %wiki.name, backup = backup.id, elapsed_ms = started.elapsed().as_millis() as u64,
                    "wiki restored"
                );
                (None, "wiki.restored")
            }
            Err(err) => {
                warn!(wiki = %wiki.name, backup = backup.id, error = %format!("{err:#}"), "restore failed");
                if changed {
                    // Half restored: it stays read-only until a restore succeeds.
                    (
                        Some("the restore failed part-way; the wiki stays read-only until a restore succeeds"),
                        "wiki.restore_failed",
                    )
                } else {
                    let _ = remove_file_if_exists(&marker);
                    (Some("the restore could not start; nothing was changed"), "wiki.restore_failed")
                }
            }
        };
        let recorded = async {
            let mut tx = self.store.begin().await?;
            tx.audit(&AuditEntry {
                actor: "system".into(),
                action,
                target: format!("wiki:{}", wiki.name),
                source: None,
                details: Some(format!("restore {} of backup {}", restore.id, backup.id)),
            })
            .await?;
            tx.commit().await?;
            self.store.finish_restore(restore.id, error).await
        }
        .await;
        if let Err(err) = recorded {
            warn!(restore = restore.id, error = %err, "cannot record the restore's end");
        }
    }

    async fn restore_wiki(
        &self,
        wiki: &WikiRecord,
        backup: &BackupRecord,
        restore: &RestoreRecord,
        changed: &mut bool,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(backup.wiki_id == wiki.id, "the backup is another wiki's");
        anyhow::ensure!(backup.state == "verified", "the backup is {}", backup.state);
        let _guard = self.configurator.lock(wiki.id).await;
        let _scripts = self.locks.lock(wiki.id).await;
        let wiki = self.store.wiki_by_id(wiki.id).await?.context("the wiki is gone")?;
        anyhow::ensure!(wiki.state == WikiState::Active, "the wiki is {}", wiki.state.as_str());
        let dir = self.layout.backup_dir(&wiki.key, backup.id);
        let wiki_dir = self.layout.wiki_dir(&wiki.key);
        let marker = wiki_dir.join(RESTORING_MARKER);
        write_atomic(&marker, b"This wiki is being restored from a backup.\n", 0o644)?;
        let check = dir.clone();
        tokio::task::spawn_blocking(move || check_against_manifest(&check)).await??;
        let saved: SavedSettings = serde_json::from_slice(&std::fs::read(dir.join("settings.json"))?)?;

        *changed = true;
        let database = self.configurator.database(&wiki)?;
        // The backup's schema may be older than the one update.php last brought the wiki to:
        // forgotten first, so that no crash leaves the old record on the new database.
        self.store.forget_update_fingerprint(wiki.id).await?;
        database.restore_backup(&dir.join("database")).await.context("restoring the database")?;
        let (from, to) = (dir.clone(), wiki_dir.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            replace_tree(&from.join("images"), &to, "images")?;
            // Assets are named by their content and never removed: the backup's join them.
            copy_tree_merge(&from.join("assets"), &to.join("assets"))?;
            Ok(())
        })
        .await??;

        // The database now has the backup's extension tables (SQLite: only those; MariaDB:
        // tables made since stay beside them).
        let mut schema = saved.schema_extensions.clone();
        if wiki.backend == crate::domain::Backend::Mariadb {
            schema.extend(wiki.schema_extensions.iter().cloned());
        }
        schema.sort();
        schema.dedup();
        self.store.set_schema_extensions(wiki.id, &schema).await?;
        let wiki = self.store.wiki_by_id(wiki.id).await?.context("the wiki is gone")?;
        let target = match self.store.settings_revision(wiki.id, saved.revision).await? {
            Some(revision) => Some(revision.configuration),
            None => saved.configuration,
        };
        let current = self.store.settings_revision(wiki.id, wiki.settings_revision).await?;
        if let (Some(target), Some(current)) = (target, current) {
            let changes = RevisionChanges::between(&current.configuration, &target);
            if !changes.is_empty() {
                let missing = self.configurator.features.missing_tables(&target, &wiki.schema_extensions);
                if !missing.is_empty() {
                    self.configurator.ensure_tables(&wiki, &missing).await?;
                }
                let mut tx = self.store.begin().await?;
                let added = tx
                    .add_settings_revision(&NewRevision {
                        wiki_id: wiki.id,
                        base: wiki.settings_revision,
                        actor: &restore.requested_by,
                        configuration: &target,
                        changes: &changes,
                        restored_from: Some(saved.revision),
                    })
                    .await?;
                anyhow::ensure!(added, "the wiki's settings changed during the restore");
                tx.audit(&AuditEntry {
                    actor: restore.requested_by.clone(),
                    action: "wiki.settings_rollback",
                    target: format!("wiki:{}", wiki.name),
                    source: None,
                    details: Some(format!(
                        "revision {}: the settings of backup {} (restores revision {})",
                        wiki.settings_revision + 1,
                        backup.id,
                        saved.revision
                    )),
                })
                .await?;
                tx.commit().await?;
            }
        }
        let wiki = self.store.wiki_by_id(wiki.id).await?.context("the wiki is gone")?;
        self.configurator.write(&wiki).await?;
        remove_file_if_exists(&marker)?;
        sync_dir(&wiki_dir)?;
        Ok(())
    }
}

/// Which of a wiki's good backups (id, finished at; newest first) retention keeps at `now`:
/// the newest of each of the last `daily` UTC days and of the last `weekly` weeks (Monday to
/// Sunday), and always the newest of all.
pub fn retained(backups: &[(i64, i64)], now: i64, daily: u32, weekly: u32) -> BTreeSet<i64> {
    let mut keep = BTreeSet::new();
    let mut sorted = backups.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    if let Some((id, _)) = sorted.first() {
        keep.insert(*id);
    }
    let day = |t: i64| t.div_euclid(DAY);
    // 1970-01-01 was a Thursday: shifted by 3 days, weeks start on Mondays.
    let week = |t: i64| (day(t) + 3).div_euclid(7);
    for (period, count) in [(&day as &dyn Fn(i64) -> i64, daily), (&week, weekly)] {
        let current = period(now);
        for back in 0..i64::from(count) {
            if let Some((id, _)) = sorted.iter().find(|(_, t)| period(*t) == current - back) {
                keep.insert(*id);
            }
        }
    }
    keep
}

/// Copies the tree under `from` to `to` (made 0700), leaving out dot files and the top-level
/// folders named in `skip`. A missing `from` copies nothing.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> anyhow::Result<()> {
    create_private_dir(to)?;
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf(), true)];
    while let Some((source, target, top)) = pending.pop() {
        let entries = match std::fs::read_dir(&source) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err.into()),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (top && skip.contains(&name.as_str())) {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                create_private_dir(&target.join(&name))?;
                pending.push((entry.path(), target.join(&name), false));
            } else if kind.is_file() {
                copy_file(&entry.path(), &target.join(&name))?;
            }
        }
    }
    Ok(())
}

/// Copies `from` into `to`, keeping what `to` has already (for content-named assets).
fn copy_tree_merge(from: &Path, to: &Path) -> anyhow::Result<()> {
    create_private_dir(to)?;
    for entry in std::fs::read_dir(from).into_iter().flatten() {
        let entry = entry?;
        if entry.file_type()?.is_file() && !to.join(entry.file_name()).exists() {
            copy_file(&entry.path(), &to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut source = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut target = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(to)?;
    std::io::copy(&mut source, &mut target)?;
    target.flush()?;
    target.sync_all()?;
    Ok(())
}

/// Replaces `{wiki_dir}/{name}` with a copy of `from` by renames: the copy is made beside it
/// (`{name}.restoring`), the old tree moves aside (`{name}.old`) and goes once the copy is in
/// place. Run again after a crash at any point, it ends the same.
fn replace_tree(from: &Path, wiki_dir: &Path, name: &str) -> anyhow::Result<()> {
    let live = wiki_dir.join(name);
    let scratch = wiki_dir.join(format!("{name}.restoring"));
    let old = wiki_dir.join(format!("{name}.old"));
    remove_dir_all_if_exists(&scratch)?;
    copy_tree(from, &scratch, &[])?;
    // What the backup leaves out (stash, locks, caches) is made again by MediaWiki; the
    // thumbnails of the old files would be wrong.
    remove_dir_all_if_exists(&old)?;
    if live.exists() {
        std::fs::rename(&live, &old)?;
    }
    std::fs::rename(&scratch, &live)?;
    sync_dir(wiki_dir)?;
    remove_dir_all_if_exists(&old)?;
    Ok(())
}

/// Every file under `root` with its size and SHA-256, by path relative to `root`.
fn list_entries(root: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else if kind.is_file() && name != "manifest.json" {
                let (size, sha256) = hash_file(&entry.path())?;
                entries.push(Entry { path: name, size, sha256 });
            }
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Reads every file of the backup in `dir` back: each one the manifest lists, with its size
/// and checksum, and no other.
fn check_against_manifest(dir: &Path) -> anyhow::Result<()> {
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).context("no manifest")?)
        .context("the manifest does not parse")?;
    anyhow::ensure!(manifest.format == FORMAT, "the backup's format is not {FORMAT}");
    let found = list_entries(dir)?;
    anyhow::ensure!(found.len() == manifest.entries.len(), "the backup has other files than its manifest lists");
    for (listed, found) in manifest.entries.iter().zip(&found) {
        anyhow::ensure!(
            listed.path == found.path && listed.size == found.size && listed.sha256 == found.sha256,
            "{} does not match the manifest",
            listed.path
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z, a Thursday

    #[test]
    fn retention_keeps_one_a_day_for_a_week_and_one_a_week_for_four() {
        // One backup every 6 hours for 60 days, newest first.
        let now = T + 60 * DAY;
        let backups: Vec<(i64, i64)> = (0..240).map(|i| (1000 - i, now - i * 6 * 3600)).collect();
        let keep = retained(&backups, now, 7, 4);
        // 7 days (one each) and the weeks: the current week's newest is today's.
        assert!(keep.len() >= 7 && keep.len() <= 11, "{keep:?}");
        assert!(keep.contains(&1000), "the newest stays");
        let kept_times: Vec<i64> = backups.iter().filter(|(id, _)| keep.contains(id)).map(|(_, t)| *t).collect();
        assert!(kept_times.iter().all(|t| now - t < 5 * 7 * DAY), "nothing older than the last 4 weeks");
        let days: BTreeSet<i64> = kept_times.iter().map(|t| t.div_euclid(DAY)).collect();
        for back in 0..7 {
            assert!(days.contains(&(now.div_euclid(DAY) - back)), "a backup of day -{back}");
        }
    }

    #[test]
    fn retention_never_removes_the_last_good_backup() {
        let old = [(5, T - 365 * DAY)];
        assert_eq!(retained(&old, T, 7, 4), BTreeSet::from([5]));
        assert_eq!(retained(&old, T, 0, 0), BTreeSet::from([5]));
        assert!(retained(&[], T, 7, 4).is_empty());
        let two_today = [(2, T + 100), (1, T + 50)];
        assert_eq!(retained(&two_today, T + 200, 7, 4), BTreeSet::from([2]), "one a day");
    }

    #[test]
    fn a_tree_replaced_twice_ends_the_same_and_leaves_no_scratch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backup = dir.path().join("backup");
        std::fs::create_dir_all(backup.join("a")).expect("dir");
        std::fs::write(backup.join("a/file.png"), b"old picture").expect("write");
        let wiki = dir.path().join("wiki");
        std::fs::create_dir_all(wiki.join("images/b")).expect("dir");
        std::fs::write(wiki.join("images/b/new.png"), b"new picture").expect("write");
        // A crash after the old tree moved aside, before the copy took its place.
        std::fs::rename(wiki.join("images"), wiki.join("images.old")).expect("rename");
        for _ in 0..2 {
            replace_tree(&backup, &wiki, "images").expect("replace");
        }
        assert_eq!(std::fs::read(wiki.join("images/a/file.png")).expect("read"), b"old picture");
        assert!(!wiki.join("images/b").exists());
        assert!(!wiki.join("images.old").exists() && !wiki.join("images.restoring").exists());
    }

    #[test]
    fn a_backup_whose_file_changed_fails_its_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("images")).expect("dir");
        std::fs::write(dir.path().join("images/x"), b"one").expect("write");
        let manifest = Manifest {
            format: FORMAT.into(),
            wiki: "w".into(),
            key: "k".into(),
            backend: "sqlite".into(),
            created_at: String::new(),
            settings_revision: 1,
            pages: 1,
            entries: list_entries(dir.path()).expect("entries"),
        };
        std::fs::write(dir.path().join("manifest.json"), serde_json::to_vec(&manifest).expect("json")).expect("write");
        check_against_manifest(dir.path()).expect("intact");
        std::fs::write(dir.path().join("images/x"), b"two").expect("write");
        assert!(check_against_manifest(dir.path()).is_err(), "a changed file");
        std::fs::write(dir.path().join("images/x"), b"one").expect("write");
        std::fs::write(dir.path().join("images/y"), b"extra").expect("write");
        assert!(check_against_manifest(dir.path()).is_err(), "an extra file");
    }
}
