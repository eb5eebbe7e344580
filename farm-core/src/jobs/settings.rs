//! Brings a wiki's files in line with its current settings revision: the tables of the
//! extensions it enables, then its shard, written atomically, then the record that it is
//! applied.
//!
//! Order is what makes it crash-safe: tables are made *before* a revision that needs them is
//! committed (tables nobody loads are harmless), so MediaWiki never loads an extension whose
//! tables are missing; the shard is one file replaced by rename, so a wiki never runs with half
//! of a change; and a revision committed but not yet written (a kill between the two) is found
//! by [`Configurator::heal`] at the next start, by `applied_revision < settings_revision`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};

use crate::backends::{DatabaseSpec, Databases, Location, Place, WikiDatabase};
use crate::domain::{Backend, Languages};
use crate::mediawiki::php::Php;
use crate::mediawiki::{self, Features, Namespaces, ShardValues};
use crate::platform::fsutil::{remove_file_if_exists, sync_dir, write_atomic};
use crate::platform::layout::Layout;
use crate::platform::secrets::Sealer;
use crate::store::{Store, WikiRecord};

/// How long one wiki's schema update may take.
const SCHEMA_UPDATE_TIMEOUT: Duration = Duration::from_secs(300);

/// The marker `router.php` reads: this wiki's uploads go through `img_auth.php` only.
pub const PRIVATE_MARKER: &str = "private";

pub struct Configurator {
    pub store: Store,
    pub layout: Layout,
    pub php: Php,
    pub features: Arc<Features>,
    pub namespaces: Arc<Namespaces>,
    pub languages: Languages,
    pub databases: Arc<dyn Databases>,
    pub sealer: Sealer,
    /// Told of every shard written, so that caches drop the wiki's pages before the change is
    /// reported done.
    cdn_bans: Option<Arc<super::cdn_bans::CdnBans>>,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Configurator {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        layout: Layout,
        php: Php,
        features: Arc<Features>,
        namespaces: Arc<Namespaces>,
        languages: Languages,
        databases: Arc<dyn Databases>,
        sealer: Sealer,
    ) -> Self {
        Self {
            store,
            layout,
            php,
            features,
            namespaces,
            languages,
            databases,
            sealer,
            cdn_bans: None,
            locks: Mutex::default(),
        }
    }

    /// Caches to ban a wiki's pages in whenever its shard is written.
    pub fn with_cdn_bans(mut self, bans: Option<Arc<super::cdn_bans::CdnBans>>) -> Self {
        self.cdn_bans = bans;
        self
    }

    /// One change at a time per wiki: held from reading the current revision to writing the
    /// shard.
    pub async fn lock(&self, wiki_id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.locks.lock().unwrap_or_else(|e| e.into_inner()).entry(wiki_id).or_default().clone();
        lock.lock_owned().await
    }

    /// The wiki's database.
    pub fn database(&self, wiki: &WikiRecord) -> anyhow::Result<Box<dyn WikiDatabase>> {
        wiki_database(self.databases.as_ref(), &self.sealer, &self.languages, wiki, None)
    }

