//! Wikis: create (one or many), read, list, the name check, the public directory, delete and
//! keep. Who may do what is asked of [`permissions`]; each change commits with its audit entry.

use std::sync::Arc;

use super::{page_size, Farm, Page, DEFAULT_LANGUAGE};
use crate::backends::mariadb::{DbPassword, Ident};
use crate::domain::permissions::WikiHolders;
use crate::domain::settings::{Configuration, RequestedChange};
use crate::domain::{permissions, Actor, Backend, LanguageCode, ResourceKey, Secret, Sitename, WikiName, WikiState};
use crate::error::FarmError;
use crate::jobs::lifecycle::apply_locks;
use crate::jobs::provision::Step;
use crate::jobs::INITIAL_PASSWORD_LEN;
use crate::mediawiki::password::PasswordStock;
use crate::mediawiki::ChangeContext;
use crate::platform::fsutil::remove_dir_all_if_exists;
use crate::platform::ratelimit::{Action, Source};
use crate::platform::time::{duration_secs, format_time, now};
use crate::store::{AuditEntry, NewWiki, Tx, WikiFilter, WikiRecord};

/// What a caller asks for when creating a wiki (already shaped, not yet validated).
#[derive(Debug, Clone)]
pub struct CreateWiki {
    pub name: String,
    pub sitename: String,
    pub language: Option<String>,
    /// `sqlite` or `mariadb`; admins only. Defaults to the farm's `default_backend`.
    pub backend: Option<String>,
    /// Settings, extensions and skins that differ from the farm's defaults for new wikis.
    pub settings: RequestedChange,
    /// The starter whose pages it begins with (`GET /api/v1/starters`); default: the farm's.
    pub starter: Option<String>,
}

/// A wiki as one caller may see it: what they may not see is left out.
#[derive(Debug, Clone)]
pub struct WikiView {
    pub name: WikiName,
    pub sitename: String,
    pub language: String,
    pub state: WikiState,
    pub url: String,
    pub owner: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub activated_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// Sandbox wikis: when they become read-only unless kept.
    pub expires_at: Option<i64>,
    /// In the trash: until when it can be undeleted.
    pub restorable_until: Option<i64>,
    /// Why it could not be built: in full for admins, a summary for owners.
    pub failure: Option<String>,
    /// The pipeline's steps, when asked for one wiki.
    pub progress: Option<Vec<StepProgress>>,
    /// Where its resources live: for admins only.
    pub storage: Option<Storage>,
    /// Whether this caller may delete it.
    pub deletable: bool,
    /// The starter it began with (none for a wiki made from an archive).
    pub starter: Option<String>,
    /// The accounts its owner named to change its settings too (only those who see the wiki
    /// see this).
    pub managers: Vec<String>,
}

impl WikiView {
    /// Who holds the wiki, for [`permissions`] (the portal asks what to offer).
    pub fn holders(&self) -> WikiHolders<'_> {
        WikiHolders { owner: &self.owner, managers: &self.managers }
    }
}

#[derive(Debug, Clone)]
pub struct StepProgress {
    pub step: &'static str,
    pub done: bool,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub backend: Backend,
    pub key: String,
    pub directory: String,
    /// The SQLite file, or the database name on `server`.
    pub database: String,
    pub server: Option<String>,
}

pub type WikiPage = Page<WikiView>;

/// What became of one row of a bulk creation.
#[derive(Debug)]
pub enum BulkOutcome {
    /// Created now; the owner's one-time password comes with it (accounts without a password).
    Created(WikiView, Option<Secret>),
    /// The caller already has a live wiki of that name (a repeated run): nothing was done.
    Exists(WikiView),
    /// Refused, with the reason (the same errors as a single creation).
    Refused(FarmError),
}

/// Most rows one bulk call takes.
pub const MAX_BULK_ROWS: usize = 1000;

