//! Mail: messages are rendered from templates into the outbox (in the transaction of the
//! change they report), and the mailer sends them over SMTP in the background, retrying with
//! backoff. A message leaves the outbox only once the SMTP server has accepted it, so a
//! crash or restart loses none (it may, rarely, send one twice).
//!
//! Bodies hold confirmation and reset links, which grant access: they are sealed with the
//! farm's credentials key the moment they are rendered and opened only to be sent, so the
//! control store (and its journal) never holds one readable.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::Farm;
use crate::config::{SmtpConfig, SmtpTls};
use crate::domain::Secret;
use crate::error::FarmError;
use crate::platform::secrets::Sealer;
use crate::store::{now, OutgoingMail, QueuedMail};

const TEMPLATES: &[(&str, &str)] = &[
    ("confirm", include_str!("../templates/mail/confirm.txt")),
    ("reset", include_str!("../templates/mail/reset.txt")),
    ("request_received", include_str!("../templates/mail/request_received.txt")),
    ("request_needs_info", include_str!("../templates/mail/request_needs_info.txt")),
    ("request_approved", include_str!("../templates/mail/request_approved.txt")),
    ("request_declined", include_str!("../templates/mail/request_declined.txt")),
    ("wiki_ready", include_str!("../templates/mail/wiki_ready.txt")),
    ("sandbox_warning", include_str!("../templates/mail/sandbox_warning.txt")),
    ("sandbox_locked", include_str!("../templates/mail/sandbox_locked.txt")),
    ("sandbox_deleted", include_str!("../templates/mail/sandbox_deleted.txt")),
];

/// Longest wait between two tries of one message.
const MAX_BACKOFF_SECS: i64 = 3600;

/// The mail templates: the first line of each is the subject, the rest the body.
pub struct MailTemplates {
    env: minijinja::Environment<'static>,
    sealer: Sealer,
}

impl MailTemplates {
    pub fn new(sealer: Sealer) -> Self {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            // Checked by a unit test: the templates are part of the binary.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "a mail template does not parse");
            }
        }
        Self { env, sealer }
    }

    /// Renders a message for the outbox, its body sealed.
    pub fn render(
        &self,
        kind: &'static str,
        recipient: &str,
        context: minijinja::Value,
    ) -> Result<OutgoingMail, FarmError> {
        let text = self
            .env
            .get_template(kind)
            .and_then(|template| template.render(context))
            .map_err(|e| FarmError::Internal(anyhow::anyhow!("mail template {kind}: {e}")))?;
        let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
        let body = Secret::new(body.trim_start_matches('\n').to_owned());
        Ok(OutgoingMail {
            kind,
            recipient: recipient.to_owned(),
            subject: subject.trim().to_owned(),
            body_sealed: self.sealer.seal(&body)?,
        })
    }
}

/// The SMTP side: off when the configuration has no `[smtp]`.
pub struct Mailer {
    transport: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    sealer: Sealer,
    wakeup: Notify,
}

impl Mailer {
    pub fn new(config: Option<&SmtpConfig>, sealer: Sealer) -> anyhow::Result<Self> {
        let transport = match config {
            None => None,
            Some(smtp) => {
                let mut builder = match smtp.tls {
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
                }
                .port(smtp.port)
                .timeout(Some(Duration::from_secs(30)));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                let from: Mailbox = smtp.from.parse().map_err(|e| anyhow::anyhow!("smtp.from: {e}"))?;
                Some((builder.build(), from))
            }
        };
        Ok(Self { transport, sealer, wakeup: Notify::new() })
    }

    pub fn is_on(&self) -> bool {
        self.transport.is_some()
    }

    /// Something was queued: send soon.
    pub fn wake(&self) {
        self.wakeup.notify_one();
    }

