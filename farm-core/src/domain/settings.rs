//! A wiki's settings: one typed registry ([`DEFINITIONS`]) says what each setting is, which
//! values it takes, who may change it and what it becomes in MediaWiki; [`WikiSettings`] holds
//! one wiki's values; [`SettingsChange`] is a validated change of values, extensions and
//! skins. A revision stores all of them whole, so any one can be restored as it was.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Languages, Sitename};
use crate::error::FarmError;

/// Who may make an account on the wiki itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountCreation {
    Everyone,
    /// Only the wiki's administrators (sysops) create accounts, at Special:CreateAccount.
    Admins,
}

/// Who may edit pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditRight {
    Everyone,
    Registered,
    /// Registered for a few days with a few edits (MediaWiki's `autoconfirmed`).
    Confirmed,
}

/// The licence in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Licence {
    #[serde(rename = "cc-by-sa-4")]
    CcBySa4,
    #[serde(rename = "cc-by-4")]
    CcBy4,
    #[serde(rename = "cc0")]
    Cc0,
    #[serde(rename = "gfdl")]
    Gfdl,
    /// No licence line.
    #[serde(rename = "none")]
    None,
}

impl Licence {
    /// `$wgRightsText`, `$wgRightsUrl`, and the icon under `resources/assets/licenses/`.
    pub fn mediawiki(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Licence::CcBySa4 => Some((
                "Creative Commons Attribution-ShareAlike 4.0",
                "https://creativecommons.org/licenses/by-sa/4.0/",
                "cc-by-sa.png",
            )),
            Licence::CcBy4 => {
                Some(("Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/", "cc-by.png"))
            }
            Licence::Cc0 => Some((
                "Creative Commons Zero (public domain)",
                "https://creativecommons.org/publicdomain/zero/1.0/",
                "cc-0.png",
            )),
            Licence::Gfdl => {
                Some(("GNU Free Documentation License 1.3", "https://www.gnu.org/copyleft/fdl.html", "gnu-fdl.png"))
            }
            Licence::None => None,
        }
    }
}

/// An extension's or skin's id: the directory name MediaWiki's loader takes, safe in PHP and
/// in paths.
pub fn is_component_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// File types a wiki may allow for uploads (MediaWiki checks the content matches the type).
pub const UPLOAD_FILE_TYPES: &[&str] = &[
    "png", "gif", "jpg", "jpeg", "webp", "svg", "pdf", "ogg", "oga", "ogv", "webm", "mp3", "txt", "odt", "ods", "odp",
];

/// One wiki's setting values. Every field is always present: a revision is a whole snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WikiSettings {
    pub sitename: String,
    /// The uploaded logo's file name in the wiki's assets; `None` shows the farm's logo.
    pub logo: Option<String>,
    pub favicon: Option<String>,
    pub skin: String,
    pub timezone: String,
    pub language: String,
    pub private: bool,
    pub account_creation: AccountCreation,
    pub edit: EditRight,
    pub uploads: bool,
    pub upload_quota_mb: u32,
    pub file_types: Vec<String>,
    pub licence: Licence,
    pub email: bool,
}

/// Which part of the settings page a setting is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingGroup {
    Basics,
    Look,
    Access,
    Features,
}

/// What values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingType {
    Text,
    Boolean,
    Integer,
    /// One of `allowed`.
    Choice,
    /// Any subset of `allowed`.
    List,
    /// Set through its own upload route, not through a change of settings.
    Image,
}

/// One setting of the registry.
#[derive(Debug, Clone, Copy)]
pub struct SettingDefinition {
    pub name: &'static str,
    pub group: SettingGroup,
    pub kind: SettingType,
    pub label: &'static str,
    /// Fixed allowed values (choices the farm knows); others come from the codebase.
    pub allowed: &'static [&'static str],
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Only farm administrators may change it (the owner sees it).
    pub admin_only: bool,
    /// What it becomes in MediaWiki.
    pub mediawiki: &'static str,
}

