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
        if mode & 0o077 != 0 {
            let changed = crate::platform::fsutil::make_private(&root)?;
            tracing::warn!(
                data_dir = %root.display(),
                was = %format!("{:o}", mode & 0o777),
                entries = changed,
                "the data directory was readable by other users; took group and other permissions off it and everything in it"
            );
        }
        for dir in ["mediawiki", "cache", "templates", "wikis", "hosts", "logs", "pool"] {
            create_private_dir(&root.join(dir))?;
        }
        let backups = root.join("backups");
        Ok(Self { root, backups })
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

    /// Export archives (`{id}.tar.gz`) and their scratch folders while they are built.
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
