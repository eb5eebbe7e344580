//! The shared MediaWiki codebase and the files through which it serves the farm's wikis.
//!
//! PHP finds a wiki through `data/hosts/<name>` and loads, in order, the farm entry file's
//! defaults, the wiki's shard (`LocalSettings.php`, regenerated freely from the registry) and
//! its `secrets.php` (written once). The PHP side lives in `deploy/mediawiki/` and is
//! embedded in the binary, so the daemon and its entry file always match.

pub mod archive;
mod catalogue;
mod codebase;
mod farm_files;
mod features;
mod installer;
pub mod maintenance;
mod namespaces;
mod owner;
pub mod password;
pub mod php;
mod shard;
pub mod sign_on;
pub mod starters;
mod urls;

pub use catalogue::{is_component_id, Catalogue, Component, ComponentKind};
pub use codebase::{Codebase, CodebaseEntry, Codebases};
pub use farm_files::{
    install_farm_files, WikiCdn, WikiSignOn, ENTRY_FILE, NAMESPACES_FILE, ROUTER_FILE, TEMPLATE_FILE,
};
pub use features::{ChangeContext, Features};
pub use installer::{install_template, TEMPLATE_ADMIN};
pub use maintenance::{resolve_script, update_fingerprint};
pub use namespaces::{namespace_names, Namespaces};
pub use owner::{Owner, OwnerStatement};
pub use shard::{render_secrets, render_shard, ShardDatabase, ShardValues};
pub use starters::{StarterContent, Starters, STARTER_USER};
pub use urls::WikiUrls;

/// MediaWiki's `TS_MW` timestamp: `YYYYMMDDHHMMSS` in UTC.
pub fn mediawiki_timestamp(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    at.format(&format).unwrap_or_else(|_| "19700101000000".into())
}

/// Counts the revisions made by anyone but MediaWiki's own system user (who saves the
/// installer's Main Page) and the farm's (who makes the starter pages): a wiki with none
/// still has only its starting pages. `prefix` is the database qualifier (`` `wiki_x`. ``)
/// or empty.
pub fn people_edits_sql(prefix: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM {prefix}revision JOIN {prefix}actor ON rev_actor = actor_id \
         WHERE actor_name NOT IN ('MediaWiki default', {})",
        sql_string(STARTER_USER)
    )
}

/// A constant as an SQL string literal (for names farmd itself defines, never input).
fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
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
}
