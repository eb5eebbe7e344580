//! The shared MediaWiki codebase and the files through which it serves the farm's wikis.
//!
//! PHP finds a wiki through `data/hosts/<name>` and loads, in order, the farm entry file's
//! defaults, the wiki's shard (`LocalSettings.php`, regenerated freely from the registry) and
//! its `secrets.php` (written once). The PHP side lives in `deploy/mediawiki/` and is
//! embedded in the binary, so the daemon and its entry file always match.

pub mod password;
pub mod php;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::backends::mariadb::Ident;
use crate::config::Config;
use crate::domain::Secret;
use crate::domain::{LanguageCode, NamespaceNames, ResourceKey, Sitename, WikiName};
use crate::mediawiki::php::Php;
use crate::platform::fsutil::write_atomic;
use crate::platform::layout::Layout;

/// The PHP files farmd installs into `data/mediawiki/` on every start.
const FARM_FILES: &[(&str, &str)] = &[
    ("FarmSettings.php", include_str!("../../../deploy/mediawiki/FarmSettings.php")),
    ("farm-resolve.php", include_str!("../../../deploy/mediawiki/farm-resolve.php")),
    ("router.php", include_str!("../../../deploy/mediawiki/router.php")),
    ("farm-prewarm.php", include_str!("../../../deploy/mediawiki/farm-prewarm.php")),
    ("farm-namespaces.php", include_str!("../../../deploy/mediawiki/farm-namespaces.php")),
];

pub const ENTRY_FILE: &str = "FarmSettings.php";
pub const ROUTER_FILE: &str = "router.php";
/// Renders a pool entry's Main Page into its parser cache ([`crate::jobs::pool`]).
pub const PREWARM_FILE: &str = "farm-prewarm.php";
/// Lists the namespace names of a language ([`namespace_names`]).
pub const NAMESPACES_FILE: &str = "farm-namespaces.php";

/// The shared codebase: where it is and which version it is.
#[derive(Debug, Clone)]
pub struct Codebase {
    pub dir: PathBuf,
    pub version: String,
}

impl Codebase {
    /// Reads `MW_VERSION` from `includes/Defines.php`.
    pub fn detect(dir: &Path) -> anyhow::Result<Self> {
        let defines = dir.join("includes/Defines.php");
        let text = std::fs::read_to_string(&defines).with_context(|| {
            format!(
                "no MediaWiki codebase at {} (install Debian's mediawiki package, or set mediawiki_dir)",
                dir.display()
            )
        })?;
        let version = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("define( 'MW_VERSION', '")?.strip_suffix("' );"))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
            .with_context(|| format!("cannot read MW_VERSION from {}", defines.display()))?;
        Ok(Self { dir: dir.to_path_buf(), version: version.to_owned() })
    }
}

/// How wikis are addressed from outside: `{scheme}://{name}.{base_domain}{:port}`.
#[derive(Debug, Clone)]
pub struct WikiUrls {
    scheme: String,
    base_domain: String,
    port_suffix: String,
}

impl WikiUrls {
    /// `listen` is the address farmd actually bound (its port stands in for `public_port`).
    pub fn new(config: &Config, listen: SocketAddr) -> Self {
        let port = config.public_port.unwrap_or(listen.port());
        let default_port = if config.public_scheme == "https" { 443 } else { 80 };
        let port_suffix = if port == default_port { String::new() } else { format!(":{port}") };
        Self { scheme: config.public_scheme.clone(), base_domain: config.base_domain.clone(), port_suffix }
    }

    pub fn wiki_url(&self, name: &str) -> String {
        format!("{}://{}.{}{}/", self.scheme, name, self.base_domain, self.port_suffix)
    }

    /// The wiki name a request's Host header addresses, if it addresses one at all.
    pub fn wiki_label_of_host<'a>(&self, host: &'a str) -> Option<&'a str> {
        let host =
            host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
        let label = host.strip_suffix(self.base_domain.as_str())?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }

    pub fn base_domain(&self) -> &str {
        &self.base_domain
    }

    /// The portal's own address (the base domain itself), without a trailing slash.
    pub fn portal_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.base_domain, self.port_suffix)
    }
}

