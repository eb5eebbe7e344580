//! A wiki's settings: read, change on top of a revision, history, rollback, logo and favicon,
//! and the catalogue of extensions and skins. Owners manage their wikis, admins every wiki.
//!
//! A change runs under the wiki's lock: tables first (when an enabled extension needs some),
//! then the revision commits with its audit entry, then the shard is written. The answer comes
//! after the shard is in place, so the change is visible to MediaWiki when the caller hears
//! of it.

use sha2::{Digest, Sha256};

use super::{page_size, Farm, Page};
use crate::domain::image::{check_image, ImageSlot};
use crate::domain::settings::{Configuration, RequestedChange, RevisionChanges};
use crate::domain::{permissions, Actor, WikiState};
use crate::error::FarmError;
use crate::mediawiki::{ChangeContext, Component};
use crate::platform::fsutil::write_atomic;
use crate::platform::ratelimit::Source;
use crate::store::{AuditEntry, NewRevision, SettingsRevision, WikiRecord};

/// A wiki's current settings as its owner sees them.
#[derive(Debug, Clone)]
pub struct SettingsView {
    pub wiki: String,
    pub revision: i64,
    /// The wiki's shard has this revision (false only between a commit and its shard write).
    pub applied: bool,
    pub configuration: Configuration,
}

/// One revision of the history.
#[derive(Debug, Clone)]
pub struct RevisionView {
    pub revision: i64,
    pub actor: String,
    pub created_at: i64,
    pub changes: RevisionChanges,
    pub restored_from: Option<i64>,
    pub configuration: Configuration,
}

impl From<SettingsRevision> for RevisionView {
    fn from(r: SettingsRevision) -> Self {
        Self {
            revision: r.revision,
            actor: r.actor,
            created_at: r.created_at,
            changes: r.changes,
            restored_from: r.restored_from,
            configuration: r.configuration,
        }
    }
}

impl Farm {
    /// The extensions and skins of the codebase.
    pub fn catalogue(&self) -> &[Component] {
        self.features.catalogue.all()
    }

    /// Whether a new wiki starts with `id` enabled.
    pub fn enabled_by_default(&self, id: &str) -> bool {
        self.features.is_default(id)
    }

    async fn settings_wiki(&self, actor: &Actor, name: &str) -> Result<WikiRecord, FarmError> {
        let name = crate::domain::WikiName::parse(name).map_err(|_| FarmError::NotFound("wiki"))?;
        let record = self.store.wiki_by_name(name.as_str()).await?.ok_or(FarmError::NotFound("wiki"))?;
        let managers = self.manager_names(record.id).await?;
        permissions::manage_settings(actor, super::wikis::holders(&record, &managers))?;
        Ok(record)
    }

    async fn current_revision(&self, wiki: &WikiRecord) -> Result<SettingsRevision, FarmError> {
        self.store
            .settings_revision(wiki.id, wiki.settings_revision)
            .await?
            .ok_or_else(|| FarmError::Conflict("the wiki's settings are not set up yet; try again in a moment".into()))
    }

    fn settings_view(&self, wiki: &WikiRecord, revision: SettingsRevision) -> SettingsView {
        SettingsView {
            wiki: wiki.name.to_string(),
            revision: revision.revision,
            applied: wiki.applied_revision >= revision.revision,
            configuration: revision.configuration,
        }
    }

    pub async fn wiki_settings(&self, actor: &Actor, name: &str) -> Result<SettingsView, FarmError> {
        let wiki = self.settings_wiki(actor, name).await?;
        let revision = self.current_revision(&wiki).await?;
        Ok(self.settings_view(&wiki, revision))
    }

    /// Changes settings, extensions and skins on top of revision `base`.
    pub async fn change_settings(
        &self,
        actor: &Actor,
        name: &str,
        base: i64,
        change: &RequestedChange,
        source: &Source,
    ) -> Result<SettingsView, FarmError> {
        if change.is_empty() {
            return Err(FarmError::invalid(
                "settings",
                "change_empty",
                "name at least one setting, extension or skin".into(),
            ));
        }
        let wiki = self.settings_wiki(actor, name).await?;
        self.commit_configuration(actor, wiki, base, source, |farm, wiki, current| async move {
            let language_locked = match change.settings.get("language") {
                Some(value) if value.as_str() != Some(current.settings.language.as_str()) => {
                    farm.configurator.database(&wiki)?.edited_by_people().await?
                }
                _ => false,
            };
            let context = ChangeContext { admin: actor.is_admin(), languages: &farm.languages, language_locked };
            Ok((farm.features.change(&current, change, &context)?, None))
        })
        .await
    }

    /// Restores the configuration of an earlier `revision`, as a new revision.
    pub async fn rollback_settings(
        &self,
        actor: &Actor,
        name: &str,
        revision: i64,
        source: &Source,
    ) -> Result<SettingsView, FarmError> {
        let wiki = self.settings_wiki(actor, name).await?;
        let base = wiki.settings_revision;
        let earlier = self.store.settings_revision(wiki.id, revision).await?.ok_or_else(|| {
            FarmError::invalid("revision", "revision_unknown", format!("the wiki has no settings revision {revision}"))
        })?;
        self.commit_configuration(actor, wiki, base, source, |farm, wiki, current| async move {
            let next = earlier.configuration;
            let language_locked = next.settings.language != current.settings.language
                && farm.configurator.database(&wiki)?.edited_by_people().await?;
            let context = ChangeContext { admin: actor.is_admin(), languages: &farm.languages, language_locked };
            farm.features.check(&current, &next, &context)?;
            Ok((next, Some(revision)))
        })
        .await
    }

