//! Starters: the pages a new wiki begins with, as MediaWiki XML export files.
//!
//! farmd ships four (`deploy/starters/`, embedded); the operator adds their own, or replaces
//! one, in `starters_dir`:
//! - `NAME.xml`: one export (made with Special:Export on any wiki) for every language;
//! - `NAME/` with `LANG.xml` files (`en.xml`, `de.xml`, ...), optionally `starter.toml`
//!   (`order`, and `[text.LANG]` with `title` and `description`) and `preview.svg|png|jpg|webp`.
//!
//! A wiki gets the file of its language, else English, else the first there is. A starter
//! goes into the *template* that wikis are copied from (one per language and starter, built on
//! first use; the default one ahead of demand with the warm pool), so it costs a new wiki
//! nothing. On the way in it is normalised: each page keeps only its latest revision, made by
//! the farm's own user ([`STARTER_USER`]); each copy then dates those revisions to its
//! creation ([`crate::mediawiki::Owner::statements`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::domain::LanguageCode;

/// The MediaWiki user who makes every starter page (a system user: nobody can log in as it;
/// the space keeps it apart from every farm account name).
pub const STARTER_USER: &str = "Wiki farm";

/// Largest starter file farmd reads.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Language key of a file meant for every language (`NAME.xml`).
const ANY_LANGUAGE: &str = "*";

struct BuiltIn {
    id: &'static str,
    meta: &'static str,
    files: &'static [(&'static str, &'static [u8])],
    preview: &'static [u8],
}

macro_rules! built_in {
    ($id:literal) => {
        BuiltIn {
            id: $id,
            meta: include_str!(concat!("../../../deploy/starters/", $id, "/starter.toml")),
            files: &[
                ("en", include_bytes!(concat!("../../../deploy/starters/", $id, "/en.xml"))),
                ("de", include_bytes!(concat!("../../../deploy/starters/", $id, "/de.xml"))),
            ],
            preview: include_bytes!(concat!("../../../deploy/starters/", $id, "/preview.svg")),
        }
    };
}

const BUILT_IN: &[BuiltIn] = &[built_in!("blank"), built_in!("community"), built_in!("course"), built_in!("docs")];

/// Whether `id` can name a starter: lower-case letters, digits and `-`, at most 32, starting
/// with a letter (it becomes part of file and database names).
pub fn is_starter_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && id.len() <= 32
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    #[serde(default = "last")]
    order: u32,
    #[serde(default)]
    text: BTreeMap<String, Text>,
}

fn last() -> u32 {
    u32::MAX
}

/// A starter's name and description in one language.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// One starter's file for one language, as a template is built from it.
#[derive(Debug, Clone)]
pub struct StarterContent {
    pub id: String,
    /// `ID-HASH`: names the templates made from this content, so a changed file gets new ones.
    pub tag: String,
    pub xml: Arc<[u8]>,
}

/// A starter's preview picture.
#[derive(Debug, Clone)]
pub struct Preview {
    pub bytes: Arc<[u8]>,
    pub content_type: &'static str,
}

#[derive(Debug)]
pub struct Starter {
    pub id: String,
    pub order: u32,
    /// Name and description by language.
    pub texts: BTreeMap<String, Text>,
    /// The file by language (`*`: every language), and the titles of its pages.
    files: BTreeMap<String, (Arc<[u8]>, Vec<String>)>,
    pub preview: Option<Preview>,
    /// Shipped with farmd (not from `starters_dir`).
    pub built_in: bool,
}

impl Starter {
    /// The language of the file a wiki in `language` gets.
    fn file_language<'a>(&'a self, language: &'a LanguageCode) -> &'a str {
        [language.as_str(), ANY_LANGUAGE, "en"]
            .into_iter()
            .find(|l| self.files.contains_key(*l))
            .or_else(|| self.files.keys().next().map(String::as_str))
            .unwrap_or("en")
    }

    /// The content a wiki in `language` starts with.
    pub fn content(&self, language: &LanguageCode) -> StarterContent {
        let (xml, _) = &self.files[self.file_language(language)];
        let hash = hex::encode(&Sha256::digest(xml)[..5]);
        StarterContent { id: self.id.clone(), tag: format!("{}-{hash}", self.id), xml: xml.clone() }
    }

