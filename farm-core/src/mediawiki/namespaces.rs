//! The namespace names of a content language, which a wiki's project namespace must not take.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::OnceCell;

use super::php::Php;
use super::NAMESPACES_FILE;
use crate::domain::{LanguageCode, NamespaceNames};

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

/// The namespace names of each content language, read from the codebase once per language.
pub struct Namespaces {
    source: Option<(Php, PathBuf)>,
    names: Mutex<HashMap<String, Arc<OnceCell<Arc<NamespaceNames>>>>>,
}

impl Namespaces {
    /// Reads them with `php` and the farm's files in `farm_files`.
    pub fn new(php: Php, farm_files: PathBuf) -> Self {
        Self { source: Some((php, farm_files)), names: Mutex::default() }
    }

    /// The same names for every language, without PHP (for tests of the jobs).
    pub fn fixed(names: NamespaceNames) -> Self {
        let cell = Arc::new(OnceCell::new_with(Some(Arc::new(names))));
        Self { source: None, names: Mutex::new(HashMap::from([(String::new(), cell)])) }
    }

    pub async fn of(&self, language: &LanguageCode) -> anyhow::Result<Arc<NamespaceNames>> {
        let Some((php, farm_files)) = &self.source else {
            let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            return names.get("").and_then(|cell| cell.get().cloned()).context("no fixed namespace names");
        };
        let cell = {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            names.entry(language.as_str().to_owned()).or_default().clone()
        };
        let names = cell
            .get_or_try_init(|| async {
                Ok::<_, anyhow::Error>(Arc::new(namespace_names(php, farm_files, language).await?))
            })
            .await?;
        Ok(names.clone())
    }
}
