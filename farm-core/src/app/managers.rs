//! A wiki's managers: other farm accounts its owner (or an admin) names, who see the wiki and
//! change its settings like the owner, but do not delete, rename, hand over, export, back up
//! or restore it, nor name managers themselves ([`permissions`]). Each change commits with its
//! audit entry and a mail to the account concerned.
//!
//! Adding someone who already manages the wiki is a `409 conflict`, so that a caller learns
//! nothing was added (and no second mail goes out).

use super::wikis::holders;
use super::Farm;
use crate::domain::{permissions, Actor, Username, WikiState};
use crate::error::FarmError;
use crate::platform::ratelimit::Source;
use crate::store::{AccountRecord, AuditEntry, ManagerRecord, WikiRecord};

/// A manager as those who see the wiki see them.
#[derive(Debug, Clone)]
pub struct ManagerView {
    pub username: String,
    pub added_by: String,
    pub added_at: i64,
}

impl From<ManagerRecord> for ManagerView {
    fn from(record: ManagerRecord) -> Self {
        Self { username: record.username, added_by: record.added_by, added_at: record.added_at }
    }
}

impl Farm {
    /// The managers of the wiki `name`, for whoever may see it.
    pub async fn managers(&self, actor: &Actor, name: &str) -> Result<Vec<ManagerView>, FarmError> {
        let (wiki, _) = self.visible_wiki(actor, name).await?;
        Ok(self.store.managers(wiki.id).await?.into_iter().map(ManagerView::from).collect())
    }

    /// Names the confirmed account `username` a manager of the wiki `name` (its owner or an
    /// admin); returns the managers now.
    pub async fn add_manager(
        &self,
        actor: &Actor,
        name: &str,
        username: &str,
        source: &Source,
    ) -> Result<Vec<ManagerView>, FarmError> {
        let wiki = self.managed_wiki(actor, name).await?;
        let unknown = || FarmError::invalid("username", "manager_unknown", "no account has that user name".into());
        let username = Username::parse(username).map_err(|_| unknown())?;
        let account = self.store.account_by_username_key(&username.mediawiki_name()).await?.ok_or_else(unknown)?;
        if account.username == wiki.owner.as_str() {
            return Err(FarmError::invalid(
                "username",
                "manager_is_owner",
                "that account owns the wiki; owners need not be managers".into(),
            ));
        }
        if account.email_confirmed_at.is_none() {
            return Err(FarmError::invalid(
                "username",
                "manager_unconfirmed",
                "that account has not confirmed its email address yet".into(),
            ));
        }
        // Read and rendered before the transaction: on SQLite it holds the one writer.
        let mail = self.manager_mail("manager_added", &account, &wiki, actor)?;
        let mut tx = self.store.begin().await?;
        if !tx.add_manager(wiki.id, &account.username, actor.username.as_str()).await? {
            return Err(FarmError::Conflict(format!("{} already manages the wiki {}", account.username, wiki.name)));
        }
        tx.want_rights_sync(wiki.id).await?;
        tx.audit(&self.manager_audit(actor, "wiki.manager_added", &wiki, source, &account.username)).await?;
        tx.enqueue_mail(&mail).await?;
        tx.commit().await?;
        self.wakeups.outbox.notify_one();
        self.wakeups.rights.notify_one();
        tracing::info!(wiki = %wiki.name, manager = %account.username, by = %actor.username, "manager added");
        self.managers(actor, name).await
    }

    /// Removes `username` from the managers of the wiki `name` (its owner or an admin); returns
    /// the managers now.
    pub async fn remove_manager(
        &self,
        actor: &Actor,
        name: &str,
        username: &str,
        source: &Source,
    ) -> Result<Vec<ManagerView>, FarmError> {
        let wiki = self.managed_wiki(actor, name).await?;
        let managers = self.store.managers(wiki.id).await?;
        // Matched as accounts are: by the name's key, not its spelling.
        let key = Username::parse(username).map_err(|_| FarmError::NotFound("manager"))?.mediawiki_name();
        let manager = managers
            .iter()
            .find(|manager| {
                Username::parse(&manager.username).ok().map(|name| name.mediawiki_name()).as_ref() == Some(&key)
            })
            .ok_or(FarmError::NotFound("manager"))?;
        let account = self.store.account_by_username_key(&key).await?;
        let mail = match &account {
            Some(account) => Some(self.manager_mail("manager_removed", account, &wiki, actor)?),
            None => None,
        };
        let mut tx = self.store.begin().await?;
        if !tx.remove_manager(wiki.id, &manager.username).await? {
            return Err(FarmError::NotFound("manager"));
        }
        tx.want_rights_sync(wiki.id).await?;
        tx.audit(&self.manager_audit(actor, "wiki.manager_removed", &wiki, source, &manager.username)).await?;
        if let Some(mail) = &mail {
            tx.enqueue_mail(mail).await?;
        }
        tx.commit().await?;
        self.wakeups.rights.notify_one();
        self.wakeups.outbox.notify_one();
        tracing::info!(wiki = %wiki.name, manager = %manager.username, by = %actor.username, "manager removed");
        self.managers(actor, name).await
    }

    /// The wiki `name`, if `actor` may change its managers and it is not on its way out.
    async fn managed_wiki(&self, actor: &Actor, name: &str) -> Result<WikiRecord, FarmError> {
        let (wiki, managers) = self.visible_wiki(actor, name).await?;
        permissions::change_managers(actor, holders(&wiki, &managers))?;
        if matches!(wiki.state, WikiState::Deleting | WikiState::Deleted) {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; its managers no longer change",
                wiki.name,
                wiki.state.as_str()
            )));
        }
        Ok(wiki)
    }

    fn manager_mail(
        &self,
        template: &'static str,
        account: &AccountRecord,
        wiki: &WikiRecord,
        actor: &Actor,
    ) -> Result<crate::store::OutgoingMail, FarmError> {
        self.mail.render(
            template,
            &account.email,
            minijinja::context! {
                username => account.username.as_str(), by => actor.username.as_str(),
                sitename => wiki.sitename.as_str(), url => self.urls.wiki_url(wiki.name.as_str()),
                portal => format!("{}/wikis/{}", self.public_url, wiki.name),
            },
        )
    }

    fn manager_audit(
        &self,
        actor: &Actor,
        action: &'static str,
        wiki: &WikiRecord,
        source: &Source,
        manager: &str,
    ) -> AuditEntry {
        AuditEntry {
            actor: actor.username.to_string(),
            action,
            target: format!("wiki:{}", wiki.name),
            source: source.label(),
            details: Some(manager.to_owned()),
        }
    }
}
