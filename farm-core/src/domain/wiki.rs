//! What a wiki is: its site name, content language, lifecycle state, backend, resource key,
//! and how the farm hands wikis out.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FarmError;

/// A wiki's display name (`$wgSitename`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Sitename(String);

pub const SITENAME_MAX_LEN: usize = 100;

impl Sitename {
    pub fn parse(input: &str) -> Result<Self, FarmError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(FarmError::invalid("sitename", "sitename_empty", "the site name may not be empty".into()));
        }
        if trimmed.chars().count() > SITENAME_MAX_LEN {
            return Err(FarmError::invalid(
                "sitename",
                "sitename_too_long",
                format!("the site name has at most {SITENAME_MAX_LEN} characters"),
            ));
        }
        // MediaWiki builds page titles from the site name; control and title-breaking
        // characters would make it unusable there.
        if trimmed.chars().any(|c| c.is_control() || "#<>[]|{}".contains(c)) {
            return Err(FarmError::invalid(
                "sitename",
                "sitename_invalid_characters",
                "the site name may not contain control characters or any of # < > [ ] | { }".into(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `$wgMetaNamespace`: the site name with underscores for spaces, or `Project` (as
    /// MediaWiki's installer does) when the name would not make a valid namespace (a colon,
    /// not starting with a letter) or already names one (`Special`, `User talk`, `Datei`...):
    /// the project namespace would shadow it.
    pub fn meta_namespace(&self, taken: &NamespaceNames) -> String {
        let candidate = self.0.replace(' ', "_");
        let starts_with_letter = candidate.chars().next().is_some_and(char::is_alphabetic);
        let valid = starts_with_letter && candidate.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if valid && !taken.contains(&candidate) {
            candidate
        } else {
            "Project".to_owned()
        }
    }
}

/// The namespace names a wiki has or could have (its language's, English ones, and the
/// bundled extensions'), compared as MediaWiki does: without case, spaces and underscores
/// alike.
#[derive(Debug, Clone, Default)]
pub struct NamespaceNames(BTreeSet<String>);

impl NamespaceNames {
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(names.into_iter().map(|n| Self::key(n.as_ref())).filter(|n| !n.is_empty()).collect())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&Self::key(name))
    }

    fn key(name: &str) -> String {
        name.trim().replace(' ', "_").to_lowercase()
    }
}

/// A MediaWiki content language code that the installed codebase ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The languages the shared codebase ships (one `languages/messages/Messages*.php` each).
#[derive(Debug, Clone)]
pub struct Languages {
    codes: BTreeSet<String>,
}

impl Languages {
    pub fn load(mediawiki_dir: &Path) -> std::io::Result<Self> {
        let mut codes = BTreeSet::new();
        for entry in std::fs::read_dir(mediawiki_dir.join("languages/messages"))? {
            let file_name = entry?.file_name();
            let Some(stem) =
                file_name.to_str().and_then(|n| n.strip_prefix("Messages")).and_then(|n| n.strip_suffix(".php"))
            else {
                continue;
            };
            codes.insert(stem.to_ascii_lowercase().replace('_', "-"));
        }
        Ok(Self { codes })
    }

    #[cfg(test)]
    pub fn from_codes(codes: &[&str]) -> Self {
        Self { codes: codes.iter().map(|c| c.to_string()).collect() }
    }

    pub fn parse(&self, input: &str) -> Result<LanguageCode, FarmError> {
        if self.codes.contains(input) {
            Ok(LanguageCode(input.to_owned()))
        } else {
            Err(FarmError::invalid(
                "language",
                "language_unknown",
                "the language must be a MediaWiki language code such as \"en\", \"de\" or \"pt-br\"".into(),
            ))
        }
    }
}

/// How the farm hands out wikis (`policy` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FarmMode {
    /// Members create wikis at once, within their quota.
    Open,
    /// Members ask; reviewers approve, decline or ask for more details.
    Review,
    /// Members create at once, but wikis expire unless an admin or reviewer keeps them.
    Sandbox,
}

impl FarmMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FarmMode::Open => "open",
            FarmMode::Review => "review",
            FarmMode::Sandbox => "sandbox",
        }
    }
}

