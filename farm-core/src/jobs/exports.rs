//! Builds export archives of whole wikis, one at a time, in the background.
//!
//! An archive (`data/exports/{id}.tar.gz`) holds `pages.xml` and `logs.xml` (MediaWiki's own
//! export format, from `dumpBackup.php`: every page with all revisions; the logs), `files/...` (the
//! uploaded files as stored, old versions in `files/archive/`), `settings.json` (the wiki's
//! current settings revision), `assets/...` (its logo and favicon) and, last, `manifest.json`
//! (format, wiki, times, and each entry's size and SHA-256). Everything streams from disk to
//! disk, so memory stays bounded whatever the wiki's size.
//!
//! Crash safety: the archive is written under a temporary name and renamed when whole; an
//! export found `running` at start begins again from nothing (its scratch files are removed).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Wakeups;
use crate::mediawiki::php::Php;
use crate::platform::fsutil::{remove_dir_all_if_exists, remove_file_if_exists, sync_dir};
use crate::platform::layout::Layout;
use crate::platform::time::now;
use crate::store::{ExportRecord, Store};

use crate::mediawiki::archive::Hashing;
pub use crate::mediawiki::archive::FORMAT;

/// How long `dumpBackup.php` may take for one wiki.
const DUMP_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

pub struct Exporter {
    pub store: Store,
    pub layout: Layout,
    pub php: Php,
    pub wakeups: Arc<Wakeups>,
    /// How long a finished archive stays downloadable.
    pub retention: Duration,
}

impl Exporter {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.store.next_export().await {
                Ok(Some(export)) => {
                    let id = export.id;
                    let result = tokio::select! {
                        result = self.build(&export) => result,
                        _ = shutdown.cancelled() => return,
                    };
                    let expires_at = now().saturating_add(i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX));
                    let outcome = match result {
                        Ok(bytes) => {
                            info!(export = id, bytes, "export ready");
                            self.store.finish_export(id, bytes, expires_at, None).await
                        }
                        Err(err) => {
                            warn!(export = id, error = %format!("{err:#}"), "export failed");
                            let dir = self.layout.exports_dir();
                            let _ = remove_file_if_exists(&self.layout.export_archive(id));
                            let _ = remove_file_if_exists(&dir.join(format!("{id}.tar.gz.partial")));
                            let _ = remove_dir_all_if_exists(&dir.join(format!("{id}.building")));
                            self.store
                                .finish_export(
                                    id,
                                    0,
                                    expires_at,
                                    Some("the export could not be made; the farm's log says why"),
                                )
                                .await
                        }
                    };
                    if let Err(err) = outcome {
                        warn!(export = id, error = %err, "cannot record the export's end");
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => warn!(error = %err, "cannot read the export queue"),
            }
            tokio::select! {
                _ = self.wakeups.exports.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Removes the archives whose time is over.
    pub async fn expire(store: &Store, layout: &Layout) -> anyhow::Result<()> {
        for id in store.expire_exports().await? {
            remove_file_if_exists(&layout.export_archive(id))?;
        }
        Ok(())
    }

    async fn build(&self, export: &ExportRecord) -> anyhow::Result<i64> {
        let wiki = self.store.wiki_by_id(export.wiki_id).await?.context("the wiki is gone")?;
        let dir = self.layout.exports_dir();
        std::fs::create_dir_all(&dir)?;
        let scratch = dir.join(format!("{}.building", export.id));
        remove_dir_all_if_exists(&scratch)?;
        std::fs::create_dir_all(&scratch)?;
        self.store.export_progress(export.id, "running", "pages", 0, 0).await?;
        // dumpBackup.php takes one of --full and --logs per run: pages, then logs.
        let pages = scratch.join("pages.xml");
        let logs = scratch.join("logs.xml");
        for (what, file) in [("--full", &pages), ("--logs", &logs)] {
            let output = format!("--output=file:{}", file.display());
            let mut args = vec![what, "--quiet", output.as_str()];
            if what == "--full" {
                args.push("--uploads");
            }
            self.php
                .run_for_wiki(wiki.name.as_str(), "dumpBackup.php", &args, &[], DUMP_TIMEOUT)
                .await
                .with_context(|| format!("dumpBackup.php {what}"))?;
        }
        let revision = self.store.settings_revision(wiki.id, wiki.settings_revision).await?;
        let settings = serde_json::to_vec_pretty(&revision.map(|r| r.configuration))?;
        std::fs::write(scratch.join("settings.json"), settings)?;

        let wiki_dir = self.layout.wiki_dir(&wiki.key);
        let mut entries: Vec<(String, PathBuf)> = vec![
            ("pages.xml".into(), pages.clone()),
            ("logs.xml".into(), logs.clone()),
            ("settings.json".into(), scratch.join("settings.json")),
        ];
        collect_files(&wiki_dir.join("images"), "files", &mut entries, true)?;
        collect_files(&wiki_dir.join("assets"), "assets", &mut entries, false)?;
        let total = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        self.store.export_progress(export.id, "running", "files", 0, total).await?;

        let archive = self.layout.export_archive(export.id);
        let partial = dir.join(format!("{}.tar.gz.partial", export.id));
        let (store, id) = (self.store.clone(), export.id);
        let handle = tokio::runtime::Handle::current();
        let manifest_head = serde_json::json!({
            "format": FORMAT,
            "wiki": wiki.name.as_str(),
            "sitename": wiki.sitename.as_str(),
            "language": wiki.language,
            "created_at": crate::platform::time::rfc3339(now()),
        });
        let partial_for_task = partial.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            write_archive(&partial_for_task, &entries, manifest_head, |done| {
                if done % 50 == 0 {
                    let _ = handle.block_on(store.export_progress(id, "running", "files", done, total));
                }
            })
        })
        .await??;
        std::fs::rename(&partial, &archive)?;
        sync_dir(&dir)?;
        remove_dir_all_if_exists(&scratch)?;
        Ok(i64::try_from(std::fs::metadata(&archive)?.len()).unwrap_or(i64::MAX))
    }
}

