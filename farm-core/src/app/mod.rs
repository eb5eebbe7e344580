//! [`Farm`]: the one entry point through which the API, the portal and the CLI act on the
//! farm. Every rule about who may do what to which wiki is applied here.

pub mod accounts;
pub mod requests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use tokio::sync::{Notify, OnceCell};

use crate::backends::mariadb::{DbPassword, DbServer, DbServers, Ident, ServerStatus};
use crate::backends::sqlite::SqliteTemplate;
use crate::config::Config;
use crate::domain::Backend;
use crate::domain::Secret;
use crate::domain::{
    Actor, FarmMode, LanguageCode, Languages, NamePolicy, NamespaceNames, ResourceKey, Sitename, WikiName, WikiState,
};
use crate::error::FarmError;
use crate::identity::tokens::TokenKeys;
use crate::mail::{MailTemplates, Mailer};
use crate::mediawiki::password::PasswordStock;
use crate::mediawiki::php::{Php, PhpServers};
use crate::mediawiki::{self, Codebase, WikiUrls};
use crate::platform::layout::Layout;
use crate::platform::ratelimit::{Action, RateLimiter, Source};
use crate::platform::secrets::Sealer;
use crate::store::{AuditEntry, NewWiki, PoolSlot, Store, Tx, WikiFilter, WikiRecord};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
const INITIAL_PASSWORD_LEN: usize = 20;
/// The content language of wikis created without one, and of the template built at start.
pub const DEFAULT_LANGUAGE: &str = "en";

pub struct Farm {
    pub config: Config,
    pub store: Store,
    pub layout: Layout,
    pub codebase: Codebase,
    pub urls: WikiUrls,
    pub tokens: TokenKeys,
    pub php: Php,
    pub db_servers: Arc<DbServers>,
    pub sealer: Sealer,
    names: NamePolicy,
    languages: Languages,
    default_language: LanguageCode,
    /// One template per content language, each built once (concurrent callers wait).
    sqlite_templates: Mutex<HashMap<String, Arc<OnceCell<SqliteTemplate>>>>,
    /// Namespace names per content language, read from the codebase once.
    namespace_names: Mutex<HashMap<String, Arc<OnceCell<Arc<NamespaceNames>>>>>,
    php_servers: OnceLock<Arc<PhpServers>>,
    pipeline_wakeup: Notify,
    pool_wakeup: Notify,
    /// Initial passwords hashed ahead of demand (PBKDF2 is the costliest part of a creation).
    pub password_stock: PasswordStock,
    pipeline_running: AtomicBool,
    pub limits: RateLimiter,
    pub mailer: Mailer,
    pub mail_templates: MailTemplates,
    /// The portal's public address, for links in mail.
    pub public_url: String,
}

/// What a caller asks for when creating a wiki (already shaped, not yet validated).
#[derive(Debug, Clone)]
pub struct CreateWiki {
    pub name: String,
    pub sitename: String,
    pub language: Option<String>,
    /// `sqlite` or `mariadb`; admins only. Defaults to the farm's `default_backend`.
    pub backend: Option<String>,
}

/// A wiki as callers see it.
#[derive(Debug, Clone)]
pub struct WikiView {
    pub record: WikiRecord,
    pub url: String,
    pub steps_done: Option<Vec<String>>,
}

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

pub struct WikiPage {
    pub wikis: Vec<WikiView>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_after: Option<i64>,
}

