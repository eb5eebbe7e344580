//! The extensions and skins of the codebase farmd serves, read from their own
//! `extension.json`/`skin.json` and English messages, never from a list of names: what the
//! package ships is what the farm offers. What each needs at run time is the one thing the
//! manifests do not say; [`RUNTIME_NEEDS`] adds it, and the machine is checked for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// An extension or a skin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Extension,
    Skin,
}

/// One extension or skin of the codebase.
#[derive(Debug, Clone)]
pub struct Component {
    /// The directory name: what `wfLoadExtension`/`wfLoadSkin` take and what the API uses.
    pub id: String,
    pub kind: ComponentKind,
    /// The manifest's display name.
    pub name: String,
    pub version: Option<String>,
    /// The English description message, markup removed.
    pub description: String,
    pub url: Option<String>,
    /// It adds tables of its own (it registers `LoadExtensionSchemaUpdates`).
    pub needs_tables: bool,
    /// Ids of the extensions and skins it needs enabled.
    pub requires: Vec<String>,
    /// Ids it cannot run beside.
    pub conflicts: Vec<String>,
    /// What it needs on the machine, as people read it.
    pub runtime: Vec<String>,
    /// Why it cannot run on this machine, if it cannot.
    pub unavailable: Option<String>,
    /// Skins: the skin names it registers (`vector-2022`, `vector`...).
    pub skin_names: Vec<String>,
    /// Its localisation files, keyed as MediaWiki keys them (see [`Catalogue::messages_php`]).
    messages_dirs: BTreeMap<String, Vec<PathBuf>>,
    messages_files: BTreeMap<String, PathBuf>,
}

impl Component {
    pub fn available(&self) -> bool {
        self.unavailable.is_none()
    }
}

/// What one extension needs beside PHP, with how the farm finds it.
struct RuntimeNeed {
    extension: &'static str,
    /// As people read it.
    text: &'static str,
    /// Met when any of these programs exists (absolute paths, never `PATH`: php-fpm's
    /// environment is not the shell's).
    any_program: &'static [&'static str],
    /// And all of these.
    all_programs: &'static [&'static str],
}

/// Programs the bundled extensions call; the farm's PHP side points the extensions at them.
const RUNTIME_NEEDS: &[RuntimeNeed] = &[
    RuntimeNeed {
        extension: "Scribunto",
        text: "Lua 5.1 (Debian package lua5.1, or php-luasandbox)",
        any_program: &["/usr/bin/lua5.1"],
        all_programs: &[],
    },
    RuntimeNeed {
        extension: "SyntaxHighlight_GeSHi",
        text: "Pygments (/usr/bin/pygmentize, Debian package python3-pygments)",
        any_program: &["/usr/bin/pygmentize"],
        all_programs: &[],
    },
    RuntimeNeed {
        extension: "PdfHandler",
        text: "Ghostscript and poppler (Debian packages ghostscript, poppler-utils)",
        any_program: &[],
        all_programs: &["/usr/bin/gs", "/usr/bin/pdfinfo", "/usr/bin/pdftotext"],
    },
    RuntimeNeed {
        extension: "Math",
        text: "nothing, in source mode only: its other modes call a remote rendering service",
        any_program: &[],
        all_programs: &[],
    },
    RuntimeNeed {
        extension: "VisualEditor",
        text: "the Parsoid bundled with MediaWiki, reached through the wiki's own rest.php",
        any_program: &[],
        all_programs: &[],
    },
];

/// Pairs the farm knows cannot run together (the manifests have no field for it).
const CONFLICTS: &[(&str, &str)] = &[];

/// The fields of `extension.json`/`skin.json` the catalogue reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Manifest {
    #[serde(rename = "name")]
    name: String,
    #[serde(rename = "version")]
    version: Option<String>,
    #[serde(rename = "url")]
    url: Option<String>,
    #[serde(rename = "descriptionmsg")]
    description_msg: Option<String>,
    #[serde(rename = "description")]
    description: Option<String>,
    #[serde(rename = "requires", default)]
    requires: Requires,
    #[serde(default)]
    hooks: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    messages_dirs: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    extension_messages_files: BTreeMap<String, String>,
    #[serde(default)]
    valid_skin_names: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Requires {
    #[serde(default)]
    extensions: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    skins: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Every extension and skin of one codebase.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    components: Vec<Component>,
}

