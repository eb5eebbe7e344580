//! MediaWiki's maintenance scripts as the farm runs them: a script named by a caller is found
//! in the codebase (its path resolved, symbolic links and all, and refused if it lands outside
//! `maintenance/` or the extension's folder); the fingerprint that says whether a wiki's
//! schema is current; what `runJobs.php` reports.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::maintenance::ScriptName;
use crate::error::FarmError;

/// The script's canonical path: under the codebase's `maintenance/` (MediaWiki's own) or under
/// the extension's folder, once every symbolic link is followed (Debian links extensions into
/// `extensions-core/`). A script that is not there is `script_unknown`; one that resolves
/// elsewhere `script_outside_codebase`.
pub fn resolve_script(codebase: &Path, script: &ScriptName) -> Result<PathBuf, FarmError> {
    let unknown = |why: String| FarmError::invalid("script", "script_unknown", why);
    let root = match &script.extension {
        None => codebase.join("maintenance"),
        Some(extension) => codebase.join("extensions").join(extension),
    };
    let root = root.canonicalize().map_err(|_| match &script.extension {
        Some(extension) => unknown(format!("the codebase has no extension {extension}")),
        None => unknown("the codebase has no maintenance folder".into()),
    })?;
    let path = codebase.join(&script.relative);
    let resolved =
        path.canonicalize().map_err(|_| unknown(format!("the codebase has no script {}", script.relative)))?;
    if !resolved.starts_with(&root) {
        return Err(FarmError::invalid(
            "script",
            "script_outside_codebase",
            format!("{} leads outside the codebase's scripts", script.relative),
        ));
    }
    if !resolved.is_file() {
        return Err(unknown(format!("{} is not a script file", script.relative)));
    }
    Ok(resolved)
}

/// What a wiki's schema is brought up to by `update.php`: the codebase's version and the
/// extensions the wiki loads. Equal fingerprints mean another run would change nothing.
pub fn update_fingerprint<'a>(codebase_version: &str, extensions: impl IntoIterator<Item = &'a str>) -> String {
    let mut extensions: Vec<&str> = extensions.into_iter().collect();
    extensions.sort_unstable();
    extensions.dedup();
    let mut hasher = Sha256::new();
    hasher.update(b"mediawiki ");
    hasher.update(codebase_version.as_bytes());
    for extension in extensions {
        hasher.update(b"\nextension ");
        hasher.update(extension.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Jobs `runJobs.php` reports as run (`... good`) and as failed (`... failed` or `... error`),
/// one line per job.
pub fn jobs_run(output: &str) -> (u64, u64) {
    let mut good = 0;
    let mut failed = 0;
    for line in output.lines() {
        let last = line.split_whitespace().last().unwrap_or_default();
        match last {
            "good" => good += 1,
            "failed" | "error" => failed += 1,
            _ if line.contains(" failed ") || line.contains(" error: ") => failed += 1,
            _ => {}
        }
    }
    (good, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codebase() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for folder in ["maintenance/storage", "includes", "extensions-core/Cite/maintenance", "elsewhere"] {
            std::fs::create_dir_all(root.join(folder)).expect("mkdir");
        }
        for file in [
            "maintenance/update.php",
            "maintenance/storage/compressOld.php",
            "includes/Setup.php",
            "extensions-core/Cite/maintenance/x.php",
            "elsewhere/evil.php",
        ] {
            std::fs::write(root.join(file), "<?php\n").expect("write");
        }
        std::fs::create_dir_all(root.join("extensions")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("extensions-core/Cite"), root.join("extensions/Cite")).expect("link");
        std::os::unix::fs::symlink(root.join("elsewhere/evil.php"), root.join("maintenance/evil.php")).expect("link");
        std::os::unix::fs::symlink(root.join("includes"), root.join("maintenance/includes-link")).expect("link");
        std::fs::create_dir_all(root.join("maintenance/folder.php")).expect("mkdir");
        dir
    }

    fn resolve(root: &Path, script: &str) -> Result<PathBuf, FarmError> {
        resolve_script(root, &ScriptName::parse(script).expect("shape"))
    }

    #[test]
    fn scripts_resolve_inside_the_codebase_only() {
        let dir = codebase();
        let root = dir.path().canonicalize().expect("canonical");
        assert_eq!(resolve(&root, "update.php").expect("core"), root.join("maintenance/update.php"));
        assert!(resolve(&root, "maintenance/storage/compressOld.php").is_ok());
        assert_eq!(
            resolve(&root, "extensions/Cite/maintenance/x.php").expect("through the link"),
            root.join("extensions-core/Cite/maintenance/x.php")
        );
        let code = |script: &str| resolve(&root, script).expect_err(script).code();
        assert_eq!(code("nothing.php"), "script_unknown");
        assert_eq!(code("folder.php"), "script_unknown");
        assert_eq!(code("extensions/Missing/maintenance/x.php"), "script_unknown");
        assert_eq!(code("evil.php"), "script_outside_codebase", "a link out of maintenance/");
        assert_eq!(code("maintenance/includes-link/Setup.php"), "script_outside_codebase");
    }

    #[test]
    fn the_fingerprint_names_the_codebase_and_the_extension_set() {
        let a = update_fingerprint("1.39.17", ["Cite", "Math"]);
        assert_eq!(a, update_fingerprint("1.39.17", ["Math", "Cite", "Cite"]), "a set");
        assert_ne!(a, update_fingerprint("1.39.18", ["Cite", "Math"]));
        assert_ne!(a, update_fingerprint("1.39.17", ["Cite"]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn run_jobs_output_counts_jobs() {
        let output = "2026-12-01 10:00:00 refreshLinks Foo namespace=0 STARTING\n\
                      2026-12-01 10:00:00 refreshLinks Foo namespace=0 t=12 good\n\
                      2026-12-01 10:00:00 htmlCacheUpdate Bar t=3 good\n\
                      2026-12-01 10:00:01 enotifNotify Baz t=1 error: something\n";
        assert_eq!(jobs_run(output), (2, 1));
        assert_eq!(jobs_run(""), (0, 0));
    }
}
