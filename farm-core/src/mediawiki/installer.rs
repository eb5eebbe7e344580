//! MediaWiki's own installer, run once per template (never once per wiki).

use std::io::Write;
use std::path::Path;

use super::php::Php;
use super::{StarterContent, STARTER_USER};
use crate::domain::LanguageCode;

/// The administrator MediaWiki's installer creates in a template; each copy renames it to the
/// wiki's owner.
pub const TEMPLATE_ADMIN: &str = "FarmTemplateOwner";

/// Runs MediaWiki's installer for a template (`database` holds the backend's options), then
/// the schema updates a fresh install still has pending, once here instead of in every wiki.
/// `conf_dir` receives the installer's LocalSettings.php, whose throwaway secret key the
/// caller deletes with it. With a `starter`, its pages are loaded on top
/// ([`load_starter`]); without one the template holds no page at all (for wikis made from an
/// archive, whose own pages must not sit under a newer installer's Main Page).
pub async fn install_template(
    php: &Php,
    conf_dir: &Path,
    database: &[&str],
    language: &LanguageCode,
    starter: Option<&StarterContent>,
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
    // Every template carries the tables of every bundled extension that has some, so that no
    // wiki ever lacks one, whatever it enables later.
    let mut loads = String::from("\n");
    // What the build's scripts write stays in its own folder: Debian's PlatformSettings.php
    // points the caches at /var/cache/mediawiki, the logs at /var/log/mediawiki and uploads at
    // the codebase's images/, which are www-data's (and read-only for the farmd service).
    // The build's errors come back on stderr.
    let scratch = |name: &str| super::php_string(&conf_dir.join(name).to_string_lossy());
    loads.push_str(&format!(
        "$wgCacheDirectory = {};\n$wgUploadDirectory = {};\n$wgDBerrorLog = false;\n$wgDebugLogGroups = [];\n",
        scratch("cache"),
        scratch("images")
    ));
    for id in super::Catalogue::read(&php.mediawiki_dir)?.table_extensions() {
        loads.push_str(&format!("wfLoadExtension( {} );\n", super::php_string(&id)));
    }
    std::fs::OpenOptions::new().append(true).open(&settings)?.write_all(loads.as_bytes())?;
    php.run_with_config(&settings, "update.php", &["--conf", &settings.to_string_lossy(), "--quick"]).await?;
    match starter {
        Some(starter) => load_starter(php, conf_dir, &settings, starter).await?,
        None => remove_main_page(php, &settings).await?,
    }
    Ok(())
}

/// Removes the installer's Main Page with MediaWiki's own `nukePage.php` (page, revisions,
/// recent changes and text, without a deletion log), then what still points at it.
async fn remove_main_page(php: &Php, settings: &Path) -> anyhow::Result<()> {
    let title = php.run_farm_file_with_config(settings, super::TEMPLATE_FILE, &["main-page"]).await?;
    let title = title.lines().last().unwrap_or("").trim().to_owned();
    anyhow::ensure!(!title.is_empty(), "MediaWiki named no Main Page");
    php.run_with_config(settings, "nukePage.php", &["--delete", &title]).await?;
    php.run_with_config(settings, "refreshLinks.php", &["--dfn-only"]).await?;
    php.run_with_config(settings, "rebuildtextindex.php", &[]).await?;
    php.run_with_config(settings, "initSiteStats.php", &["--update"]).await?;
    Ok(())
}

/// Loads a starter into a freshly installed template with MediaWiki's own importer, as
/// [`STARTER_USER`]'s edits: the installer's Main Page revision goes (the starter's is the
/// page's only one), then links, recent changes and the site statistics are rebuilt so that
/// every copy starts consistent. Templates and modules render while loading, so the
/// extensions they use are loaded too.
async fn load_starter(php: &Php, conf_dir: &Path, settings: &Path, starter: &StarterContent) -> anyhow::Result<()> {
    let mut loads = String::from("\n");
    for extension in ["ParserFunctions", "Scribunto"] {
        if php.mediawiki_dir.join("extensions").join(extension).join("extension.json").is_file() {
            loads.push_str(&format!("wfLoadExtension( {} );\n", super::php_string(extension)));
        }
    }
    loads.push_str(
        "$wgScribuntoDefaultEngine = extension_loaded( 'luasandbox' ) ? 'luasandbox' : 'luastandalone';\n\
         $wgScribuntoEngineConf['luastandalone']['luaPath'] = '/usr/bin/lua5.1';\n",
    );
    std::fs::OpenOptions::new().append(true).open(settings)?.write_all(loads.as_bytes())?;
    // Not before the installer's Main Page (the importer makes a revision the page's latest
    // when it is as new), not in the future (recent changes are rebuilt up to now). Whole
    // seconds: MediaWiki's importer takes one with a fraction for no timestamp at all.
    let at = time::OffsetDateTime::now_utc();
    let timestamp = at.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))?;
    // rebuildrecentchanges.php leaves out what happened in the second it starts unless told.
    let day = time::Duration::days(1);
    let from = format!("--from={}", super::mediawiki_timestamp(at - day));
    let to = format!("--to={}", super::mediawiki_timestamp(at + day));
    let normalised = super::starters::normalise(&starter.xml, &timestamp)?;
    let file = conf_dir.join("starter.xml");
    std::fs::write(&file, &normalised.xml)?;
    php.run_farm_file_with_config(settings, super::TEMPLATE_FILE, &["system-user", STARTER_USER]).await?;
    php.run_with_config(settings, "importDump.php", &[&file.to_string_lossy()]).await?;
    php.run_with_config(settings, "deleteOldRevisions.php", &["--delete"]).await?;
    php.run_with_config(settings, "refreshLinks.php", &[]).await?;
    php.run_with_config(settings, "rebuildrecentchanges.php", &[&from, &to]).await?;
    php.run_with_config(settings, "initSiteStats.php", &["--update"]).await?;
    // The importer queues cache and link updates; copies start with none pending.
    php.run_with_config(settings, "runJobs.php", &[]).await?;
    Ok(())
}