impl Farm {
    /// Opens the farm: control store (migrated), keys, codebase, the PHP side's files.
    /// `listen` is the address the daemon bound, for the wikis' public addresses.
    pub async fn open(config: Config, listen: SocketAddr) -> anyhow::Result<Self> {
        let layout = Layout::new(&config.data_dir)
            .with_context(|| format!("preparing the data directory {}", config.data_dir.display()))?;
        let codebase = Codebase::detect(&config.mediawiki_dir)?;
        let languages = Languages::load(&codebase.dir).context("reading MediaWiki's languages")?;
        let default_language = languages
            .parse(DEFAULT_LANGUAGE)
            .map_err(|_| anyhow::anyhow!("the MediaWiki codebase does not ship the language {DEFAULT_LANGUAGE}"))?;
        let tokens = TokenKeys::load_or_create(layout.root()).context("loading the signing key")?;
        let sealer = Sealer::load_or_create(layout.root()).context("loading the credentials key")?;
        let farm_id = layout.farm_id().context("reading the farm id")?;
        let db_servers = Arc::new(DbServers::new(config.all_database_servers(), &farm_id)?);
        let store = Store::connect(&config.control_store_url()).await.context("opening the control store")?;
        store.migrate().await.context("migrating the control store")?;
        let urls = WikiUrls::new(&config, listen);
        let names =
            NamePolicy::new(&config.reserved_names, &config.deny_name_patterns).context("deny_name_patterns")?;
        let mailer = Mailer::new(config.smtp.as_ref(), sealer.clone()).context("the [smtp] configuration")?;
        let public_url =
            config.public_url.clone().unwrap_or_else(|| urls.portal_url()).trim_end_matches('/').to_owned();
        mediawiki::install_farm_files(&layout, &urls, &codebase).context("writing the farm's PHP files")?;
        let php = Php {
            binary: config.php_binary.clone(),
            mediawiki_dir: codebase.dir.clone(),
            entry_file: layout.farm_files_dir().join(mediawiki::ENTRY_FILE),
        };
        Ok(Self {
            names,
            limits: RateLimiter::new(&config.rate_limits),
            mailer,
            mail_templates: MailTemplates::new(sealer.clone()),
            public_url,
            config,
            store,
            layout,
            codebase,
            urls,
            tokens,
            php,
            db_servers,
            sealer,
            languages,
            default_language,
            sqlite_templates: Mutex::default(),
            namespace_names: Mutex::default(),
            php_servers: OnceLock::new(),
            pipeline_wakeup: Notify::new(),
            pool_wakeup: Notify::new(),
            password_stock: PasswordStock::default(),
            pipeline_running: AtomicBool::new(false),
        })
    }

    /// The SQLite template for this MediaWiki version and `language`, made on first use.
    pub async fn sqlite_template(&self, language: &LanguageCode) -> anyhow::Result<SqliteTemplate> {
        let cell = {
            let mut templates = self.sqlite_templates.lock().unwrap_or_else(|p| p.into_inner());
            templates.entry(language.as_str().to_owned()).or_default().clone()
        };
        let template = cell
            .get_or_try_init(|| async {
                SqliteTemplate::ensure(&self.php, &self.layout.templates_dir(&self.codebase.version), language).await
            })
            .await?;
        Ok(template.clone())
    }

    /// The namespace names of wikis in `language` (for their project namespace), read once.
    pub async fn namespace_names(&self, language: &LanguageCode) -> anyhow::Result<Arc<NamespaceNames>> {
        let cell = {
            let mut names = self.namespace_names.lock().unwrap_or_else(|p| p.into_inner());
            names.entry(language.as_str().to_owned()).or_default().clone()
        };
        let names = cell
            .get_or_try_init(|| async {
                let names = mediawiki::namespace_names(&self.php, &self.layout.farm_files_dir(), language).await?;
                Ok::<_, anyhow::Error>(Arc::new(names))
            })
            .await?;
        Ok(names.clone())
    }

    /// The MariaDB template on `server` for `language`, made on first use.
    pub async fn mariadb_template(&self, server: &DbServer, language: &LanguageCode) -> anyhow::Result<Ident> {
        let version = &self.codebase.version;
        server.template(&self.php, version, language, &self.layout.templates_dir(version)).await
    }

    /// Whether the template for the farm's default language exists (the readiness check).
    fn default_template_ready(&self) -> bool {
        let templates = self.sqlite_templates.lock().unwrap_or_else(|p| p.into_inner());
        templates.get(DEFAULT_LANGUAGE).is_some_and(|cell| cell.initialized())
    }

    pub fn name_policy(&self) -> &NamePolicy {
        &self.names
    }

    /// New work for the pipeline (and maybe a pool entry taken).
    pub(crate) fn wake_provisioning(&self) {
        self.pool_wakeup.notify_one();
        self.pipeline_wakeup.notify_one();
    }

    pub fn default_language(&self) -> &LanguageCode {
        &self.default_language
    }

    pub fn languages(&self) -> &Languages {
        &self.languages
    }

