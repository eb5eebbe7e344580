//! Where everything lives in the data directory. Every path that holds a wiki's resources is
//! built here from a [`ResourceKey`] (never from user text); the one path built from a wiki
//! name is its host link, and a [`WikiName`] is a validated DNS label.
//!
//! ```text
//! data/
//!   control.sqlite             registry (SQLite control store)
//!   signing.key                token signing key (0600)
//!   farmd.lock                 held by the running daemon
//!   farmd.addr                 the address it listens on
//!   farm.id                    8 hex digits naming this farm on shared database servers
//!   credentials.key            key that seals database passwords in the control store (0600)
//!   cdn-bans                   its mtime: when the caches in front had taken every ban owed
//!   mediawiki/                 entry file, resolver, router and farm-config.php for PHP
//!   cache/<mw version>/        localisation cache shared by all wikis of that version
//!   cache/opcache-<mw version>/  compiled PHP of the codebase for the scripts farmd runs
//!   templates/<mw version>/    installer output per backend, copied for each new wiki
//!   wikis/<key>/               one wiki: LocalSettings.php, secrets.php, db/, images/
//!   hosts/<name> -> ../wikis/<key>   present exactly while the wiki is served
//!   logs/                      MediaWiki's error logs
//!   pool/<key>/db/             SQLite databases built ahead of demand (the warm pool)
//!   backups/<key>/<id>/        one backup of a wiki ([backups] dir may put them elsewhere);
//!                              `<id>.partial/` while it is written
//! ```

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::domain::{ResourceKey, WikiName};

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// Where backups go: `root/backups` unless configured elsewhere.
    backups: PathBuf,
}

impl Layout {
    /// Opens (making it if need be) the data directory. It is farmd's alone (mode 0700, and
    /// everything in it without group or other bits): a directory that an older farmd or an
    /// operator left readable by others is tightened here, with a log line.
    pub fn new(data_dir: &Path) -> std::io::Result<Self> {
        create_private_dir(data_dir)?;
        let root = data_dir.canonicalize()?;
        let mode = std::fs::metadata(&root)?.permissions().mode();
        // 0710 is the mode a farm shared with the web server keeps (`share_with`).
        if mode & 0o077 != 0 && mode & 0o777 != 0o710 {
            let changed = crate::platform::fsutil::make_private(&root)?;
            tracing::warn!(
                data_dir = %root.display(),
                was = %format!("{:o}", mode & 0o777),
                entries = changed,
                "the data directory was readable by other users; took group and other permissions off it and everything in it"
            );
        }
        for dir in ["mediawiki", "cache", "templates", "wikis", "hosts", "logs", "pool", "sign-on"] {
            create_private_dir(&root.join(dir))?;
        }
        let backups = root.join("backups");
        Ok(Self { root, backups })
    }

