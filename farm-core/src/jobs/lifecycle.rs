//! The farm's clock-driven work: sandbox wikis expire (warning mails, then read-only, then
//! deletion), read-only markers follow the wikis' states, and old sessions, mail and
//! rate-limit keys are forgotten.
//!
//! Each change is a guarded update in its own transaction together with its mail and audit
//! entry, so a crash at any point leaves either the old state or the new one with its mail
//! queued; the next round picks up where the last one stopped.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Wakeups;
use crate::config::SandboxConfig;
use crate::domain::WikiState;
use crate::error::FarmError;
use crate::mail::Notices;
use crate::mediawiki::sign_on::{session_handle, SignOnSessions, SignedOnSession};
use crate::platform::layout::Layout;
use crate::platform::ratelimit::RateLimiter;
use crate::platform::time::{duration_secs, format_time, now};
use crate::store::{AuditEntry, Store, WikiRecord};

/// The marker in a wiki's directory that makes MediaWiki read-only (FarmSettings.php).
pub const READ_ONLY_MARKER: &str = "read-only";

/// Sessions, mail tokens and sent mail are kept this long after they end (for the record).
const KEEP_ENDED_SECS: i64 = 7 * 24 * 3600;

pub struct Lifecycle {
    pub store: Store,
    pub layout: Layout,
    pub notices: Arc<Notices>,
    pub limits: Arc<RateLimiter>,
    pub sandbox: SandboxConfig,
    pub interval: Duration,
    pub wakeups: Arc<Wakeups>,
    /// The farm sessions wikis honour: what a crash left of ended ones goes each round.
    pub signed_on: SignOnSessions,
    pub staff_group: bool,
}