    /// Makes the wiki's database carry the tables of `extensions`: MediaWiki's `update.php`
    /// with them loaded beside the wiki's own (idempotent), then the registry records them.
    pub async fn ensure_tables(&self, wiki: &WikiRecord, extensions: &[String]) -> anyhow::Result<()> {
        let missing: Vec<&String> = extensions.iter().filter(|e| !wiki.schema_extensions.contains(e)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let load: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        for id in &load {
            anyhow::ensure!(
                mediawiki::is_component_id(id) && self.features.catalogue.get(id).is_some(),
                "not an extension: {id}"
            );
        }
        let started = std::time::Instant::now();
        self.php
            .run_for_wiki(
                wiki.name.as_str(),
                "update.php",
                &["--quick"],
                &[("FARM_SCHEMA_EXTENSIONS", &load.join(","))],
                SCHEMA_UPDATE_TIMEOUT,
            )
            .await
            .context("creating the extensions' tables")?;
        let mut schema = wiki.schema_extensions.clone();
        schema.extend(missing.iter().map(|s| s.to_string()));
        schema.sort();
        schema.dedup();
        self.store.set_schema_extensions(wiki.id, &schema).await?;
        info!(wiki = %wiki.name, extensions = %load.join(","), elapsed_ms = started.elapsed().as_millis() as u64, "extension tables created");
        Ok(())
    }

    /// Writes the shard of the wiki's current revision (its tables first) and records it as
    /// applied. The caller holds [`Configurator::lock`], or owns the wiki (the pipeline).
    pub async fn write(&self, wiki: &WikiRecord) -> anyhow::Result<()> {
        let revision = self
            .store
            .settings_revision(wiki.id, wiki.settings_revision)
            .await?
            .with_context(|| format!("the wiki has no settings revision {}", wiki.settings_revision))?;
        let configuration = &revision.configuration;
        let missing = self.features.missing_tables(configuration, &wiki.schema_extensions);
        if !missing.is_empty() {
            self.ensure_tables(wiki, &missing).await?;
        }
        let language = self.languages.parse(&configuration.settings.language).map_err(|e| anyhow::anyhow!("{e}"))?;
        let taken_namespaces = self.namespaces.of(&language).await?;
        let shard = mediawiki::render_shard(&ShardValues {
            key: &wiki.key,
            name: &wiki.name,
            revision: revision.revision,
            revised_at: revision.created_at,
            configuration,
            catalogue: &self.features.catalogue,
            taken_namespaces: &taken_namespaces,
            database: self.database(wiki)?.shard(),
        });
        let dir = self.layout.wiki_dir(&wiki.key);
        let marker = dir.join(PRIVATE_MARKER);
        // Going private, uploads close before the shard changes; going public, after.
        if configuration.settings.private {
            write_atomic(&marker, b"", 0o640)?;
        }
        write_atomic(&dir.join("LocalSettings.php"), shard.as_bytes(), 0o640)?;
        if !configuration.settings.private {
            remove_file_if_exists(&marker)?;
            sync_dir(&dir)?;
        }
        if let Some(bans) = &self.cdn_bans {
            bans.sweep().await;
        }
        self.store.mark_settings_applied(wiki.id, revision.revision).await?;
        Ok(())
    }

    /// [`Configurator::write`] for the wiki as the registry has it now, under its lock.
    pub async fn apply(&self, wiki_id: i64) -> anyhow::Result<()> {
        let _guard = self.lock(wiki_id).await;
        let wiki = self.store.wiki_by_id(wiki_id).await?.context("no such wiki")?;
        self.write(&wiki).await
    }

    /// At start: wikis made before settings existed get revision 1 (the farm's defaults, with
    /// their own name and language), and every served wiki whose shard lags behind its
    /// revision is written. Returns how many shards were written.
    pub async fn heal(&self) -> anyhow::Result<usize> {
        loop {
            let wikis = self.store.wikis_without_settings(100).await?;
            if wikis.is_empty() {
                break;
            }
            for wiki in wikis {
                let configuration = self.features.initial(&wiki.sitename, &wiki.language);
                let mut tx = self.store.begin().await?;
                tx.add_first_settings_revision(wiki.id, &configuration).await?;
                tx.commit().await?;
            }
        }
        let mut written = 0;
        loop {
            let wikis = self.store.unapplied_settings(100).await?;
            if wikis.is_empty() {
                break;
            }
            let mut progressed = false;
            for wiki in wikis {
                match self.apply(wiki.id).await {
                    Ok(()) => {
                        written += 1;
                        progressed = true;
                    }
                    Err(err) => {
                        warn!(wiki = %wiki.name, error = %format!("{err:#}"), "cannot apply the wiki's settings yet")
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        if written > 0 {
            info!(wikis = written, "settings applied to wikis whose shard was behind");
        }
        Ok(written)
    }
}

/// A wiki's database, on `server` if given, else where the registry says.
pub(crate) fn wiki_database(
    databases: &dyn Databases,
    sealer: &Sealer,
    languages: &Languages,
    wiki: &WikiRecord,
    server: Option<String>,
) -> anyhow::Result<Box<dyn WikiDatabase>> {
    let location = match wiki.backend {
        Backend::Sqlite => Location::Sqlite,
        Backend::Mariadb => Location::Mariadb {
            server: match server {
                Some(server) => server,
                None => wiki.db_server.clone().context("the wiki has no database server")?,
            },
            password: wiki.db_password_sealed.as_deref().map(|sealed| sealer.open(sealed)).transpose()?,
        },
    };
    let language = languages.parse(&wiki.language).map_err(|e| anyhow::anyhow!("registry language: {e}"))?;
    let starter = wiki.starter.clone();
    databases.open(&DatabaseSpec { key: wiki.key.clone(), language, starter, place: Place::Wiki, location })
}