const fn def(
    name: &'static str,
    group: SettingGroup,
    kind: SettingType,
    label: &'static str,
    mediawiki: &'static str,
) -> SettingDefinition {
    SettingDefinition { name, group, kind, label, allowed: &[], min: None, max: None, admin_only: false, mediawiki }
}

/// Largest per-wiki upload quota, in MiB.
pub const MAX_UPLOAD_QUOTA_MB: i64 = 100_000;

/// The registry: every setting a wiki has. Namespaces and group permissions will be further
/// entries here (their values nest, which [`SettingType::List`] and a new kind can carry).
pub const DEFINITIONS: &[SettingDefinition] = &[
    def("sitename", SettingGroup::Basics, SettingType::Text, "Site name", "$wgSitename, $wgMetaNamespace"),
    def(
        "language",
        SettingGroup::Basics,
        SettingType::Choice,
        "Content language (only while the wiki has only its starting pages)",
        "$wgLanguageCode",
    ),
    def("timezone", SettingGroup::Basics, SettingType::Choice, "Time zone", "$wgLocaltimezone"),
    SettingDefinition {
        allowed: &["cc-by-sa-4", "cc-by-4", "cc0", "gfdl", "none"],
        ..def(
            "licence",
            SettingGroup::Basics,
            SettingType::Choice,
            "Licence shown in the footer",
            "$wgRightsText, $wgRightsUrl, $wgRightsIcon",
        )
    },
    def("logo", SettingGroup::Look, SettingType::Image, "Logo (PUT .../logo)", "$wgLogos"),
    def("favicon", SettingGroup::Look, SettingType::Image, "Favicon (PUT .../favicon)", "$wgFavicon"),
    def("skin", SettingGroup::Look, SettingType::Choice, "Default skin", "$wgDefaultSkin"),
    def(
        "private",
        SettingGroup::Access,
        SettingType::Boolean,
        "Private: only the owner and people granted the reader group may read",
        "$wgGroupPermissions['*']['read'], img_auth.php",
    ),
    SettingDefinition {
        allowed: &["everyone", "admins"],
        ..def(
            "account_creation",
            SettingGroup::Access,
            SettingType::Choice,
            "Who may create accounts on the wiki",
            "$wgGroupPermissions['*']['createaccount']",
        )
    },
    SettingDefinition {
        allowed: &["everyone", "registered", "confirmed"],
        ..def("edit", SettingGroup::Access, SettingType::Choice, "Who may edit", "$wgGroupPermissions[...]['edit']")
    },
    def("uploads", SettingGroup::Features, SettingType::Boolean, "File uploads", "$wgEnableUploads"),
    SettingDefinition {
        min: Some(0),
        max: Some(MAX_UPLOAD_QUOTA_MB),
        admin_only: true,
        ..def(
            "upload_quota_mb",
            SettingGroup::Features,
            SettingType::Integer,
            "Upload storage quota in MiB",
            "farm upload hook, $wgMaxUploadSize",
        )
    },
    SettingDefinition {
        allowed: UPLOAD_FILE_TYPES,
        ..def("file_types", SettingGroup::Features, SettingType::List, "Allowed file types", "$wgFileExtensions")
    },
    def(
        "email",
        SettingGroup::Features,
        SettingType::Boolean,
        "Wiki email (through the farm's mail server)",
        "$wgEnableEmail, $wgEnableUserEmail, $wgSMTP",
    ),
];

pub fn definition(name: &str) -> Option<&'static SettingDefinition> {
    DEFINITIONS.iter().find(|d| d.name == name)
}

/// What a change is checked against beyond the registry: the codebase and the farm.
pub struct SettingRules<'a> {
    pub languages: &'a Languages,
    pub timezones: &'a BTreeSet<String>,
    /// Skin names (`vector-2022`) of the skins enabled after the change.
    pub skin_names: BTreeSet<String>,
    /// The farm has a mail server.
    pub email_available: bool,
    /// The caller is a farm administrator.
    pub admin: bool,
}

