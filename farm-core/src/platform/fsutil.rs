//! File-system steps with the properties the pipeline relies on: writes are atomic (a reader
//! or a crash sees the old file or the new one, never half of one) and modes are set at
//! creation, so a secret is never readable by others even for a moment.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `contents` to `path` through a temporary file in the same directory, fsyncs it and
/// renames it into place.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let file_name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    remove_stale_temporaries(dir, &prefix)?;
    let tmp = dir.join(format!("{prefix}{}", crate::platform::random::random_hex(4)));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes temporary files that a crash left behind for the same target (names starting
/// with `prefix`). Safe because one daemon owns the data directory and no two tasks write the
/// same target at once.
pub fn remove_stale_temporaries(dir: &Path, prefix: &str) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            remove_file_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// Makes a rename or a new entry in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates `path` holding `contents` with `mode`, unless it exists; then reads it back.
/// Two processes racing here agree on one value.
pub fn read_or_create(path: &Path, mode: u32, make: impl FnOnce() -> Vec<u8>) -> io::Result<Vec<u8>> {
    // The file only ever appears complete (hard-linked from a synced temporary file).
    match fs::read(path) {
        Ok(existing) => return Ok(existing),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let contents = make();
    let tmp = path.with_extension(format!("tmp-{}", crate::platform::random::random_hex(4)));
    {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        file.write_all(&contents)?;
        file.sync_all()?;
    }
    // hard_link fails if `path` exists: the first writer wins and everyone reads its value.
    let linked = fs::hard_link(&tmp, path);
    fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            Ok(contents)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => fs::read(path),
        Err(e) => Err(e),
    }
}

/// From now on, files and directories this process (and every child it starts) creates are
/// its user's alone: the data directory holds keys, sessions and the wikis' secrets, and
/// another local user must never read them, not even for the moment between a create and a
/// `chmod`.
pub fn keep_new_files_private() {
    UMASK.store(0o077, std::sync::atomic::Ordering::Relaxed);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// The umask this process chose (the system call that reads it also sets it).
static UMASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0o077);

/// Copies a file as a new one: with the mode a new file gets here (as if made with the
/// process's umask), not the source's (`fs::copy` copies the source's, which a template
/// or a backup made for farmd alone would pass on to a wiki the web server must write).
pub fn copy_as_new(from: &Path, to: &Path) -> io::Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    let copied = fs::copy(from, to)?;
    let mode = 0o666 & !UMASK.load(std::sync::atomic::Ordering::Relaxed);
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(copied)
}

/// With the web server's PHP as another user ([`crate::platform::layout::Layout::share_with`]):
/// new files and directories are the group's too (which ones the group reaches is decided by
/// the directories it may enter), never others'.
pub fn share_new_files_with_group() {
    UMASK.store(0o007, std::sync::atomic::Ordering::Relaxed);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o007));
}

/// Gives the group `gid` read access (and with `writable` write access) to `root` and
/// everything under it, setgid on directories so that what is made in them later belongs to
/// the group too; others lose every bit. Symlinks are not followed. Returns how many entries
/// changed.
pub fn share_tree(root: &Path, gid: u32, writable: bool) -> io::Result<usize> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut changed = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Gone meanwhile (PHP removes its own temporary files).
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        let group_bits = match (meta.is_dir(), writable) {
            (true, true) => 0o2070,
            (true, false) => 0o2050,
            (false, true) => 0o060,
            (false, false) => 0o040,
        };
        let wanted = (mode & 0o7700 & !0o2000) | group_bits;
        if meta.gid() != gid {
            nix::unistd::chown(&path, None, Some(nix::unistd::Gid::from_raw(gid))).map_err(io::Error::from)?;
            changed += 1;
        }
        if mode != wanted {
            fs::set_permissions(&path, fs::Permissions::from_mode(wanted))?;
            changed += 1;
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

/// Takes every permission bit for group and others off `root` and everything under it
/// (symlinks are not followed). Returns how many entries were changed.
pub fn make_private(root: &Path) -> io::Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let mut changed = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & !0o077))?;
            changed += 1;
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

/// Removes a directory tree; a tree that is already gone is fine.
pub fn remove_dir_all_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes a file or symlink; one that is already gone is fine.
pub fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.php");
        write_atomic(&path, b"one", 0o600).expect("write");
        write_atomic(&path, b"two", 0o600).expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1, "no temporary files left");
    }

    #[test]
    fn a_temporary_file_left_by_a_crash_goes_with_the_next_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("LocalSettings.php");
        fs::write(dir.path().join(".LocalSettings.php.tmp-deadbeef"), b"half").expect("stale");
        fs::write(dir.path().join(".other.php.tmp-deadbeef"), b"not ours").expect("other");
        write_atomic(&path, b"whole", 0o640).expect("write");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".other.php.tmp-deadbeef", "LocalSettings.php"]);
    }

    #[test]
    fn make_private_takes_group_and_other_bits_off_a_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        fs::create_dir_all(root.join("wikis/w1")).expect("dirs");
        fs::write(root.join("control.sqlite"), b"x").expect("file");
        fs::write(root.join("wikis/w1/secrets.php"), b"x").expect("file");
        std::os::unix::fs::symlink("wikis/w1", root.join("link")).expect("link");
        for path in [&root, &root.join("wikis"), &root.join("wikis/w1")] {
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        for path in [root.join("control.sqlite"), root.join("wikis/w1/secrets.php")] {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        assert_eq!(make_private(&root).expect("tighten"), 5);
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("wikis/w1")), 0o700);
        assert_eq!(mode(&root.join("control.sqlite")), 0o600);
        assert_eq!(mode(&root.join("wikis/w1/secrets.php")), 0o600);
        assert_eq!(make_private(&root).expect("again"), 0, "nothing left to change");
    }

    #[test]
    fn read_or_create_keeps_the_first_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        let first = read_or_create(&path, 0o600, || b"first".to_vec()).expect("create");
        let second = read_or_create(&path, 0o600, || b"second".to_vec()).expect("read");
        assert_eq!(first, b"first");
        assert_eq!(second, b"first");
        assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    }
}
