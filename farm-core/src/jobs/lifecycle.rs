//! The farm's clock-driven work: sandbox wikis expire (warning mails, then read-only, then
//! deletion), read-only markers follow the wikis' states, "wiki ready" mail goes out, and old
//! sessions, mail and rate-limit keys are forgotten.
//!
//! Each change is a guarded update in its own transaction together with its mail and audit
//! entry, so a crash at any point leaves either the old state or the new one with its mail
//! queued; the next round picks up where the last one stopped.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::Farm;
use crate::domain::Actor;
use crate::domain::{Username, WikiState};
use crate::error::FarmError;
use crate::platform::time::duration_secs;
use crate::platform::time::format_time;
use crate::store::{now, AuditEntry, OutgoingMail, WikiRecord};

/// The marker in a wiki's directory that makes MediaWiki read-only (FarmSettings.php).
pub const READ_ONLY_MARKER: &str = "read-only";

/// Sessions, mail tokens and sent mail are kept this long after they end (for the record).
const KEEP_ENDED_SECS: i64 = 7 * 24 * 3600;

/// Runs every `lifecycle_interval` until `shutdown`.
pub async fn run(farm: Arc<Farm>, shutdown: CancellationToken) {
    loop {
        if let Err(err) = round(&farm).await {
            warn!(error = %err, "lifecycle round failed; trying again next round");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(farm.config.lifecycle_interval) => {}
        }
    }
}

pub async fn round(farm: &Farm) -> Result<(), FarmError> {
    expire_sandboxes(farm).await?;
    apply_locks(farm).await?;
    farm.limits.prune();
    farm.store.prune_sessions(KEEP_ENDED_SECS).await?;
    farm.store.prune_sent_mail(KEEP_ENDED_SECS).await?;
    Ok(())
}

async fn owner_email(farm: &Farm, owner: &str) -> Result<Option<(String, String)>, FarmError> {
    Ok(owner_account(farm, owner).await?.map(|a| (a.username, a.email)))
}

async fn owner_account(farm: &Farm, owner: &str) -> Result<Option<crate::store::AccountRecord>, FarmError> {
    let Ok(username) = Username::parse(owner) else { return Ok(None) };
    farm.store.account_by_username_key(&username.mediawiki_name()).await
}

fn system_audit(action: &'static str, wiki: &WikiRecord, details: Option<String>) -> AuditEntry {
    AuditEntry { actor: "system".into(), action, target: format!("wiki:{}", wiki.label), source: None, details }
}

async fn sandbox_mail(
    farm: &Farm,
    kind: &'static str,
    wiki: &WikiRecord,
    expires_at: i64,
) -> Result<Option<OutgoingMail>, FarmError> {
    let Some((username, email)) = owner_email(farm, &wiki.owner).await? else { return Ok(None) };
    let locked_for = duration_secs(farm.config.sandbox.locked_for);
    let mail = farm.mail_templates.render(
        kind,
        &email,
        minijinja::context! {
            username, name => wiki.label, url => farm.wiki_url(wiki), expires => format_time(expires_at),
            locked_for => humantime::format_duration(farm.config.sandbox.locked_for).to_string(),
            deletes => format_time(expires_at.saturating_add(locked_for)),
        },
    )?;
    Ok(Some(mail))
}

