//! The farm's PHP side, embedded from `deploy/mediawiki/` and written into `data/mediawiki/`,
//! so that the daemon and its entry file always match.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::{php_string, Codebase, Features, WikiUrls};
use crate::config::{CacheConfig, Captcha, SmtpConfig, SmtpTls, WikiAccounts};
use crate::platform::fsutil::{remove_file_if_exists, write_atomic};
use crate::platform::layout::Layout;

/// The PHP files farmd installs into `data/mediawiki/` on every start.
const FARM_FILES: &[(&str, &str)] = &[
    ("FarmSettings.php", include_str!("../../../deploy/mediawiki/FarmSettings.php")),
    ("farm-resolve.php", include_str!("../../../deploy/mediawiki/farm-resolve.php")),
    ("router.php", include_str!("../../../deploy/mediawiki/router.php")),
    ("farm-namespaces.php", include_str!("../../../deploy/mediawiki/farm-namespaces.php")),
    ("farm-features.php", include_str!("../../../deploy/mediawiki/farm-features.php")),
    ("farm-cdn.php", include_str!("../../../deploy/mediawiki/farm-cdn.php")),
    ("farm-template.php", include_str!("../../../deploy/mediawiki/farm-template.php")),
    ("farm-sign-on.php", include_str!("../../../deploy/mediawiki/farm-sign-on.php")),
    ("farm-rights.php", include_str!("../../../deploy/mediawiki/farm-rights.php")),
];

/// What the wikis need to honour the portal's sign-on.
#[derive(Debug, Clone)]
pub struct WikiSignOn<'a> {
    /// The portal's address (`scheme://host[:port]`), where "Log in" goes and the only origin
    /// an assertion may be posted from.
    pub portal_url: &'a str,
    /// The Ed25519 key assertions are checked with (hex).
    pub public_key: String,
    pub accounts: &'a WikiAccounts,
    /// The web server's PHP is another user in farmd's `web_group`: what it makes stays the
    /// group's too.
    pub shared_with_web_group: bool,
}

/// MediaWiki's CDN support: the caches that get a PURGE on every edit (none: `$wgUseCdn` off).
#[derive(Debug, Clone, Default)]
pub struct WikiCdn {
    pub servers: Vec<SocketAddr>,
    pub max_age: std::time::Duration,
}

impl WikiCdn {
    /// The operator's caches, and farmd's own address when its built-in cache serves (farmd
    /// runs PHP servers): MediaWiki then purges farmd's proxy as it would a Varnish.
    pub fn new(cache: &CacheConfig, listen: SocketAddr, builtin_serves: bool) -> Self {
        let mut servers = cache.purge.clone();
        if builtin_serves && cache.builtin {
            let ip = match listen.ip() {
                ip if !ip.is_unspecified() => ip,
                IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            };
            servers.push(SocketAddr::new(ip, listen.port()));
        }
        Self { servers, max_age: cache.max_age }
    }
}

/// The neutral logo every wiki shows until its owner uploads one (unless the operator set one).
const FARM_LOGO: &[u8] = include_bytes!("../../../deploy/mediawiki/farm-logo.svg");

pub const ENTRY_FILE: &str = "FarmSettings.php";
pub const ROUTER_FILE: &str = "router.php";
/// What building a template needs beyond MediaWiki's scripts ([`super::install_template`]).
pub const TEMPLATE_FILE: &str = "farm-template.php";
/// Lists the namespace names of a language ([`namespace_names`]).
pub const NAMESPACES_FILE: &str = "farm-namespaces.php";

