//! Configuration: built-in defaults, then a TOML file, then `FARM_`-prefixed environment
//! variables (later layers win). `deploy/farmd.example.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::domain::settings::{AccountCreation, EditRight, Licence};
use crate::domain::Secret;
use crate::domain::{Backend, FarmMode};

/// Names a wiki may never take, because the farm or its host uses them. Replaced (not
/// extended) by `reserved_names` in the configuration.
pub const DEFAULT_RESERVED_NAMES: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "autoconfig",
    "autodiscover",
    "cdn",
    "dashboard",
    "db",
    "dns",
    "docs",
    "farm",
    "farmd",
    "ftp",
    "git",
    "health",
    "healthz",
    "help",
    "host",
    "imap",
    "images",
    "import",
    "localhost",
    "login",
    "mail",
    "media",
    "metrics",
    "mw",
    "mx",
    "new",
    "ns",
    "ns1",
    "ns2",
    "portal",
    "pop",
    "pop3",
    "root",
    "smtp",
    "sso",
    "static",
    "status",
    "support",
    "upload",
    "uploads",
    "webmail",
    "wiki",
    "www",
];

/// `FARM_` variables that are read elsewhere, not settings: `FARM_CONFIG` names the file and
/// `FARM_LOG` is the log filter, `FARM_TOKEN` the API token and `FARM_URL` the farm's address
/// of `farmd wiki`, `farmd backup` and `farmd restore`.
const NOT_SETTINGS: &[&str] = &["config", "log", "token", "url"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the daemon listens on, for the API, the portal and the wikis.
    pub listen: SocketAddr,
    /// Where farmd keeps its control store, keys, wikis and caches.
    pub data_dir: PathBuf,
    /// Wikis are served at `{name}.{base_domain}`.
    pub base_domain: String,
    /// Scheme of the wikis' public addresses (`http` or `https` behind a TLS proxy).
    pub public_scheme: String,
    /// Port of the wikis' public addresses; defaults to the port farmd listens on.
    pub public_port: Option<u16>,
    /// The shared MediaWiki codebase.
    pub mediawiki_dir: PathBuf,
    /// The PHP CLI binary used for the installer, maintenance scripts and the built-in server.
    pub php_binary: PathBuf,
    /// How many PHP built-in server processes serve the wikis (0 turns serving off, for
    /// deployments where php-fpm behind nginx serves them).
    pub php_workers: usize,
    /// Control store; defaults to a SQLite file in the data directory.
    pub database_url: Option<String>,
    /// Wiki names nobody may take.
    pub reserved_names: Vec<String>,
    /// How many wikis are provisioned or torn down at the same time.
    pub provision_workers: usize,
    /// How often a failing provisioning step is tried before the wiki is cleaned up and
    /// marked `failed`.
    pub provision_max_attempts: u32,
    /// Largest API request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a deleted wiki's name stays taken (so links do not silently point at a
    /// stranger's new wiki).
    #[serde(with = "humantime_serde")]
    pub deleted_name_retention: Duration,
    /// How long a deleted wiki waits in the trash, intact and restorable, before it is purged
    /// (0: deleting purges at once).
    #[serde(with = "humantime_serde")]
    pub deleted_retention: Duration,
    /// How long a finished export archive stays downloadable.
    #[serde(with = "humantime_serde")]
    pub export_retention: Duration,
    /// Largest wiki (database and files, in bytes) that may be exported.
    pub export_max_bytes: u64,
    /// Largest archive a wiki may be imported from, and what it may unpack to, in bytes.
    pub import_max_bytes: u64,
    /// The operator's own starters (`NAME.xml` or `NAME/`); default `{data_dir}/starters`.
    pub starters_dir: Option<PathBuf>,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// Where new wikis' databases live unless an admin chooses: `sqlite` or `mariadb`.
    pub default_backend: Backend,
    /// Shorthand for one MariaDB server named `default` (`FARM_MARIADB_URL=mysql://...`).
    pub mariadb_url: Option<Secret>,
    /// MariaDB servers that hold wikis' databases.
    pub database_servers: Vec<DatabaseServerConfig>,
    /// How many SQLite databases to keep built ahead of demand (0 turns the pool off).
    pub pool_sqlite: usize,
    /// How many databases to keep built ahead of demand on each MariaDB server.
    pub pool_mariadb: usize,
    /// The farm's name, as mail and the portal call it.
    pub farm_name: String,
    /// How members get wikis: `open` (at once, within quotas), `review` (requests go to a
    /// queue) or `sandbox` (at once, but wikis expire unless kept).
    pub policy: FarmMode,
    /// The portal's public address, for links in mail (e.g. `https://wikis.example.org`).
    /// Defaults to `{public_scheme}://{base_domain}:{public_port}`.
    pub public_url: Option<String>,
    /// Regular expressions (matched against the whole name) of wiki names nobody may take,
    /// beside `reserved_names`.
    pub deny_name_patterns: Vec<String>,
    /// How long a portal login lasts.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// How long an API token made by logging in lasts.
    #[serde(with = "humantime_serde")]
    pub api_token_ttl: Duration,
    /// Addresses of reverse proxies in front of farmd; from them the client's address is taken
    /// from `X-Forwarded-For` (for rate limits and the audit log).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How often sandbox expiry, mail and housekeeping run.
    #[serde(with = "humantime_serde")]
    pub lifecycle_interval: Duration,
    pub quotas: Quotas,
    pub rate_limits: RateLimits,
    /// How long a client may take and how many may connect at once.
    pub http: HttpLimits,
    pub sandbox: SandboxConfig,
    /// Scheduled backups of every wiki and how many are kept.
    pub backups: BackupsConfig,
    /// How people log in to the wikis: farm accounts through the portal's sign-on, and
    /// what else the operator allows.
    pub wiki_accounts: WikiAccounts,
    /// What new wikis start with; each wiki's owner changes it afterwards.
    pub new_wikis: NewWikis,
    /// Outgoing mail; without it mail is off (and `/healthz` says so).
    pub smtp: Option<SmtpConfig>,
}

