//! A wiki's database, behind one seam: SQLite files in the wiki's (or pool entry's) directory,
//! or a database with an account of its own on one of the farm's MariaDB servers.
//!
//! The jobs say *what* through [`WikiDatabase`] (build, adopt a pool entry, drop, what the
//! shard and `secrets.php` need); *how* lives in [`sqlite`] and [`mariadb`]. They reach the
//! databases only through [`Databases`], so that they can be driven against a fake.

pub mod mariadb;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use crate::domain::{LanguageCode, ResourceKey, Secret};
use crate::mediawiki::php::Php;
use crate::mediawiki::{Owner, ShardDatabase, StarterContent, Starters};
use crate::platform::layout::Layout;

/// Where a database is made: for the warm pool (a wiki claims it later) or for its wiki.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Pool,
    Wiki,
}

/// Which backend holds a database.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite,
    /// On the server of that name, reached by the wiki's own account with this password
    /// (needed to build the database, not to drop it).
    Mariadb {
        server: String,
        password: Option<Secret>,
    },
}

/// Everything that names one database.
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub key: ResourceKey,
    pub language: LanguageCode,
    /// The starter whose pages it is built with (its template's); `None`: MediaWiki's own
    /// Main Page only (a wiki made from an archive).
    pub starter: Option<String>,
    pub place: Place,
    pub location: Location,
}

/// The starter a database is built with, as found among the farm's starters.
#[derive(Debug, Clone)]
pub enum TemplateStarter {
    None,
    Found(StarterContent),
    /// The registry names a starter the farm no longer has.
    Missing(String),
}

impl TemplateStarter {
    /// The content to build with; an error for a missing starter.
    pub fn content(&self) -> anyhow::Result<Option<&StarterContent>> {
        match self {
            Self::None => Ok(None),
            Self::Found(content) => Ok(Some(content)),
            Self::Missing(id) => anyhow::bail!("the starter {id:?} is no longer among the farm's starters"),
        }
    }
}

/// One wiki's (or pool entry's) database.
#[async_trait]
pub trait WikiDatabase: Send + Sync {
    /// Builds the database from nothing: a copy of the template for its language, with
    /// `owner` as its administrator (a pool entry has none yet). Idempotent: after a crash at
    /// any point, a second call ends in the same place.
    async fn build(&self, owner: Option<Owner<'_>>) -> anyhow::Result<()>;
    /// A pool entry's database becomes its wiki's: in the wiki's place, with `owner` put in
    /// place. Idempotent.
    async fn adopt(&self, owner: Owner<'_>) -> anyhow::Result<()>;
    /// Removes the database (and its account), if there is one.
    async fn drop(&self) -> anyhow::Result<()>;
    /// Whether anyone but MediaWiki itself has edited (see [`crate::mediawiki::people_edits_sql`]).
    async fn edited_by_people(&self) -> anyhow::Result<bool>;
    /// Writes a consistent copy of the database into `dir` (which exists and is empty) while
    /// MediaWiki may be writing, and returns how many pages the wiki had in that snapshot.
    async fn back_up(&self, dir: &Path) -> anyhow::Result<i64> {
        let _ = dir;
        anyhow::bail!("this database cannot be backed up")
    }
    /// Reads a copy made by [`WikiDatabase::back_up`] back and returns how many pages it
    /// holds; an error if it is damaged or incomplete.
    async fn verify_backup(&self, dir: &Path) -> anyhow::Result<i64> {
        let _ = dir;
        anyhow::bail!("this database cannot be backed up")
    }
    /// Replaces the database with the copy in `dir`. Idempotent: after a crash at any point,
    /// a second call ends in the same place.
    async fn restore_backup(&self, dir: &Path) -> anyhow::Result<()> {
        let _ = dir;
        anyhow::bail!("this database cannot be restored")
    }
    /// What the wiki's shard says about the database.
    fn shard(&self) -> ShardDatabase;
    /// The password `secrets.php` gives MediaWiki, for backends that have one.
    fn password(&self) -> Option<&Secret>;
}

/// Opens wikis' databases.
pub trait Databases: Send + Sync {
    fn open(&self, spec: &DatabaseSpec) -> anyhow::Result<Box<dyn WikiDatabase>>;
}

/// The farm's real databases: SQLite under the data directory and the configured servers.
pub struct FarmDatabases {
    pub sqlite: sqlite::SqliteWikis,
    pub servers: Arc<mariadb::DbServers>,
    starters: Arc<Starters>,
    php: Php,
    layout: Layout,
    version: String,
}

impl FarmDatabases {
    pub fn new(
        layout: Layout,
        php: Php,
        version: String,
        servers: Arc<mariadb::DbServers>,
        starters: Arc<Starters>,
    ) -> Self {
        let sqlite = sqlite::SqliteWikis::new(layout.clone(), php.clone(), layout.templates_dir(&version));
        Self { sqlite, servers, starters, php, layout, version }
    }

    /// The starter a database of `spec` is built with.
    fn starter(&self, spec: &DatabaseSpec) -> TemplateStarter {
        match &spec.starter {
            None => TemplateStarter::None,
            Some(id) => match self.starters.get(id) {
                Some(starter) => TemplateStarter::Found(starter.content(&spec.language)),
                None => TemplateStarter::Missing(id.clone()),
            },
        }
    }

    /// Builds the templates for `language` with the default starter ahead of the first wiki:
    /// SQLite's, then each MariaDB server's that answers (one that does not gets its template
    /// when its first wiki needs it).
    pub async fn prepare_templates(&self, language: &LanguageCode) -> anyhow::Result<()> {
        let starter = self.starters.default_starter().content(language);
        self.sqlite.template(language, Some(&starter)).await?;
        for server in self.servers.all().iter().filter(|s| s.is_healthy()) {
            if let Err(err) =
                server.template(&self.php, &self.version, language, Some(&starter), &self.templates_dir()).await
            {
                tracing::warn!(server = server.name(), error = %format!("{err:#}"), "cannot prepare the MariaDB template yet");
            }
        }
        Ok(())
    }

    fn templates_dir(&self) -> std::path::PathBuf {
        self.layout.templates_dir(&self.version)
    }
}

impl Databases for FarmDatabases {
    fn open(&self, spec: &DatabaseSpec) -> anyhow::Result<Box<dyn WikiDatabase>> {
        Ok(match &spec.location {
            Location::Sqlite => Box::new(self.sqlite.database(spec, self.starter(spec))),
            Location::Mariadb { server, password } => {
                let server = self
                    .servers
                    .get(server)
                    .with_context(|| format!("the database server {server:?} is not in the configuration"))?
                    .clone();
                Box::new(mariadb::MariadbDatabase::new(
                    server,
                    spec,
                    self.starter(spec),
                    password.clone(),
                    self.php.clone(),
                    self.version.clone(),
                    self.templates_dir(),
                )?)
            }
        })
    }
}