fn expect_bool(name: &str, value: &Value) -> Result<bool, FarmError> {
    value.as_bool().ok_or_else(|| FarmError::invalid("settings", "setting_type", format!("{name} takes true or false")))
}

fn expect_str<'v>(name: &str, value: &'v Value) -> Result<&'v str, FarmError> {
    value.as_str().ok_or_else(|| FarmError::invalid("settings", "setting_type", format!("{name} takes a string")))
}

fn choice<T: for<'de> Deserialize<'de>>(def: &SettingDefinition, value: &Value) -> Result<T, FarmError> {
    let text = expect_str(def.name, value)?;
    if !def.allowed.contains(&text) {
        return Err(FarmError::invalid(
            "settings",
            "setting_out_of_range",
            format!("{} takes one of: {}", def.name, def.allowed.join(", ")),
        ));
    }
    serde_json::from_value(Value::String(text.to_owned())).map_err(|_| {
        FarmError::invalid("settings", "setting_out_of_range", format!("{} does not take {text:?}", def.name))
    })
}

impl WikiSettings {
    /// Sets one setting from a JSON value, validated against the registry and `rules`.
    pub fn set(&mut self, name: &str, value: &Value, rules: &SettingRules<'_>) -> Result<(), FarmError> {
        let def = definition(name).ok_or_else(|| {
            FarmError::invalid("settings", "setting_unknown", format!("there is no setting {name:?}"))
        })?;
        if def.admin_only && !rules.admin {
            return Err(FarmError::Forbidden("only farm administrators change this setting"));
        }
        match def.name {
            "sitename" => self.sitename = Sitename::parse(expect_str(name, value)?)?.as_str().to_owned(),
            "language" => self.language = rules.languages.parse(expect_str(name, value)?)?.as_str().to_owned(),
            "timezone" => {
                let zone = expect_str(name, value)?;
                if !rules.timezones.contains(zone) {
                    return Err(FarmError::invalid(
                        "settings",
                        "setting_out_of_range",
                        format!("{zone:?} is not a time zone PHP knows (e.g. Europe/Berlin)"),
                    ));
                }
                self.timezone = zone.to_owned();
            }
            "licence" => self.licence = choice(def, value)?,
            "skin" => {
                let skin = expect_str(name, value)?;
                if !rules.skin_names.contains(skin) {
                    let known: Vec<&str> = rules.skin_names.iter().map(String::as_str).collect();
                    return Err(FarmError::invalid(
                        "settings",
                        "setting_out_of_range",
                        format!("skin takes an enabled skin: {}", known.join(", ")),
                    ));
                }
                self.skin = skin.to_owned();
            }
            "logo" | "favicon" => {
                // Only null (back to the farm's) here: an image comes through its own route.
                if !value.is_null() {
                    return Err(FarmError::invalid(
                        "settings",
                        "setting_type",
                        format!("{name} is uploaded with PUT .../{name}; here it takes only null"),
                    ));
                }
                if name == "logo" {
                    self.logo = None;
                } else {
                    self.favicon = None;
                }
            }
            "private" => self.private = expect_bool(name, value)?,
            "account_creation" => self.account_creation = choice(def, value)?,
            "edit" => self.edit = choice(def, value)?,
            "uploads" => self.uploads = expect_bool(name, value)?,
            "upload_quota_mb" => {
                let n = value.as_i64().ok_or_else(|| {
                    FarmError::invalid("settings", "setting_type", format!("{name} takes a whole number"))
                })?;
                if n < def.min.unwrap_or(0) || n > def.max.unwrap_or(i64::MAX) {
                    return Err(FarmError::invalid(
                        "settings",
                        "setting_out_of_range",
                        format!("{name} is between 0 and {MAX_UPLOAD_QUOTA_MB}"),
                    ));
                }
                self.upload_quota_mb = n as u32;
            }
            "file_types" => {
                let items = value.as_array().ok_or_else(|| {
                    FarmError::invalid("settings", "setting_type", format!("{name} takes a list of file types"))
                })?;
                let mut types = BTreeSet::new();
                for item in items {
                    let t = expect_str(name, item)?.to_ascii_lowercase();
                    if !UPLOAD_FILE_TYPES.contains(&t.as_str()) {
                        return Err(FarmError::invalid(
                            "settings",
                            "setting_out_of_range",
                            format!("file type {t:?} is not one of: {}", UPLOAD_FILE_TYPES.join(", ")),
                        ));
                    }
                    types.insert(t);
                }
                self.file_types = types.into_iter().collect();
            }
            "email" => {
                let on = expect_bool(name, value)?;
                if on && !rules.email_available {
                    return Err(FarmError::denied(
                        "email_unavailable",
                        "the farm has no mail server ([smtp]); wiki email cannot be turned on",
                    ));
                }
                self.email = on;
            }
            other => unreachable!("setting {other} is in the registry but not handled"),
        }
        Ok(())
    }