    /// Lets the web server's PHP, running as another user in `group` (php-fpm as
    /// www-data), serve the wikis: it may enter the data directory (not list it), read the
    /// farm's PHP files, the host links, the redirects and the sign-on files, and read and write
    /// the wikis' directories (databases, uploads), the caches, the logs and the pool. The keys,
    /// the control store, templates, backups, exports and imports stay farmd's alone. Run at
    /// every start (it also brings an older directory in line); farmd's own group must not be
    /// `group`, or its private files would be the web server's too.
    pub fn share_with(&self, group: &str) -> std::io::Result<usize> {
        use std::os::unix::fs::PermissionsExt;
        let gid = nix::unistd::Group::from_name(group)
            .map_err(std::io::Error::from)?
            .ok_or_else(|| std::io::Error::other(format!("web_group {group:?} is no group of this machine")))?
            .gid
            .as_raw();
        if nix::unistd::getegid().as_raw() == gid {
            return Err(std::io::Error::other(
                "web_group is farmd's own primary group: give farmd a group of its own and make it a member of the web server's group",
            ));
        }
        nix::unistd::chown(&self.root, None, Some(nix::unistd::Gid::from_raw(gid))).map_err(std::io::Error::from)?;
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o710))?;
        let mut changed = 0;
        for dir in ["mediawiki", "hosts", "redirects", "sign-on"] {
            create_private_dir(&self.root.join(dir))?;
            changed += crate::platform::fsutil::share_tree(&self.root.join(dir), gid, false)?;
        }
        for dir in ["wikis", "cache", "logs", "pool"] {
            changed += crate::platform::fsutil::share_tree(&self.root.join(dir), gid, true)?;
        }
        Ok(changed)
    }

    /// Backups go to `dir` (absolute, made 0700 on first use) instead of `root/backups`.
    pub fn with_backups_dir(mut self, dir: Option<&Path>) -> Self {
        if let Some(dir) = dir {
            self.backups = dir.to_path_buf();
        }
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This farm's id: 8 hex digits made once, in the names of what it puts on shared
    /// database servers, so that two farms can share one.
    pub fn farm_id(&self) -> std::io::Result<String> {
        let id = crate::platform::fsutil::read_or_create(&self.root.join("farm.id"), 0o644, || {
            crate::platform::random::random_hex(4).into_bytes()
        })?;
        let id = String::from_utf8_lossy(&id).trim().to_owned();
        if id.len() == 8 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(id)
        } else {
            Err(std::io::Error::other("data/farm.id must hold 8 lowercase hex digits"))
        }
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("farmd.lock")
    }

    /// The address the running daemon listens on (written at start; useful with port 0).
    /// When the caches in front of the wikis had taken every ban farmd owed them (its mtime).
    pub fn cdn_bans_marker(&self) -> PathBuf {
        self.root.join("cdn-bans")
    }

    pub fn listen_file(&self) -> PathBuf {
        self.root.join("farmd.addr")
    }

    pub fn farm_files_dir(&self) -> PathBuf {
        self.root.join("mediawiki")
    }

    pub fn cache_dir(&self, mediawiki_version: &str) -> PathBuf {
        self.root.join("cache").join(mediawiki_version)
    }

    /// PHP's compiled codebase (opcache's file cache), shared by the maintenance scripts and
    /// job runs farmd starts, so that each does not compile MediaWiki again.
    pub fn opcache_dir(&self, mediawiki_version: &str) -> PathBuf {
        self.root.join("cache").join(format!("opcache-{mediawiki_version}"))
    }

    /// The files opcache must not keep: everything in the data directory (shards, secrets).
    pub fn opcache_blacklist(&self) -> PathBuf {
        self.farm_files_dir().join("opcache-blacklist.txt")
    }

    pub fn templates_dir(&self, mediawiki_version: &str) -> PathBuf {
        self.root.join("templates").join(mediawiki_version)
    }

    pub fn wikis_dir(&self) -> PathBuf {
        self.root.join("wikis")
    }

    pub fn wiki_dir(&self, key: &ResourceKey) -> PathBuf {
        self.wikis_dir().join(key.as_str())
    }

    pub fn pool_dir(&self) -> PathBuf {
        self.root.join("pool")
    }

    /// A warm-pool entry's directory until a wiki claims it and moves it to `wikis/<key>`.
    pub fn pool_entry_dir(&self, key: &ResourceKey) -> PathBuf {
        self.pool_dir().join(key.as_str())
    }

    pub fn hosts_dir(&self) -> PathBuf {
        self.root.join("hosts")
    }

    pub fn host_link(&self, name: &WikiName) -> PathBuf {
        self.hosts_dir().join(name.as_str())
    }

    /// When how the wiki `name` is served last changed: its folder's mtime through its host
    /// link (a shard or marker replaced, the link made), none while it is not served. The caches
    /// keep nothing across a change of it.
    pub fn served_stamp(&self, name: &WikiName) -> Option<std::time::SystemTime> {
        std::fs::metadata(self.host_link(name)).ok()?.modified().ok()
    }

    /// Export archives (`{id}.tar.gz`) and their scratch folders while they are built.
    /// One file per farm session that wikis may honour, named by its handle
    /// (a hash of the session id, 64 hex digits); PHP reads it on every
    /// signed-on request.
    pub fn sign_on_dir(&self) -> PathBuf {
        self.root.join("sign-on")
    }

    pub fn sign_on_session(&self, handle: &str) -> Option<PathBuf> {
        (handle.len() == 64 && handle.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| self.sign_on_dir().join(handle))
    }

    pub fn exports_dir(&self) -> PathBuf {
        self.root.join("exports")
    }

    pub fn export_archive(&self, id: i64) -> PathBuf {
        self.exports_dir().join(format!("{id}.tar.gz"))
    }

    /// Archives being checked (`incoming-*`) and the content of wikis created from one,
    /// waiting for the pipeline's import step (`{key}/`).
    pub fn imports_dir(&self) -> PathBuf {
        self.root.join("imports")
    }

    pub fn import_dir(&self, key: &ResourceKey) -> PathBuf {
        self.imports_dir().join(key.as_str())
    }

    /// Old names of renamed wikis: `redirects/OLD` holds the new name (router.php answers 301).
    pub fn redirects_dir(&self) -> PathBuf {
        self.root.join("redirects")
    }

    pub fn redirect_file(&self, name: &WikiName) -> PathBuf {
        self.redirects_dir().join(name.as_str())
    }

    /// Where backups go.
    pub fn backups_dir(&self) -> &Path {
        &self.backups
    }

    /// A wiki's backups: `{backups}/{key}/{id}/`.
    pub fn wiki_backups_dir(&self, key: &ResourceKey) -> PathBuf {
        self.backups.join(key.as_str())
    }

    pub fn backup_dir(&self, key: &ResourceKey, id: i64) -> PathBuf {
        self.wiki_backups_dir(key).join(id.to_string())
    }

    /// Where a backup is written before it is renamed into place.
    pub fn backup_partial_dir(&self, key: &ResourceKey, id: i64) -> PathBuf {
        self.wiki_backups_dir(key).join(format!("{id}.partial"))
    }

    /// What a host link points at: relative, so the data directory can move.
    pub fn host_link_target(key: &ResourceKey) -> PathBuf {
        Path::new("..").join("wikis").join(key.as_str())
    }
}