    /// Stores an uploaded logo or favicon in the wiki's assets and makes it the wiki's.
    pub async fn set_wiki_image(
        &self,
        actor: &Actor,
        name: &str,
        slot: ImageSlot,
        base: Option<i64>,
        bytes: &[u8],
        source: &Source,
    ) -> Result<SettingsView, FarmError> {
        let wiki = self.settings_wiki(actor, name).await?;
        let format = check_image(slot, bytes)?;
        let base = base.unwrap_or(wiki.settings_revision);
        let digest = hex::encode(Sha256::digest(bytes));
        let file = format!("{}-{}.{}", slot.as_str(), &digest[..16], format.extension());
        self.commit_configuration(actor, wiki, base, source, |farm, wiki, current| async move {
            if wiki.state != WikiState::Active {
                return Err(not_changeable(&wiki));
            }
            // Named by content and never removed, so every revision's image stays.
            let dir = farm.layout.wiki_dir(&wiki.key).join("assets");
            std::fs::create_dir_all(&dir).map_err(anyhow::Error::from)?;
            write_atomic(&dir.join(&file), bytes, 0o640).map_err(anyhow::Error::from)?;
            let mut next = current.clone();
            match slot {
                ImageSlot::Logo => next.settings.logo = Some(file),
                ImageSlot::Favicon => next.settings.favicon = Some(file),
            }
            Ok((next, None))
        })
        .await
    }

    /// Newest first; `before` continues from a page's last revision.
    pub async fn settings_history(
        &self,
        actor: &Actor,
        name: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Page<RevisionView>, FarmError> {
        let wiki = self.settings_wiki(actor, name).await?;
        let limit = page_size(limit)?;
        let rows = self.store.settings_history(wiki.id, before, limit + 1).await?;
        let rows: Vec<RevisionView> = rows.into_iter().map(RevisionView::from).collect();
        Ok(Page::from_rows(rows, limit, |r| r.revision))
    }

    /// The common path of every change: under the wiki's lock, check state and base, let
    /// `next` compute the new configuration from the current one, make its tables, commit the
    /// revision with its audit entry, write the shard.
    async fn commit_configuration<'a, F, Fut>(
        &'a self,
        actor: &Actor,
        wiki: WikiRecord,
        base: i64,
        source: &Source,
        next: F,
    ) -> Result<SettingsView, FarmError>
    where
        F: FnOnce(&'a Farm, WikiRecord, Configuration) -> Fut,
        Fut: std::future::Future<Output = Result<(Configuration, Option<i64>), FarmError>>,
    {
        let _guard = self.configurator.lock(wiki.id).await;
        let wiki = self.store.wiki_by_id(wiki.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        // The extensions offered, and the update.php that makes their tables, are the current
        // codebase's: a wiki still on another one changes its settings once it is upgraded.
        if wiki.codebase != self.codebases.current_name() {
            return Err(FarmError::Conflict(format!(
                "the wiki still runs on the codebase {:?}; its settings change once it is upgraded to {:?}",
                wiki.codebase,
                self.codebases.current_name()
            )));
        }
        if wiki.state != WikiState::Active {
            return Err(not_changeable(&wiki));
        }
        if base != wiki.settings_revision {
            return Err(stale(base, wiki.settings_revision));
        }
        let current = self.current_revision(&wiki).await?;
        let (configuration, restored_from) = next(self, wiki.clone(), current.configuration.clone()).await?;
        let changes = RevisionChanges::between(&current.configuration, &configuration);
        if changes.is_empty() {
            return Ok(self.settings_view(&wiki, current));
        }
        let missing = self.features.missing_tables(&configuration, &wiki.schema_extensions);
        if !missing.is_empty() {
            self.configurator.ensure_tables(&wiki, &missing).await.map_err(|err| {
                tracing::error!(wiki = %wiki.name, error = %format!("{err:#}"), "cannot create extension tables");
                FarmError::Unavailable(format!(
                    "could not create the tables of {}; try again later",
                    missing.join(", ")
                ))
            })?;
        }
        let mut tx = self.store.begin().await?;
        let added = tx
            .add_settings_revision(&NewRevision {
                wiki_id: wiki.id,
                base,
                actor: actor.username.as_str(),
                configuration: &configuration,
                changes: &changes,
                restored_from,
            })
            .await?;
        if !added {
            return Err(stale(base, base + 1));
        }
        let action = if restored_from.is_some() { "wiki.settings_rollback" } else { "wiki.settings" };
        let mut details = format!("revision {}: {}", base + 1, changes.summary());
        if let Some(from) = restored_from {
            details.push_str(&format!(" (restores revision {from})"));
        }
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action,
            target: format!("wiki:{}", wiki.name),
            source: source.label(),
            details: Some(truncate(&details, 1000)),
        })
        .await?;
        tx.commit().await?;
        tracing::info!(wiki = %wiki.name, revision = base + 1, by = %actor.username, "settings changed");
        let wiki = self.store.wiki_by_id(wiki.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        // Committed: a failure here is healed at the next start; the caller sees applied=false.
        if let Err(err) = self.configurator.write(&wiki).await {
            tracing::error!(wiki = %wiki.name, error = %format!("{err:#}"), "cannot write the wiki's shard");
        }
        let wiki = self.store.wiki_by_id(wiki.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        let revision = self.current_revision(&wiki).await?;
        Ok(self.settings_view(&wiki, revision))
    }
}

fn stale(base: i64, current: i64) -> FarmError {
    FarmError::Conflict(format!(
        "the settings changed since revision {base} (the current one is {current}); read them again and redo the change"
    ))
}

fn not_changeable(wiki: &WikiRecord) -> FarmError {
    FarmError::Conflict(format!("the wiki is {}; its settings change only while it is active", wiki.state.as_str()))
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