/// A wiki's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WikiState {
    /// The pipeline is building its resources.
    Provisioning,
    /// Served and usable.
    Active,
    /// Provisioning gave up; its resources were cleaned up.
    Failed,
    /// The pipeline is removing its resources.
    Deleting,
    /// Gone; the row stays for the record (and keeps the name taken for a while).
    Deleted,
    /// Served read-only: a sandbox wiki past its lifetime, deleted later unless kept.
    Locked,
    /// Deleted by its owner or an admin: no longer served, everything kept until it is purged
    /// (`deleted_retention` later), and restorable until then.
    Trashed,
}

impl WikiState {
    pub const ALL: [WikiState; 7] =
        [Self::Provisioning, Self::Active, Self::Failed, Self::Deleting, Self::Deleted, Self::Locked, Self::Trashed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Locked => "locked",
            Self::Trashed => "trashed",
        }
    }

    /// Holds resources and its name: being built, served (read-write or read-only), or going.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Provisioning | Self::Active | Self::Locked | Self::Deleting | Self::Trashed)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// The opaque identifier of a wiki's resources (directory, database, cookie prefix). It is
/// generated by the daemon from the OS random source and never derived from user text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey(String);

impl ResourceKey {
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("w{}", hex::encode(bytes)))
    }

    /// Accepts only what [`ResourceKey::generate`] makes: `w` and 16 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('w')?;
        (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a wiki's database lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Mariadb,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Mariadb => "mariadb",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Backend::Sqlite, Backend::Mariadb].into_iter().find(|b| b.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FarmError;

    fn code(err: FarmError) -> &'static str {
        match err {
            FarmError::Invalid { code, .. } => code,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn sitenames() {
        assert_eq!(Sitename::parse("  My Wiki ").expect("ok").as_str(), "My Wiki");
        assert_eq!(Sitename::parse("Ĉefpaĝo's wiki").expect("ok").as_str(), "Ĉefpaĝo's wiki");
        assert_eq!(code(Sitename::parse("   ").expect_err("empty")), "sitename_empty");
        assert_eq!(code(Sitename::parse(&"x".repeat(101)).expect_err("long")), "sitename_too_long");
        assert_eq!(code(Sitename::parse("a\nb").expect_err("ctl")), "sitename_invalid_characters");
        assert_eq!(code(Sitename::parse("[[x]]").expect_err("brackets")), "sitename_invalid_characters");
    }

    #[test]
    fn meta_namespace_is_always_valid_and_never_an_existing_namespace() {
        let taken = NamespaceNames::new(["Special", "User_talk", "Datei", "MediaWiki", "Module"]);
        let meta = |sitename: &str| Sitename::parse(sitename).expect("ok").meta_namespace(&taken);
        assert_eq!(meta("My Wiki"), "My_Wiki");
        assert_eq!(meta("Wiki: the sequel"), "Project");
        assert_eq!(meta("2 cool"), "Project");
        for shadowing in ["Special", "special", "User talk", "user_Talk", "DATEI", "MediaWiki", "Module"] {
            assert_eq!(meta(shadowing), "Project", "{shadowing}");
        }
        assert_eq!(meta("Specials"), "Specials");
    }

    #[test]
    fn languages() {
        let langs = Languages::from_codes(&["en", "de", "pt-br"]);
        assert!(langs.parse("pt-br").is_ok());
        assert_eq!(code(langs.parse("xx").expect_err("unknown")), "language_unknown");
        assert_eq!(code(langs.parse("../en").expect_err("path")), "language_unknown");
    }

    #[test]
    fn resource_keys_round_trip_and_reject_anything_else() {
        let key = ResourceKey::generate();
        assert_eq!(ResourceKey::parse(key.as_str()), Some(key));
        for bad in ["w123", "../etc", "wABCDEF0123456789", "x0123456789abcdef", "w0123456789abcdef0"] {
            assert!(ResourceKey::parse(bad).is_none(), "{bad}");
        }
    }
}
