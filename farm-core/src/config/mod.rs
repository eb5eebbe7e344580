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
    /// The shared MediaWiki codebase, when `[[codebases]]` names none.
    pub mediawiki_dir: PathBuf,
    /// MediaWiki codebases side by side; each wiki runs on one (`[upgrades] codebase` is the
    /// one new wikis get and wikis are upgraded to). Empty: `mediawiki_dir` alone, named
    /// `default`.
    pub codebases: Vec<CodebaseConfig>,
    pub upgrades: UpgradesConfig,
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
    /// The group of the web server's PHP when it runs as another user (php-fpm as www-data,
    /// see deploy/): the wikis' files are shared with it, the keys and the control store are
    /// not. Unset: only farmd's own PHP servers serve, and the data directory is farmd's alone.
    pub web_group: Option<String>,
    /// Who sees `/metrics` and the details of `/healthz`, and where.
    pub operator: OperatorEndpoints,
    /// Every wiki's job queue, run by farmd in the background.
    pub jobs: JobsConfig,
    /// Maintenance scripts run over many wikis (`POST /api/v1/maintenance-runs`).
    pub maintenance: MaintenanceConfig,
    /// What new wikis start with; each wiki's owner changes it afterwards.
    pub new_wikis: NewWikis,
    /// Outgoing mail; without it mail is off (and `/healthz` says so).
    pub smtp: Option<SmtpConfig>,
    /// How people log in: farm passwords, OpenID Connect providers, LDAP directories.
    pub login: LoginConfig,
    /// Anonymous page views from a cache that MediaWiki purges on every edit.
    pub cache: CacheConfig,
}

/// `[cache]`: MediaWiki's CDN support (`$wgUseCdn`): anonymous page views are marked cacheable
/// for `max_age` and every edit sends a PURGE to each cache. The cache is farmd's own (in its
/// wiki proxy, when it runs PHP servers) or the operator's Varnish (deploy/varnish/farmd.vcl).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// farmd's own cache in front of its PHP servers (`php_workers` > 0).
    pub builtin: bool,
    /// Its memory bound in MiB (stored bodies and headers).
    pub builtin_max_mb: u64,
    /// Caches in front of the wikis that MediaWiki sends PURGEs to (Varnish: `127.0.0.1:6081`).
    pub purge: Vec<SocketAddr>,
    /// How long a cache may keep an anonymous page view (`$wgCdnMaxAge`); an edit purges it
    /// at once. farmd's cache also drops a wiki's pages when its settings change; behind
    /// Varnish such a change shows after this.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { builtin: true, builtin_max_mb: 64, purge: Vec::new(), max_age: Duration::from_secs(600) }
    }
}

/// `[login]`: the ways to log in and who may sign up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Whether farm passwords log in (portal, `POST /api/v1/sessions` and `/tokens`, password
    /// resets). `false`: only the providers below (and `farmd token` on the command line).
    pub local_passwords: bool,
    /// `open`: anyone signs up with a password, or by a first login through a provider;
    /// `providers`: accounts are only made by a first login through a provider.
    pub signup: SignupPolicy,
    /// OpenID Connect providers, each a button on the login page.
    pub oidc: Vec<OidcProviderConfig>,
    /// LDAP directories, each a form on the login page.
    pub ldap: Vec<LdapProviderConfig>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self { local_passwords: true, signup: SignupPolicy::Open, oidc: Vec::new(), ldap: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupPolicy {
    Open,
    Providers,
}

/// Which provider groups (claim values, or LDAP group DNs) may log in and which make farm
/// staff. With `admin_groups` or `reviewer_groups` set, every login through the provider sets
/// the account's role from them (admin before reviewer, else member).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRules {
    /// Only members of one of these may log in (empty: everyone the provider vouches for).
    pub login_groups: Vec<String>,
    pub admin_groups: Vec<String>,
    pub reviewer_groups: Vec<String>,
}

impl GroupRules {
    pub fn maps_roles(&self) -> bool {
        !self.admin_groups.is_empty() || !self.reviewer_groups.is_empty()
    }
}