/// The settings, extensions and skins every new wiki starts with, and the farm-wide choices
/// behind them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewWikis {
    /// Extensions enabled in a new wiki (directory names under `extensions/`). One the machine
    /// cannot run is left out, with a warning at start.
    pub extensions: Vec<String>,
    /// Skins a new wiki offers (directory names under `skins/`).
    pub skins: Vec<String>,
    /// The default skin's name, e.g. `vector-2022`.
    pub skin: String,
    pub timezone: String,
    pub licence: Licence,
    pub account_creation: AccountCreation,
    pub edit: EditRight,
    pub uploads: bool,
    pub upload_quota_mb: u32,
    pub file_types: Vec<String>,
    /// The captcha ConfirmEdit asks on account creation and on anonymous edits that add
    /// links: `simple` (arithmetic) or `questy` (the `captcha_questions`).
    pub captcha: Captcha,
    pub captcha_questions: Vec<CaptchaQuestion>,
    /// The farm's logo, shown by every wiki until its owner uploads one (PNG, JPEG, WebP or
    /// SVG); unset: the neutral logo farmd ships.
    pub logo: Option<PathBuf>,
    /// The starter of a wiki whose creator chooses none.
    pub starter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Captcha {
    Simple,
    Questy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaQuestion {
    pub question: String,
    /// Accepted answers (any of them).
    pub answers: Vec<String>,
}

/// The extensions a new wiki gets unless the operator says otherwise.
pub const DEFAULT_EXTENSIONS: &[&str] = &[
    "AbuseFilter",
    "CategoryTree",
    "Cite",
    "CodeEditor",
    "ConfirmEdit",
    "Gadgets",
    "ImageMap",
    "InputBox",
    "Interwiki",
    "MultimediaViewer",
    "Nuke",
    "OATHAuth",
    "PageImages",
    "ParserFunctions",
    "Poem",
    "Renameuser",
    "ReplaceText",
    "Scribunto",
    "SecureLinkFixer",
    "SpamBlacklist",
    "SyntaxHighlight_GeSHi",
    "TemplateData",
    "TextExtracts",
    "TitleBlacklist",
    "VisualEditor",
    "WikiEditor",
];

impl Default for NewWikis {
    fn default() -> Self {
        Self {
            extensions: DEFAULT_EXTENSIONS.iter().map(|s| (*s).to_owned()).collect(),
            skins: ["MinervaNeue", "MonoBook", "Timeless", "Vector"].map(str::to_owned).to_vec(),
            skin: "vector-2022".into(),
            timezone: "UTC".into(),
            licence: Licence::CcBySa4,
            account_creation: AccountCreation::Everyone,
            edit: EditRight::Everyone,
            uploads: true,
            upload_quota_mb: 500,
            file_types: ["gif", "jpeg", "jpg", "pdf", "png", "svg", "webp"].map(str::to_owned).to_vec(),
            captcha: Captcha::Simple,
            captcha_questions: Vec::new(),
            logo: None,
            starter: "blank".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Most wikis one account may hold: live wikis plus open requests (admins and reviewers
    /// are not limited).
    pub max_wikis_per_account: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { max_wikis_per_account: 3 }
    }
}

/// Limits on HTTP connections, so that slow or idle clients cannot hold the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// From a request's first byte to the end of its headers.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a connection may wait for the first byte of a request: a new connection for its
    /// first, a kept-alive one for its next.
    #[serde(with = "humantime_serde")]
    pub keep_alive_timeout: Duration,
    /// Longest pause while a request body comes in.
    #[serde(with = "humantime_serde")]
    pub request_body_timeout: Duration,
    /// Most connections open at once; more wait until one closes.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            request_body_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// `count` actions per `per`, as a steady rate with bursts up to `count`. A count of 0 turns
/// the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub count: u32,
    #[serde(with = "humantime_serde")]
    pub per: Duration,
}

impl Limit {
    pub const fn new(count: u32, per_secs: u64) -> Self {
        Self { count, per: Duration::from_secs(per_secs) }
    }
}

/// Rate limits. "Per source" counts one client address; "per account" counts one account
/// *from one address*, so that a flood against someone's account cannot lock them out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub signup_per_source: Limit,
    pub login_per_source: Limit,
    pub login_per_account: Limit,
    pub password_reset_per_source: Limit,
    pub password_reset_per_account: Limit,
    pub create_per_source: Limit,
    pub create_per_account: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            signup_per_source: Limit::new(10, 3600),
            login_per_source: Limit::new(60, 600),
            login_per_account: Limit::new(10, 600),
            password_reset_per_source: Limit::new(10, 3600),
            password_reset_per_account: Limit::new(3, 3600),
            create_per_source: Limit::new(60, 3600),
            create_per_account: Limit::new(20, 3600),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// How long a sandbox wiki lives before it is locked (read-only).
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    /// How long before expiry each warning mail goes out.
    pub warnings: Vec<humantime_serde::Serde<Duration>>,
    /// How long a locked sandbox wiki stays before it is deleted.
    #[serde(with = "humantime_serde")]
    pub locked_for: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            lifetime: Duration::from_secs(30 * DAY),
            warnings: vec![Duration::from_secs(7 * DAY).into(), Duration::from_secs(DAY).into()],
            locked_for: Duration::from_secs(14 * DAY),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `none` (plain, for a relay on localhost), `starttls` or `tls` (implicit TLS).
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender, e.g. `Wiki farm <wikis@example.org>`.
    pub from: String,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

/// One MariaDB server for wikis' databases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseServerConfig {
    /// A short name, recorded with each wiki placed on this server: never rename a server
    /// that holds wikis.
    pub name: String,
    /// `mysql://USER:PASSWORD@HOST:PORT` of an account that may create databases and users
    /// and grant privileges (root, or a dedicated admin account).
    pub admin_url: Secret,
    /// Relative capacity: a server of weight 2 gets twice the wikis of a server of weight 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// A draining server keeps serving its wikis but receives no new ones.
    #[serde(default)]
    pub draining: bool,
    /// `HOST:PORT` that MediaWiki connects to; defaults to the host and port of `admin_url`.
    #[serde(default)]
    pub wiki_address: Option<String>,
    /// The host part of each wiki's database account (`'wiki_…'@HOST`): `%` for any host,
    /// or the address of the web servers.
    #[serde(default = "default_user_host")]
    pub wiki_user_host: String,
}

fn default_weight() -> u32 {
    1
}

fn default_user_host() -> String {
    "%".into()
}

/// `[backups]`: every served wiki is backed up every `interval` into `dir`; after each good
/// backup, retention keeps the newest good backup of each of the last `keep_daily` days and of
/// each of the last `keep_weekly` weeks (and always the newest good one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupsConfig {
    /// Where backups go; defaults to `{data_dir}/backups`.
    pub dir: Option<PathBuf>,
    /// How often each wiki is backed up (`0s` turns scheduled backups off; manual ones work).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub keep_daily: u32,
    pub keep_weekly: u32,
}