    /// The titles of the pages a wiki in `language` starts with.
    pub fn pages(&self, language: &LanguageCode) -> &[String] {
        &self.files[self.file_language(language)].1
    }

    /// The languages it has a file for (`*`: one file for all).
    pub fn languages(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// Name and description in `language`, else English, else any; the id if it has none.
    pub fn text(&self, language: &str) -> Text {
        [language, "en"]
            .into_iter()
            .find_map(|l| self.texts.get(l))
            .or_else(|| self.texts.values().next())
            .cloned()
            .unwrap_or_else(|| Text { title: self.id.clone(), description: String::new() })
    }
}

/// Every starter the farm offers, and its default.
#[derive(Debug)]
pub struct Starters {
    all: Vec<Arc<Starter>>,
    default: Arc<Starter>,
}

impl Starters {
    /// The built-in starters, then those in `dir` (one that cannot be read is left out, with a
    /// warning); `default` must be among them.
    pub fn load(dir: Option<&Path>, default: &str) -> anyhow::Result<Self> {
        let mut by_id: BTreeMap<String, Arc<Starter>> = BTreeMap::new();
        for built_in in BUILT_IN {
            let starter = from_built_in(built_in).with_context(|| format!("the built-in starter {}", built_in.id))?;
            by_id.insert(starter.id.clone(), Arc::new(starter));
        }
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
                let path = entry?.path();
                match from_path(&path) {
                    Ok(Some(starter)) => {
                        by_id.insert(starter.id.clone(), Arc::new(starter));
                    }
                    Ok(None) => {}
                    Err(err) => {
                        warn!(path = %path.display(), error = %format!("{err:#}"), "starter left out: cannot use it")
                    }
                }
            }
        }
        let default = by_id
            .get(default)
            .cloned()
            .with_context(|| format!("new_wikis.starter is {default:?}, which is not a starter"))?;
        let mut all: Vec<Arc<Starter>> = by_id.into_values().collect();
        all.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));
        Ok(Self { all, default })
    }

    pub fn all(&self) -> &[Arc<Starter>] {
        &self.all
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Starter>> {
        self.all.iter().find(|s| s.id == id)
    }

    pub fn default_starter(&self) -> &Arc<Starter> {
        &self.default
    }
}

fn from_built_in(built_in: &BuiltIn) -> anyhow::Result<Starter> {
    let meta = parse_meta(built_in.meta)?;
    let mut files = BTreeMap::new();
    for (language, xml) in built_in.files {
        let titles = inspect(xml)?;
        files.insert((*language).to_owned(), (Arc::from(*xml), titles));
    }
    let preview = Preview { bytes: Arc::from(built_in.preview), content_type: "image/svg+xml" };
    Ok(Starter {
        id: built_in.id.to_owned(),
        order: meta.order,
        texts: meta.text,
        files,
        preview: Some(preview),
        built_in: true,
    })
}

fn parse_meta(text: &str) -> anyhow::Result<Meta> {
    use figment::providers::{Format, Toml};
    Ok(figment::Figment::from(Toml::string(text)).extract()?)
}

/// A starter from `starters_dir`: `NAME.xml` or a folder; `None` for anything else there.
fn from_path(path: &Path) -> anyhow::Result<Option<Starter>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Ok(None) };
    if name.starts_with('.') {
        return Ok(None);
    }
    if path.is_file() {
        let Some(id) = name.strip_suffix(".xml") else { return Ok(None) };
        anyhow::ensure!(is_starter_id(id), "a starter's name is lower-case letters, digits and '-' (at most 32)");
        let xml = read_limited(path)?;
        let titles = inspect(&xml)?;
        let files = BTreeMap::from([(ANY_LANGUAGE.to_owned(), (Arc::from(xml), titles))]);
        return Ok(Some(Starter {
            id: id.to_owned(),
            order: u32::MAX,
            texts: BTreeMap::new(),
            files,
            preview: None,
            built_in: false,
        }));
    }
    if !path.is_dir() {
        return Ok(None);
    }
    anyhow::ensure!(is_starter_id(name), "a starter's name is lower-case letters, digits and '-' (at most 32)");
    let meta_file = path.join("starter.toml");
    let meta = if meta_file.is_file() { parse_meta(&std::fs::read_to_string(&meta_file)?)? } else { Meta::default() };
    let (mut files, mut preview) = (BTreeMap::new(), None);
    for entry in std::fs::read_dir(path)? {
        let file = entry?.path();
        let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(language) = file_name.strip_suffix(".xml") {
            anyhow::ensure!(is_language_tag(language), "{file_name}: not LANG.xml");
            let xml = read_limited(&file)?;
            let titles = inspect(&xml).with_context(|| file_name.to_owned())?;
            files.insert(language.to_owned(), (Arc::from(xml), titles));
        } else if let Some(content_type) = preview_type(file_name) {
            preview = Some(Preview { bytes: Arc::from(read_limited(&file)?), content_type });
        }
    }
    anyhow::ensure!(!files.is_empty(), "no LANG.xml file in it");
    Ok(Some(Starter { id: name.to_owned(), order: meta.order, texts: meta.text, files, preview, built_in: false }))
}