impl Catalogue {
    /// Reads `extensions/*/extension.json` and `skins/*/skin.json` under `mediawiki_dir`.
    pub fn read(mediawiki_dir: &Path) -> anyhow::Result<Self> {
        Self::read_with(mediawiki_dir, |path| path.is_file())
    }

    /// [`Catalogue::read`] with the machine's programs checked by `has_program`.
    pub fn read_with(mediawiki_dir: &Path, has_program: impl Fn(&Path) -> bool) -> anyhow::Result<Self> {
        let mut manifests = Vec::new();
        for (kind, folder, file) in
            [(ComponentKind::Extension, "extensions", "extension.json"), (ComponentKind::Skin, "skins", "skin.json")]
        {
            let dir = mediawiki_dir.join(folder);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
            };
            for entry in entries {
                let entry = entry?;
                let id = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path().join(file);
                if !is_component_id(&id) || !path.is_file() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                let manifest: Manifest =
                    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
                manifests.push((kind, id, entry.path(), manifest));
            }
        }
        // `requires` names extensions by their display name; the farm speaks directory ids.
        let id_of: BTreeMap<String, String> =
            manifests.iter().map(|(_, id, _, m)| (m.name.clone(), id.clone())).collect();
        let mut components: Vec<Component> = manifests
            .into_iter()
            .map(|(kind, id, dir, manifest)| component(kind, id, &dir, manifest, &id_of, &has_program))
            .collect();
        // Modules inside an extension (ConfirmEdit/QuestyCaptcha...) load with it: their
        // messages count as its own.
        for component in components.iter_mut().filter(|c| c.kind == ComponentKind::Extension) {
            let Ok(entries) = std::fs::read_dir(mediawiki_dir.join("extensions").join(&component.id)) else { continue };
            for entry in entries.flatten() {
                let path = entry.path().join("extension.json");
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                let Ok(module) = serde_json::from_str::<Manifest>(&text) else { continue };
                for (key, dirs) in module.messages_dirs {
                    let dirs = match dirs {
                        OneOrMany::One(d) => vec![d],
                        OneOrMany::Many(d) => d,
                    };
                    component
                        .messages_dirs
                        .entry(key)
                        .or_insert_with(|| dirs.iter().map(|d| entry.path().join(d)).collect());
                }
                for (key, file) in module.extension_messages_files {
                    component.messages_files.entry(key).or_insert_with(|| entry.path().join(file));
                }
            }
        }
        components.sort_by_key(|c| (c.kind, c.id.to_lowercase()));
        Ok(Self { components })
    }

    pub fn all(&self) -> &[Component] {
        &self.components
    }

    pub fn get(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    pub fn extensions(&self) -> impl Iterator<Item = &Component> {
        self.components.iter().filter(|c| c.kind == ComponentKind::Extension)
    }

    pub fn skins(&self) -> impl Iterator<Item = &Component> {
        self.components.iter().filter(|c| c.kind == ComponentKind::Skin)
    }

    /// The skin names (`vector-2022`...) of the given enabled skins.
    pub fn skin_names<'a>(&'a self, skins: &'a BTreeSet<String>) -> impl Iterator<Item = &'a str> {
        self.skins().filter(|s| skins.contains(&s.id)).flat_map(|s| s.skin_names.iter().map(String::as_str))
    }

    /// Available extensions that add tables: templates carry all of their tables.
    pub fn table_extensions(&self) -> Vec<String> {
        self.extensions().filter(|c| c.needs_tables && c.available()).map(|c| c.id.clone()).collect()
    }

    /// PHP that registers the localisation files of every extension and skin, for every wiki.
    /// MediaWiki's shared localisation cache is keyed by the whole set of message files: with
    /// the same set everywhere, wikis that load different extensions share one valid cache
    /// (the entries here win over the extension registry's identical ones).
    pub fn messages_php(&self) -> String {
        let mut php = String::from(
            "<?php\n// Written by farmd from the codebase's manifests; do not edit.\n\
             if ( !defined( 'MEDIAWIKI' ) ) {\n\texit;\n}\n\n",
        );
        for component in &self.components {
            for (key, dirs) in &component.messages_dirs {
                let dirs: Vec<String> = dirs.iter().map(|d| super::php_string(&d.to_string_lossy())).collect();
                php.push_str(&format!("$wgMessagesDirs[{}] = [ {} ];\n", super::php_string(key), dirs.join(", ")));
            }
            for (key, file) in &component.messages_files {
                php.push_str(&format!(
                    "$wgExtensionMessagesFiles[{}] = {};\n",
                    super::php_string(key),
                    super::php_string(&file.to_string_lossy())
                ));
            }
        }
        php
    }
}