/// `mkdir -p` with mode 0700 for what it makes, whatever the umask.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn mode_and_gid(path: &Path) -> (u32, u32) {
        let meta = std::fs::metadata(path).expect("meta");
        (meta.permissions().mode() & 0o7777, meta.gid())
    }

    /// Shared with the web server's group (Debian's www-data): the wikis' files readable and
    /// writable by it, the farm's PHP files and sign-on files readable only, the keys not at all.
    #[test]
    fn sharing_with_the_web_group_reaches_the_wikis_and_not_the_keys() {
        let Ok(Some(group)) = nix::unistd::Group::from_name("www-data") else {
            panic!("this test needs the group www-data (Debian's base system has it)");
        };
        let www = group.gid.as_raw();
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(&dir.path().join("data")).expect("layout");
        let root = layout.root().to_path_buf();
        std::fs::write(root.join("signing.key"), "k").expect("key");
        std::fs::set_permissions(root.join("signing.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::create_dir_all(root.join("wikis/w1/db")).expect("wiki");
        std::fs::write(root.join("wikis/w1/db/w1.sqlite"), "db").expect("db");
        std::fs::write(root.join("mediawiki/FarmSettings.php"), "<?php").expect("php");
        std::fs::write(root.join("sign-on/abc"), "{}").expect("sign-on");

        assert!(layout.share_with("www-data").expect("share") > 0);
        assert_eq!(mode_and_gid(&root), (0o710, www), "the group enters, does not list");
        assert_eq!(mode_and_gid(&root.join("signing.key")).0, 0o600, "keys stay farmd's");
        assert_eq!(mode_and_gid(&root.join("wikis/w1/db")), (0o2770, www));
        assert_eq!(mode_and_gid(&root.join("wikis/w1/db/w1.sqlite")), (0o660, www));
        assert_eq!(mode_and_gid(&root.join("mediawiki")), (0o2750, www));
        assert_eq!(mode_and_gid(&root.join("mediawiki/FarmSettings.php")), (0o640, www));
        assert_eq!(mode_and_gid(&root.join("sign-on/abc")), (0o640, www), "PHP reads, never writes, sign-ons");
        assert_eq!(mode_and_gid(&root.join("templates")).0, 0o700, "templates stay farmd's");
        assert_eq!(layout.share_with("www-data").expect("again"), 0, "nothing left to change");
        // A shared directory is not taken back by the next open.
        let again = Layout::new(&root).expect("reopen");
        assert_eq!(mode_and_gid(again.root()), (0o710, www));
        assert_eq!(mode_and_gid(&root.join("wikis/w1/db/w1.sqlite")).0, 0o660);
        assert!(layout.share_with("no-such-group-here").is_err());
    }
}