/// The shape of a MediaWiki language code (`de`, `pt-br`, `zh-hans`).
fn is_language_tag(tag: &str) -> bool {
    (2..=12).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') && !tag.starts_with('-')
}

fn preview_type(file_name: &str) -> Option<&'static str> {
    Some(match file_name {
        "preview.svg" => "image/svg+xml",
        "preview.png" => "image/png",
        "preview.jpg" | "preview.jpeg" => "image/jpeg",
        "preview.webp" => "image/webp",
        _ => return None,
    })
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)?.len();
    anyhow::ensure!(size <= MAX_FILE_BYTES, "larger than {MAX_FILE_BYTES} bytes");
    Ok(std::fs::read(path)?)
}

/// The titles of the pages in an export, checking that it is one farmd can load.
fn inspect(xml: &[u8]) -> anyhow::Result<Vec<String>> {
    let normalised = normalise(xml, "2000-01-01T00:00:00Z")?;
    anyhow::ensure!(!normalised.titles.is_empty(), "it holds no page with a revision");
    Ok(normalised.titles)
}

/// An export rewritten for a template.
#[derive(Debug)]
pub struct Normalised {
    pub xml: Vec<u8>,
    pub titles: Vec<String>,
}

/// Rewrites a MediaWiki XML export so that every page has one revision, its latest, made by
/// [`STARTER_USER`] at `timestamp` (ISO 8601), without the source wiki's page and revision
/// ids; uploads and log items are left out. Refuses a DTD (and so any entity declaration)
/// and anything that is not a MediaWiki export.
pub fn normalise(xml: &[u8], timestamp: &str) -> anyhow::Result<Normalised> {
    let mut reader = Reader::from_reader(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len()));
    let mut buf = Vec::new();
    let mut titles = Vec::new();
    let mut depth = 0usize;
    let mut page: Option<Vec<Event<'static>>> = None;
    let mut skipping: Option<usize> = None;
    loop {
        let event = reader.read_event_into(&mut buf).context("not well-formed XML")?.into_owned();
        buf.clear();
        let before = depth;
        match &event {
            Event::Eof => break,
            Event::DocType(_) => anyhow::bail!("it declares a DTD; MediaWiki exports have none"),
            Event::Start(start) => {
                depth += 1;
                if before == 0 && start.local_name().into_inner() != "mediawiki" {
                    anyhow::bail!("not a MediaWiki export (its root is not <mediawiki>)");
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Empty(_) if before == 0 => anyhow::bail!("not a MediaWiki export"),
            _ => {}
        }
        if let Some(level) = skipping {
            if depth < level {
                skipping = None;
            }
            continue;
        }
        if let Some(events) = page.as_mut() {
            events.push(event);
            if depth == 1 {
                let events = page.take().unwrap_or_default();
                if let Some(title) = write_page(&mut writer, &events, timestamp)? {
                    titles.push(title);
                }
            }
            continue;
        }
        if before == 1 {
            if let Event::Start(start) = &event {
                match start.local_name().into_inner() {
                    "page" => {
                        page = Some(vec![event]);
                        continue;
                    }
                    "siteinfo" => {}
                    // Log items and anything else: not starter content.
                    _ => {
                        skipping = Some(depth);
                        continue;
                    }
                }
            }
        }
        writer.write_event(event)?;
    }
    anyhow::ensure!(depth == 0, "the XML ends before its last element does");
    Ok(Normalised { xml: writer.into_inner(), titles })
}

fn name_of<'a>(event: &'a Event<'_>) -> Option<&'a str> {
    match event {
        Event::Start(e) | Event::Empty(e) => Some(e.local_name().into_inner()),
        _ => None,
    }
}

/// The direct children of an element, from its inner events: each a whole element (or a
/// lone text, comment...).
fn children<'a>(inner: &'a [Event<'static>]) -> Vec<&'a [Event<'static>]> {
    let (mut out, mut i) = (Vec::new(), 0);
    while i < inner.len() {
        let start = i;
        if let Event::Start(_) = inner[i] {
            let mut depth = 0usize;
            loop {
                match inner[i] {
                    Event::Start(_) => depth += 1,
                    Event::End(_) => depth -= 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 || i == inner.len() {
                    break;
                }
            }
        } else {
            i += 1;
        }
        out.push(&inner[start..i]);
    }
    out
}

/// The text inside an element's events.
fn text_of(events: &[Event<'_>]) -> anyhow::Result<String> {
    let mut text = String::new();
    for event in events {
        match event {
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(c) => text.push_str(&c.clone().into_inner()),
            Event::GeneralRef(r) => match r.resolve_char_ref()? {
                Some(c) => text.push(c),
                None => {
                    let name = r.xml10_content();
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .with_context(|| format!("unknown entity &{name};"))?;
                    text.push_str(resolved);
                }
            },
            _ => {}
        }
    }
    Ok(text)
}

/// Writes one `<page>` (its events, from its start to its end) with only its last revision,
/// rewritten; `None` (nothing written) for a page without one.
fn write_page(
    writer: &mut Writer<Vec<u8>>,
    events: &[Event<'static>],
    timestamp: &str,
) -> anyhow::Result<Option<String>> {
    let inner = &events[1..events.len().saturating_sub(1)];
    let parts = children(inner);
    let is = |part: &&[Event<'static>], name: &str| part.first().and_then(name_of) == Some(name);
    let Some(revision) = parts.iter().rev().find(|p| is(p, "revision")) else { return Ok(None) };
    let title = parts.iter().find(|p| is(p, "title")).map(|p| text_of(p)).transpose()?;
    let Some(title) = title.filter(|t| !t.trim().is_empty()) else { anyhow::bail!("a page has no title") };
    writer.write_event(Event::Start(BytesStart::new("page")))?;
    for part in &parts {
        let keep = part.first().and_then(name_of).is_some_and(|n| !matches!(n, "id" | "revision" | "upload"));
        if keep {
            for event in *part {
                writer.write_event(event.clone())?;
            }
        }
    }
    writer.write_event(Event::Start(BytesStart::new("revision")))?;
    element(writer, "timestamp", timestamp)?;
    writer.write_event(Event::Start(BytesStart::new("contributor")))?;
    element(writer, "username", STARTER_USER)?;
    writer.write_event(Event::End(BytesEnd::new("contributor")))?;
    let revision_inner = &revision[1..revision.len().saturating_sub(1)];
    for part in children(revision_inner) {
        let dropped = part
            .first()
            .and_then(name_of)
            .is_none_or(|n| matches!(n, "id" | "parentid" | "timestamp" | "contributor" | "minor" | "origin"));
        if !dropped {
            for event in part {
                writer.write_event(event.clone())?;
            }
        }
    }
    writer.write_event(Event::End(BytesEnd::new("revision")))?;
    writer.write_event(Event::End(BytesEnd::new("page")))?;
    Ok(Some(title))
}

fn element(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    writer.write_event(Event::End(BytesEnd::new(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = r#"<?xml version="1.0"?>
<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">
  <siteinfo><sitename>Elsewhere</sitename></siteinfo>
  <page>
    <title>Tom &amp; Jerry</title>
    <ns>0</ns>
    <id>7</id>
    <revision><id>10</id><timestamp>2001-01-01T00:00:00Z</timestamp><contributor><username>Old</username><id>3</id></contributor><model>wikitext</model><text>first</text></revision>
    <revision><id>11</id><parentid>10</parentid><timestamp>2002-01-01T00:00:00Z</timestamp><contributor><ip>10.0.0.1</ip></contributor><minor/><comment>fix</comment><model>wikitext</model><text bytes="6">second &lt;b&gt;</text></revision>
  </page>
  <page><title>No revisions</title><ns>0</ns></page>
  <logitem><id>1</id><type>create</type></logitem>
</mediawiki>"#;

    #[test]
    fn keeps_the_latest_revision_by_the_farm_user() {
        let out = normalise(EXPORT.as_bytes(), "2026-12-01T10:00:00Z").expect("test value");
        assert_eq!(out.titles, ["Tom & Jerry"]);
        let xml = String::from_utf8(out.xml).expect("test value");
        assert!(xml.contains("<title>Tom &amp; Jerry</title>"), "{xml}");
        assert!(xml.contains("second &lt;b&gt;") && !xml.contains(">first<"), "{xml}");
        assert!(xml.contains("<timestamp>2026-12-01T10:00:00Z</timestamp>"), "{xml}");
        assert!(xml.contains("<username>Wiki farm</username>") && !xml.contains("10.0.0.1"), "{xml}");
        assert!(!xml.contains("<id>") && !xml.contains("<minor") && !xml.contains("logitem"), "{xml}");
        assert!(xml.contains("<comment>fix</comment>") && xml.contains("<sitename>Elsewhere</sitename>"), "{xml}");
    }

    #[test]
    fn refuses_what_is_not_a_safe_export() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><mediawiki><page><title>&lol;</title></page></mediawiki>"#;
        assert!(normalise(bomb.as_bytes(), "x").is_err());
        assert!(normalise(b"<html><body/></html>", "x").is_err());
        assert!(normalise(b"<mediawiki><page><title>A</title>", "x").is_err());
        assert!(inspect(b"<mediawiki></mediawiki>").is_err());
        assert!(normalise(b"not xml at all", "x").is_ok_and(|n| n.titles.is_empty()));
    }

    #[test]
    fn built_in_starters_load_in_both_languages() {
        let starters = Starters::load(None, "blank").expect("test value");
        let ids: Vec<&str> = starters.all().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["blank", "community", "course", "docs"]);
        let languages = crate::domain::Languages::from_codes(&["de", "fr"]);
        let (de, fr) = (languages.parse("de").expect("test value"), languages.parse("fr").expect("test value"));
        for starter in starters.all() {
            assert!(starter.pages(&de).iter().any(|t| t == "Hauptseite"), "{}", starter.id);
            assert!(starter.pages(&fr).iter().any(|t| t == "Main Page"), "{}", starter.id);
            for title in ["Template:Infobox", "Module:List", "MediaWiki:Sidebar"] {
                assert!(starter.pages(&de).iter().any(|t| t == title), "{} lacks {title}", starter.id);
            }
            assert_ne!(starter.content(&de).tag, starter.content(&fr).tag);
            assert!(!starter.text("de").description.is_empty());
        }
        assert!(Starters::load(None, "nope").is_err());
    }

    #[test]
    fn operator_starters_add_and_replace() {
        let dir = tempfile::tempdir().expect("test value");
        std::fs::write(dir.path().join("team.xml"), EXPORT).expect("test value");
        std::fs::create_dir(dir.path().join("blank")).expect("test value");
        std::fs::write(dir.path().join("blank/fr.xml"), EXPORT).expect("test value");
        std::fs::write(dir.path().join("blank/starter.toml"), "order = 9\n[text.fr]\ntitle = \"Vide\"\n")
            .expect("test value");
        std::fs::write(dir.path().join("Bad Name.xml"), EXPORT).expect("test value");
        std::fs::write(dir.path().join("broken.xml"), "<mediawiki><page>").expect("test value");
        let starters = Starters::load(Some(dir.path()), "team").expect("test value");
        let ids: Vec<&str> = starters.all().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["community", "course", "docs", "blank", "team"]);
        let blank = starters.get("blank").expect("test value");
        assert!(!blank.built_in);
        assert_eq!(blank.text("fr").title, "Vide");
        assert_eq!(starters.get("team").expect("test value").languages(), ["*"]);
        assert_eq!(starters.default_starter().id, "team");
    }

    #[test]
    fn starter_ids() {
        assert!(is_starter_id("blank") && is_starter_id("my-team2"));
        assert!(!is_starter_id("") && !is_starter_id("Blank") && !is_starter_id("2x") && !is_starter_id("a/b"));
        assert!(!is_starter_id(&"a".repeat(33)));
    }
}