impl Default for BackupsConfig {
    fn default() -> Self {
        Self { dir: None, interval: Duration::from_secs(24 * 3600), keep_daily: 7, keep_weekly: 4 }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WikiAccounts {
    /// Also let people make accounts of a wiki's own and log in with their passwords (beside
    /// the farm's sign-on). Off: farm accounts only, and no password reaches a wiki.
    pub local_accounts: bool,
    /// Give farm admins the `farm-staff` group (an administrator's rights) on every wiki they
    /// sign on to; each such sign-on is audited. Off: staff have no rights on others' wikis.
    pub staff_group: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            base_domain: "localhost".into(),
            public_scheme: "http".into(),
            public_port: None,
            mediawiki_dir: PathBuf::from("/usr/share/mediawiki"),
            php_binary: PathBuf::from("php"),
            php_workers: 4,
            database_url: None,
            reserved_names: DEFAULT_RESERVED_NAMES.iter().map(|s| s.to_string()).collect(),
            provision_workers: 2,
            provision_max_attempts: 5,
            max_body_bytes: 64 * 1024,
            deleted_name_retention: Duration::from_secs(30 * 24 * 3600),
            deleted_retention: Duration::from_secs(30 * 24 * 3600),
            export_retention: Duration::from_secs(7 * 24 * 3600),
            export_max_bytes: 10 * 1024 * 1024 * 1024,
            import_max_bytes: 1024 * 1024 * 1024,
            starters_dir: None,
            log_format: LogFormat::Text,
            default_backend: Backend::Sqlite,
            mariadb_url: None,
            database_servers: Vec::new(),
            pool_sqlite: 4,
            pool_mariadb: 0,
            farm_name: "Wiki farm".into(),
            policy: FarmMode::Open,
            public_url: None,
            deny_name_patterns: Vec::new(),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            api_token_ttl: Duration::from_secs(30 * 24 * 3600),
            trusted_proxies: Vec::new(),
            lifecycle_interval: Duration::from_secs(60),
            quotas: Quotas::default(),
            http: HttpLimits::default(),
            rate_limits: RateLimits::default(),
            sandbox: SandboxConfig::default(),
            backups: BackupsConfig::default(),
            wiki_accounts: WikiAccounts::default(),
            new_wikis: NewWikis::default(),
            smtp: None,
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then `FARM_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::MissingFile(file.to_path_buf()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            // `__` reaches into sections: FARM_QUOTAS__MAX_WIKIS_PER_ACCOUNT=10.
            .merge(Env::prefixed("FARM_").filter(|key| !NOT_SETTINGS.iter().any(|n| key == *n)).split("__"))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(Box::new(figment::Error::from(msg))));
        if !matches!(self.public_scheme.as_str(), "http" | "https") {
            return invalid(format!("public_scheme must be http or https, not {:?}", self.public_scheme));
        }
        let http = &self.http;
        if http.max_connections == 0
            || [http.header_read_timeout, http.keep_alive_timeout, http.request_body_timeout].contains(&Duration::ZERO)
        {
            return invalid("http: the time-outs and max_connections must be above zero".into());
        }
        let domain_ok = !self.base_domain.is_empty()
            && self.base_domain.len() <= 190
            && self.base_domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !domain_ok {
            return invalid(format!("base_domain {:?} is not a lowercase DNS name", self.base_domain));
        }
        let new_wikis = &self.new_wikis;
        let ids_ok =
            new_wikis.extensions.iter().chain(&new_wikis.skins).all(|id| crate::domain::settings::is_component_id(id));
        if !ids_ok {
            return invalid("new_wikis: extensions and skins are directory names (letters, digits, '_', '-')".into());
        }
        if new_wikis.upload_quota_mb as i64 > crate::domain::settings::MAX_UPLOAD_QUOTA_MB {
            return invalid("new_wikis.upload_quota_mb is too large".into());
        }
        if new_wikis.captcha == Captcha::Questy
            && (new_wikis.captcha_questions.is_empty()
                || new_wikis.captcha_questions.iter().any(|q| q.question.trim().is_empty() || q.answers.is_empty()))
        {
            return invalid("new_wikis: captcha = \"questy\" needs captcha_questions, each with answers".into());
        }
        if self.backups.dir.as_ref().is_some_and(|d| !d.is_absolute()) {
            return invalid("backups.dir must be an absolute path".into());
        }
        if self.provision_workers == 0 {
            return invalid("provision_workers must be at least 1".into());
        }
        if self.provision_max_attempts == 0 {
            return invalid("provision_max_attempts must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes must be at least 1024".into());
        }
        let servers = self.all_database_servers();
        let mut names = std::collections::BTreeSet::new();
        for server in &servers {
            let name_ok = !server.name.is_empty()
                && server.name.len() <= 32
                && server.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return invalid(format!(
                    "database server name {:?}: use 1-32 letters, digits, '-' or '_'",
                    server.name
                ));
            }
            if !names.insert(server.name.as_str()) {
                return invalid(format!("two database servers are named {:?}", server.name));
            }
            if !server.admin_url.expose().starts_with("mysql://")
                && !server.admin_url.expose().starts_with("mariadb://")
            {
                return invalid(format!("database server {:?}: admin_url must start with mysql://", server.name));
            }
            if server.weight == 0 {
                return invalid(format!("database server {:?}: weight must be at least 1", server.name));
            }
            let host_ok = server.wiki_user_host == "%"
                || server.wiki_user_host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:%".contains(&b));
            if !host_ok || server.wiki_user_host.is_empty() || server.wiki_user_host.len() > 60 {
                return invalid(format!("database server {:?}: wiki_user_host is not a host pattern", server.name));
            }
        }
        if let Err(err) = crate::domain::NamePolicy::new(&self.reserved_names, &self.deny_name_patterns) {
            return invalid(format!("deny_name_patterns: {err}"));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.chars().any(char::is_whitespace) {
                return invalid(format!("public_url {url:?} must be an http:// or https:// address"));
            }
        }
        if self.farm_name.trim().is_empty()
            || self.farm_name.len() > 100
            || self.farm_name.chars().any(char::is_control)
        {
            return invalid("farm_name must be 1-100 printable characters".into());
        }
        if self.lifecycle_interval.is_zero() {
            return invalid("lifecycle_interval must be more than 0".into());
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.is_empty() || smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return invalid("smtp needs a host and a sender (from) like \"Wikis <wikis@example.org>\"".into());
            }
        }
        if self.default_backend == Backend::Mariadb && servers.is_empty() {
            return invalid("default_backend is mariadb but no database server is configured".into());
        }
        Ok(())
    }

    /// `database_servers`, plus the `mariadb_url` shorthand as a server named `default`.
    pub fn all_database_servers(&self) -> Vec<DatabaseServerConfig> {
        let mut servers = self.database_servers.clone();
        if let Some(url) = &self.mariadb_url {
            servers.push(DatabaseServerConfig {
                name: "default".into(),
                admin_url: url.clone(),
                weight: 1,
                draining: false,
                wiki_address: None,
                wiki_user_host: default_user_host(),
            });
        }
        servers
    }

    /// The control store's URL: `database_url`, or the SQLite file in the data directory.
    pub fn control_store_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("control.sqlite").display()),
        }
    }

    /// Where the operator's starters are: `starters_dir`, or `starters/` in the data directory.
    pub fn starters_dir(&self) -> PathBuf {
        self.starters_dir.clone().unwrap_or_else(|| self.data_dir.join("starters"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own error type.
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults must validate");
    }

    #[test]
    fn file_then_env_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("farmd.toml", "base_domain = \"wikis.example.org\"\nphp_workers = 2\n")?;
            jail.set_env("FARM_PHP_WORKERS", "3");
            jail.set_env("FARM_QUOTAS__MAX_WIKIS_PER_ACCOUNT", "9");
            jail.set_env("FARM_RATE_LIMITS__LOGIN_PER_SOURCE__COUNT", "0");
            jail.set_env("FARM_LOG", "debug");
            jail.set_env("FARM_CONFIG", "farmd.toml");
            let config = Config::load(Some(Path::new("farmd.toml"))).expect("loads");
            assert_eq!(config.base_domain, "wikis.example.org");
            assert_eq!(config.php_workers, 3);
            assert_eq!(config.quotas.max_wikis_per_account, 9);
            assert_eq!(config.rate_limits.login_per_source.count, 0);
            assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
            Ok(())
        });
    }

    #[test]
    fn the_example_config_loads_and_matches_the_defaults() {
        // Inside a jail: figment's jail serialises the tests that set FARM_*
        // variables, which would otherwise leak into this load.
        figment::Jail::expect_with(|_jail| {
            the_example_config_matches_the_defaults();
            Ok(())
        });
    }

    fn the_example_config_matches_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/farmd.example.toml");
        let config = Config::load(Some(&example)).expect("the example config must load");
        let defaults = Config::default();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.deleted_name_retention, defaults.deleted_name_retention);
        assert_eq!(config.deleted_retention, defaults.deleted_retention);
        assert_eq!(config.max_body_bytes, defaults.max_body_bytes);
        assert_eq!(config.php_workers, defaults.php_workers);
        assert_eq!(config.policy, defaults.policy);
        assert_eq!(config.quotas.max_wikis_per_account, defaults.quotas.max_wikis_per_account);
        assert_eq!(config.http.header_read_timeout, defaults.http.header_read_timeout);
        assert_eq!(config.http.keep_alive_timeout, defaults.http.keep_alive_timeout);
        assert_eq!(config.http.request_body_timeout, defaults.http.request_body_timeout);
        assert_eq!(config.http.max_connections, defaults.http.max_connections);
        assert_eq!(config.rate_limits.login_per_account, defaults.rate_limits.login_per_account);
        assert_eq!(config.rate_limits.create_per_source, defaults.rate_limits.create_per_source);
        assert_eq!(config.sandbox.lifetime, defaults.sandbox.lifetime);
        assert_eq!(config.sandbox.warnings, defaults.sandbox.warnings);
        assert_eq!(config.session_ttl, defaults.session_ttl);
        let (example, default) = (&config.new_wikis, &defaults.new_wikis);
        assert_eq!(example.extensions, default.extensions);
        assert_eq!(
            (&example.skins, &example.skin, &example.file_types),
            (&default.skins, &default.skin, &default.file_types)
        );
        assert_eq!(
            (example.licence, example.edit, example.upload_quota_mb),
            (default.licence, default.edit, default.upload_quota_mb)
        );
        assert!(config.smtp.is_none());
    }

    #[test]
    fn the_debian_packages_config_loads_with_its_data_dir_and_listen_address() {
        figment::Jail::expect_with(|_jail| {
            let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/debian/farmd.toml");
            let config = Config::load(Some(&packaged)).expect("/etc/farmd/farmd.toml must load");
            assert_eq!(config.data_dir, Path::new("/var/lib/farmd"));
            assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
            assert_eq!(config.base_domain, Config::default().base_domain);
            Ok(())
        });
    }

    #[test]
    fn rejects_bad_values_and_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "base_domain = \"Not A Domain\"\n")?;
            assert!(Config::load(Some(Path::new("bad.toml"))).is_err());
            jail.create_file("typo.toml", "base_domian = \"x.org\"\n")?;
            assert!(Config::load(Some(Path::new("typo.toml"))).is_err());
            assert!(matches!(Config::load(Some(Path::new("missing.toml"))), Err(ConfigError::MissingFile(_))));
            Ok(())
        });
    }
}