    async fn send(&self, mail: &QueuedMail) -> anyhow::Result<()> {
        let Some((transport, from)) = &self.transport else { anyhow::bail!("mail is off") };
        let body = if mail.sealed { self.sealer.open(&mail.body)? } else { Secret::new(mail.body.clone()) };
        let message = Message::builder()
            .from(from.clone())
            .to(mail.recipient.parse()?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(body.expose().to_owned())?;
        transport.send(message).await?;
        Ok(())
    }

    /// Sends the outbox until `shutdown`. Mail queued before a restart is tried at once.
    pub async fn run(farm: Arc<Farm>, shutdown: CancellationToken) {
        let mailer = &farm.mailer;
        if !mailer.is_on() {
            info!("mail is off: no [smtp] in the configuration; messages stay in the outbox");
            return;
        }
        if let Err(err) = farm.store.retry_all_mail_now().await {
            warn!(error = %err, "could not reschedule queued mail");
        }
        if let Err(err) = seal_plain_mail(&farm.store, &mailer.sealer).await {
            warn!(error = %err, "could not seal mail queued by an older farmd");
        }
        loop {
            if let Err(err) = deliver_due(&farm).await {
                warn!(error = %err, "mail delivery round failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = mailer.wakeup.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Mail written by a farmd from before sealing keeps its links readable in the control store:
/// seal it now.
async fn seal_plain_mail(store: &crate::store::Store, sealer: &Sealer) -> Result<(), FarmError> {
    let plain = store.plain_mail().await?;
    for (id, body) in &plain {
        store.seal_mail_body(*id, &sealer.seal(&Secret::new(body.clone()))?).await?;
    }
    if !plain.is_empty() {
        info!(messages = plain.len(), "sealed mail bodies an older farmd kept in plain text");
    }
    Ok(())
}

async fn deliver_due(farm: &Farm) -> Result<(), FarmError> {
    for mail in farm.store.due_mail(50).await? {
        match farm.mailer.send(&mail).await {
            Ok(()) => {
                farm.store.mark_mail_sent(mail.id).await?;
                info!(mail = mail.id, kind = %mail.kind, "mail sent");
            }
            Err(err) => {
                let attempts = mail.attempts + 1;
                let backoff = (5_i64 << attempts.min(12)).min(MAX_BACKOFF_SECS);
                let error = format!("{err:#}");
                warn!(mail = mail.id, kind = %mail.kind, attempts, retry_in_s = backoff, error = %error, "mail not sent");
                farm.store.retry_mail(mail.id, attempts, now() + backoff, &error).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_with_a_subject() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sealer = Sealer::load_or_create(dir.path()).expect("key");
        let templates = MailTemplates::new(sealer.clone());
        let context = minijinja::context! {
            farm => "Wikis", username => "alice", link => "http://x/confirm?token=1", expires => "tomorrow",
            id => 1, name => "my-wiki", sitename => "My Wiki", reviewer => "rev", comment => "why?",
            url => "http://my-wiki.x/", wiki_username => "Alice", locked_for => "7 days", deletes => "then",
            has_password => true,
        };
        for (kind, _) in TEMPLATES {
            let mail = templates.render(kind, "alice@example.org", context.clone()).expect(kind);
            assert!(!mail.subject.is_empty() && !mail.subject.contains('\n'), "{kind}: {mail:?}");
            let body = sealer.open(&mail.body_sealed).expect("the body opens with the farm's key");
            assert!(body.expose().starts_with("Hello alice,"), "{kind}: {}", body.expose());
            assert!(!mail.body_sealed.contains("token="), "{kind}: the stored body shows no link");
        }
        for (has_password, wording) in [(true, "password of your account"), (false, "one-time password")] {
            let context = minijinja::context! { has_password, ..context.clone() };
            let mail = templates.render("wiki_ready", "alice@example.org", context).expect("wiki_ready");
            let body = sealer.open(&mail.body_sealed).expect("open");
            assert!(body.expose().contains(wording), "has_password={has_password}: {}", body.expose());
        }
        let missing = templates.render("confirm", "a@b.org", minijinja::context! { farm => "x" });
        assert!(missing.is_err(), "an undefined value is an error, not an empty string");
    }
}
