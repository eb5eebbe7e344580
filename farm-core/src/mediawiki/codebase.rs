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

/// One configured codebase and what farmd found at its path.
#[derive(Debug, Clone)]
pub struct CodebaseEntry {
    pub name: String,
    pub path: PathBuf,
    /// The codebase, or why it cannot be used (not a MediaWiki, not the version expected).
    pub found: Result<Codebase, String>,
}

impl CodebaseEntry {
    pub fn detect(config: &crate::config::CodebaseConfig) -> Self {
        let found =
            Codebase::detect(&config.path).map_err(|e| format!("{e:#}")).and_then(|codebase| match &config.version {
                Some(expected) if !version_matches(&codebase.version, expected) => Err(format!(
                    "{} holds MediaWiki {}, not {expected} as the configuration says",
                    config.path.display(),
                    codebase.version
                )),
                _ => Ok(codebase),
            });
        Self { name: config.name.clone(), path: config.path.clone(), found }
    }
}

/// "1.39" matches 1.39 and 1.39.10, not 1.390.
fn version_matches(version: &str, expected: &str) -> bool {
    version == expected || version.strip_prefix(expected).is_some_and(|rest| rest.starts_with('.'))
}

/// The farm's codebases: the current one (new wikis, the target of upgrades) and the others
/// wikis may still run on.
#[derive(Debug, Clone)]
pub struct Codebases {
    current: String,
    entries: Vec<CodebaseEntry>,
}

impl Codebases {
    /// Looks at every configured codebase; the current one must be a MediaWiki.
    pub fn detect(config: &crate::config::Config) -> anyhow::Result<Self> {
        let current = config.current_codebase();
        let entries: Vec<CodebaseEntry> = config.all_codebases().iter().map(CodebaseEntry::detect).collect();
        let this = Self { current, entries };
        match this.current_entry().map(|e| &e.found) {
            Some(Ok(_)) => Ok(this),
            Some(Err(why)) => anyhow::bail!("the current codebase {:?}: {why}", this.current),
            None => anyhow::bail!("the current codebase {:?} is not configured", this.current),
        }
    }

    pub fn current_name(&self) -> &str {
        &self.current
    }

    fn current_entry(&self) -> Option<&CodebaseEntry> {
        self.entries.iter().find(|e| e.name == self.current)
    }

    /// The current codebase (checked at [`Codebases::detect`]).
    pub fn current(&self) -> Codebase {
        match self.current_entry().map(|e| &e.found) {
            Some(Ok(codebase)) => codebase.clone(),
            _ => Codebase { dir: PathBuf::from("/usr/share/mediawiki"), version: String::new() },
        }
    }

    pub fn get(&self, name: &str) -> Option<&CodebaseEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn entries(&self) -> &[CodebaseEntry] {
        &self.entries
    }

    /// The codebase a wiki on `name` runs on: its own when farmd can use it, else the
    /// current one (a wiki on a codebase no longer configured waits for its upgrade there).
    pub fn serving(&self, name: &str) -> Codebase {
        match self.get(name).map(|e| &e.found) {
            Some(Ok(codebase)) => codebase.clone(),
            _ => self.current(),
        }
    }
}
