//! The holes an outside review found, each attacked the way the review did: from a shell of
//! another local user, over raw HTTP, and against the PHP side.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Farmd;
use serde_json::json;

/// Runs `program args` as the unprivileged user `nobody` (no groups): what any other local
/// user of the machine could do.
fn as_nobody(program: &str, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", program])
        .args(args)
        .output()
        .expect("setpriv (util-linux)")
}

/// Every file and directory under `root` (not following symlinks).
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                pending.push(entry.expect("entry").path());
            }
        }
        all.push(path);
    }
    all
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// The data directory's parent as a packaged farm has it (`/var/lib`): anyone may pass through.
fn open_parent(farm: &Farmd) {
    let parent = farm.data_dir.parent().expect("parent");
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).expect("chmod parent");
}

#[tokio::test]
async fn another_local_user_reads_nothing_and_cannot_take_over_the_admin() {
    let mut farm = Farmd::new(&[]);
    open_parent(&farm);
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("root", "admin", Some("correct horse battery")));
    let token = farm.token("mel", "member");
    let (status, _) = farm.create_wiki(&token, json!({"name": "private-parts", "sitename": "P"})).await;
    assert_eq!(status, 202);
    farm.wait_for_state(&token, "private-parts", &["active"]).await;
    // The takeover began with a reset link for the admin's address, asked for without logging in
    // (this farm has no [smtp], so the mail stays in the outbox).
    let reset = farm.http.post(farm.url("/api/v1/password-resets")).json(&json!({"email": "root@example.org"}));
    assert_eq!(reset.send().await.expect("reset").status(), 202);

    let data = farm.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "the data directory is farmd's alone");
    for path in tree(&data) {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.file_type().is_symlink() {
            continue;
        }
        assert_eq!(mode(&path) & 0o077, 0, "{} is open to group or others", path.display());
        if meta.is_file() {
            let read = as_nobody("cat", &[&path.to_string_lossy()]);
            assert!(!read.status.success(), "nobody read {}", path.display());
        }
    }
    let listing = as_nobody("ls", &[&data.to_string_lossy()]);
    assert!(!listing.status.success(), "nobody listed the data directory");
    let grep = as_nobody("sh", &["-c", &format!("grep -a reset-password {}/control.sqlite*", data.display())]);
    assert!(!grep.status.success() && grep.stdout.is_empty(), "nobody found the reset link");

    // Even farmd's own user finds no usable link in the control store or its journal: the
    // outbox keeps mail bodies sealed.
    let mut stored = Vec::new();
    for name in ["control.sqlite", "control.sqlite-wal"] {
        stored.extend(std::fs::read(data.join(name)).unwrap_or_default());
    }
    assert!(stored.len() > 4096, "the control store was read");
    assert!(!String::from_utf8_lossy(&stored).contains("reset-password?token="), "a reset link is stored readable");
}

#[tokio::test]
async fn a_data_directory_left_open_is_tightened_at_start() {
    let mut farm = Farmd::new(&[]);
    open_parent(&farm);
    // What an older farmd left: a directory and files anyone may read.
    std::fs::create_dir_all(farm.data_dir.join("wikis")).expect("mkdir");
    std::fs::write(farm.data_dir.join("signing.key"), "ab".repeat(64)).expect("key");
    for (path, mode) in [("", 0o755), ("wikis", 0o755), ("signing.key", 0o644)] {
        std::fs::set_permissions(farm.data_dir.join(path), std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    farm.spawn();
    farm.wait_healthy().await;
    assert_eq!(mode(&farm.data_dir), 0o700);
    assert_eq!(mode(&farm.data_dir.join("wikis")), 0o700);
    assert_eq!(mode(&farm.data_dir.join("signing.key")), 0o600);
    assert!(!as_nobody("cat", &[&farm.data_dir.join("signing.key").to_string_lossy()]).status.success());
    assert!(farm.log().contains("the data directory was readable by other users"), "{}", farm.log());
}
