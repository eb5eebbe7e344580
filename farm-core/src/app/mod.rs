//! [`Farm`]: the one entry point through which the API, the portal and the CLI act on the
//! farm. Its fields are private: adapters call its use cases, which ask
//! [`crate::domain::permissions`] who may do what, and get back views, never rows.
//!
//! The use cases live by concept: [`wikis`], [`accounts`], [`requests`], [`admin`] (what
//! operators see), and [`local`] (what the command line does without a running daemon).

pub mod accounts;
pub mod admin;
pub mod backups;
pub mod exports;
pub mod external_login;
pub mod local;
pub mod maintenance;
pub mod managers;
pub mod requests;
pub mod settings;
pub mod sign_on;
pub mod starters;
pub mod transfers;
pub mod upgrades;
pub mod wikis;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::backends::mariadb::DbServers;
use crate::backends::{Databases, FarmDatabases};
use crate::config::Config;
use crate::domain::{LanguageCode, Languages, NamePolicy};
use crate::identity::sign_on::SignOnKeys;
use crate::identity::tokens::TokenKeys;
use crate::jobs::{self, Jobs, Running, Wakeups};
use crate::mail::{MailTemplates, Mailer, Notices};
use crate::mediawiki::password::PasswordStock;
use crate::mediawiki::php::{Php, PhpServers};
use crate::mediawiki::sign_on::SignOnSessions;
use crate::mediawiki::{self, Catalogue, Codebase, Codebases, Features, Namespaces, Starters, WikiSignOn, WikiUrls};
use crate::platform::layout::Layout;
use crate::platform::ratelimit::RateLimiter;
use crate::platform::secrets::Sealer;
use crate::store::Store;

pub use managers::ManagerView;
pub use wikis::{BulkOutcome, CreateWiki, StepProgress, Storage, WikiPage, WikiView, MAX_BULK_ROWS};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
/// The content language of wikis created without one, and of the template built at start.
pub const DEFAULT_LANGUAGE: &str = "en";

pub struct Farm {
    config: Config,
    /// The extensions and skins wikis may have, and the defaults of new ones.
    features: Arc<Features>,
    configurator: Arc<jobs::settings::Configurator>,
    /// Names the templates and pool entries of this codebase and set of extension tables.
    starters: Arc<Starters>,
    store: Store,
    layout: Layout,
    codebase: Codebase,
    /// Every configured codebase, as found at start.
    codebases: Codebases,
    /// Which wikis run on a codebase other than the current one.
    routing: Arc<jobs::upgrades::CodebaseRouting>,
    /// Cancelled when farmd should restart (the current codebase changed in place).
    restart: CancellationToken,
    urls: WikiUrls,
    tokens: TokenKeys,
    /// Signs what wikis are told about the people the portal knows.
    sign_on_keys: SignOnKeys,
    /// The farm sessions wikis honour (files PHP reads).
    signed_on: SignOnSessions,
    databases: Arc<FarmDatabases>,
    servers: Arc<DbServers>,
    sealer: Sealer,
    names: NamePolicy,
    languages: Languages,
    default_language: LanguageCode,
    pool_plan: jobs::pool::Plan,
    /// Initial passwords hashed ahead of demand (PBKDF2 is the costliest part of a creation).
    passwords: Arc<PasswordStock>,
    limits: Arc<RateLimiter>,
    mail: Arc<MailTemplates>,
    mail_on: bool,
    wakeups: Arc<Wakeups>,
    running: Arc<Running>,
    /// The cancel switches of the maintenance runs under way.
    maintenance: Arc<jobs::maintenance::RunControl>,
    /// The job queues' lengths as the background runner last counted them.
    job_queues: Arc<jobs::job_queues::QueueStatus>,
    /// The portal's public address, for links in mail.
    public_url: String,
    /// The identity providers people may log in through.
    providers: external_login::ExternalProviders,
    /// What the wiki proxy's read cache counts.
    read_cache: Arc<crate::platform::read_cache::ReadCacheStats>,
}