/// One OpenID Connect provider (authorization code flow with PKCE).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Short id in URLs and in the links between accounts and provider identities: never
    /// change it while accounts use it. `a-z`, digits and `-`, unique among all providers.
    pub id: String,
    /// What the login page's button says ("Log in with NAME").
    pub name: String,
    /// The issuer; `{issuer}/.well-known/openid-configuration` is read at the first login.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (trailing white space is ignored)...
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// ... or the environment variable that holds it.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Scopes asked for (`openid` is always added).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that gives the user name of a new account.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// The claim with the person's groups (a string or a list of strings).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// `true`: a first login whose address the provider does not call verified
    /// (`email_verified`) is refused; `false`: the account is made with the address
    /// unconfirmed and a confirmation mail.
    #[serde(default = "default_true")]
    pub require_verified_email: bool,
    /// Values of `groups_claim` (see [`GroupRules`]).
    #[serde(default)]
    pub login_groups: Vec<String>,
    #[serde(default)]
    pub admin_groups: Vec<String>,
    #[serde(default)]
    pub reviewer_groups: Vec<String>,
}

impl OidcProviderConfig {
    pub fn group_rules(&self) -> GroupRules {
        GroupRules {
            login_groups: self.login_groups.clone(),
            admin_groups: self.admin_groups.clone(),
            reviewer_groups: self.reviewer_groups.clone(),
        }
    }
}