/// Writes the PHP side of the farm into `data/mediawiki/`, with `farm-config.php` telling it
/// where the data lives and how wikis are addressed. A file that already holds the same text
/// is left alone: MediaWiki treats every cached page older than the entry file's mtime as
/// stale (`$wgInvalidateCacheOnLocalSettingsChange`), so rewriting it on every start would
/// throw away all parser caches, the warm pool's prerendered pages among them.
pub fn install_farm_files(layout: &Layout, urls: &WikiUrls, codebase: &Codebase) -> anyhow::Result<()> {
    let dir = layout.farm_files_dir();
    let cache_dir = layout.cache_dir(&codebase.version);
    std::fs::create_dir_all(&cache_dir)?;
    let farm_config = format!(
        "<?php\n// Written by farmd at start; do not edit.\nreturn [\n\t'data_dir' => {},\n\t'base_domain' => {},\n\
         \t'scheme' => {},\n\t'port_suffix' => {},\n\t'cache_dir' => {},\n];\n",
        php_string(&layout.root().to_string_lossy()),
        php_string(&urls.base_domain),
        php_string(&urls.scheme),
        php_string(&urls.port_suffix),
        php_string(&cache_dir.to_string_lossy()),
    );
    write_if_changed(&dir.join("farm-config.php"), farm_config.as_bytes())?;
    for (name, contents) in FARM_FILES {
        write_if_changed(&dir.join(name), contents.as_bytes())?;
    }
    Ok(())
}

fn write_if_changed(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    match std::fs::read(path) {
        Ok(existing) if existing == contents => Ok(()),
        _ => write_atomic(path, contents, 0o644),
    }
}

/// The administrator MediaWiki's installer creates in a template; each copy renames it to the
/// wiki's owner.
pub const TEMPLATE_ADMIN: &str = "FarmTemplateOwner";

/// Runs MediaWiki's installer for a template (`database` holds the backend's options), then
/// the schema updates a fresh install still has pending, once here instead of in every wiki.
/// `conf_dir` receives the installer's LocalSettings.php, whose throwaway secret key the
/// caller deletes with it.
pub async fn install_template(
    php: &Php,
    conf_dir: &Path,
    database: &[&str],
    language: &LanguageCode,
) -> anyhow::Result<()> {
    let conf = conf_dir.to_string_lossy();
    let password = crate::platform::random::random_password(24);
    let mut install = database.to_vec();
    install.extend([
        "--confpath",
        &conf,
        "--server",
        "http://template.invalid",
        "--scriptpath",
        "",
        "--lang",
        language.as_str(),
        "--pass",
        password.expose(),
        "Farm template",
        TEMPLATE_ADMIN,
    ]);
    // The installer refuses to run when the config file it would load exists.
    php.run_with_config(&conf_dir.join("absent.php"), "install.php", &install).await?;
    let settings = conf_dir.join("LocalSettings.php");
    php.run_with_config(&settings, "update.php", &["--conf", &settings.to_string_lossy(), "--quick"]).await?;
    Ok(())
}

/// Every namespace name a wiki in `language` has or could have, read from the codebase by
/// `farm-namespaces.php` (a plain PHP run; no MediaWiki boots).
pub async fn namespace_names(php: &Php, farm_files: &Path, language: &LanguageCode) -> anyhow::Result<NamespaceNames> {
    let script = farm_files.join(NAMESPACES_FILE);
    let mut cmd = php.command();
    cmd.arg(&script).arg(&php.mediawiki_dir).arg(language.as_str());
    let output = cmd.output().await.with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{NAMESPACES_FILE} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<String> = serde_json::from_slice(&output.stdout).context("reading the namespace names")?;
    anyhow::ensure!(names.len() > 10, "{NAMESPACES_FILE} found only {} namespace names", names.len());
    Ok(NamespaceNames::new(names))
}

/// The values that make one wiki's shard.
pub struct ShardValues<'a> {
    pub key: &'a ResourceKey,
    pub name: &'a WikiName,
    pub sitename: &'a Sitename,
    pub language: &'a LanguageCode,
    /// Names the project namespace must not take.
    pub taken_namespaces: &'a NamespaceNames,
    pub database: ShardDatabase,
}

/// Where the wiki's database lives, as MediaWiki needs to know it.
pub enum ShardDatabase {
    /// `{wiki}/db/{key}.sqlite`.
    Sqlite,
    /// A database on a MariaDB server at `address` (`HOST:PORT`), with an account of the
    /// same name; the password is in `secrets.php`.
    Mysql { address: String, name: Ident },
}

/// The wiki's `LocalSettings.php`: everything that is not secret and not farm-wide. It holds
/// nothing that cannot be rebuilt from the registry, so it can be rewritten at any time.
pub fn render_shard(values: &ShardValues<'_>) -> String {
    let database = match &values.database {
        ShardDatabase::Sqlite => format!(
            "$wgDBtype = 'sqlite';\n$wgDBname = {key};\n$wgDBserver = '';\n$wgDBuser = '';\n\
             $wgSQLiteDataDir = \"$farmWikiDir/db\";\n",
            key = php_string(values.key.as_str()),
        ),
        ShardDatabase::Mysql { address, name } => format!(
            "$wgDBtype = 'mysql';\n$wgDBserver = {address};\n$wgDBname = {name};\n$wgDBuser = {name};\n\
             $wgDBTableOptions = 'ENGINE=InnoDB, DEFAULT CHARSET=binary';\n",
            address = php_string(address),
            name = php_string(name.as_str()),
        ),
    };
    format!(
        "<?php\n// Written by farmd for the wiki {name}; changes here are overwritten.\n\
         if ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n\n\
         $wgSitename = {sitename};\n$wgMetaNamespace = {meta};\n$wgLanguageCode = {lang};\n\n{database}",
        name = values.name,
        sitename = php_string(values.sitename.as_str()),
        meta = php_string(&values.sitename.meta_namespace(values.taken_namespaces)),
        lang = php_string(values.language.as_str()),
    )
}