impl Farm {
    /// Opens the farm: control store (migrated), keys, codebase, the PHP side's files; and
    /// the jobs that keep it, ready to start ([`Jobs::start`]). `listen` is the address the
    /// daemon bound, for the wikis' public addresses.
    pub async fn open(config: Config, listen: SocketAddr) -> anyhow::Result<(Arc<Self>, Jobs)> {
        let layout = Layout::new(&config.data_dir)
            .with_context(|| format!("preparing the data directory {}", config.data_dir.display()))?
            .with_backups_dir(config.backups.dir.as_deref());
        let codebases = Codebases::detect(&config)?;
        let codebase = codebases.current();
        let languages = Languages::load(&codebase.dir).context("reading MediaWiki's languages")?;
        let default_language = languages
            .parse(DEFAULT_LANGUAGE)
            .map_err(|_| anyhow::anyhow!("the MediaWiki codebase does not ship the language {DEFAULT_LANGUAGE}"))?;
        let tokens = TokenKeys::load_or_create(layout.root()).context("loading the signing key")?;
        let sign_on_keys = SignOnKeys::load_or_create(layout.root()).context("loading the sign-on key")?;
        let sealer = Sealer::load_or_create(layout.root()).context("loading the credentials key")?;
        let farm_id = layout.farm_id().context("reading the farm id")?;
        let servers = Arc::new(DbServers::new(config.all_database_servers(), &farm_id)?);
        let store = Store::connect(&config.control_store_url()).await.context("opening the control store")?;
        store.migrate().await.context("migrating the control store")?;
        let urls = WikiUrls::new(&config, listen);
        let names =
            NamePolicy::new(&config.reserved_names, &config.deny_name_patterns).context("deny_name_patterns")?;
        let mailer = Arc::new(Mailer::new(config.smtp.as_ref(), sealer.clone()).context("the [smtp] configuration")?);
        let public_url =
            config.public_url.clone().unwrap_or_else(|| urls.portal_url()).trim_end_matches('/').to_owned();
        let php = Php {
            binary: config.php_binary.clone(),
            mediawiki_dir: codebase.dir.clone(),
            entry_file: layout.farm_files_dir().join(mediawiki::ENTRY_FILE),
        };
        let timezones = read_timezones(&php).await.context("asking PHP for its time zones")?;
        let catalogue = Catalogue::read(&codebase.dir).context("reading the codebase's extensions and skins")?;
        let features = Arc::new(
            Features::new(catalogue, &config.new_wikis, timezones, mailer.is_on())
                .context("the new_wikis configuration")?,
        );
        let template_version = features.template_version(&codebase.version);
        let wiki_sign_on = WikiSignOn {
            portal_url: &public_url,
            public_key: sign_on_keys.public_key_hex(),
            accounts: &config.wiki_accounts,
            shared_with_web_group: config.web_group.is_some(),
        };
        mediawiki::install_farm_files(
            &layout,
            &urls,
            &codebase,
            &features,
            config.smtp.as_ref(),
            &wiki_sign_on,
            config.jobs.enabled,
            &mediawiki::WikiCdn::new(&config.cache, listen, config.php_workers > 0),
        )
        .context("writing the farm's PHP files")?;
        let starters = Arc::new(
            Starters::load(Some(&config.starters_dir()), &config.new_wikis.starter).context("loading the starters")?,
        );
        let databases = Arc::new(FarmDatabases::new(
            layout.clone(),
            php.clone(),
            template_version.clone(),
            servers.clone(),
            starters.clone(),
        ));
        let default_starter = starters.default_starter();
        let pool_plan = jobs::pool::Plan {
            sqlite: config.pool_sqlite,
            mariadb: config.pool_mariadb,
            servers: servers.clone(),
            language: default_language.clone(),
            version: template_version.clone(),
            starter: default_starter.id.clone(),
            starter_tag: default_starter.content(&default_language).tag,
        };
        let mail = Arc::new(MailTemplates::new(sealer.clone()));
        let notices = Arc::new(Notices::new(
            store.clone(),
            mail.clone(),
            config.farm_name.clone(),
            urls.clone(),
            config.sandbox.locked_for,
        ));
        let wakeups = Arc::new(Wakeups::default());
        let running = Arc::new(Running::default());
        let limits = Arc::new(RateLimiter::new(&config.rate_limits));
        let passwords = Arc::new(PasswordStock::default());
        let as_databases: Arc<dyn Databases> = databases.clone();
        let cdn_bans = jobs::cdn_bans::CdnBans::new(layout.clone(), &config.base_domain, &config.cache.purge)
            .context("the [cache] purge caches")?;
        let configurator = Arc::new(
            jobs::settings::Configurator::new(
                store.clone(),
                layout.clone(),
                php.clone(),
                features.clone(),
                Arc::new(Namespaces::new(php.clone(), layout.farm_files_dir())),
                languages.clone(),
                as_databases.clone(),
                sealer.clone(),
            )
            .with_cdn_bans(cdn_bans.clone()),
        );
        let script_locks = Arc::new(jobs::ScriptLocks::default());
        let run_control = Arc::new(jobs::maintenance::RunControl::default());
        let queue_status = Arc::new(jobs::job_queues::QueueStatus::default());
        let routing = Arc::new(jobs::upgrades::CodebaseRouting::new(codebases.current_name()));
        let restart = CancellationToken::new();
        let upgrades = Arc::new(jobs::upgrades::UpgradeContext {
            store: store.clone(),
            layout: layout.clone(),
            codebases: codebases.clone(),
            configs: config.all_codebases(),
            routing: routing.clone(),
            mail: mail.clone(),
            farm_name: config.farm_name.clone(),
            public_url: public_url.clone(),
        });
        let opcache = Some(mediawiki::php::Opcache {
            dir: layout.opcache_dir(&codebase.version),
            blacklist: layout.opcache_blacklist(),
        });
        let jobs = Jobs {
            maintenance: jobs::maintenance::MaintenanceRunner {
                store: store.clone(),
                php: php.clone(),
                codebase: codebase.clone(),
                upgrades,
                configurator: configurator.clone(),
                sealer: sealer.clone(),
                control: run_control.clone(),
                locks: script_locks.clone(),
                wakeups: wakeups.clone(),
                opcache: opcache.clone(),
            },
            job_queues: jobs::job_queues::JobQueues {
                store: store.clone(),
                php: php.clone(),
                databases: databases.clone(),
                locks: script_locks.clone(),
                status: queue_status.clone(),
                wakeups: wakeups.clone(),
                config: config.jobs.clone(),
                codebases: codebases.clone(),
                opcache,
            },
            upgrades: jobs::upgrades::UpgradeWatcher {
                store: store.clone(),
                sealer: sealer.clone(),
                config: config.clone(),
                opened_as: template_version.clone(),
                fingerprint: {
                    let features = features.clone();
                    Arc::new(move |codebase: &Codebase| features.template_version(&codebase.version))
                },
                routing: routing.clone(),
                wakeups: wakeups.clone(),
                restart: restart.clone(),
            },
            codebases: codebases.clone(),
            cdn_bans,
            pipeline: jobs::provision::Pipeline {
                store: store.clone(),
                layout: layout.clone(),
                databases: as_databases.clone(),
                servers: servers.clone(),
                sealer: sealer.clone(),
                configurator: configurator.clone(),
                notices: notices.clone(),
                languages: languages.clone(),
                settings: jobs::provision::PipelineSettings {
                    workers: config.provision_workers,
                    max_attempts: config.provision_max_attempts,
                    name_retention: config.deleted_name_retention,
                },
                wakeups: wakeups.clone(),
                running: running.clone(),
            },
            pool: jobs::pool::Pool {
                plan: pool_plan.clone(),
                store: store.clone(),
                layout: layout.clone(),
                databases: as_databases,
                sealer: sealer.clone(),
                wakeups: wakeups.clone(),
            },
            lifecycle: jobs::lifecycle::Lifecycle {
                store: store.clone(),
                layout: layout.clone(),
                notices,
                limits: limits.clone(),
                sandbox: config.sandbox.clone(),
                interval: config.lifecycle_interval,
                wakeups: wakeups.clone(),
                signed_on: SignOnSessions::new(layout.clone()),
                staff_group: config.wiki_accounts.staff_group,
            },
            exporter: jobs::exports::Exporter {
                store: store.clone(),
                layout: layout.clone(),
                php: php.clone(),
                wakeups: wakeups.clone(),
                retention: config.export_retention,
            },
            backups: jobs::backups::Backups {
                store: store.clone(),
                layout: layout.clone(),
                configurator: configurator.clone(),
                locks: script_locks.clone(),
                wakeups: wakeups.clone(),
                config: config.backups.clone(),
            },
            outbox: jobs::outbox::Outbox { store: store.clone(), mailer: mailer.clone(), wakeups: wakeups.clone() },
            rights: jobs::rights::RightsSync { store: store.clone(), php: php.clone(), wakeups: wakeups.clone() },
            passwords: passwords.clone(),
            databases: databases.clone(),
            default_language: default_language.clone(),
            php,
            configurator: configurator.clone(),
            php_workers: config.php_workers,
            router: layout.farm_files_dir().join(mediawiki::ROUTER_FILE),
            running: running.clone(),
        };
        let signed_on = SignOnSessions::new(layout.clone());
        let providers = external_login::ExternalProviders::load(&config.login).context("the [login] configuration")?;
        let farm = Self {
            read_cache: Arc::default(),
            providers,
            features,
            configurator,
            starters,
            names,
            limits,
            mail,
            mail_on: mailer.is_on(),
            public_url,
            store,
            layout,
            codebase,
            codebases,
            routing,
            restart,
            urls,
            tokens,
            sign_on_keys,
            signed_on,
            databases,
            servers,
            sealer,
            languages,
            default_language,
            pool_plan,
            passwords,
            wakeups,
            running,
            maintenance: run_control,
            job_queues: queue_status,
            config,
        };
        Ok((Arc::new(farm), jobs))
    }

