//! MediaWiki's own installer, run once per template (never once per wiki).

use std::io::Write;
use std::path::Path;

use super::php::Php;
use crate::domain::LanguageCode;

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
    // Every template carries the tables of every bundled extension that has some, so that no
    // wiki ever lacks one, whatever it enables later.
    let mut loads = String::from("\n");
    for id in super::Catalogue::read(&php.mediawiki_dir)?.table_extensions() {
        loads.push_str(&format!("wfLoadExtension( {} );\n", super::php_string(&id)));
    }
    std::fs::OpenOptions::new().append(true).open(&settings)?.write_all(loads.as_bytes())?;
    php.run_with_config(&settings, "update.php", &["--conf", &settings.to_string_lossy(), "--quick"]).await?;
    Ok(())
}