#[cfg(test)]
impl Catalogue {
    /// One skin (Vector), for tests of the jobs that need a catalogue but no codebase.
    pub(crate) fn vector_only() -> Self {
        Self {
            components: vec![Component {
                id: "Vector".into(),
                kind: ComponentKind::Skin,
                name: "Vector".into(),
                version: None,
                description: String::new(),
                url: None,
                needs_tables: false,
                requires: Vec::new(),
                conflicts: Vec::new(),
                runtime: Vec::new(),
                unavailable: None,
                skin_names: vec!["vector".into(), "vector-2022".into()],
                messages_dirs: BTreeMap::new(),
                messages_files: BTreeMap::new(),
            }],
        }
    }
}

pub use crate::domain::settings::is_component_id;

fn component(
    kind: ComponentKind,
    id: String,
    dir: &Path,
    manifest: Manifest,
    id_of: &BTreeMap<String, String>,
    has_program: &impl Fn(&Path) -> bool,
) -> Component {
    let messages_dirs: BTreeMap<String, Vec<PathBuf>> = manifest
        .messages_dirs
        .into_iter()
        .map(|(key, dirs)| {
            let dirs = match dirs {
                OneOrMany::One(d) => vec![d],
                OneOrMany::Many(d) => d,
            };
            (key, dirs.into_iter().map(|d| dir.join(d)).collect())
        })
        .collect();
    let messages_files = manifest.extension_messages_files.into_iter().map(|(k, f)| (k, dir.join(f))).collect();
    let description = manifest
        .description_msg
        .as_deref()
        .and_then(|key| english_message(&messages_dirs, key))
        .or(manifest.description)
        .map(|text| plain_text(&text))
        .unwrap_or_default();
    let mut requires: Vec<String> = manifest
        .requires
        .extensions
        .keys()
        .chain(manifest.requires.skins.keys())
        .map(|name| id_of.get(name).cloned().unwrap_or_else(|| name.clone()))
        .collect();
    requires.sort();
    let conflicts = CONFLICTS
        .iter()
        .filter_map(|&(a, b)| {
            if a == id {
                Some(b)
            } else if b == id {
                Some(a)
            } else {
                None
            }
        })
        .map(str::to_owned)
        .collect();
    let need = RUNTIME_NEEDS.iter().find(|n| n.extension == id && kind == ComponentKind::Extension);
    let mut unavailable = need.and_then(|need| {
        let any = need.any_program.is_empty() || need.any_program.iter().any(|p| has_program(Path::new(p)));
        let all = need.all_programs.iter().all(|p| has_program(Path::new(p)));
        (!any || !all).then(|| format!("this machine lacks {}", need.text))
    });
    let missing: Vec<&String> = requires.iter().filter(|r| !id_of.values().any(|v| v == *r)).collect();
    if unavailable.is_none() && !missing.is_empty() {
        unavailable = Some(format!("it needs {}, which the codebase does not ship", join(&missing)));
    }
    Component {
        kind,
        name: manifest.name,
        version: manifest.version,
        description,
        url: manifest.url,
        needs_tables: manifest.hooks.contains_key("LoadExtensionSchemaUpdates"),
        requires,
        conflicts,
        runtime: need.map(|n| vec![n.text.to_owned()]).unwrap_or_default(),
        unavailable,
        skin_names: manifest.valid_skin_names.into_keys().collect(),
        messages_dirs,
        messages_files,
        id,
    }
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn english_message(dirs: &BTreeMap<String, Vec<PathBuf>>, key: &str) -> Option<String> {
    dirs.values().flatten().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("en.json")).ok()?;
        let messages: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).ok()?;
        messages.get(key)?.as_str().map(str::to_owned)
    })
}