impl Lifecycle {
    /// Runs a round every `interval` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if let Err(err) = self.reconcile_host_links().await {
            warn!(error = %format!("{err:#}"), "could not check the wikis' host links");
        }
        loop {
            if let Err(err) = self.round().await {
                warn!(error = %err, "lifecycle round failed; trying again next round");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    pub async fn round(&self) -> Result<(), FarmError> {
        self.expire_sandboxes().await?;
        self.purge_trash().await?;
        super::exports::Exporter::expire(&self.store, &self.layout).await?;
        for name in self.store.expire_redirects().await? {
            if let Ok(name) = crate::domain::WikiName::parse(&name) {
                crate::platform::fsutil::remove_file_if_exists(&self.layout.redirect_file(&name))
                    .map_err(anyhow::Error::from)?;
                info!(wiki = %name, "an old name of a renamed wiki is free again");
            }
        }
        apply_locks(&self.store, &self.layout).await?;
        self.limits.prune();
        self.store.prune_sessions(KEEP_ENDED_SECS).await?;
        self.reconcile_sign_ons().await?;
        self.store.prune_sent_mail(KEEP_ENDED_SECS).await?;
        Ok(())
    }

    /// Wikis honour only live farm sessions: files of sessions that ended (a crash between the
    /// end's commit and the file's removal, or a plain expiry) go, and the staff mark follows
    /// the account's role.
    async fn reconcile_sign_ons(&self) -> Result<(), FarmError> {
        let live = self
            .store
            .live_portal_sessions()
            .await?
            .into_iter()
            .filter_map(|session| {
                let user = crate::domain::Username::parse(&session.username).ok()?.mediawiki_name();
                let staff = self.staff_group && session.role == crate::domain::Role::Admin;
                Some((session_handle(&session.id), SignedOnSession { user, expires: session.expires_at, staff }))
            })
            .collect();
        let removed = self.signed_on.reconcile(&live).map_err(anyhow::Error::from)?;
        if removed > 0 {
            info!(sessions = removed, "wikis no longer honour farm sessions that ended");
        }
        Ok(())
    }

    /// Warnings, locks and deletions of sandbox wikis whose time has come.
    async fn expire_sandboxes(&self) -> Result<(), FarmError> {
        let mut warnings: Vec<i64> = self.sandbox.warnings.iter().map(|w| duration_secs(**w)).collect();
        warnings.sort_unstable_by(|a, b| b.cmp(a));
        let horizon = now().saturating_add(warnings.first().copied().unwrap_or(0));
        let locked_for = duration_secs(self.sandbox.locked_for);
        for wiki in self.store.expiring_wikis(horizon, 500).await? {
            let Some(expires_at) = wiki.expires_at else { continue };
            let now = now();
            match wiki.state {
                WikiState::Active if expires_at <= now => {
                    let mail = self.notices.sandbox("sandbox_locked", &wiki, expires_at).await?;
                    let mut tx = self.store.begin().await?;
                    if tx.lock_expired(wiki.id).await? {
                        if let Some(mail) = &mail {
                            tx.enqueue_mail(mail).await?;
                        }
                        tx.audit(&system_audit("wiki.lock", &wiki, Some("sandbox expired".into()))).await?;
                        tx.commit().await?;
                        info!(wiki = %wiki.name, "sandbox wiki expired: read-only");
                    }
                }
                WikiState::Active => {
                    // Warnings whose moment has passed; only the latest one is sent.
                    let due = warnings.iter().filter(|w| now >= expires_at - **w).count() as i64;
                    if due > wiki.expiry_warnings_sent {
                        let mail = self.notices.sandbox("sandbox_warning", &wiki, expires_at).await?;
                        let mut tx = self.store.begin().await?;
                        if tx.record_expiry_warning(wiki.id, wiki.expiry_warnings_sent, due).await? {
                            if let Some(mail) = &mail {
                                tx.enqueue_mail(mail).await?;
                            }
                            let details = Some(format_time(expires_at));
                            tx.audit(&system_audit("wiki.expiry_warning", &wiki, details)).await?;
                            tx.commit().await?;
                        }
                    }
                }
                WikiState::Locked if expires_at.saturating_add(locked_for) <= now => {
                    let mail = self.notices.sandbox("sandbox_deleted", &wiki, expires_at).await?;
                    let mut tx = self.store.begin().await?;
                    if tx.request_delete(wiki.id).await? {
                        if let Some(mail) = &mail {
                            tx.enqueue_mail(mail).await?;
                        }
                        tx.audit(&system_audit("wiki.delete", &wiki, Some("sandbox expired".into()))).await?;
                        tx.commit().await?;
                        info!(wiki = %wiki.name, "sandbox wiki expired: deleting");
                        self.wakeups.provisioning();
                    }
                }
                _ => {}
            }
        }
        self.wakeups.outbox.notify_one();
        Ok(())
    }
}

impl Lifecycle {
    /// Wikis whose time in the trash is over are torn down (by the pipeline).
    async fn purge_trash(&self) -> Result<(), FarmError> {
        for wiki in self.store.trash_due(500).await? {
            let mut tx = self.store.begin().await?;
            if tx.request_delete(wiki.id).await? {
                tx.audit(&system_audit("wiki.purge", &wiki, Some("its time in the trash is over".into()))).await?;
                tx.commit().await?;
                info!(wiki = %wiki.name, "trashed wiki purged");
                self.wakeups.provisioning();
            }
        }
        Ok(())
    }

    /// At start: trashed wikis have no host link and served ones have theirs, no link is left
    /// under a name no served wiki has, and every pending redirect has its file, whatever moment
    /// a kill interrupted a delete, an undelete or a rename (the state commits first, the
    /// files follow).
    pub async fn reconcile_host_links(&self) -> anyhow::Result<()> {
        let mut redirects = std::collections::BTreeSet::new();
        for (old, new, _until) in self.store.redirects().await? {
            if let (Ok(old), Ok(new)) = (crate::domain::WikiName::parse(&old), crate::domain::WikiName::parse(&new)) {
                write_redirect(&self.layout, &old, &new)?;
                redirects.insert(old.to_string());
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.layout.redirects_dir()) {
            for entry in entries.flatten() {
                if !redirects.contains(entry.file_name().to_string_lossy().as_ref()) {
                    crate::platform::fsutil::remove_file_if_exists(&entry.path())?;
                }
            }
        }
        // Archives left by a kill: uploads and staging folders of imports never committed, and
        // the content of wikis that no longer wait for it.
        if let Ok(entries) = std::fs::read_dir(self.layout.imports_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let waiting = match crate::domain::ResourceKey::parse(&name) {
                    Some(key) => self
                        .store
                        .wiki_by_resource_key(key.as_str())
                        .await?
                        .is_some_and(|w| w.state == WikiState::Provisioning && w.import_pending),
                    None => false,
                };
                if !waiting {
                    let path = entry.path();
                    if path.is_dir() {
                        crate::platform::fsutil::remove_dir_all_if_exists(&path)?;
                    } else {
                        crate::platform::fsutil::remove_file_if_exists(&path)?;
                    }
                }
            }
        }
        // Links whose name is no longer the wiki's (a rename interrupted after its commit).
        for entry in std::fs::read_dir(self.layout.hosts_dir())?.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Ok(name) = crate::domain::WikiName::parse(&file_name) else { continue };
            let owner = self.store.wiki_by_name(name.as_str()).await?;
            let target = std::fs::read_link(entry.path()).ok();
            let current = owner.is_some_and(|w| {
                matches!(w.state, WikiState::Active | WikiState::Locked | WikiState::Provisioning | WikiState::Deleting)
                    && target.as_deref() == Some(Layout::host_link_target(&w.key).as_path())
            });
            if !current {
                crate::platform::fsutil::remove_file_if_exists(&entry.path())?;
                info!(name = %name, "removed a host link no served wiki has");
            }
        }
        for state in [WikiState::Trashed, WikiState::Active, WikiState::Locked] {
            let mut after = 0;
            loop {
                let wikis = self.store.wikis_in_state(state, after, 1000).await?;
                let Some(last) = wikis.last() else { break };
                after = last.id;
                for wiki in &wikis {
                    if state == WikiState::Trashed {
                        super::provision::unlink_host(&self.layout, &wiki.name, &wiki.key)?;
                    } else if !self.layout.host_link(&wiki.name).exists() && self.layout.wiki_dir(&wiki.key).is_dir() {
                        super::provision::link_host(&self.layout, &wiki.name, &wiki.key)?;
                        info!(wiki = %wiki.name, "host link restored");
                    }
                }
            }
        }
        Ok(())
    }
}

