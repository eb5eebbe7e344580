//! What a wiki can be: the [`Catalogue`] with the farm's defaults for new wikis, and the rules
//! a configuration obeys (every setting valid, every enabled extension available, with what
//! it needs enabled and nothing it conflicts with, the default skin among the enabled ones).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::catalogue::{Catalogue, ComponentKind};
use crate::config::NewWikis;
use crate::domain::settings::{Configuration, RequestedChange, SettingRules, WikiSettings};
use crate::domain::{Languages, Sitename};
use crate::error::FarmError;

/// The catalogue, the defaults and what the machine offers.
#[derive(Debug, Clone)]
pub struct Features {
    pub catalogue: Catalogue,
    defaults: NewWikis,
    default_extensions: BTreeSet<String>,
    default_skins: BTreeSet<String>,
    pub timezones: BTreeSet<String>,
    /// The farm has a mail server, so wikis may send email.
    pub email_available: bool,
}

/// Who changes, and what the wiki's content allows.
pub struct ChangeContext<'a> {
    pub admin: bool,
    pub languages: &'a Languages,
    /// The wiki has content beyond its starting pages: its language stays.
    pub language_locked: bool,
}

fn invalid(field: &'static str, code: &'static str, message: String) -> FarmError {
    FarmError::invalid(field, code, message)
}

impl Features {
    /// Checks the operator's defaults against the catalogue: an unknown id is an error, one
    /// the machine cannot run is left out (with a warning).
    pub fn new(
        catalogue: Catalogue,
        defaults: &NewWikis,
        timezones: BTreeSet<String>,
        email_available: bool,
    ) -> anyhow::Result<Self> {
        let pick = |ids: &[String], kind: ComponentKind| -> anyhow::Result<BTreeSet<String>> {
            let mut chosen = BTreeSet::new();
            for id in ids {
                let component = catalogue
                    .get(id)
                    .filter(|c| c.kind == kind)
                    .ok_or_else(|| anyhow::anyhow!("new_wikis: the codebase has no {kind:?} {id:?}"))?;
                match &component.unavailable {
                    None => {
                        chosen.insert(id.clone());
                    }
                    Some(why) => tracing::warn!(extension = %id, reason = %why, "left out of new wikis: unavailable"),
                }
            }
            Ok(chosen)
        };
        let default_extensions = pick(&defaults.extensions, ComponentKind::Extension)?;
        let default_skins = pick(&defaults.skins, ComponentKind::Skin)?;
        let features = Self {
            catalogue,
            defaults: defaults.clone(),
            default_extensions,
            default_skins,
            timezones,
            email_available,
        };
        if !features.catalogue.skin_names(&features.default_skins).any(|n| n == defaults.skin) {
            anyhow::bail!("new_wikis.skin {:?} is not a skin of new_wikis.skins", defaults.skin);
        }
        if !features.timezones.contains(&defaults.timezone) {
            anyhow::bail!("new_wikis.timezone {:?} is not a time zone PHP knows", defaults.timezone);
        }
        let initial = features.initial(&Sitename::parse("Check").expect("valid"), "en");
        features
            .check_components(&initial.extensions, &initial.skins)
            .map_err(|e| anyhow::anyhow!("new_wikis: {e}"))?;
        Ok(features)
    }

    /// A new wiki's configuration.
    pub fn initial(&self, sitename: &Sitename, language: &str) -> Configuration {
        let d = &self.defaults;
        Configuration {
            settings: WikiSettings {
                sitename: sitename.as_str().to_owned(),
                logo: None,
                favicon: None,
                skin: d.skin.clone(),
                timezone: d.timezone.clone(),
                language: language.to_owned(),
                private: false,
                account_creation: d.account_creation,
                edit: d.edit,
                uploads: d.uploads,
                upload_quota_mb: d.upload_quota_mb,
                file_types: d.file_types.clone(),
                licence: d.licence,
                email: false,
            },
            extensions: self.default_extensions.clone(),
            skins: self.default_skins.clone(),
        }
    }

    /// Whether a new wiki starts with `id` (an extension or skin) enabled.
    pub fn is_default(&self, id: &str) -> bool {
        self.default_extensions.contains(id) || self.default_skins.contains(id)
    }