/// A message without its wiki and HTML markup: `[[a|b]]` → `b`, `[url text]` → `text`,
/// `<code>x</code>` → `x`, bold and italics quotes dropped, entities decoded.
fn plain_text(message: &str) -> String {
    let link = regex::Regex::new(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]").expect("regex");
    let external = regex::Regex::new(r"\[(?:https?:)?//\S+\s+([^\]]*)\]").expect("regex");
    let tags = regex::Regex::new(r"</?[a-zA-Z][^>]*>").expect("regex");
    let text = link.replace_all(message, "$1");
    let text = external.replace_all(&text, "$1");
    let text = tags.replace_all(&text, "");
    text.replace("'''", "")
        .replace("''", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn codebase() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            &root.join("extensions/Tables/extension.json"),
            r#"{"name": "Table Maker", "descriptionmsg": "tables-desc", "version": "1.2",
                "MessagesDirs": {"Tables": ["i18n", "i18n/api"]},
                "ExtensionMessagesFiles": {"TablesAlias": "Tables.alias.php"},
                "Hooks": {"LoadExtensionSchemaUpdates": "X::onUpdate"},
                "requires": {"MediaWiki": ">= 1.39", "extensions": {"Helper Thing": "*"}}}"#,
        );
        write(
            &root.join("extensions/Tables/i18n/en.json"),
            r#"{"tables-desc": "Adds '''tables''' via [[Special:Tables|a page]] and <code>&lt;t&gt;</code>"}"#,
        );
        write(
            &root.join("extensions/Helper/extension.json"),
            r#"{"name": "Helper Thing", "MessagesDirs": {"Helper": "i18n"}}"#,
        );
        write(&root.join("extensions/Scribunto/extension.json"), r#"{"name": "Scribunto"}"#);
        write(
            &root.join("extensions/Orphan/extension.json"),
            r#"{"name": "Orphan", "requires": {"extensions": {"Gone": "*"}}}"#,
        );
        write(&root.join("extensions/bad name/extension.json"), r#"{"name": "Bad"}"#);
        write(
            &root.join("skins/Vector/skin.json"),
            r#"{"name": "Vector", "ValidSkinNames": {"vector": {}, "vector-2022": {}}}"#,
        );
        dir
    }

    #[test]
    fn components_come_from_their_manifests() {
        let dir = codebase();
        let catalogue = Catalogue::read_with(dir.path(), |_| false).expect("reads");
        let ids: Vec<&str> = catalogue.all().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["Helper", "Orphan", "Scribunto", "Tables", "Vector"],
            "sorted, extensions first, bad ids skipped"
        );
        let tables = catalogue.get("Tables").expect("Tables");
        assert_eq!(tables.name, "Table Maker");
        assert_eq!(tables.description, "Adds tables via a page and <t>");
        assert!(tables.needs_tables);
        assert_eq!(tables.requires, ["Helper"], "required by display name, listed by id");
        assert!(tables.available());
        assert_eq!(catalogue.table_extensions(), ["Tables"]);
        assert!(!catalogue.get("Helper").expect("Helper").needs_tables);
        let scribunto = catalogue.get("Scribunto").expect("Scribunto");
        assert!(scribunto.unavailable.as_deref().expect("no lua here").contains("Lua 5.1"));
        assert!(catalogue.get("Orphan").expect("Orphan").unavailable.as_deref().expect("missing").contains("Gone"));
        let vector = catalogue.get("Vector").expect("Vector");
        assert_eq!(vector.kind, ComponentKind::Skin);
        assert_eq!(vector.skin_names, ["vector", "vector-2022"]);

        let with_lua = Catalogue::read_with(dir.path(), |p| p == Path::new("/usr/bin/lua5.1")).expect("reads");
        assert!(with_lua.get("Scribunto").expect("Scribunto").available());
    }

    #[test]
    fn every_wiki_registers_every_message_file() {
        let dir = codebase();
        let php = Catalogue::read_with(dir.path(), |_| false).expect("reads").messages_php();
        let root = dir.path().to_string_lossy();
        assert!(php.contains(&format!(
            "$wgMessagesDirs['Tables'] = [ '{root}/extensions/Tables/i18n', '{root}/extensions/Tables/i18n/api' ];"
        )));
        assert!(php.contains(&format!("$wgMessagesDirs['Helper'] = [ '{root}/extensions/Helper/i18n' ];")));
        assert!(php.contains(&format!(
            "$wgExtensionMessagesFiles['TablesAlias'] = '{root}/extensions/Tables/Tables.alias.php';"
        )));
    }
}