/// Files under `root` as archive entries under `prefix`; the upload area's private zones
/// (stash, locks, caches, thumbnails, deleted files) and dot files are left out.
fn collect_files(root: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>, uploads: bool) -> anyhow::Result<()> {
    let mut pending = vec![(root.to_path_buf(), prefix.to_owned())];
    while let Some((dir, name)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err.into()),
        };
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let skip = file_name.starts_with('.')
                || (uploads
                    && dir == root
                    && ["temp", "lockdir", "cache", "deleted", "thumb"].contains(&file_name.as_str()));
            if skip {
                continue;
            }
            let kind = entry.file_type()?;
            let child = format!("{name}/{file_name}");
            if kind.is_dir() {
                pending.push((entry.path(), child));
            } else if kind.is_file() {
                out.push((child, entry.path()));
            }
        }
    }
    Ok(())
}

fn write_archive(
    path: &Path,
    entries: &[(String, PathBuf)],
    mut manifest: serde_json::Value,
    mut progress: impl FnMut(i64),
) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    let mut listed = Vec::with_capacity(entries.len());
    for (done, (name, source)) in entries.iter().enumerate() {
        let file = std::fs::File::open(source).with_context(|| format!("reading {}", source.display()))?;
        let size = file.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(u64::try_from(now()).unwrap_or(0));
        let mut reader = Hashing { inner: file.take(size), hasher: Sha256::new() };
        builder.append_data(&mut header, name, &mut reader)?;
        listed.push(serde_json::json!({"path": name, "size": size, "sha256": hex::encode(reader.hasher.finalize())}));
        progress(i64::try_from(done + 1).unwrap_or(i64::MAX));
    }
    manifest["entries"] = serde_json::Value::Array(listed);
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(u64::try_from(now()).unwrap_or(0));
    builder.append_data(&mut header, "manifest.json", bytes.as_slice())?;
    let mut file = builder.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()?;
    Ok(())
}
