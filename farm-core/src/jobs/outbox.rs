//! Sends the outbox over SMTP, retrying with backoff. A message leaves the outbox only once
//! the SMTP server has accepted it, so a crash or restart loses none (it may, rarely, send one
//! twice).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Wakeups;
use crate::domain::Secret;
use crate::error::FarmError;
use crate::mail::Mailer;
use crate::platform::time::now;
use crate::store::Store;

/// Longest wait between two tries of one message.
const MAX_BACKOFF_SECS: i64 = 3600;

pub struct Outbox {
    pub store: Store,
    pub mailer: Arc<Mailer>,
    pub wakeups: Arc<Wakeups>,
}

impl Outbox {
    /// Sends the outbox until `shutdown`. Mail queued before a restart is tried at once.
    pub async fn run(self, shutdown: CancellationToken) {
        if !self.mailer.is_on() {
            info!("mail is off: no [smtp] in the configuration; messages stay in the outbox");
            return;
        }
        if let Err(err) = self.store.retry_all_mail_now().await {
            warn!(error = %err, "could not reschedule queued mail");
        }
        if let Err(err) = self.seal_plain_mail().await {
            warn!(error = %err, "could not seal mail queued by an older farmd");
        }
        loop {
            if let Err(err) = self.deliver_due().await {
                warn!(error = %err, "mail delivery round failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wakeups.outbox.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Mail written by a farmd from before sealing keeps its links readable in the control
    /// store: seal it now.
    async fn seal_plain_mail(&self) -> Result<(), FarmError> {
        let plain = self.store.plain_mail().await?;
        for (id, body) in &plain {
            self.store.seal_mail_body(*id, &self.mailer.sealer().seal(&Secret::new(body.clone()))?).await?;
        }
        if !plain.is_empty() {
            info!(messages = plain.len(), "sealed mail bodies an older farmd kept in plain text");
        }
        Ok(())
    }

    async fn deliver_due(&self) -> Result<(), FarmError> {
        for mail in self.store.due_mail(50).await? {
            match self.mailer.send(&mail).await {
                Ok(()) => {
                    self.store.mark_mail_sent(mail.id).await?;
                    info!(mail = mail.id, kind = %mail.kind, "mail sent");
                }
                Err(err) => {
                    let attempts = mail.attempts + 1;
                    let backoff = (5_i64 << attempts.min(12)).min(MAX_BACKOFF_SECS);
                    let error = format!("{err:#}");
                    warn!(mail = mail.id, kind = %mail.kind, attempts, retry_in_s = backoff, error = %error, "mail not sent");
                    self.store.retry_mail(mail.id, attempts, now() + backoff, &error).await?;
                }
            }
        }
        Ok(())
    }
}