    pub fn set_php_servers(&self, servers: Arc<PhpServers>) {
        let _ = self.php_servers.set(servers);
    }

    pub fn php_servers(&self) -> Option<&Arc<PhpServers>> {
        self.php_servers.get()
    }

    pub(crate) fn pipeline_wakeup(&self) -> &Notify {
        &self.pipeline_wakeup
    }

    pub(crate) fn pool_wakeup(&self) -> &Notify {
        &self.pool_wakeup
    }

    /// The warm pool's levels (admins only).
    pub async fn pool_levels(&self, actor: &Actor) -> Result<Vec<crate::jobs::pool::PoolLevel>, FarmError> {
        if !actor.is_admin() {
            return Err(FarmError::Forbidden("only admins see the pool"));
        }
        Ok(crate::jobs::pool::levels(self).await?)
    }

    pub(crate) fn set_pipeline_running(&self) {
        self.pipeline_running.store(true, Ordering::Relaxed);
    }

    /// Ready to serve: the template exists, the pipeline runs, and PHP serves (if enabled).
    pub fn readiness(&self) -> Readiness {
        let php_ready = self.php_servers().map_or(0, |s| s.ready_count());
        Readiness {
            template: self.default_template_ready(),
            pipeline: self.pipeline_running.load(Ordering::Relaxed),
            php_servers_ready: php_ready,
            php_servers_wanted: self.config.php_workers,
        }
    }

    pub fn wiki_url(&self, record: &WikiRecord) -> String {
        self.urls.wiki_url(&record.label)
    }

    fn view(&self, record: WikiRecord, steps_done: Option<Vec<String>>) -> WikiView {
        WikiView { url: self.wiki_url(&record), record, steps_done }
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
        self.create_wiki_as(actor, request, source, true).await
    }

    async fn create_wiki_as(
        &self,
        actor: &Actor,
        request: CreateWiki,
        source: &Source,
        notify_owner: bool,
    ) -> Result<(WikiView, Option<Secret>), FarmError> {
        self.may_create(actor)?;
        if self.config.policy == FarmMode::Review && !actor.is_staff() {
            return Err(FarmError::denied(
                "review_required",
                "this farm reviews new wikis: send a request to POST /api/v1/wiki-requests",
            ));
        }
        if !actor.is_staff() {
            self.limits.check(Action::Create, source, Some(actor.username.as_str()))?;
        }
        let account = self.store.account_by_id(actor.account_id).await?.ok_or(FarmError::NotFound("account"))?;
        let expires_at = (self.config.policy == FarmMode::Sandbox && !actor.is_staff())
            .then(|| crate::platform::time::now() + crate::platform::time::duration_secs(self.config.sandbox.lifetime));
        let (prepared, password) = self
            .prepare_wiki(
                actor,
                &account.username,
                account.password_hash.as_deref(),
                &request,
                expires_at,
                notify_owner,
            )
            .await?;
        let mut tx = self.store.begin().await?;
        if !actor.is_staff() {
            self.check_quota(&mut tx, actor).await?;
        }
        let key = self.record_wiki(&mut tx, &prepared).await?;
        tx.audit(&AuditEntry {
            actor: actor.username.to_string(),
            action: "wiki.create",
            target: format!("wiki:{}", prepared.name),
            source: source.label(),
            details: expires_at.map(|at| format!("sandbox, expires {}", crate::platform::time::format_time(at))),
        })
        .await?;
        tx.commit().await?;
        let record = self.store.inserted(&key).await?;
        tracing::info!(wiki = %prepared.name, owner = %account.username, key = %key, pooled = record.pooled != 0, "wiki requested");
        if record.pooled != 0 {
            self.pool_wakeup.notify_one();
        }
        self.pipeline_wakeup.notify_one();
        Ok((self.view(record, Some(Vec::new())), password))
    }