    /// The configuration, for adapters to read (never to decide on).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How wikis are addressed (the proxy asks which host is a wiki's).
    pub fn urls(&self) -> &WikiUrls {
        &self.urls
    }

    /// The portal's public address, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn features(&self) -> &Features {
        &self.features
    }

    pub fn mediawiki_version(&self) -> &str {
        &self.codebase.version
    }

    /// When the wiki served at `label` last changed how it is served, or None when none is: the
    /// mtime of its folder (through the host link), which moves when the shard is replaced (a
    /// settings change), a read-only or restoring marker comes or goes, or the wiki is renamed
    /// or deleted (the link goes). The wiki proxy's read cache keeps no page across it.
    pub fn served_wiki_stamp(&self, label: &str) -> Option<std::time::SystemTime> {
        self.layout.served_stamp(&crate::domain::WikiName::parse(label).ok()?)
    }

    /// The counters of the wiki proxy's read cache (`[cache] builtin`).
    pub fn read_cache_stats(&self) -> &crate::platform::read_cache::ReadCacheStats {
        &self.read_cache
    }

    /// The PHP servers that serve the wiki `name` (its codebase's).
    pub fn php_servers_for(&self, name: &str) -> Option<&Arc<PhpServers>> {
        match self.routing.elsewhere(name) {
            Some(codebase) => self.running.php_servers_of(&codebase).or_else(|| self.running.php_servers()),
            None => self.running.php_servers(),
        }
    }

    /// Cancelled when farmd should restart: the current codebase changed in place, and its
    /// templates, pool and PHP servers are to be made again for the new code.
    pub fn restart_requested(&self) -> CancellationToken {
        self.restart.clone()
    }

    pub fn php_servers(&self) -> Option<&Arc<PhpServers>> {
        self.running.php_servers()
    }

    pub fn languages(&self) -> &Languages {
        &self.languages
    }

    pub fn default_language(&self) -> &LanguageCode {
        &self.default_language
    }

    /// The CSRF token of a portal session (see `farm_web::security`).
    pub fn csrf_token(&self, session_id: &str) -> String {
        self.tokens.csrf_token(session_id)
    }

    /// The CSRF token of a visitor's pre-session, before they log in.
    pub fn anonymous_csrf_token(&self, presession_id: &str) -> String {
        self.tokens.anonymous_csrf_token(presession_id)
    }

    /// The public address of a portal page, for links in mail.
    pub(crate) fn portal_link(&self, path_and_query: &str) -> String {
        format!("{}{}", self.public_url, path_and_query)
    }

    /// Closes the control store's and the database servers' connections (at shutdown).
    pub async fn close(&self) {
        self.store.close().await;
        self.servers.close().await;
    }

    /// Ready to serve: the template exists, the pipeline runs, and PHP serves (if enabled).
    pub fn readiness(&self) -> Readiness {
        Readiness {
            template: self.databases.sqlite.template_ready(&self.default_language),
            pipeline: self.running.pipeline(),
            php_servers_ready: self.php_servers().map_or(0, |s| s.ready_count()),
            php_servers_wanted: self.config.php_workers,
            other_codebases_served: self.running.other_codebases_served(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub template: bool,
    pub pipeline: bool,
    pub php_servers_ready: usize,
    pub php_servers_wanted: usize,
    /// Each other codebase's PHP servers (for wikis not moved yet) have one ready.
    #[serde(skip)]
    pub other_codebases_served: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.template
            && self.pipeline
            && (self.php_servers_wanted == 0 || (self.php_servers_ready > 0 && self.other_codebases_served))
    }
}

/// One page of a keyset-paginated list: the items, and where the next page starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// From `limit + 1` rows asked of the store: the extra row only says that there is more.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> i64) -> Self {
        let limit = limit as usize;
        let next_after = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id_of)
        } else {
            None
        };
        Self { items: rows, next_after }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_after: self.next_after }
    }
}