    /// `current` with `change` applied, or the first rule it breaks.
    pub fn change(
        &self,
        current: &Configuration,
        change: &RequestedChange,
        context: &ChangeContext<'_>,
    ) -> Result<Configuration, FarmError> {
        let mut next = current.clone();
        for (kind, wanted, set) in [
            (ComponentKind::Extension, &change.extensions, &mut next.extensions),
            (ComponentKind::Skin, &change.skins, &mut next.skins),
        ] {
            for (id, &on) in wanted {
                let (field, what) = field_of(kind);
                self.catalogue
                    .get(id)
                    .filter(|c| c.kind == kind)
                    .ok_or_else(|| invalid(field, "component_unknown", format!("the farm has no {what} {id:?}")))?;
                if on {
                    set.insert(id.clone());
                } else {
                    set.remove(id);
                }
            }
        }
        let rules = SettingRules {
            languages: context.languages,
            timezones: &self.timezones,
            skin_names: self.catalogue.skin_names(&next.skins).map(str::to_owned).collect(),
            email_available: self.email_available,
            admin: context.admin,
        };
        for (name, value) in &change.settings {
            next.settings.set(name, value, &rules)?;
        }
        self.check(current, &next, context)?;
        Ok(next)
    }

    /// Whether `next` may follow `current` (a change, or a rollback to an earlier revision).
    pub fn check(
        &self,
        current: &Configuration,
        next: &Configuration,
        context: &ChangeContext<'_>,
    ) -> Result<(), FarmError> {
        for id in next.extensions.difference(&current.extensions).chain(next.skins.difference(&current.skins)) {
            let component = self.catalogue.get(id).ok_or_else(|| {
                invalid("extensions", "component_unknown", format!("the codebase no longer has {id:?}"))
            })?;
            if let Some(why) = &component.unavailable {
                let (field, what) = field_of(component.kind);
                return Err(invalid(field, "component_unavailable", format!("the {what} {id} is unavailable: {why}")));
            }
        }
        self.check_components(&next.extensions, &next.skins)?;
        if !self.catalogue.skin_names(&next.skins).any(|n| n == next.settings.skin) {
            return Err(invalid(
                "settings",
                "skin_disabled",
                format!("the default skin {:?} belongs to a skin that is not enabled", next.settings.skin),
            ));
        }
        if next.settings.language != current.settings.language && context.language_locked {
            return Err(FarmError::denied(
                "language_locked",
                "the content language can only change while the wiki has only its starting pages",
            ));
        }
        if next.settings.email && !current.settings.email && !self.email_available {
            return Err(FarmError::denied("email_unavailable", "the farm has no mail server ([smtp])"));
        }
        if next.settings.upload_quota_mb != current.settings.upload_quota_mb && !context.admin {
            return Err(FarmError::Forbidden("only farm administrators change this setting"));
        }
        Ok(())
    }

    fn check_components(&self, extensions: &BTreeSet<String>, skins: &BTreeSet<String>) -> Result<(), FarmError> {
        if skins.is_empty() {
            return Err(invalid("skins", "skins_empty", "a wiki needs at least one skin".into()));
        }
        let enabled: BTreeSet<&String> = extensions.iter().chain(skins).collect();
        for id in &enabled {
            let Some(component) = self.catalogue.get(id) else { continue };
            let (field, _) = field_of(component.kind);
            if let Some(missing) = component.requires.iter().find(|r| !enabled.contains(r)) {
                return Err(invalid(field, "component_requires", format!("{id} needs {missing} enabled")));
            }
            if let Some(other) = component.conflicts.iter().find(|c| enabled.contains(c)) {
                return Err(invalid(field, "component_conflict", format!("{id} cannot run beside {other}")));
            }
        }
        Ok(())
    }

    /// The extensions with tables that `configuration` enables and the database lacks.
    pub fn missing_tables(&self, configuration: &Configuration, schema: &[String]) -> Vec<String> {
        configuration
            .extensions
            .iter()
            .filter(|id| self.catalogue.get(id).is_some_and(|c| c.needs_tables) && !schema.contains(id))
            .cloned()
            .collect()
    }

    /// Extensions whose tables every template (and so every new wiki) carries.
    pub fn table_extensions(&self) -> Vec<String> {
        self.catalogue.table_extensions()
    }

    /// Names the templates of one MediaWiki version with one set of extension tables: a new
    /// set (an extension package installed) means new templates.
    pub fn template_version(&self, mediawiki_version: &str) -> String {
        let digest = Sha256::digest(self.table_extensions().join(",").as_bytes());
        format!("{mediawiki_version}-x{}", &hex::encode(digest)[..8])
    }

    pub fn defaults(&self) -> &NewWikis {
        &self.defaults
    }
}

#[cfg(test)]
impl Features {
    /// No extensions and one skin, for tests of the jobs.
    pub(crate) fn for_tests() -> Self {
        let defaults = NewWikis { extensions: Vec::new(), skins: vec!["Vector".into()], ..NewWikis::default() };
        Features::new(Catalogue::vector_only(), &defaults, ["UTC".to_owned()].into(), false).expect("test features")
    }
}

fn field_of(kind: ComponentKind) -> (&'static str, &'static str) {
    match kind {
        ComponentKind::Extension => ("extensions", "extension"),
        ComponentKind::Skin => ("skins", "skin"),
    }
}