/// A validated new wiki with everything it needs, not yet recorded.
pub(crate) struct PreparedWiki {
    pub name: WikiName,
    pub sitename: Sitename,
    pub language: LanguageCode,
    pub backend: Backend,
    pub owner: String,
    pub password_hash: String,
    pub key: ResourceKey,
    pub db_server: Option<String>,
    pub db_password_sealed: Option<String>,
    pub expires_at: Option<i64>,
    pub notify_owner: bool,
    /// Its settings revision 1.
    pub configuration: Configuration,
    /// Its content comes from an archive (never from the warm pool, whose key is not known
    /// before the insert).
    pub import_pending: bool,
    /// The starter it begins with; none for an import.
    pub starter: Option<String>,
}

impl Farm {
    fn audit(
        &self,
        actor: &Actor,
        action: &'static str,
        name: &str,
        source: &Source,
        details: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: actor.username.to_string(),
            action,
            target: format!("wiki:{name}"),
            source: source.label(),
            details,
        }
    }

    /// `record` as `actor` sees it; `steps` (the steps done) for the progress of one wiki.
    pub(crate) fn view(
        &self,
        actor: &Actor,
        record: WikiRecord,
        managers: Vec<String>,
        steps: Option<Vec<String>>,
    ) -> WikiView {
        let storage = permissions::see_storage(actor).then(|| {
            let directory = self.layout.wiki_dir(&record.key);
            let database = match &record.db_server {
                Some(_) => Ident::for_wiki(&record.key).as_str().to_owned(),
                None => directory.join("db").join(format!("{}.sqlite", record.key)).display().to_string(),
            };
            Storage {
                backend: record.backend,
                key: record.key.to_string(),
                directory: directory.display().to_string(),
                database,
                server: record.db_server.clone(),
            }
        });
        // Failure details name paths and commands: admins see them, owners a summary.
        let failure =
            record.failure.as_ref().filter(|_| record.state == WikiState::Failed || actor.is_admin()).map(|detail| {
                if permissions::see_failure_details(actor) {
                    detail.clone()
                } else {
                    "the wiki could not be built; the farm's operators can see why".to_owned()
                }
            });
        let progress = steps.map(|done| {
            Step::ALL
                .into_iter()
                .map(|step| StepProgress {
                    step: step.as_str(),
                    done: record.state == WikiState::Active || done.iter().any(|d| d == step.as_str()),
                })
                .collect()
        });
        WikiView {
            url: self.urls.wiki_url(record.name.as_str()),
            deletable: permissions::may_delete_wiki(actor, holders(&record, &managers)),
            starter: record.starter.clone(),
            sitename: record.sitename.as_str().to_owned(),
            language: record.language,
            state: record.state,
            owner: record.owner.to_string(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            activated_at: record.activated_at,
            deleted_at: record.deleted_at,
            expires_at: record.expires_at,
            restorable_until: record.purge_after.filter(|_| record.state == WikiState::Trashed),
            name: record.name,
            failure,
            progress,
            storage,
            managers,
        }
    }

    /// How `actor` (anyone, before they log in) gets a wiki on this farm.
    pub fn way_to_a_wiki(&self, actor: Option<&Actor>) -> permissions::WayToAWiki {
        match actor {
            Some(actor) => permissions::way_to_a_wiki(actor, self.config.policy),
            None if self.config.policy == crate::domain::FarmMode::Review => permissions::WayToAWiki::Request,
            None => permissions::WayToAWiki::Create,
        }
    }

    /// Creates a wiki owned by `actor`, as the farm's policy, quotas and rate limits allow.
    /// Returns it (state `provisioning`) and, for accounts without a password, the owner's
    /// one-time initial password (kept nowhere but in the wiki, hashed). Accounts with a
    /// password log in to their wikis with it.
    pub async fn create_wiki(
        &self,
        actor: &Actor,
        request: CreateWiki,
        source: &Source,
    ) -> Result<(WikiView, Option<Secret>), FarmError> {
        self.create_wiki_as(actor, request, source, true, None).await
    }

    /// A fresh path for an uploaded archive, under `data/imports/` (removed by the caller, or
    /// at the next start).
    pub fn new_import_upload(&self) -> anyhow::Result<std::path::PathBuf> {
        let dir = self.layout.imports_dir();
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("incoming-{}", crate::platform::random::random_hex(8))))
    }

    /// Creates a wiki from an archive at `upload` (farmd's export, or a MediaWiki XML dump,
    /// maybe gzipped), which is checked and unpacked before anything is made; the wiki goes
    /// live once the pipeline has loaded it. A farmd export's settings come with it (checked
    /// against this farm's rules), with `request`'s name and site name.
    pub async fn import_wiki(
        &self,
        actor: &Actor,
        mut request: CreateWiki,
        upload: &std::path::Path,
        source: &Source,
    ) -> Result<(WikiView, Option<Secret>), FarmError> {
        permissions::create_wiki(actor, self.config.policy)?;
        let staging = self.layout.imports_dir().join(format!("staging-{}", crate::platform::random::random_hex(8)));
        let max = self.config.import_max_bytes;
        let (upload_path, staging_path) = (upload.to_path_buf(), staging.clone());
        let checked = tokio::task::spawn_blocking(move || {
            crate::mediawiki::archive::check_and_unpack(&upload_path, &staging_path, max)
        })
        .await
        .map_err(|e| FarmError::Internal(e.into()))??;
        if let Some(imported) = &checked.configuration {
            // The archive's settings, extensions and skins, as a change over this farm's
            // defaults, so that they pass the same rules; the caller's own fields win.
            let mut change = std::mem::take(&mut request.settings);
            if let serde_json::Value::Object(values) =
                serde_json::to_value(&imported.settings).map_err(anyhow::Error::from)?
            {
                for (key, value) in values {
                    // Images stay behind (their files are the old wiki's); admin-only values
                    // are this farm's to set.
                    let admin_only = crate::domain::settings::definition(&key).is_some_and(|d| d.admin_only);
                    if !["sitename", "logo", "favicon"].contains(&key.as_str()) && (!admin_only || actor.is_admin()) {
                        change.settings.entry(key).or_insert(value);
                    }
                }
            }
            for component in self.features.catalogue.all() {
                let (enabled, set) = match component.kind {
                    crate::mediawiki::ComponentKind::Extension => (&imported.extensions, &mut change.extensions),
                    crate::mediawiki::ComponentKind::Skin => (&imported.skins, &mut change.skins),
                };
                set.entry(component.id.clone()).or_insert(enabled.contains(&component.id));
            }
            request.settings = change;
        }
        let created = self.create_wiki_as(actor, request, source, true, Some(&staging)).await;
        if created.is_err() {
            let _ = remove_dir_all_if_exists(&staging);
        }
        created
    }

    async fn create_wiki_as(
        &self,
        actor: &Actor,
        request: CreateWiki,
        source: &Source,
        notify_owner: bool,
        import: Option<&std::path::Path>,
    ) -> Result<(WikiView, Option<Secret>), FarmError> {
        permissions::create_wiki(actor, self.config.policy)?;
        if permissions::limited(actor) {
            self.limits.check(Action::Create, source, Some(actor.username.as_str()))?;
        }
        let account = self.store.account_by_id(actor.account_id).await?.ok_or(FarmError::NotFound("account"))?;
        let expires_at = permissions::sandboxed(actor, self.config.policy)
            .then(|| now() + duration_secs(self.config.sandbox.lifetime));
        let (mut prepared, password) = self
            .prepare_wiki(
                actor,
                &account.username,
                account.password_hash.as_deref(),
                &request,
                expires_at,
                notify_owner,
            )
            .await?;
        if import.is_some() {
            prepared.import_pending = true;
            prepared.starter = None;
        }
        let mut tx = self.store.begin().await?;
        if permissions::limited(actor) {
            self.check_quota(&mut tx, actor).await?;
        }
        let key = self.record_wiki(&mut tx, &prepared).await?;
        let mut details = expires_at.map(|at| format!("sandbox, expires {}", format_time(at)));
        if let Some(staging) = import {
            // In place before the commit: a kill leaves either no wiki (and an archive the
            // start removes) or a wiki with its archive.
            std::fs::rename(staging, self.layout.import_dir(&prepared.key)).map_err(anyhow::Error::from)?;
            details = Some("from an archive".into());
        }
        tx.audit(&self.audit(actor, "wiki.create", prepared.name.as_str(), source, details)).await?;
        if let Err(err) = tx.commit().await {
            if import.is_some() {
                let _ = remove_dir_all_if_exists(&self.layout.import_dir(&prepared.key));
            }
            return Err(err);
        }
        let record = self.store.inserted(&key).await?;
        tracing::info!(wiki = %prepared.name, owner = %account.username, key = %key, pooled = record.pooled, "wiki requested");
        self.wakeups.provisioning();
        Ok((self.view(actor, record, Vec::new(), Some(Vec::new())), password))
    }

    /// Refuses when `actor` already holds as many wikis and open requests as the quota allows.
    /// Inside the transaction that adds one, so two concurrent calls cannot both pass.
    pub(crate) async fn check_quota(&self, tx: &mut Tx, actor: &Actor) -> Result<(), FarmError> {
        tx.lock_account(actor.account_id).await?;
        let max = self.config.quotas.max_wikis_per_account;
        if tx.holdings(actor.username.as_str()).await? >= i64::from(max) {
            return Err(FarmError::denied(
                "quota_exceeded",
                format!("an account may hold {max} wikis and open requests; delete or withdraw one first"),
            ));
        }
        Ok(())
    }

    /// Validates a new wiki's fields and gets everything it needs ready (password hash, key,
    /// placement), before any transaction.
    pub(crate) async fn prepare_wiki(
        &self,
        actor: &Actor,
        owner: &str,
        owner_password_hash: Option<&str>,
        request: &CreateWiki,
        expires_at: Option<i64>,
        notify_owner: bool,
    ) -> Result<(PreparedWiki, Option<Secret>), FarmError> {
        let name = self.names.parse(&request.name)?;
        let sitename = Sitename::parse(&request.sitename)?;
        let language = self.languages.parse(request.language.as_deref().unwrap_or(DEFAULT_LANGUAGE))?;
        let initial = self.features.initial(&sitename, language.as_str());
        let context = ChangeContext { admin: actor.is_admin(), languages: &self.languages, language_locked: false };
        let configuration = self.features.change(&initial, &request.settings, &context)?;
        // Settings may rename the wiki or pick its language as the top-level fields do.
        let sitename = Sitename::parse(&configuration.settings.sitename)?;
        let language = self.languages.parse(&configuration.settings.language)?;
        let starter = match request.starter.as_deref() {
            None => self.starters.default_starter().id.clone(),
            Some(id) => self.starter_id(id)?,
        };
        let backend = match request.backend.as_deref() {
            None => self.config.default_backend,
            Some(value) => {
                permissions::choose_backend(actor)?;
                Backend::parse(value).ok_or_else(|| {
                    FarmError::invalid("backend", "backend_unknown", "backend must be sqlite or mariadb".into())
                })?
            }
        };
        // Cheap early answer before hashing; the unique index decides races.
        if self.store.wiki_by_name(name.as_str()).await?.is_some() {
            return Err(FarmError::NameTaken(name.to_string()));
        }
        // Farm accounts only (the default): no password reaches the wiki, whose owner logs in
        // through the portal's sign-on; an empty hash is one MediaWiki never accepts. With local
        // accounts too, the account's own argon2id hash works in MediaWiki (`:argon2:`), and
        // accounts without one get an initial password.
        let (password, password_hash) = match owner_password_hash {
            _ if !self.config.wiki_accounts.local_accounts => (None, String::new()),
            Some(hash) => (None, format!(":argon2:{hash}")),
            None => {
                let (password, hash) = match self.passwords.take() {
                    Some(prepared) => prepared,
                    None => PasswordStock::prepare(INITIAL_PASSWORD_LEN).await?,
                };
                (Some(password), hash)
            }
        };
        let (db_server, db_password_sealed) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Mariadb => {
                let server = self.place_new_wiki().await?;
                (Some(server), Some(self.sealer.seal(DbPassword::generate().secret())?))
            }
        };
        let prepared = PreparedWiki {
            name,
            sitename,
            language,
            backend,
            owner: owner.to_owned(),
            password_hash,
            key: ResourceKey::generate(),
            db_server,
            db_password_sealed,
            expires_at,
            notify_owner,
            configuration,
            import_pending: false,
            starter: Some(starter),
        };
        Ok((prepared, password))
    }

    /// Records a prepared wiki in `tx`, from the warm pool when it has a fitting entry.
    /// Returns the wiki's resource key.
    pub(crate) async fn record_wiki(&self, tx: &mut Tx, prepared: &PreparedWiki) -> Result<String, FarmError> {
        let configuration = serde_json::to_string(&prepared.configuration).map_err(anyhow::Error::from)?;
        let schema_extensions =
            serde_json::to_string(&self.features.table_extensions()).map_err(anyhow::Error::from)?;
        let new = NewWiki {
            codebase: self.codebases.current_name(),
            name: prepared.name.as_str(),
            resource_key: prepared.key.as_str(),
            sitename: prepared.sitename.as_str(),
            language: prepared.language.as_str(),
            owner: &prepared.owner,
            backend: prepared.backend.as_str(),
            owner_password_hash: &prepared.password_hash,
            db_server: prepared.db_server.as_deref(),
            db_password_sealed: prepared.db_password_sealed.as_deref(),
            expires_at: prepared.expires_at,
            notify_owner: prepared.notify_owner,
            configuration: &configuration,
            private: prepared.configuration.settings.private,
            schema_extensions: &schema_extensions,
            import_pending: prepared.import_pending,
            starter: prepared.starter.as_deref(),
        };
        let pooled = prepared
            .starter
            .as_deref()
            .is_some_and(|starter| self.pool_plan.pools(prepared.backend, &prepared.language, starter));
        if !prepared.import_pending && pooled {
            let slot = self.pool_plan.slot(prepared.backend, prepared.db_server.as_deref().unwrap_or(""));
            if let Some(key) = tx.insert_wiki_from_pool(new, &slot).await? {
                return Ok(key);
            }
        }
        tx.insert_wiki(new).await?;
        Ok(prepared.key.as_str().to_owned())
    }

    /// Creates many wikis for `actor`, one outcome per row in the same order. Safe to repeat:
    /// a row whose name the caller already holds with a live wiki is reported as existing.
    /// Rows are worked on a few at a time (password hashing is the costly part).
    pub async fn create_wikis(
        self: &Arc<Self>,
        actor: &Actor,
        rows: Vec<CreateWiki>,
        source: &Source,
    ) -> Result<Vec<BulkOutcome>, FarmError> {
        if rows.is_empty() || rows.len() > MAX_BULK_ROWS {
            return Err(FarmError::invalid(
                "wikis",
                "bulk_size",
                format!("send between 1 and {MAX_BULK_ROWS} wikis per call"),
            ));
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(4));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, row) in rows.into_iter().enumerate() {
            let (farm, actor, permits, source) = (self.clone(), actor.clone(), permits.clone(), *source);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (index, farm.create_or_find(&actor, row, &source).await)
            });
        }
        let mut outcomes: Vec<Option<BulkOutcome>> = Vec::new();
        outcomes.resize_with(tasks.len(), || None);
        while let Some(joined) = tasks.join_next().await {
            let (index, outcome) =
                joined.map_err(|e| FarmError::Internal(anyhow::anyhow!("a bulk row panicked: {e}")))?;
            outcomes[index] = Some(outcome);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(BulkOutcome::Refused(FarmError::Internal(anyhow::anyhow!("lost row")))))
            .collect())
    }

    async fn create_or_find(&self, actor: &Actor, row: CreateWiki, source: &Source) -> BulkOutcome {
        if let Ok(Some(existing)) = self.store.wiki_by_name(&row.name).await {
            let live = matches!(existing.state, WikiState::Provisioning | WikiState::Active | WikiState::Locked);
            if live && existing.owner == actor.username {
                let managers = match self.manager_names(existing.id).await {
                    Ok(managers) => managers,
                    Err(err) => return BulkOutcome::Refused(err),
                };
                return BulkOutcome::Exists(self.view(actor, existing, managers, None));
            }
        }
        // Bulk creations do not mail the owner once per wiki.
        match self.create_wiki_as(actor, row, source, false, None).await {
            Ok((view, password)) => BulkOutcome::Created(view, password),
            Err(err) => BulkOutcome::Refused(err),
        }
    }

    /// The server a new MariaDB wiki goes to (see [`crate::backends::mariadb::DbServers::place`]).
    async fn place_new_wiki(&self) -> Result<String, FarmError> {
        if self.servers.is_empty() {
            return Err(FarmError::invalid(
                "backend",
                "backend_unavailable",
                "this farm has no MariaDB server configured".into(),
            ));
        }
        let counts = self.store.wiki_counts_by_server().await?;
        self.servers.place(&counts, &[]).map(|server| server.name().to_owned()).ok_or_else(|| {
            FarmError::Unavailable("no database server takes new wikis right now; try again later".into())
        })
    }

    /// The wiki called `name`, if `actor` may see it, with its progress.
    pub async fn get_wiki(&self, actor: &Actor, name: &str) -> Result<WikiView, FarmError> {
        let (record, managers) = self.visible_wiki(actor, name).await?;
        let steps = self.store.steps_done(record.id).await?;
        Ok(self.view(actor, record, managers, Some(steps)))
    }

    /// The wiki called `name` with its managers' names, if `actor` may see it.
    pub(crate) async fn visible_wiki(&self, actor: &Actor, name: &str) -> Result<(WikiRecord, Vec<String>), FarmError> {
        let name = WikiName::parse(name).map_err(|_| FarmError::NotFound("wiki"))?;
        let record = self.store.wiki_by_name(name.as_str()).await?.ok_or(FarmError::NotFound("wiki"))?;
        let managers = self.manager_names(record.id).await?;
        permissions::see_wiki(actor, holders(&record, &managers))?;
        Ok((record, managers))
    }

    pub(crate) async fn manager_names(&self, wiki_id: i64) -> Result<Vec<String>, FarmError> {
        Ok(self.store.managers(wiki_id).await?.into_iter().map(|manager| manager.username).collect())
    }

    /// A page of wikis: members see their own, staff all (optionally one owner's).
    pub async fn list_wikis(
        &self,
        actor: &Actor,
        owner: Option<&str>,
        state: Option<WikiState>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<WikiPage, FarmError> {
        let limit = page_size(limit)?;
        let after = super::parse_cursor(cursor)?;
        let owner = permissions::wikis_listed(actor, owner)?;
        let filter = WikiFilter {
            owner,
            or_managed: permissions::lists_managed_wikis(actor),
            state,
            after_id: after,
            limit: limit + 1,
            public_only: false,
        };
        let records = self.store.list_wikis(&filter).await?;
        let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
        let mut managers = self.store.manager_names_of(&ids).await?;
        Ok(Page::from_rows(records, limit, |r| r.id).map(|r| {
            let managers = managers.remove(&r.id).unwrap_or_default();
            self.view(actor, r, managers, None)
        }))
    }

    /// Whether `name` could be taken now: the name rules, then live (or recently deleted)
    /// wikis and open requests. For the portal's live check; creation checks again.
    pub async fn check_name(&self, name: &str) -> Result<WikiName, FarmError> {
        let name = self.names.parse(name)?;
        if self.store.wiki_by_name(name.as_str()).await?.is_some() || self.store.name_redirects(name.as_str()).await? {
            return Err(FarmError::NameTaken(name.to_string()));
        }
        if self.store.open_request_exists(name.as_str()).await? {
            return Err(crate::store::request_exists(name.as_str()));
        }
        Ok(name)
    }

    /// The public directory: active wikis that are not private, a page at a time.
    pub async fn directory(&self, after: Option<i64>, limit: u32) -> Result<Page<DirectoryEntry>, FarmError> {
        let limit = limit.clamp(1, super::MAX_PAGE_SIZE);
        let filter = WikiFilter {
            owner: None,
            or_managed: false,
            state: Some(WikiState::Active),
            after_id: after,
            limit: limit + 1,
            public_only: true,
        };
        let records = self.store.list_wikis(&filter).await?;
        Ok(Page::from_rows(records, limit, |r| r.id).map(|r| DirectoryEntry {
            url: self.urls.wiki_url(r.name.as_str()),
            name: r.name.to_string(),
            sitename: r.sitename.as_str().to_owned(),
        }))
    }

    /// Deletes a wiki (its owner or an admin). A served wiki goes to the trash: it stops being
    /// served at once and is kept intact, restorable with [`Farm::undelete_wiki`], until
    /// `deleted_retention` is over (then it is purged). One that never went live, failed, or
    /// with no retention configured is torn down at once. Deleting a wiki that is already on
    /// its way out answers with its current state.
    pub async fn delete_wiki(&self, actor: &Actor, name: &str, source: &Source) -> Result<WikiView, FarmError> {
        let (record, managers) = self.visible_wiki(actor, name).await?;
        permissions::delete_wiki(actor, holders(&record, &managers))?;
        let retention = duration_secs(self.config.deleted_retention);
        match record.state {
            WikiState::Deleted => {
                return Err(FarmError::Conflict(format!("the wiki {} is already deleted", record.name)))
            }
            WikiState::Deleting | WikiState::Trashed => {}
            WikiState::Active | WikiState::Locked if retention > 0 => {
                let purge_after = now().saturating_add(retention);
                let mut tx = self.store.begin().await?;
                if !tx.trash(record.id, purge_after).await? {
                    return Err(FarmError::Conflict(format!("the wiki {} changed state; try again", record.name)));
                }
                let details = Some(format!("in the trash until {}", format_time(purge_after)));
                tx.audit(&self.audit(actor, "wiki.delete", record.name.as_str(), source, details)).await?;
                tx.commit().await?;
                // Committed, then no longer served; a kill in between is put right at start
                // (`Lifecycle::reconcile_host_links`).
                crate::jobs::provision::unlink_host(&self.layout, &record.name, &record.key)?;
                tracing::info!(wiki = %record.name, by = %actor.username, "wiki moved to the trash");
            }
            _ => {
                let mut tx = self.store.begin().await?;
                if !tx.request_delete(record.id).await? {
                    return Err(FarmError::Conflict(format!("the wiki {} changed state; try again", record.name)));
                }
                tx.audit(&self.audit(actor, "wiki.delete", record.name.as_str(), source, None)).await?;
                tx.commit().await?;
                tracing::info!(wiki = %record.name, by = %actor.username, "wiki deletion requested");
                self.wakeups.pipeline.notify_one();
            }
        }
        let record = self.store.wiki_by_id(record.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        Ok(self.view(actor, record, managers, None))
    }

    /// Brings a wiki back from the trash exactly as it was (its owner or an admin), while its
    /// time there is not over.
    pub async fn undelete_wiki(&self, actor: &Actor, name: &str, source: &Source) -> Result<WikiView, FarmError> {
        let (record, managers) = self.visible_wiki(actor, name).await?;
        permissions::delete_wiki(actor, holders(&record, &managers))?;
        if record.state != WikiState::Trashed {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; only a wiki in the trash can be undeleted",
                record.name,
                record.state.as_str()
            )));
        }
        let mut tx = self.store.begin().await?;
        if permissions::limited(actor) {
            self.check_quota(&mut tx, actor).await?;
        }
        if !tx.undelete(record.id).await? {
            return Err(FarmError::Conflict(format!(
                "the wiki {} can no longer be undeleted: its time in the trash is over",
                record.name
            )));
        }
        tx.audit(&self.audit(actor, "wiki.undelete", record.name.as_str(), source, None)).await?;
        tx.commit().await?;
        crate::jobs::provision::link_host(&self.layout, &record.name, &record.key)?;
        tracing::info!(wiki = %record.name, by = %actor.username, "wiki undeleted");
        let record = self.store.wiki_by_id(record.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        Ok(self.view(actor, record, managers, None))
    }

    /// Renames an active wiki (its owner or an admin): same data, a new address; the old one
    /// redirects there, and stays taken, for `deleted_name_retention`. Audited and mailed.
    pub async fn rename_wiki(
        &self,
        actor: &Actor,
        name: &str,
        new_name: &str,
        source: &Source,
    ) -> Result<WikiView, FarmError> {
        let (record, managers) = self.visible_wiki(actor, name).await?;
        permissions::delete_wiki(actor, holders(&record, &managers))?;
        let new_name = self.names.parse(new_name)?;
        if new_name == record.name {
            return Err(FarmError::invalid("name", "name_unchanged", "the wiki already has that name".into()));
        }
        if record.state != WikiState::Active {
            return Err(FarmError::Conflict(format!(
                "the wiki {} is {}; only an active wiki is renamed",
                record.name,
                record.state.as_str()
            )));
        }
        if self.store.open_request_exists(new_name.as_str()).await? {
            return Err(crate::store::request_exists(new_name.as_str()));
        }
        let until = now().saturating_add(duration_secs(self.config.deleted_name_retention));
        let mail = match self.store.account_by_username_key(&record.owner.mediawiki_name()).await? {
            Some(account) => Some(self.mail.render(
                "wiki_renamed",
                &account.email,
                minijinja::context! {
                    username => account.username, sitename => record.sitename.as_str(),
                    old_name => record.name.as_str(), new_name => new_name.as_str(),
                    url => self.urls.wiki_url(new_name.as_str()), until => format_time(until),
                },
            )?),
            None => None,
        };
        let mut tx = self.store.begin().await?;
        if !tx.rename(record.id, record.name.as_str(), new_name.as_str(), until).await? {
            return Err(FarmError::Conflict(format!("the wiki {} changed meanwhile; try again", record.name)));
        }
        let details = Some(format!("{} -> {}", record.name, new_name));
        tx.audit(&self.audit(actor, "wiki.rename", new_name.as_str(), source, details)).await?;
        if let Some(mail) = &mail {
            tx.enqueue_mail(mail).await?;
        }
        tx.commit().await?;
        // Committed; the files follow (a start puts them right after a kill in between).
        crate::jobs::provision::link_host(&self.layout, &new_name, &record.key)?;
        crate::jobs::lifecycle::write_redirect(&self.layout, &record.name, &new_name)?;
        crate::jobs::provision::unlink_host(&self.layout, &record.name, &record.key)?;
        self.wakeups.outbox.notify_one();
        tracing::info!(from = %record.name, to = %new_name, by = %actor.username, "wiki renamed");
        let record = self.store.wiki_by_id(record.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        Ok(self.view(actor, record, managers, None))
    }

    /// Removes a wiki in the trash before its time (admins).
    pub async fn purge_wiki(&self, actor: &Actor, name: &str, source: &Source) -> Result<WikiView, FarmError> {
        let (record, managers) = self.visible_wiki(actor, name).await?;
        permissions::purge_wiki(actor, holders(&record, &managers))?;
        if record.state != WikiState::Trashed {
            return Err(FarmError::Conflict(format!("the wiki {} is not in the trash", record.name)));
        }
        let mut tx = self.store.begin().await?;
        if !tx.request_delete(record.id).await? {
            return Err(FarmError::Conflict(format!("the wiki {} changed state; try again", record.name)));
        }
        tx.audit(&self.audit(actor, "wiki.purge", record.name.as_str(), source, None)).await?;
        tx.commit().await?;
        self.wakeups.pipeline.notify_one();
        let record = self.store.wiki_by_id(record.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        Ok(self.view(actor, record, managers, None))
    }

    /// Makes a sandbox wiki permanent (admins and reviewers); a locked one becomes writable.
    pub async fn keep_wiki(&self, actor: &Actor, name: &str, source: &Source) -> Result<WikiView, FarmError> {
        permissions::keep_wiki(actor)?;
        let (record, _) = self.visible_wiki(actor, name).await?;
        let mut tx = self.store.begin().await?;
        if !tx.keep_wiki(record.id).await? {
            return Err(FarmError::Conflict(format!("the wiki {} is not live", record.name)));
        }
        tx.audit(&self.audit(actor, "wiki.keep", record.name.as_str(), source, None)).await?;
        tx.commit().await?;
        apply_locks(&self.store, &self.layout).await?;
        self.get_wiki(actor, name).await
    }
}

/// Who holds `record`, for [`permissions`].
pub(crate) fn holders<'a>(record: &'a WikiRecord, managers: &'a [String]) -> WikiHolders<'a> {
    WikiHolders { owner: record.owner.as_str(), managers }
}

/// A wiki in the public directory.
#[derive(Debug, Clone)]
pub struct DirectoryEntry {
    pub name: String,
    pub sitename: String,
    pub url: String,
}
