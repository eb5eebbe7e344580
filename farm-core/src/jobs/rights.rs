//! Keeps each wiki's administrators on MediaWiki in step with the farm: its owner and its
//! managers are sysop and bureaucrat there, and lose it when they stop being either.
//!
//! A change of owner or managers bumps the wiki's `rights_wanted` in its own transaction; this
//! job runs the wiki's `farm-rights.php` (grant the wanted, revoke those the last run made and
//! who are no longer wanted; every change in the wiki's rights log) and records the generation
//! it reached. The script changes nothing when run again, so a kill at any point is repaired by
//! the next round.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Wakeups;
use crate::domain::Username;
use crate::error::FarmError;
use crate::mediawiki::php::Php;
use crate::store::{RightsPending, Store};

/// The farm's script beside the entry file.
pub const RIGHTS_FILE: &str = "farm-rights.php";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// A failed run is tried again after this long (or at the next change).
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub struct RightsSync {
    pub store: Store,
    pub php: Php,
    pub wakeups: Arc<Wakeups>,
}

impl RightsSync {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let failed = match self.round().await {
                Ok(failed) => failed,
                Err(err) => {
                    warn!(error = %err, "cannot read which wikis' administrators need a change; trying again");
                    true
                }
            };
            let wait = if failed { RETRY_AFTER } else { Duration::from_secs(3600) };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wakeups.rights.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Brings every pending wiki up to date; returns whether one of them failed.
    pub async fn round(&self) -> Result<bool, FarmError> {
        let mut failed = false;
        let mut after_failures = BTreeSet::new();
        loop {
            let pending: Vec<RightsPending> = self
                .store
                .rights_pending(100)
                .await?
                .into_iter()
                .filter(|wiki| !after_failures.contains(&wiki.wiki_id))
                .collect();
            if pending.is_empty() {
                return Ok(failed);
            }
            for wiki in pending {
                if let Err(err) = self.sync(&wiki).await {
                    warn!(wiki = %wiki.name, error = %format!("{err:#}"),
                        "cannot bring the wiki's administrators in step with its owner and managers; trying again in 30 s");
                    after_failures.insert(wiki.wiki_id);
                    failed = true;
                }
            }
        }
    }

    async fn sync(&self, wiki: &RightsPending) -> anyhow::Result<()> {
        let key = crate::domain::ResourceKey::parse(&wiki.wiki_key)
            .ok_or_else(|| anyhow::anyhow!("the registry holds a malformed key"))?;
        let name = crate::domain::WikiName::parse(&wiki.name)?;
        let owner = Username::parse(&wiki.owner)?.mediawiki_name();
        let mut wanted = BTreeSet::from([owner.clone()]);
        for manager in self.store.managers(wiki.wiki_id).await? {
            wanted.insert(Username::parse(&manager.username)?.mediawiki_name());
        }
        // Before any run, the farm's administrator is the one the wiki was made with.
        let synced: BTreeSet<String> = match &wiki.rights_synced {
            Some(list) => list.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect(),
            None => BTreeSet::from([owner]),
        };
        let revoke: Vec<&str> = synced.difference(&wanted).map(String::as_str).collect();
        let grant: Vec<&str> = wanted.iter().map(String::as_str).collect();
        // User names have no comma (Username::parse), so the lists cannot be confused.
        let grant_arg = format!("--grant={}", grant.join(","));
        let revoke_arg = format!("--revoke={}", revoke.join(","));
        let output = self
            .php
            .run_farm_file_for_wiki(&key, &name, RIGHTS_FILE, &[&grant_arg, &revoke_arg], SCRIPT_TIMEOUT)
            .await?;
        let wanted_list: Vec<&str> = wanted.iter().map(String::as_str).collect();
        self.store.record_rights(wiki.wiki_id, wiki.rights_wanted, &wanted_list.join(",")).await?;
        for line in output.lines().filter(|line| *line != "ok") {
            info!(wiki = %wiki.name, change = %line, "wiki administrators changed");
        }
        Ok(())
    }
}