/// The wiki's `secrets.php`: a secret key and an upgrade key from the OS random source, and
/// the database password for MariaDB wikis.
pub fn render_secrets(db_password: Option<&Secret>) -> String {
    let mut php = format!(
        "<?php\n// Written once by farmd. Never share these between wikis.\n\
         if ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n\n$wgSecretKey = '{}';\n$wgUpgradeKey = '{}';\n",
        crate::platform::random::random_hex(32),
        crate::platform::random::random_hex(8),
    );
    if let Some(password) = db_password {
        php.push_str(&format!("$wgDBpassword = {};\n", php_string(password.expose())));
    }
    php
}

/// MediaWiki's `TS_MW` timestamp: `YYYYMMDDHHMMSS` in UTC.
pub fn mediawiki_timestamp(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    at.format(&format).unwrap_or_else(|_| "19700101000000".into())
}

/// A PHP single-quoted string literal. Inside one, PHP interprets only `\\` and `\'`.
pub fn php_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_use_mediawiki_format() {
        let at = time::macros::datetime!(2026-11-26 13:05:09 UTC);
        assert_eq!(mediawiki_timestamp(at), "20261126130509");
    }

    #[test]
    fn php_strings_escape_quotes_and_backslashes() {
        assert_eq!(php_string("plain"), "'plain'");
        assert_eq!(php_string(r"it's a \ test"), r"'it\'s a \\ test'");
        assert_eq!(php_string(r"end\"), r"'end\\'");
    }

    #[test]
    fn hosts_map_to_wiki_labels() {
        let config = Config { public_port: Some(8080), ..Config::default() };
        let urls = WikiUrls::new(&config, "127.0.0.1:9999".parse().expect("addr"));
        assert_eq!(urls.wiki_url("demo"), "http://demo.localhost:8080/");
        assert_eq!(urls.wiki_label_of_host("demo.localhost:8080"), Some("demo"));
        assert_eq!(urls.wiki_label_of_host("demo.localhost"), Some("demo"));
        assert_eq!(urls.wiki_label_of_host("localhost:8080"), None);
        assert_eq!(urls.wiki_label_of_host("a.b.localhost"), None);
        assert_eq!(urls.wiki_label_of_host("demolocalhost"), None);
        assert_eq!(urls.wiki_label_of_host("127.0.0.1:8080"), None);
    }

    #[test]
    fn default_ports_are_left_out_of_urls() {
        let config = Config { public_scheme: "https".into(), public_port: Some(443), ..Config::default() };
        let urls = WikiUrls::new(&config, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(urls.wiki_url("demo"), "https://demo.localhost/");
    }

    #[test]
    fn shard_quotes_user_text() {
        let key = ResourceKey::parse("w0123456789abcdef").expect("key");
        let name = WikiName::parse("demo").expect("name");
        let sitename = Sitename::parse("Bob's \\ wiki").expect("sitename");
        let language = crate::domain::Languages::from_codes(&["en"]).parse("en").expect("lang");
        let taken = NamespaceNames::default();
        let values = |database| ShardValues {
            key: &key,
            name: &name,
            sitename: &sitename,
            language: &language,
            taken_namespaces: &taken,
            database,
        };
        let shard = render_shard(&values(ShardDatabase::Sqlite));
        assert!(shard.contains(r"$wgSitename = 'Bob\'s \\ wiki';"), "{shard}");
        assert!(shard.contains("$wgDBname = 'w0123456789abcdef';"));
        let db = Ident::for_wiki(&key);
        let shard = render_shard(&values(ShardDatabase::Mysql { address: "db1:3306".into(), name: db }));
        assert!(shard.contains("$wgDBtype = 'mysql';\n$wgDBserver = 'db1:3306';"), "{shard}");
        assert!(shard.contains("$wgDBuser = 'wiki_w0123456789abcdef';"));
        assert!(!shard.contains("wgDBpassword"), "the password lives in secrets.php");
    }

    #[test]
    fn secrets_hold_the_database_password_only_when_given() {
        assert!(!render_secrets(None).contains("wgDBpassword"));
        let with = render_secrets(Some(&Secret::new("pw123".into())));
        assert!(with.contains("$wgDBpassword = 'pw123';"));
        assert_ne!(render_secrets(None), render_secrets(None), "fresh keys each time");
    }
}
