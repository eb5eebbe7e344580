//! Handing a wiki to another farm account: the owner (or an admin) offers it, the recipient
//! accepts or declines, the offerer may cancel. Ownership moves only on acceptance, in one
//! guarded transaction with its audit entry and a mail to both sides.

use super::Farm;
use crate::domain::{permissions, Actor, Username, WikiName, WikiState};
use crate::error::FarmError;
use crate::platform::ratelimit::Source;
use crate::store::{AuditEntry, OutgoingMail, TransferRecord};

/// A transfer as its parties see it.
#[derive(Debug, Clone)]
pub struct TransferView {
    pub id: i64,
    pub wiki: String,
    pub from: String,
    pub to: String,
    /// `pending`, `accepted`, `declined` or `cancelled`.
    pub state: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl Farm {
    fn transfer_view(&self, record: TransferRecord, wiki: &WikiName) -> TransferView {
        TransferView {
            id: record.id,
            wiki: wiki.to_string(),
            from: record.from_owner,
            to: record.to_owner,
            state: record.state,
            created_at: record.created_at,
            decided_at: record.decided_at,
        }
    }

    fn transfer_audit(
        &self,
        actor: &Actor,
        action: &'static str,
        wiki: &WikiName,
        source: &Source,
        details: String,
    ) -> AuditEntry {
        AuditEntry {
            actor: actor.username.to_string(),
            action,
            target: format!("wiki:{wiki}"),
            source: source.label(),
            details: Some(details),
        }
    }

    async fn mail_to(
        &self,
        username: &str,
        template: &'static str,
        context: minijinja::Value,
    ) -> Result<Option<OutgoingMail>, FarmError> {
        let Ok(username) = Username::parse(username) else { return Ok(None) };
        let Some(account) = self.store.account_by_username_key(&username.mediawiki_name()).await? else {
            return Ok(None);
        };
        let context = minijinja::context! { username => account.username, ..context };
        Ok(Some(self.mail.render(template, &account.email, context)?))
    }

    /// Offers the wiki `name` to the account `to` (its owner or an admin).
    pub async fn offer_transfer(
        &self,
        actor: &Actor,
        name: &str,
        to: &str,
        source: &Source,
    ) -> Result<TransferView, FarmError> {
        let (wiki, managers) = self.visible_wiki(actor, name).await?;
        permissions::delete_wiki(actor, super::wikis::holders(&wiki, &managers))?;
        if !matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; only a served wiki is handed over",
                wiki.name,
                wiki.state.as_str()
            )));
        }
        let to = Username::parse(to)
            .map_err(|_| FarmError::invalid("to", "recipient_unknown", "no account has that user name".into()))?;
        let recipient = self
            .store
            .account_by_username_key(&to.mediawiki_name())
            .await?
            .ok_or_else(|| FarmError::invalid("to", "recipient_unknown", "no account has that user name".into()))?;
        if recipient.username == wiki.owner.as_str() {
            return Err(FarmError::invalid(
                "to",
                "recipient_is_owner",
                "the wiki already belongs to that account".into(),
            ));
        }
        let mail = self
            .mail_to(
                &recipient.username,
                "transfer_offered",
                minijinja::context! {
                    from => wiki.owner.as_str(), sitename => wiki.sitename.as_str(),
                    url => self.urls.wiki_url(wiki.name.as_str()), portal => format!("{}/wikis/{}", self.public_url, wiki.name),
                },
            )
            .await?;
        let mut tx = self.store.begin().await?;
        let id = tx.offer_transfer(wiki.id, wiki.owner.as_str(), &recipient.username).await?;
        tx.audit(&self.transfer_audit(
            actor,
            "wiki.transfer_offer",
            &wiki.name,
            source,
            format!("to {}", recipient.username),
        ))
        .await?;
        if let Some(mail) = &mail {
            tx.enqueue_mail(mail).await?;
        }
        tx.commit().await?;
        self.wakeups.outbox.notify_one();
        let record = self.store.transfer(id).await?.ok_or(FarmError::NotFound("transfer"))?;
        Ok(self.transfer_view(record, &wiki.name))
    }

    /// Pending transfers to and from the caller.
    pub async fn my_transfers(&self, actor: &Actor) -> Result<Vec<TransferView>, FarmError> {
        let mut views = Vec::new();
        for record in self.store.pending_transfers_of(actor.username.as_str()).await? {
            if let Some(wiki) = self.store.wiki_by_id(record.wiki_id).await? {
                views.push(self.transfer_view(record, &wiki.name));
            }
        }
        Ok(views)
    }

    /// The recipient accepts (`accept`) or declines a transfer; the offerer or an admin
    /// cancels it (`accept = None`).
    pub async fn decide_transfer(
        &self,
        actor: &Actor,
        id: i64,
        accept: Option<bool>,
        source: &Source,
    ) -> Result<TransferView, FarmError> {
        let record = self.store.transfer(id).await?.ok_or(FarmError::NotFound("transfer"))?;
        let me = actor.username.as_str();
        let party = record.to_owner == me || record.from_owner == me || actor.is_admin();
        if !party {
            return Err(FarmError::NotFound("transfer"));
        }
        let wiki = self.store.wiki_by_id(record.wiki_id).await?.ok_or(FarmError::NotFound("wiki"))?;
        if record.state != "pending" {
            return Err(FarmError::Conflict(format!("the transfer is {} already", record.state)));
        }
        // Rendered before the transaction: on SQLite it holds the one writer connection.
        let mut done_mails = Vec::new();
        if accept == Some(true) && record.to_owner == me {
            let context = minijinja::context! {
                from => record.from_owner.as_str(), to => record.to_owner.as_str(),
                sitename => wiki.sitename.as_str(), url => self.urls.wiki_url(wiki.name.as_str()),
            };
            for party in [&record.from_owner, &record.to_owner] {
                done_mails.extend(self.mail_to(party, "transfer_done", context.clone()).await?);
            }
        }
        let mut tx = self.store.begin().await?;
        match accept {
            Some(true) | Some(false) if record.to_owner != me => {
                return Err(FarmError::Forbidden("only the recipient accepts or declines a transfer"));
            }
            Some(true) => {
                if crate::domain::permissions::limited(actor) {
                    self.check_quota(&mut tx, actor).await?;
                }
                if !tx.accept_transfer(&record).await? {
                    return Err(FarmError::Conflict(
                        "the wiki changed meanwhile; the transfer no longer applies".into(),
                    ));
                }
                let details = format!("from {} to {}", record.from_owner, record.to_owner);
                tx.audit(&self.transfer_audit(actor, "wiki.transfer", &wiki.name, source, details)).await?;
                for mail in &done_mails {
                    tx.enqueue_mail(mail).await?;
                }
            }
            Some(false) => {
                if !tx.close_transfer(record.id, "declined").await? {
                    return Err(FarmError::Conflict("the transfer is no longer pending".into()));
                }
                tx.audit(&self.transfer_audit(
                    actor,
                    "wiki.transfer_decline",
                    &wiki.name,
                    source,
                    format!("to {}", record.to_owner),
                ))
                .await?;
            }
            None => {
                if record.from_owner != me && !actor.is_admin() {
                    return Err(FarmError::Forbidden("only the offerer or an admin cancels a transfer"));
                }
                if !tx.close_transfer(record.id, "cancelled").await? {
                    return Err(FarmError::Conflict("the transfer is no longer pending".into()));
                }
                tx.audit(&self.transfer_audit(
                    actor,
                    "wiki.transfer_cancel",
                    &wiki.name,
                    source,
                    format!("to {}", record.to_owner),
                ))
                .await?;
            }
        }
        tx.commit().await?;
        self.wakeups.rights.notify_one();
        self.wakeups.outbox.notify_one();
        let record = self.store.transfer(id).await?.ok_or(FarmError::NotFound("transfer"))?;
        Ok(self.transfer_view(record, &wiki.name))
    }
}
