//! Archives a wiki is imported from, checked before anything is made: farmd's own export
//! (`farmd-export/1`, see [`crate::jobs::exports`]) or a MediaWiki XML dump (plain or gzipped).
//! What is unpacked goes into a staging folder: `pages.xml`, optionally `logs.xml`,
//! `settings.json` and `files/...`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use crate::domain::settings::Configuration;
use crate::error::FarmError;

/// The format name of farmd's export archives.
pub const FORMAT: &str = "farmd-export/1";

/// What an archive held, once checked and unpacked.
#[derive(Debug)]
pub struct CheckedArchive {
    /// The settings of a farmd export, if it had them.
    pub configuration: Option<Configuration>,
    pub has_logs: bool,
    pub has_files: bool,
}

/// Checks `upload` and unpacks it into `staging` (which must not exist yet). Anything wrong
/// (not an archive, truncated, a checksum that does not match, a path that climbs out, an
/// XML document with a DTD or entities, more than `max_bytes` unpacked) is a 4xx and leaves
/// `staging` removed.
pub fn check_and_unpack(upload: &Path, staging: &Path, max_bytes: u64) -> Result<CheckedArchive, FarmError> {
    std::fs::create_dir_all(staging).map_err(internal)?;
    let result = unpack(upload, staging, max_bytes);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(staging);
    }
    result
}

fn internal(err: impl Into<anyhow::Error>) -> FarmError {
    FarmError::Internal(err.into())
}

fn unpack(upload: &Path, staging: &Path, max_bytes: u64) -> Result<CheckedArchive, FarmError> {
    let mut head = [0u8; 2];
    let mut file = std::fs::File::open(upload).map_err(internal)?;
    let read = file.read(&mut head).map_err(internal)?;
    drop(file);
    let gzipped = read == 2 && head == [0x1f, 0x8b];
    if gzipped && is_tar_gz(upload) {
        return unpack_export(upload, staging, max_bytes);
    }
    // A MediaWiki XML dump, maybe gzipped.
    let file = std::fs::File::open(upload).map_err(internal)?;
    let reader: Box<dyn Read> = if gzipped { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    copy_checked_xml(reader, &staging.join("pages.xml"), max_bytes)?;
    Ok(CheckedArchive { configuration: None, has_logs: false, has_files: false })
}

/// Whether a gzip stream holds a tar archive (a tar header has "ustar" at offset 257).
fn is_tar_gz(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut block = [0u8; 512];
    let mut reader = flate2::read::GzDecoder::new(file);
    reader.read_exact(&mut block).is_ok() && &block[257..262] == b"ustar"
}

/// Copies an XML document, refusing DTDs and entity declarations (billion laughs, external
/// entities), one that is not a MediaWiki export, and more than `max_bytes`.
fn copy_checked_xml(reader: impl Read, to: &Path, max_bytes: u64) -> Result<u64, FarmError> {
    let mut reader = BufReader::new(reader.take(max_bytes + 1));
    let mut out = std::io::BufWriter::new(std::fs::File::create(to).map_err(internal)?);
    let (mut total, mut seen_root) = (0u64, false);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|_| {
            FarmError::invalid("archive", "archive_invalid", "the archive is damaged or truncated".into())
        })?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max_bytes {
            return Err(FarmError::invalid(
                "archive",
                "archive_too_large",
                format!("an import may unpack to at most {max_bytes} bytes"),
            ));
        }
        let lower = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if lower.contains("<!doctype") || lower.contains("<!entity") {
            return Err(FarmError::invalid(
                "archive",
                "archive_unsafe_xml",
                "the XML declares a DTD or entities; MediaWiki exports have none".into(),
            ));
        }
        seen_root |= lower.contains("<mediawiki");
        out.write_all(&line).map_err(internal)?;
    }
    if !seen_root {
        return Err(FarmError::invalid(
            "archive",
            "archive_invalid",
            "this is neither a farmd export nor a MediaWiki XML dump".into(),
        ));
    }
    out.flush().map_err(internal)?;
    Ok(total)
}

