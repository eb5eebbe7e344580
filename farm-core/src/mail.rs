//! Mail: messages are rendered from templates into the outbox (in the transaction of the
//! change they report); [`crate::jobs::outbox`] sends them through the [`Mailer`].
//!
//! Bodies hold confirmation and reset links, which grant access: they are sealed with the
//! farm's credentials key the moment they are rendered and opened only to be sent, so the
//! control store (and its journal) never holds one readable.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpTls};
use crate::domain::{Secret, Username};
use crate::error::FarmError;
use crate::mediawiki::WikiUrls;
use crate::platform::secrets::Sealer;
use crate::platform::time::{duration_secs, format_time};
use crate::store::{AccountRecord, OutgoingMail, QueuedMail, Store, WikiRecord};

const TEMPLATES: &[(&str, &str)] = &[
    ("confirm", include_str!("../templates/mail/confirm.txt")),
    ("reset", include_str!("../templates/mail/reset.txt")),
    ("request_received", include_str!("../templates/mail/request_received.txt")),
    ("request_needs_info", include_str!("../templates/mail/request_needs_info.txt")),
    ("request_approved", include_str!("../templates/mail/request_approved.txt")),
    ("request_declined", include_str!("../templates/mail/request_declined.txt")),
    ("wiki_ready", include_str!("../templates/mail/wiki_ready.txt")),
    ("wiki_renamed", include_str!("../templates/mail/wiki_renamed.txt")),
    ("transfer_offered", include_str!("../templates/mail/transfer_offered.txt")),
    ("transfer_done", include_str!("../templates/mail/transfer_done.txt")),
    ("manager_added", include_str!("../templates/mail/manager_added.txt")),
    ("manager_removed", include_str!("../templates/mail/manager_removed.txt")),
    ("sandbox_warning", include_str!("../templates/mail/sandbox_warning.txt")),
    ("sandbox_locked", include_str!("../templates/mail/sandbox_locked.txt")),
    ("sandbox_deleted", include_str!("../templates/mail/sandbox_deleted.txt")),
    ("upgrade_failed", include_str!("../templates/mail/upgrade_failed.txt")),
];

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

/// The mail about a wiki that goes to its owner: ready, and the sandbox's warnings, lock and
/// deletion.
pub struct Notices {
    store: Store,
    templates: std::sync::Arc<MailTemplates>,
    farm_name: String,
    urls: WikiUrls,
    sandbox_locked_for: Duration,
}

impl Notices {
    pub fn new(
        store: Store,
        templates: std::sync::Arc<MailTemplates>,
        farm_name: String,
        urls: WikiUrls,
        sandbox_locked_for: Duration,
    ) -> Self {
        Self { store, templates, farm_name, urls, sandbox_locked_for }
    }

    async fn owner(&self, owner: &Username) -> Result<Option<AccountRecord>, FarmError> {
        self.store.account_by_username_key(&owner.mediawiki_name()).await
    }

    /// "Your wiki is ready", worded by how the owner logs in: accounts made on the command line
    /// without a password got a one-time password for the wiki (in the API's answer) instead.
    pub async fn ready(&self, wiki: &WikiRecord) -> Result<Option<OutgoingMail>, FarmError> {
        if !wiki.notify_owner {
            return Ok(None);
        }
        let Some(account) = self.owner(&wiki.owner).await? else { return Ok(None) };
        let mail = self.templates.render(
            "wiki_ready",
            &account.email,
            minijinja::context! {
                username => account.username, farm => self.farm_name, sitename => wiki.sitename.as_str(),
                url => self.urls.wiki_url(wiki.name.as_str()), wiki_username => wiki.owner.mediawiki_name(),
                expires => wiki.expires_at.map(format_time), has_password => account.password_hash.is_some(),
            },
        )?;
        Ok(Some(mail))
    }

    /// A sandbox wiki's warning, lock or deletion (`kind`), for the owner.
    pub async fn sandbox(
        &self,
        kind: &'static str,
        wiki: &WikiRecord,
        expires_at: i64,
    ) -> Result<Option<OutgoingMail>, FarmError> {
        let Some(account) = self.owner(&wiki.owner).await? else { return Ok(None) };
        let locked_for = duration_secs(self.sandbox_locked_for);
        let mail = self.templates.render(
            kind,
            &account.email,
            minijinja::context! {
                username => account.username, name => wiki.name.as_str(), url => self.urls.wiki_url(wiki.name.as_str()),
                expires => format_time(expires_at),
                locked_for => humantime::format_duration(self.sandbox_locked_for).to_string(),
                deletes => format_time(expires_at.saturating_add(locked_for)),
            },
        )?;
        Ok(Some(mail))
    }
}

/// The SMTP side: off when the configuration has no `[smtp]`.
pub struct Mailer {
    transport: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    sealer: Sealer,
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
        Ok(Self { transport, sealer })
    }

    pub fn is_on(&self) -> bool {
        self.transport.is_some()
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Sends one queued message (its body opened only for this).
    pub async fn send(&self, mail: &QueuedMail) -> anyhow::Result<()> {
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
            has_password => true, old_name => "old", new_name => "new", until => "later", from => "bob",
            to => "carol", portal => "http://x/wikis/my-wiki", by => "olga", wiki => "my-wiki",
            codebase => "1.43", reason => "exited with status 1", output => "error", run => 3,
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
