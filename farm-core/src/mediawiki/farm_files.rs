//! The farm's PHP side, embedded from `deploy/mediawiki/` and written into `data/mediawiki/`,
//! so that the daemon and its entry file always match.

use std::path::Path;

use super::{php_string, Codebase, WikiUrls};
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