    /// Unconfirmed accounts may look but not create.
    pub(crate) fn may_create(&self, actor: &Actor) -> Result<(), FarmError> {
        if !actor.confirmed {
            return Err(FarmError::denied(
                "email_unconfirmed",
                "confirm your email address first (follow the link in the mail we sent)",
            ));
        }
        Ok(())
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
        let backend = match request.backend.as_deref() {
            None => self.config.default_backend,
            Some(_) if !actor.is_admin() => return Err(FarmError::Forbidden("only admins choose a wiki's backend")),
            Some(value) => Backend::parse(value).ok_or_else(|| {
                FarmError::invalid("backend", "backend_unknown", "backend must be sqlite or mariadb".into())
            })?,
        };
        // Cheap early answer before hashing; the unique index decides races.
        if self.store.wiki_by_name(name.as_str()).await?.is_some() {
            return Err(FarmError::NameTaken(name.to_string()));
        }
        // The account's own argon2id hash works in MediaWiki (`:argon2:`), so the owner logs in
        // to the wiki with the farm password; accounts without one get an initial password.
        let (password, password_hash) = match owner_password_hash {
            Some(hash) => (None, format!(":argon2:{hash}")),
            None => {
                let (password, hash) = match self.password_stock.take() {
                    Some(prepared) => prepared,
                    None => PasswordStock::prepare(INITIAL_PASSWORD_LEN).await?,
                };
                (Some(password), hash)
            }
        };
        let (db_server, db_password_sealed) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Mariadb => {
                let server = self.place_new_wiki(&[]).await?;
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
        };
        Ok((prepared, password))
    }

    /// Records a prepared wiki in `tx`, from the warm pool when it has a fitting entry.
    /// Returns the wiki's resource key.
    pub(crate) async fn record_wiki(&self, tx: &mut Tx, prepared: &PreparedWiki) -> Result<String, FarmError> {
        let new = NewWiki {
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
        };
        if self.pools(prepared.backend) && prepared.language == self.default_language {
            let slot = PoolSlot {
                backend: prepared.backend.as_str(),
                db_server: prepared.db_server.as_deref().unwrap_or(""),
                language: prepared.language.as_str(),
                mw_version: &self.codebase.version,
            };
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
            let live = matches!(existing.state(), WikiState::Provisioning | WikiState::Active | WikiState::Locked);
            if live && existing.owner == actor.username.as_str() {
                return BulkOutcome::Exists(self.view(existing, None));
            }
        }
        // Bulk creations do not mail the owner once per wiki.
        match self.create_wiki_as(actor, row, source, false).await {
            Ok((view, password)) => BulkOutcome::Created(view, password),
            Err(err) => BulkOutcome::Refused(err),
        }
    }

    /// Keeps [`Farm::password_stock`] filled until `shutdown`.
    pub async fn stock_passwords(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        self.password_stock.run(INITIAL_PASSWORD_LEN, shutdown).await;
    }

    /// Whether the warm pool keeps databases for `backend`.
    fn pools(&self, backend: Backend) -> bool {
        match backend {
            Backend::Sqlite => self.config.pool_sqlite > 0,
            Backend::Mariadb => self.config.pool_mariadb > 0,
        }
    }

    /// The server a new MariaDB wiki goes to (see [`DbServers::place`]).
    pub async fn place_new_wiki(&self, exclude: &[&str]) -> Result<String, FarmError> {
        if self.db_servers.is_empty() {
            return Err(FarmError::invalid(
                "backend",
                "backend_unavailable",
                "this farm has no MariaDB server configured".into(),
            ));
        }
        let counts = self.store.wiki_counts_by_server().await?;
        self.db_servers.place(&counts, exclude).map(|server| server.name().to_owned()).ok_or_else(|| {
            FarmError::Unavailable("no database server takes new wikis right now; try again later".into())
        })
    }

    /// Every database server with its health, wiki count and size (admins only).
    pub async fn server_statuses(&self, actor: &Actor) -> Result<Vec<ServerStatus>, FarmError> {
        if !actor.is_admin() {
            return Err(FarmError::Forbidden("only admins see the database servers"));
        }
        let counts = self.store.wiki_counts_by_server().await?;
        let mut statuses = Vec::new();
        for server in self.db_servers.all() {
            let count = counts.iter().find(|(n, _)| n == server.name()).map_or(0, |(_, c)| *c);
            statuses.push(server.status(count).await);
        }
        Ok(statuses)
    }

    /// The wiki called `name`, if `actor` may see it. Others' wikis are "not found" to members,
    /// so that the API does not tell who owns what.
    pub async fn get_wiki(&self, actor: &Actor, name: &str) -> Result<WikiView, FarmError> {
        let record = self.visible_wiki(actor, name).await?;
        let steps = self.store.steps_done(record.id).await?;
        Ok(self.view(record, Some(steps)))
    }