/// `redirects/OLD` names the wiki's new name, for router.php; written by an atomic rename.
pub fn write_redirect(
    layout: &Layout,
    old: &crate::domain::WikiName,
    new: &crate::domain::WikiName,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(layout.redirects_dir())?;
    crate::platform::fsutil::write_atomic(&layout.redirect_file(old), new.as_str().as_bytes(), 0o644)?;
    Ok(())
}

fn system_audit(action: &'static str, wiki: &WikiRecord, details: Option<String>) -> AuditEntry {
    AuditEntry { actor: "system".into(), action, target: format!("wiki:{}", wiki.name), source: None, details }
}

/// Makes each wiki's read-only marker match its state (locked or not), then records that.
pub async fn apply_locks(store: &Store, layout: &Layout) -> Result<(), FarmError> {
    for wiki in store.lock_mismatches(500).await? {
        let marker = layout.wiki_dir(&wiki.key).join(READ_ONLY_MARKER);
        let locked = wiki.state == WikiState::Locked;
        let applied = if locked {
            crate::platform::fsutil::write_atomic(&marker, b"This wiki has expired and is read-only.\n", 0o644)
        } else {
            crate::platform::fsutil::remove_file_if_exists(&marker)
        };
        match applied {
            Ok(()) => store.set_lock_applied(wiki.id, locked, wiki.state).await?,
            Err(err) => warn!(wiki = %wiki.name, error = %err, "could not change the read-only marker"),
        }
    }
    Ok(())
}