    /// The value of one setting as JSON.
    pub fn get(&self, name: &str) -> Option<Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.get(name).cloned(),
            _ => None,
        }
    }

    /// The settings whose values differ, with both values, in registry order.
    pub fn diff(&self, newer: &WikiSettings) -> Vec<SettingChange> {
        DEFINITIONS
            .iter()
            .filter_map(|d| {
                let (old, new) = (self.get(d.name)?, newer.get(d.name)?);
                (old != new).then(|| SettingChange { setting: d.name.to_owned(), old, new })
            })
            .collect()
    }
}

/// One setting's change in a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingChange {
    pub setting: String,
    pub old: Value,
    pub new: Value,
}

/// What one revision changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RevisionChanges {
    pub settings: Vec<SettingChange>,
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
}

impl RevisionChanges {
    pub fn between(old: &Configuration, new: &Configuration) -> Self {
        let before: BTreeSet<&String> = old.extensions.iter().chain(&old.skins).collect();
        let after: BTreeSet<&String> = new.extensions.iter().chain(&new.skins).collect();
        Self {
            settings: old.settings.diff(&new.settings),
            enabled: after.difference(&before).map(|s| s.to_string()).collect(),
            disabled: before.difference(&after).map(|s| s.to_string()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.enabled.is_empty() && self.disabled.is_empty()
    }

    /// One line for the audit log: what changed, with values.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> =
            self.settings.iter().map(|c| format!("{}: {} -> {}", c.setting, c.old, c.new)).collect();
        if !self.enabled.is_empty() {
            parts.push(format!("enabled {}", self.enabled.join(", ")));
        }
        if !self.disabled.is_empty() {
            parts.push(format!("disabled {}", self.disabled.join(", ")));
        }
        if parts.is_empty() {
            "no change".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Everything a revision fixes: setting values, enabled extensions and skins (by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub settings: WikiSettings,
    pub extensions: BTreeSet<String>,
    pub skins: BTreeSet<String>,
}

/// A change as a caller asks for it: settings by name, extensions and skins to turn on (true)
/// or off (false).
#[derive(Debug, Clone, Default)]
pub struct RequestedChange {
    pub settings: BTreeMap<String, Value>,
    pub extensions: BTreeMap<String, bool>,
    pub skins: BTreeMap<String, bool>,
}

impl RequestedChange {
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.extensions.is_empty() && self.skins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WikiSettings {
        WikiSettings {
            sitename: "Demo".into(),
            logo: None,
            favicon: None,
            skin: "vector-2022".into(),
            timezone: "UTC".into(),
            language: "en".into(),
            private: false,
            account_creation: AccountCreation::Everyone,
            edit: EditRight::Everyone,
            uploads: true,
            upload_quota_mb: 100,
            file_types: vec!["png".into()],
            licence: Licence::CcBySa4,
            email: false,
        }
    }

    #[test]
    fn every_definition_is_a_field_and_every_field_a_definition() {
        let value = serde_json::to_value(sample()).expect("json");
        let fields: BTreeSet<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
        let names: BTreeSet<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
        assert_eq!(fields, names);
        for d in DEFINITIONS.iter().filter(|d| d.kind == SettingType::Choice && !d.allowed.is_empty()) {
            for allowed in d.allowed {
                let mut s = sample();
                let rules = rules(true);
                s.set(d.name, &Value::String((*allowed).into()), &rules)
                    .unwrap_or_else(|e| panic!("{} {allowed}: {e}", d.name));
            }
        }
    }

    fn rules(admin: bool) -> SettingRules<'static> {
        static LANGS: std::sync::OnceLock<Languages> = std::sync::OnceLock::new();
        static ZONES: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
        SettingRules {
            languages: LANGS.get_or_init(|| Languages::from_codes(&["en", "de"])),
            timezones: ZONES.get_or_init(|| ["UTC".to_owned(), "Europe/Berlin".to_owned()].into()),
            skin_names: ["vector-2022".to_owned(), "monobook".to_owned()].into(),
            email_available: false,
            admin,
        }
    }

    #[test]
    fn values_are_checked_against_the_registry() {
        let mut s = sample();
        let r = rules(false);
        let code = |res: Result<(), FarmError>| res.expect_err("refused").code();
        assert_eq!(code(s.set("nope", &Value::Bool(true), &r)), "setting_unknown");
        assert_eq!(code(s.set("private", &Value::from("yes"), &r)), "setting_type");
        assert_eq!(code(s.set("edit", &Value::from("robots"), &r)), "setting_out_of_range");
        assert_eq!(code(s.set("timezone", &Value::from("Mars/Olympus"), &r)), "setting_out_of_range");
        assert_eq!(code(s.set("skin", &Value::from("timeless"), &r)), "setting_out_of_range");
        assert_eq!(code(s.set("file_types", &serde_json::json!(["exe"]), &r)), "setting_out_of_range");
        assert_eq!(code(s.set("upload_quota_mb", &Value::from(5), &r)), "forbidden", "admins only");
        assert_eq!(code(s.set("email", &Value::Bool(true), &r)), "email_unavailable");
        assert_eq!(code(s.set("logo", &Value::from("x.png"), &r)), "setting_type");
        assert_eq!(s, sample(), "nothing changed");
        assert_eq!(code(s.set("upload_quota_mb", &Value::from(-1), &rules(true))), "setting_out_of_range");

        s.set("timezone", &Value::from("Europe/Berlin"), &r).expect("ok");
        s.set("file_types", &serde_json::json!(["PNG", "pdf", "png"]), &r).expect("ok");
        s.set("language", &Value::from("de"), &r).expect("ok");
        assert_eq!(s.file_types, ["pdf", "png"]);
        let changes = sample().diff(&s);
        let names: Vec<&str> = changes.iter().map(|c| c.setting.as_str()).collect();
        assert_eq!(names, ["language", "timezone", "file_types"]);
        assert_eq!(changes[1].old, Value::from("UTC"));
        assert_eq!(changes[1].new, Value::from("Europe/Berlin"));
    }

    #[test]
    fn revision_changes_name_extensions_and_values() {
        let old = Configuration {
            settings: sample(),
            extensions: ["Cite".into(), "Nuke".into()].into(),
            skins: ["Vector".into()].into(),
        };
        let mut new = old.clone();
        new.extensions.remove("Nuke");
        new.extensions.insert("AbuseFilter".into());
        new.settings.private = true;
        let changes = RevisionChanges::between(&old, &new);
        assert_eq!(changes.enabled, ["AbuseFilter"]);
        assert_eq!(changes.disabled, ["Nuke"]);
        assert_eq!(changes.summary(), "private: false -> true; enabled AbuseFilter; disabled Nuke");
        assert!(RevisionChanges::between(&old, &old).is_empty());
    }
}
