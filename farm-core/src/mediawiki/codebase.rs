//! The shared MediaWiki codebase farmd serves.

use std::path::{Path, PathBuf};

use anyhow::Context;

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