fn unpack_export(upload: &Path, staging: &Path, max_bytes: u64) -> Result<CheckedArchive, FarmError> {
    let file = std::fs::File::open(upload).map_err(internal)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let damaged = |_| FarmError::invalid("archive", "archive_invalid", "the archive is damaged or truncated".into());
    let mut sums: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<serde_json::Value> = None;
    let mut total = 0u64;
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry.path().map_err(damaged)?.into_owned();
        let name = path.to_string_lossy().into_owned();
        let safe = path.components().all(|c| matches!(c, Component::Normal(_)))
            && (["pages.xml", "logs.xml", "settings.json", "manifest.json"].contains(&name.as_str())
                || name.starts_with("files/")
                || name.starts_with("assets/"));
        if !safe {
            return Err(FarmError::invalid(
                "archive",
                "archive_path",
                format!("the archive holds a path farmd does not take: {name:?}"),
            ));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(FarmError::invalid("archive", "archive_path", format!("{name:?} is not a plain file")));
        }
        let size = entry.header().size().map_err(damaged)?;
        total = total.saturating_add(size);
        if total > max_bytes {
            return Err(FarmError::invalid(
                "archive",
                "archive_too_large",
                format!("an import may unpack to at most {max_bytes} bytes"),
            ));
        }
        if name == "manifest.json" {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(damaged)?;
            manifest =
                Some(serde_json::from_slice(&text).map_err(|_| {
                    FarmError::invalid("archive", "archive_invalid", "manifest.json is not JSON".into())
                })?);
            continue;
        }
        let target = staging.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(internal)?;
        }
        let mut hashing = Hashing { inner: &mut entry, hasher: Sha256::new() };
        let written = if name.ends_with(".xml") {
            copy_checked_xml(&mut hashing, &target, max_bytes)?
        } else {
            let mut out = std::fs::File::create(&target).map_err(internal)?;
            std::io::copy(&mut hashing, &mut out).map_err(damaged)?
        };
        if written != size {
            return Err(FarmError::invalid("archive", "archive_invalid", "the archive is damaged or truncated".into()));
        }
        sums.insert(name, (size, hex::encode(hashing.hasher.finalize())));
    }
    let manifest = manifest
        .ok_or_else(|| FarmError::invalid("archive", "archive_invalid", "the archive has no manifest.json".into()))?;
    if manifest["format"] != FORMAT {
        return Err(FarmError::invalid("archive", "archive_invalid", format!("the archive's format is not {FORMAT}")));
    }
    let listed: BTreeMap<String, (u64, String)> = manifest["entries"]
        .as_array()
        .ok_or_else(|| FarmError::invalid("archive", "archive_invalid", "the manifest lists no entries".into()))?
        .iter()
        .filter_map(|e| Some((e["path"].as_str()?.to_owned(), (e["size"].as_u64()?, e["sha256"].as_str()?.to_owned()))))
        .collect();
    if listed != sums {
        return Err(FarmError::invalid(
            "archive",
            "archive_checksum",
            "the archive's files do not match its manifest".into(),
        ));
    }
    if !sums.contains_key("pages.xml") {
        return Err(FarmError::invalid("archive", "archive_invalid", "the archive has no pages.xml".into()));
    }
    let configuration = match std::fs::read(staging.join("settings.json")) {
        Ok(text) => serde_json::from_slice::<Option<Configuration>>(&text).map_err(|_| {
            FarmError::invalid("archive", "archive_invalid", "settings.json is not a farmd configuration".into())
        })?,
        Err(_) => None,
    };
    Ok(CheckedArchive {
        configuration,
        has_logs: sums.contains_key("logs.xml"),
        has_files: sums.keys().any(|k| k.starts_with("files/")),
    })
}

/// Hashes what passes through it.
pub struct Hashing<R> {
    pub inner: R,
    pub hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