/// One LDAP directory: the farm searches for the entry with its own account, then binds as it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapProviderConfig {
    pub id: String,
    /// What the login page calls the directory.
    pub name: String,
    /// `ldaps://host:636` or `ldap://host:389` (with `starttls = true` unless on loopback).
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the CA that signed the directory's certificate (default: the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The account the farm searches with (anonymous search when absent).
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// Where people's entries are (searched with scope subtree).
    pub base: String,
    /// `{login}` stands for what the person typed, escaped per RFC 4515.
    #[serde(default = "default_ldap_filter")]
    pub filter: String,
    #[serde(default = "default_ldap_username")]
    pub username_attribute: String,
    #[serde(default = "default_ldap_email")]
    pub email_attribute: String,
    /// A stable id of the entry (kept in the link to the farm account); the entry's DN when
    /// the entry has none.
    #[serde(default = "default_ldap_subject")]
    pub subject_attribute: String,
    /// The attribute of a group entry that lists its members' DNs (`member` for
    /// groupOfNames, `uniqueMember` for groupOfUniqueNames).
    #[serde(default = "default_ldap_member")]
    pub group_member_attribute: String,
    /// Whether the directory's addresses count as confirmed.
    #[serde(default = "default_true")]
    pub trust_email: bool,
    /// Group DNs (see [`GroupRules`]).
    #[serde(default)]
    pub login_groups: Vec<String>,
    #[serde(default)]
    pub admin_groups: Vec<String>,
    #[serde(default)]
    pub reviewer_groups: Vec<String>,
    /// How long the directory may take to answer one step.
    #[serde(default = "default_ldap_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl LdapProviderConfig {
    pub fn group_rules(&self) -> GroupRules {
        GroupRules {
            login_groups: self.login_groups.clone(),
            admin_groups: self.admin_groups.clone(),
            reviewer_groups: self.reviewer_groups.clone(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_email_claim() -> String {
    "email".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_ldap_filter() -> String {
    "(uid={login})".into()
}
fn default_ldap_username() -> String {
    "uid".into()
}
fn default_ldap_email() -> String {
    "mail".into()
}
fn default_ldap_subject() -> String {
    "entryUUID".into()
}
fn default_ldap_member() -> String {
    "member".into()
}
fn default_ldap_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Whether a URL's host is this machine (plain http or ldap is accepted only there).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl LoginConfig {
    fn validate(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= 32
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !id.starts_with('-')
        };
        let name_ok = |name: &str| !name.trim().is_empty() && name.len() <= 100 && !name.chars().any(char::is_control);
        for (id, name) in self.oidc.iter().map(|p| (&p.id, &p.name)).chain(self.ldap.iter().map(|p| (&p.id, &p.name))) {
            if !id_ok(id) {
                return Err(format!("login provider id {id:?}: use 1-32 of a-z, digits and '-'"));
            }
            if !ids.insert(id.as_str()) {
                return Err(format!("two login providers have the id {id:?}"));
            }
            if !name_ok(name) {
                return Err(format!("login provider {id:?}: name must be 1-100 printable characters"));
            }
        }
        for p in &self.oidc {
            let https = p.issuer.starts_with("https://");
            if !(https || p.issuer.starts_with("http://") && is_loopback_url(&p.issuer)) {
                return Err(format!("oidc provider {:?}: issuer must be an https:// address", p.id));
            }
            if p.client_id.is_empty() {
                return Err(format!("oidc provider {:?}: client_id is empty", p.id));
            }
            if p.client_secret_file.is_some() == p.client_secret_env.is_some() {
                return Err(format!("oidc provider {:?}: set one of client_secret_file and client_secret_env", p.id));
            }
            if [&p.username_claim, &p.email_claim, &p.groups_claim].iter().any(|c| c.is_empty()) {
                return Err(format!("oidc provider {:?}: claim names may not be empty", p.id));
            }
        }
        for p in &self.ldap {
            let ldaps = p.url.starts_with("ldaps://");
            if !ldaps && !p.url.starts_with("ldap://") {
                return Err(format!("ldap provider {:?}: url must start with ldaps:// or ldap://", p.id));
            }
            if ldaps && p.starttls {
                return Err(format!("ldap provider {:?}: starttls is for ldap:// urls", p.id));
            }
            if !ldaps && !p.starttls && !is_loopback_url(&p.url) {
                return Err(format!(
                    "ldap provider {:?}: passwords would cross the network in the clear: use ldaps:// or starttls = true",
                    p.id
                ));
            }
            if !p.filter.contains("{login}") {
                return Err(format!("ldap provider {:?}: filter must contain {{login}}", p.id));
            }
            if p.bind_password_file.is_some() && p.bind_password_env.is_some() {
                return Err(format!("ldap provider {:?}: set bind_password_file or bind_password_env, not both", p.id));
            }
            if p.bind_dn.is_some() != (p.bind_password_file.is_some() || p.bind_password_env.is_some()) {
                return Err(format!("ldap provider {:?}: bind_dn and its password go together", p.id));
            }
            if p.timeout.is_zero() {
                return Err(format!("ldap provider {:?}: timeout must be more than 0", p.id));
            }
        }
        if !self.local_passwords && self.oidc.is_empty() && self.ldap.is_empty() {
            return Err("login.local_passwords = false needs at least one [[login.oidc]] or [[login.ldap]]".into());
        }
        Ok(())
    }
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
pub struct OperatorEndpoints {
    /// `everyone` (the default) or `admins` (an admin's bearer token) on the main listener.
    /// `/healthz`'s status code (what load balancers use) is everyone's either way.
    pub metrics: MetricsAccess,
    /// An address of the operator's own where `/metrics` and `/healthz` are served in full to
    /// whoever reaches it (say 127.0.0.1:9180 for a Prometheus on the same machine); with it,
    /// the main listener shows them to admins only.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    #[default]
    Everyone,
    Admins,
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

/// `[jobs]`: farmd runs every served wiki's job queue in the background, a turn at a time per
/// wiki (`runJobs.php --maxjobs --maxtime`), taking the wikis with queued jobs in turn; web
/// requests then run none (`$wgJobRunRate = 0`), so jobs do not wait for page views.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Off: MediaWiki runs jobs during page views, as it does on its own.
    pub enabled: bool,
    /// How many wikis' queues are run at the same time.
    pub workers: usize,
    /// Most jobs of one wiki per turn.
    pub max_jobs: u32,
    /// Longest turn of one wiki (`--maxtime`); the others get theirs meanwhile.
    #[serde(with = "humantime_serde")]
    pub max_time: Duration,
    /// How often the queues' lengths are read.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: 1,
            max_jobs: 100,
            max_time: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// `[[codebases]]`: one MediaWiki codebase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CodebaseConfig {
    /// How wikis and upgrades name it: 1-32 letters, digits, '.', '-' or '_'.
    pub name: String,
    pub path: PathBuf,
    /// The MediaWiki version expected there (a prefix of its `MW_VERSION`: "1.39" matches
    /// 1.39.10); a codebase whose version differs is not used.
    #[serde(default)]
    pub version: Option<String>,
}

/// The name of the codebase when `[[codebases]]` is not set.
pub const DEFAULT_CODEBASE: &str = "default";

/// `[upgrades]`: moving wikis to the current codebase and keeping their schemas current.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpgradesConfig {
    /// The current codebase: new wikis get it and upgrades move wikis to it (default: the
    /// first of `[[codebases]]`).
    pub codebase: Option<String>,
    /// Start an upgrade by itself when a codebase changed (a package update) or wikis are on
    /// another codebase than the current one.
    pub automatic: bool,
    /// Wikis (by name) upgraded first; the others wait until every one of them succeeded.
    pub canary: Vec<String>,
    /// Wikis upgraded at the same time; 0: `[maintenance] parallel`.
    pub parallel: usize,
    /// Longest update of one wiki.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the codebases are looked at for a change.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

impl Default for UpgradesConfig {
    fn default() -> Self {
        Self {
            codebase: None,
            automatic: true,
            canary: Vec::new(),
            parallel: 0,
            timeout: Duration::from_secs(15 * 60),
            check_interval: Duration::from_secs(60),
        }
    }
}

/// `[maintenance]`: the defaults of maintenance runs (a run may ask for other values).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Scripts run at the same time; 0: as many as the machine has cores.
    pub parallel: usize,
    /// How long a script may run for one wiki before its process group is killed.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self { parallel: 0, timeout: Duration::from_secs(3600) }
    }
}

impl MaintenanceConfig {
    /// `parallel`, or the number of cores.
    pub fn default_parallel(&self) -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let parallel = if self.parallel == 0 { cores } else { self.parallel };
        u32::try_from(parallel).unwrap_or(u32::MAX).clamp(1, crate::domain::maintenance::MAX_PARALLEL)
    }
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
            codebases: Vec::new(),
            upgrades: UpgradesConfig::default(),
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
            operator: OperatorEndpoints::default(),
            web_group: None,
            jobs: JobsConfig::default(),
            maintenance: MaintenanceConfig::default(),
            new_wikis: NewWikis::default(),
            smtp: None,
            login: LoginConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

/// A codebase's name: what the control store and the API carry.
pub fn is_codebase_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl Config {
    /// Every codebase: `[[codebases]]`, or `mediawiki_dir` alone.
    pub fn all_codebases(&self) -> Vec<CodebaseConfig> {
        if self.codebases.is_empty() {
            vec![CodebaseConfig { name: DEFAULT_CODEBASE.into(), path: self.mediawiki_dir.clone(), version: None }]
        } else {
            self.codebases.clone()
        }
    }

    /// The name of the current codebase (new wikis, and the target of upgrades).
    pub fn current_codebase(&self) -> String {
        self.upgrades
            .codebase
            .clone()
            .unwrap_or_else(|| self.codebases.first().map_or_else(|| DEFAULT_CODEBASE.to_owned(), |c| c.name.clone()))
    }

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
        if self.cache.max_age.is_zero() || (self.cache.builtin && self.cache.builtin_max_mb == 0) {
            return invalid("cache: max_age and builtin_max_mb must be above zero".into());
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
        let jobs = &self.jobs;
        if jobs.workers == 0 || jobs.max_jobs == 0 || jobs.max_time.is_zero() || jobs.poll_interval.is_zero() {
            return invalid("jobs: workers, max_jobs, max_time and poll_interval must be above zero".into());
        }
        let timeout = self.maintenance.timeout.as_secs();
        if timeout == 0 || timeout > crate::domain::maintenance::MAX_TIMEOUT_SECS {
            return invalid("maintenance.timeout must be between 1s and 24h".into());
        }
        if self.maintenance.parallel > crate::domain::maintenance::MAX_PARALLEL as usize {
            return invalid(format!(
                "maintenance.parallel must be at most {}",
                crate::domain::maintenance::MAX_PARALLEL
            ));
        }
        let codebases = self.all_codebases();
        let mut codebase_names = std::collections::BTreeSet::new();
        for codebase in &codebases {
            if !is_codebase_name(&codebase.name) {
                return invalid(format!(
                    "codebase name {:?}: use 1-32 letters, digits, '.', '-' or '_'",
                    codebase.name
                ));
            }
            if !codebase_names.insert(codebase.name.as_str()) {
                return invalid(format!("codebase name {:?} is used twice", codebase.name));
            }
        }
        if let Some(current) = &self.upgrades.codebase {
            if !codebase_names.contains(current.as_str()) {
                return invalid(format!("upgrades.codebase {current:?} is not one of [[codebases]]"));
            }
        }
        let upgrade_timeout = self.upgrades.timeout.as_secs();
        if upgrade_timeout == 0 || upgrade_timeout > crate::domain::maintenance::MAX_TIMEOUT_SECS {
            return invalid("upgrades.timeout must be between 1s and 24h".into());
        }
        if self.upgrades.check_interval.is_zero()
            || self.upgrades.parallel > crate::domain::maintenance::MAX_PARALLEL as usize
        {
            return invalid(format!(
                "upgrades: check_interval must be above zero and parallel at most {}",
                crate::domain::maintenance::MAX_PARALLEL
            ));
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
        if let Err(message) = self.login.validate() {
            return invalid(message);
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
        assert_eq!(
            (
                config.jobs.enabled,
                config.jobs.workers,
                config.jobs.max_jobs,
                config.jobs.max_time,
                config.jobs.poll_interval
            ),
            (
                defaults.jobs.enabled,
                defaults.jobs.workers,
                defaults.jobs.max_jobs,
                defaults.jobs.max_time,
                defaults.jobs.poll_interval
            )
        );
        assert_eq!(
            (config.maintenance.parallel, config.maintenance.timeout),
            (defaults.maintenance.parallel, defaults.maintenance.timeout)
        );
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
        let (example, default) = (&config.cache, &defaults.cache);
        assert_eq!(
            (example.builtin, example.builtin_max_mb, &example.purge, example.max_age),
            (default.builtin, default.builtin_max_mb, &default.purge, default.max_age)
        );
    }

    #[test]
    fn the_cache_section_reads_purge_addresses_and_refuses_a_zero_size() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FARM_CACHE__PURGE", r#"["127.0.0.1:6081", "[::1]:6081"]"#);
            jail.set_env("FARM_CACHE__MAX_AGE", "5m");
            let config = Config::load(None).expect("loads");
            assert_eq!(
                config.cache.purge,
                vec![SocketAddr::from(([127, 0, 0, 1], 6081)), "[::1]:6081".parse().expect("v6")]
            );
            assert_eq!(config.cache.max_age, Duration::from_secs(300));
            jail.set_env("FARM_CACHE__PURGE", r#"["varnish"]"#);
            assert!(Config::load(None).is_err(), "a purge address is HOST:PORT");
            jail.set_env("FARM_CACHE__PURGE", "[]");
            jail.set_env("FARM_CACHE__BUILTIN_MAX_MB", "0");
            assert!(Config::load(None).is_err(), "a built-in cache of no size");
            jail.set_env("FARM_CACHE__BUILTIN", "false");
            assert!(Config::load(None).is_ok(), "no size needed when it is off");
            Ok(())
        });
    }

    #[test]
    fn login_providers_are_checked() {
        let oidc = |extra: &str| {
            format!(
                "[[login.oidc]]\nid = \"corp\"\nname = \"Corp\"\nissuer = \"https://id.example.org\"\n\
                 client_id = \"farmd\"\nclient_secret_env = \"X\"\n{extra}"
            )
        };
        let ldap = |url: &str, extra: &str| {
            format!("[[login.ldap]]\nid = \"dir\"\nname = \"Dir\"\nurl = \"{url}\"\nbase = \"dc=example\"\n{extra}")
        };
        figment::Jail::expect_with(|jail| {
            let load = |jail: &mut figment::Jail, toml: &str| {
                jail.create_file("login.toml", toml).expect("file");
                Config::load(Some(Path::new("login.toml")))
            };
            let config = load(jail, &format!("[login]\nlocal_passwords = false\n\n{}", oidc(""))).expect("valid");
            let provider = &config.login.oidc[0];
            assert_eq!(
                (provider.username_claim.as_str(), provider.email_claim.as_str()),
                ("preferred_username", "email")
            );
            assert!(provider.require_verified_email && provider.scopes.contains(&"openid".to_owned()));
            assert!(load(jail, &ldap("ldap://127.0.0.1:389", "")).is_ok(), "plain ldap on loopback");
            assert!(load(jail, &ldap("ldap://ldap.example.org", "starttls = true")).is_ok());
            assert!(load(jail, &ldap("ldaps://ldap.example.org", "")).is_ok());
            for bad in [
                "[login]\nlocal_passwords = false\n".to_owned(),
                oidc("").replace("https://id.example.org", "http://id.example.org"),
                oidc("client_secret_file = \"/x\""),
                oidc("").replace("client_secret_env = \"X\"", ""),
                oidc("").replace("id = \"corp\"", "id = \"Corp/x\""),
                format!("{}\n{}", oidc(""), ldap("ldaps://x.example.org", "").replace("\"dir\"", "\"corp\"")),
                oidc("unknown_key = 1"),
                ldap("ldap://ldap.example.org", ""),
                ldap("ldaps://ldap.example.org", "starttls = true"),
                ldap("ldaps://ldap.example.org", "filter = \"(uid=alice)\""),
                ldap("ldaps://ldap.example.org", "bind_dn = \"cn=farmd\""),
                ldap("https://ldap.example.org", ""),
            ] {
                assert!(load(jail, &bad).is_err(), "{bad}");
            }
            Ok(())
        });
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
    fn loopback_urls() {
        for url in ["http://127.0.0.1:8080/x", "ldap://localhost", "ldap://[::1]:389", "http://u@127.0.0.2"] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in ["http://127.0.0.1.example.org", "ldap://ldap.example.org", "http://localhost.evil", "x"] {
            assert!(!is_loopback_url(url), "{url}");
        }
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