/// `cursor` of a list call: the `next_cursor` of the previous page (an id).
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, crate::FarmError> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|id| *id >= 0).ok_or_else(|| {
                crate::FarmError::bad_request("invalid_cursor", "cursor must be the next_cursor of a previous page")
            })
        })
        .transpose()
}

/// `limit` of a list call: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when absent.
pub fn page_size(limit: Option<u32>) -> Result<u32, crate::FarmError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(crate::FarmError::invalid(
            "limit",
            "limit_out_of_range",
            format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(limit)
}

/// The time zone names PHP knows (`$wgLocaltimezone` takes one of them).
async fn read_timezones(php: &Php) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let json = php.eval("echo json_encode( DateTimeZone::listIdentifiers() );").await?;
    let zones: std::collections::BTreeSet<String> = serde_json::from_str(json.trim())?;
    anyhow::ensure!(zones.contains("UTC"), "PHP lists no UTC time zone");
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_know_whether_more_follow() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!((page.items, page.next_after), (vec![1, 2], Some(2)));
        let page = Page::from_rows(vec![1, 2], 2, |n| *n);
        assert_eq!((page.items, page.next_after), (vec![1, 2], None));
        assert!(page_size(Some(0)).is_err() && page_size(Some(501)).is_err());
        assert_eq!(page_size(None).expect("default"), 50);
        assert_eq!(parse_cursor(Some("42")).expect("id"), Some(42));
        for bad in ["-1", "x", "1.5", ""] {
            assert_eq!(parse_cursor(Some(bad)).expect_err(bad).code(), "invalid_cursor");
        }
    }
}