    async fn visible_wiki(&self, actor: &Actor, name: &str) -> Result<WikiRecord, FarmError> {
        let name = WikiName::parse(name).map_err(|_| FarmError::NotFound("wiki"))?;
        let record = self.store.wiki_by_name(name.as_str()).await?.ok_or(FarmError::NotFound("wiki"))?;
        if !actor.is_staff() && record.owner != actor.username.as_str() {
            return Err(FarmError::NotFound("wiki"));
        }
        Ok(record)
    }

    /// A page of wikis: members see their own, admins all (optionally one owner's).
    pub async fn list_wikis(
        &self,
        actor: &Actor,
        owner: Option<&str>,
        state: Option<WikiState>,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<WikiPage, FarmError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(FarmError::invalid(
                "limit",
                "limit_out_of_range",
                format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        let owner = if actor.is_staff() { owner } else { Some(actor.username.as_str()) };
        let filter = WikiFilter { owner, state, after_id: after, limit: limit + 1 };
        let mut records = self.store.list_wikis(&filter).await?;
        let next_after = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id)
        } else {
            None
        };
        Ok(WikiPage { wikis: records.into_iter().map(|r| self.view(r, None)).collect(), next_after })
    }

    /// Whether `name` could be taken now: the name rules, then live (or recently deleted)
    /// wikis and open requests. For the portal's live check; creation checks again.
    pub async fn check_name(&self, name: &str) -> Result<WikiName, FarmError> {
        let name = self.names.parse(name)?;
        if self.store.wiki_by_name(name.as_str()).await?.is_some() {
            return Err(FarmError::NameTaken(name.to_string()));
        }
        if self.store.open_request_exists(name.as_str()).await? {
            return Err(FarmError::Taken {
                field: "name",
                code: "request_exists",
                message: format!("there is already an open request for the name {:?}", name.as_str()),
            });
        }
        Ok(name)
    }

    /// The public directory: active wikis, a page at a time.
    pub async fn directory(&self, after: Option<i64>, limit: u32) -> Result<WikiPage, FarmError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let filter = WikiFilter { owner: None, state: Some(WikiState::Active), after_id: after, limit: limit + 1 };
        let mut records = self.store.list_wikis(&filter).await?;
        let next_after = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id)
        } else {
            None
        };
        Ok(WikiPage { wikis: records.into_iter().map(|r| self.view(r, None)).collect(), next_after })
    }

    /// Starts deleting a wiki (its owner or an admin). Deleting a wiki that is already on its
    /// way out answers with its current state.
    pub async fn delete_wiki(&self, actor: &Actor, name: &str, source: &Source) -> Result<WikiView, FarmError> {
        let record = self.visible_wiki(actor, name).await?;
        if !actor.is_admin() && record.owner != actor.username.as_str() {
            return Err(FarmError::Forbidden("only the owner or an admin deletes a wiki"));
        }
        match record.state() {
            WikiState::Deleted => {
                return Err(FarmError::Conflict(format!("the wiki {} is already deleted", record.label)))
            }
            WikiState::Deleting => {}
            _ => {
                let mut tx = self.store.begin().await?;
                if !tx.request_delete(record.id).await? {
                    return Err(FarmError::Conflict(format!("the wiki {} changed state; try again", record.label)));
                }
                tx.audit(&AuditEntry {
                    actor: actor.username.to_string(),
                    action: "wiki.delete",
                    target: format!("wiki:{}", record.label),
                    source: source.label(),
                    details: None,
                })
                .await?;
                tx.commit().await?;
                tracing::info!(wiki = %record.label, by = %actor.username, "wiki deletion requested");
                self.pipeline_wakeup.notify_one();
            }
        }
        let record = self.store.wiki_by_id(record.id).await?.ok_or(FarmError::NotFound("wiki"))?;
        Ok(self.view(record, None))
    }
}

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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub template: bool,
    pub pipeline: bool,
    pub php_servers_ready: usize,
    pub php_servers_wanted: usize,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.template && self.pipeline && (self.php_servers_wanted == 0 || self.php_servers_ready > 0)
    }
}