/// Writes the PHP side of the farm into `data/mediawiki/`, with `farm-config.php` telling it
/// where the data lives and how wikis are addressed. A file that already holds the same text
/// is left alone: MediaWiki treats every cached page older than the entry file's mtime as
/// stale (`$wgInvalidateCacheOnLocalSettingsChange`), so rewriting it on every start would
/// throw away all parser caches.
#[allow(clippy::too_many_arguments)] // Each is one part of farm-config.php, from its own owner.
pub fn install_farm_files(
    layout: &Layout,
    urls: &WikiUrls,
    codebase: &Codebase,
    features: &Features,
    smtp: Option<&SmtpConfig>,
    sign_on: &WikiSignOn<'_>,
    background_jobs: bool,
    cdn: &WikiCdn,
) -> anyhow::Result<()> {
    let dir = layout.farm_files_dir();
    let cache_dir = layout.cache_dir(&codebase.version);
    std::fs::create_dir_all(&cache_dir)?;
    // The compiled codebase for the scripts farmd runs; nothing of the data directory in it.
    crate::platform::layout::create_private_dir(&layout.opcache_dir(&codebase.version))?;
    write_if_changed(&layout.opcache_blacklist(), format!("{}/\n", layout.root().display()).as_bytes(), 0o600)?;
    let logo = install_farm_logo(&dir.join("assets"), features.defaults().logo.as_deref())?;
    let defaults = features.defaults();
    let questions: Vec<String> = defaults
        .captcha_questions
        .iter()
        .map(|q| {
            let answers: Vec<String> = q.answers.iter().map(|a| php_string(a)).collect();
            format!("{} => [ {} ]", php_string(&q.question), answers.join(", "))
        })
        .collect();
    let farm_config = format!(
        "<?php\n// Written by farmd at start; do not edit.\nreturn [\n\t'data_dir' => {},\n\t'base_domain' => {},\n\
         \t'scheme' => {},\n\t'port_suffix' => {},\n\t'cache_dir' => {},\n\t'logo' => {},\n\
         \t'captcha' => {},\n\t'captcha_questions' => [ {} ],\n\t'portal_url' => {},\n\t'sign_on_key' => {},\n\
         \t'local_accounts' => {},\n\t'staff_group' => {},\n\t'web_group' => {},\n\t'background_jobs' => {},\n\t'cdn_servers' => [ {} ],\n\t'cdn_max_age' => {},\n];\n",
        php_string(&layout.root().to_string_lossy()),
        php_string(&urls.base_domain),
        php_string(&urls.scheme),
        php_string(&urls.port_suffix),
        php_string(&cache_dir.to_string_lossy()),
        php_string(&logo),
        php_string(match defaults.captcha {
            Captcha::Simple => "simple",
            Captcha::Questy => "questy",
        }),
        questions.join(", "),
        php_string(sign_on.portal_url.trim_end_matches('/')),
        php_string(&sign_on.public_key),
        sign_on.accounts.local_accounts,
        sign_on.accounts.staff_group,
        sign_on.shared_with_web_group,
        if background_jobs { "true" } else { "false" },
        cdn.servers.iter().map(|s| php_string(&s.to_string())).collect::<Vec<_>>().join(", "),
        cdn.max_age.as_secs(),
    );
    write_if_changed(&dir.join("farm-config.php"), farm_config.as_bytes(), 0o644)?;
    write_if_changed(&dir.join("farm-messages.php"), features.catalogue.messages_php().as_bytes(), 0o644)?;
    // The mail server's password: readable by PHP, in a file of its own.
    let smtp_file = dir.join("farm-smtp.php");
    match smtp {
        Some(smtp) => write_if_changed(&smtp_file, render_smtp(smtp, &urls.base_domain).as_bytes(), 0o640)?,
        None => remove_file_if_exists(&smtp_file)?,
    }
    for (name, contents) in FARM_FILES {
        write_if_changed(&dir.join(name), contents.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Puts the farm's default logo (the operator's, or the one farmd ships) into `assets/` and
/// returns its URL path on every wiki.
fn install_farm_logo(assets: &Path, operator_logo: Option<&Path>) -> anyhow::Result<String> {
    use crate::domain::image::{check_image, ImageSlot};
    std::fs::create_dir_all(assets)?;
    let bytes = match operator_logo {
        Some(path) => std::fs::read(path).map_err(|e| anyhow::anyhow!("new_wikis.logo {}: {e}", path.display()))?,
        None => FARM_LOGO.to_vec(),
    };
    let format = check_image(ImageSlot::Logo, &bytes).map_err(|e| anyhow::anyhow!("new_wikis.logo: {e}"))?;
    let name = format!("farm-logo.{}", format.extension());
    write_if_changed(&assets.join(&name), &bytes, 0o644)?;
    Ok(format!("/farm-assets/{name}"))
}

/// `$wgSMTP` and the sender for wikis' email, from the farm's `[smtp]`.
fn render_smtp(smtp: &SmtpConfig, base_domain: &str) -> String {
    let host = match smtp.tls {
        SmtpTls::Tls => format!("ssl://{}", smtp.host),
        SmtpTls::None | SmtpTls::Starttls => smtp.host.clone(),
    };
    let auth = smtp.username.is_some();
    format!(
        "<?php\n// Written by farmd from [smtp]; do not edit.\nif ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n\
         return [\n\t'from' => {from},\n\t'smtp' => [\n\t\t'host' => {host},\n\t\t'IDHost' => {id_host},\n\
         \t\t'port' => {port},\n\t\t'auth' => {auth},\n\t\t'username' => {user},\n\t\t'password' => {password},\n\t],\n];\n",
        from = php_string(&sender_address(&smtp.from)),
        host = php_string(&host),
        id_host = php_string(base_domain),
        port = smtp.port,
        user = php_string(smtp.username.as_deref().unwrap_or("")),
        password = php_string(smtp.password.as_ref().map(|p| p.expose()).unwrap_or("")),
    )
}

/// The address part of `Name <address>`.
fn sender_address(from: &str) -> String {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => from[start + 1..end].trim().to_owned(),
        _ => from.trim().to_owned(),
    }
}

fn write_if_changed(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    match std::fs::read(path) {
        Ok(existing) if existing == contents => Ok(()),
        _ => write_atomic(path, contents, mode),
    }
}