/// Warnings, locks and deletions of sandbox wikis whose time has come.
async fn expire_sandboxes(farm: &Farm) -> Result<(), FarmError> {
    let sandbox = &farm.config.sandbox;
    let mut warnings: Vec<i64> = sandbox.warnings.iter().map(|w| duration_secs(**w)).collect();
    warnings.sort_unstable_by(|a, b| b.cmp(a));
    let horizon = now().saturating_add(warnings.first().copied().unwrap_or(0));
    let locked_for = duration_secs(sandbox.locked_for);
    for wiki in farm.store.expiring_wikis(horizon, 500).await? {
        let Some(expires_at) = wiki.expires_at else { continue };
        let now = now();
        match wiki.state() {
            WikiState::Active if expires_at <= now => {
                let mail = sandbox_mail(farm, "sandbox_locked", &wiki, expires_at).await?;
                let mut tx = farm.store.begin().await?;
                if tx.lock_expired(wiki.id).await? {
                    if let Some(mail) = &mail {
                        tx.enqueue_mail(mail).await?;
                    }
                    tx.audit(&system_audit("wiki.lock", &wiki, Some("sandbox expired".into()))).await?;
                    tx.commit().await?;
                    info!(wiki = %wiki.label, "sandbox wiki expired: read-only");
                }
            }
            WikiState::Active => {
                // Warnings whose moment has passed; only the latest one is sent.
                let due = warnings.iter().filter(|w| now >= expires_at - **w).count() as i64;
                if due > wiki.expiry_warnings_sent {
                    let mail = sandbox_mail(farm, "sandbox_warning", &wiki, expires_at).await?;
                    let mut tx = farm.store.begin().await?;
                    if tx.record_expiry_warning(wiki.id, wiki.expiry_warnings_sent, due).await? {
                        if let Some(mail) = &mail {
                            tx.enqueue_mail(mail).await?;
                        }
                        tx.audit(&system_audit("wiki.expiry_warning", &wiki, Some(format_time(expires_at)))).await?;
                        tx.commit().await?;
                    }
                }
            }
            WikiState::Locked if expires_at.saturating_add(locked_for) <= now => {
                let mail = sandbox_mail(farm, "sandbox_deleted", &wiki, expires_at).await?;
                let mut tx = farm.store.begin().await?;
                if tx.request_delete(wiki.id).await? {
                    if let Some(mail) = &mail {
                        tx.enqueue_mail(mail).await?;
                    }
                    tx.audit(&system_audit("wiki.delete", &wiki, Some("sandbox expired".into()))).await?;
                    tx.commit().await?;
                    info!(wiki = %wiki.label, "sandbox wiki expired: deleting");
                    farm.wake_provisioning();
                }
            }
            _ => {}
        }
    }
    farm.mailer.wake();
    Ok(())
}

/// Makes each wiki's read-only marker match its state (locked or not), then records that.
pub async fn apply_locks(farm: &Farm) -> Result<(), FarmError> {
    for wiki in farm.store.lock_mismatches(500).await? {
        let Ok(key) = wiki.key() else { continue };
        let marker = farm.layout.wiki_dir(&key).join(READ_ONLY_MARKER);
        let locked = wiki.state() == WikiState::Locked;
        let applied = if locked {
            crate::platform::fsutil::write_atomic(&marker, b"This wiki has expired and is read-only.\n", 0o644)
        } else {
            match std::fs::remove_file(&marker) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        };
        match applied {
            Ok(()) => farm.store.set_lock_applied(wiki.id, locked, wiki.state()).await?,
            Err(err) => warn!(wiki = %wiki.label, error = %err, "could not change the read-only marker"),
        }
    }
    Ok(())
}

/// The "wiki ready" mail for a wiki that has just become active, if its owner is to hear.
pub async fn ready_mail(farm: &Farm, wiki: &WikiRecord) -> Result<Option<OutgoingMail>, FarmError> {
    if wiki.notify_owner == 0 {
        return Ok(None);
    }
    let Some(account) = owner_account(farm, &wiki.owner).await? else { return Ok(None) };
    let username = account.username;
    let wiki_username = Username::parse(&username).map(|u| u.mediawiki_name()).unwrap_or(username.clone());
    // Accounts made on the command line without a password got a one-time password for the
    // wiki instead (in the API's answer), not their farm password.
    let has_password = account.password_hash.is_some();
    let mail = farm.mail_templates.render(
        "wiki_ready",
        &account.email,
        minijinja::context! {
            username, farm => farm.config.farm_name, sitename => wiki.sitename, url => farm.wiki_url(wiki),
            wiki_username, expires => wiki.expires_at.map(format_time), has_password,
        },
    )?;
    Ok(Some(mail))
}

impl Farm {
    /// Makes a sandbox wiki permanent (admins and reviewers); a locked one becomes writable.
    pub async fn keep_wiki(
        &self,
        actor: &Actor,
        name: &str,
        source: &crate::platform::ratelimit::Source,
    ) -> Result<crate::app::WikiView, FarmError> {
        if !actor.is_staff() {
            return Err(FarmError::Forbidden("only admins and reviewers keep sandbox wikis"));
        }
        let view = self.get_wiki(actor, name).await?;
        let record = &view.record;
        let mut tx = self.store.begin().await?;
        if !tx.keep_wiki(record.id).await? {
            return Err(FarmError::Conflict(format!("the wiki {} is not live", record.label)));
        }
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "wiki.keep",
            target: format!("wiki:{}", record.label),
            source: source.label(),
            details: None,
        })
        .await?;
        tx.commit().await?;
        apply_locks(self).await?;
        self.get_wiki(actor, name).await
    }
}
