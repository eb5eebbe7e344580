//! Bans in the operator's caches (`[cache] purge`, Varnish with deploy/varnish/farmd.vcl): when
//! how a wiki is served changes, every page of it that a cache keeps goes.
//!
//! MediaWiki purges a page when it is edited, but sends nothing when the wiki itself changes:
//! turned private, given other settings, made read-only, upgraded, renamed, deleted or restored.
//! All of those change the wiki's folder (a shard or marker replaced, its host link made or
//! removed), so its modification time is the one sign farmd watches, as its own cache does
//! ([`Layout::served_stamp`]). A change of the farm's PHP files (a farmd upgrade,
//! new farm-wide defaults) bans every wiki.
//!
//! - A settings change bans at once, before the API answers ([`CdnBans::sweep`] from the
//!   Configurator); the rest is found by a sweep every second.
//! - A page a cache fetched while the change happened may be stored just after the ban, with
//!   what the wiki was before: each ban is sent again later, until the slowest answer a cache
//!   takes is over (what MediaWiki's `$wgCdnReboundPurgeDelay` does for edits).
//! - A cache that does not answer is asked again every sweep.
//! - Crash safety: a marker file records when every ban owed had been taken. At start, each wiki
//!   changed since then is banned again, so a kill between a change and its ban loses nothing.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::domain::WikiName;
use crate::platform::layout::Layout;

/// How often the wikis' folders are looked at.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// When a ban is sent again after the first: soon (most pages render in well under a second),
/// then past the recipe's Varnish `first_byte_timeout` (120 s), after which no page fetched
/// before the change can be stored.
const REBOUNDS: [Duration; 3] = [Duration::from_secs(2), Duration::from_secs(15), Duration::from_secs(125)];
/// How long one cache may take to answer a ban.
const BAN_TIMEOUT: Duration = Duration::from_secs(2);
/// What a ban is for when it is for every wiki (sent with the portal's host, the base domain).
const EVERY_WIKI: &str = "";

pub struct CdnBans {
    layout: Layout,
    base_domain: String,
    caches: Vec<SocketAddr>,
    http: reqwest::Client,
    state: tokio::sync::Mutex<Sweep>,
}

#[derive(Default)]
struct Sweep {
    /// Each served wiki's folder stamp, and the farm files' (under [`EVERY_WIKI`]), at the last
    /// sweep; `None` before the first.
    seen: Option<HashMap<String, SystemTime>>,
    /// Bans to send: the wiki (or [`EVERY_WIKI`]), and when.
    owed: Vec<(String, Instant)>,
    /// A ban was sent since the marker was last written.
    marker_behind: bool,
    /// Caches that did not take the last ban sent to them (told once in the log).
    failing: HashSet<SocketAddr>,
}

impl CdnBans {
    /// The bans for the caches `[cache] purge` names; none without any.
    pub fn new(layout: Layout, base_domain: &str, caches: &[SocketAddr]) -> anyhow::Result<Option<Arc<Self>>> {
        if caches.is_empty() {
            return Ok(None);
        }
        // Only ever loopback or the operator's own caches: never through a proxy.
        let http = reqwest::Client::builder().no_proxy().timeout(BAN_TIMEOUT).user_agent("farmd").build()?;
        Ok(Some(Arc::new(Self {
            layout,
            base_domain: base_domain.to_ascii_lowercase(),
            caches: caches.to_vec(),
            http,
            state: tokio::sync::Mutex::default(),
        })))
    }

    /// Sweeps every second until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            self.sweep().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            }
        }
    }

    /// Bans every wiki whose folder changed since the last sweep, and the bans owed by now.
    pub async fn sweep(&self) {
        let mut state = self.state.lock().await;
        let started = SystemTime::now();
        let stamps = self.stamps();
        let now = Instant::now();
        let changed: Vec<String> = match &state.seen {
            Some(seen) => {
                let keys: HashSet<&String> = seen.keys().chain(stamps.keys()).collect();
                keys.into_iter().filter(|key| seen.get(*key) != stamps.get(*key)).cloned().collect()
            }
            // The first sweep: whatever changed since every ban had been taken (all, if never).
            None => {
                let marker = modified(&self.marker());
                stamps.iter().filter(|(_, stamp)| marker.is_none_or(|m| **stamp >= m)).map(|(k, _)| k.clone()).collect()
            }
        };
        // Every wiki's ban makes the single ones redundant.
        let changed = if changed.iter().any(|k| k == EVERY_WIKI) { vec![EVERY_WIKI.to_owned()] } else { changed };
        for key in changed {
            state.owed.push((key.clone(), now));
            state.owed.extend(REBOUNDS.iter().map(|delay| (key.clone(), now + *delay)));
        }
        state.seen = Some(stamps);

        let mut due: Vec<String> = state.owed.iter().filter(|(_, at)| *at <= now).map(|(k, _)| k.clone()).collect();
        due.sort();
        due.dedup();
        state.owed.retain(|(_, at)| *at > now);
        if due.iter().any(|k| k == EVERY_WIKI) {
            due.retain(|k| k == EVERY_WIKI);
        }
        // A cache that fails once is not asked again in this sweep: a settings change waits on
        // this sweep, and a cache that is down must not cost it a time-out per wiki.
        let mut down = HashSet::new();
        for key in due {
            if !self.ban(&key, &mut state.failing, &mut down).await {
                state.owed.push((key, now + SWEEP_INTERVAL));
            }
            state.marker_behind = true;
        }
        // Nothing owed that a crash now would lose: a restart need only ban what changes next.
        if state.marker_behind && state.owed.is_empty() {
            match write_marker(&self.marker(), started) {
                Ok(()) => state.marker_behind = false,
                Err(err) => warn!(error = %err, "cannot record the caches' bans; a restart bans these wikis again"),
            }
        }
    }

    /// Each served wiki's folder stamp (through its host link), and the farm files'.
    fn stamps(&self) -> HashMap<String, SystemTime> {
        let mut stamps = HashMap::new();
        if let Some(stamp) = modified(&self.layout.farm_files_dir()) {
            stamps.insert(EVERY_WIKI.to_owned(), stamp);
        }
        let Ok(links) = std::fs::read_dir(self.layout.hosts_dir()) else { return stamps };
        for link in links.flatten() {
            let Some(name) = link.file_name().to_str().and_then(|n| WikiName::parse(n).ok()) else { continue };
            if let Some(stamp) = self.layout.served_stamp(&name) {
                stamps.insert(name.as_str().to_owned(), stamp);
            }
        }
        stamps
    }

    fn marker(&self) -> std::path::PathBuf {
        self.layout.cdn_bans_marker()
    }

    /// Sends one ban to every cache not `down`; whether all took it.
    async fn ban(&self, key: &str, failing: &mut HashSet<SocketAddr>, down: &mut HashSet<SocketAddr>) -> bool {
        let host = if key == EVERY_WIKI { self.base_domain.clone() } else { format!("{key}.{}", self.base_domain) };
        let wiki = if key == EVERY_WIKI { "every wiki" } else { key };
        let mut all = true;
        for cache in &self.caches {
            if down.contains(cache) {
                all = false;
                continue;
            }
            let sent = self
                .http
                .request(reqwest::Method::from_bytes(b"BAN").expect("a method name"), format!("http://{cache}/"))
                .header(reqwest::header::HOST, &host)
                .send()
                .await;
            let error = match sent {
                Ok(answer) if answer.status().is_success() => None,
                Ok(answer) => Some(format!("it answered {}", answer.status())),
                Err(err) => Some(err.to_string()),
            };
            match error {
                None if failing.remove(cache) => info!(cache = %cache, "the cache takes bans again"),
                None => {}
                Some(error) => {
                    all = false;
                    down.insert(*cache);
                    if failing.insert(*cache) {
                        warn!(
                            cache = %cache, wiki, error = %error,
                            "cannot ban a wiki's pages in the cache: its anonymous readers may get pages from before \
                             its settings, privacy or address changed, for up to [cache] max_age; check that the cache \
                             runs deploy/varnish/farmd.vcl and listens at this [cache] purge address (asked again every second)"
                        );
                    }
                }
            }
        }
        all
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The marker, with the time of the sweep that took every ban owed.
fn write_marker(path: &Path, taken: SystemTime) -> std::io::Result<()> {
    crate::platform::fsutil::write_atomic(path, b"", 0o600)?;
    std::fs::File::options().write(true).open(path)?.set_modified(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::sync::Mutex;

    /// A cache on loopback that answers every request 200 and keeps its first line and Host.
    fn cache() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let (mut first, mut host) = (String::new(), String::new());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if first.is_empty() {
                        first = line.trim().to_owned();
                    } else if let Some(value) = line.to_ascii_lowercase().strip_prefix("host:") {
                        host = value.trim().to_owned();
                    }
                    line.clear();
                }
                kept.lock().expect("lock").push(format!("{first} {host}"));
                let mut stream = stream;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        (addr, seen)
    }

    /// The hosts banned since the last look, each asserted to be a `BAN /`.
    fn hosts(seen: &Mutex<Vec<String>>) -> Vec<String> {
        let requests: Vec<String> = seen.lock().expect("lock").drain(..).collect();
        let mut hosts: Vec<String> = requests
            .iter()
            .map(|request| request.strip_prefix("BAN / HTTP/1.1 ").unwrap_or_else(|| panic!("{request}")).to_owned())
            .collect();
        hosts.sort();
        hosts
    }

    #[tokio::test]
    async fn a_changed_folder_or_host_link_bans_that_wiki_and_a_restart_bans_what_a_crash_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path()).expect("layout");
        for key in ["k1", "k2"] {
            std::fs::create_dir_all(layout.wikis_dir().join(key)).expect("mkdir");
        }
        std::os::unix::fs::symlink("../wikis/k1", layout.hosts_dir().join("alpha")).expect("link");
        std::os::unix::fs::symlink("../wikis/k2", layout.hosts_dir().join("beta")).expect("link");
        let (addr, seen) = cache();
        let bans = CdnBans::new(layout.clone(), "Farm.Test", &[addr]).expect("client").expect("bans");

        // Never banned before: every wiki (one ban for all) at the first sweep.
        bans.sweep().await;
        assert_eq!(hosts(&seen), ["farm.test"]);
        bans.sweep().await;
        assert!(hosts(&seen).is_empty(), "nothing changed");

        // A shard replaced in beta's folder; alpha deleted (its host link goes). Both are sent
        // again later, for pages fetched while they changed.
        let change = |text: &str| {
            std::thread::sleep(Duration::from_millis(50));
            // As the Configurator does: a new file renamed in.
            let shard = layout.wikis_dir().join("k2/LocalSettings.php");
            crate::platform::fsutil::write_atomic(&shard, text.as_bytes(), 0o640).expect("write");
        };
        change("<?php // 1");
        std::fs::remove_file(layout.hosts_dir().join("alpha")).expect("unlink");
        bans.sweep().await;
        assert_eq!(hosts(&seen), ["alpha.farm.test", "beta.farm.test"]);
        let rebounds =
            bans.state.lock().await.owed.iter().filter(|(key, at)| key == "beta" && *at > Instant::now()).count();
        assert_eq!(rebounds, REBOUNDS.len());

        // Every ban taken, then beta changes and farmd is killed before its sweep: the next
        // farmd bans beta, and only beta.
        write_marker(&bans.marker(), SystemTime::now()).expect("marker");
        change("<?php // 2");
        let restarted = CdnBans::new(layout.clone(), "farm.test", &[addr]).expect("client").expect("bans");
        restarted.sweep().await;
        assert_eq!(hosts(&seen), ["beta.farm.test"]);
        std::thread::sleep(Duration::from_millis(50));
        write_marker(&restarted.marker(), SystemTime::now()).expect("marker");
        let again = CdnBans::new(layout, "farm.test", &[addr]).expect("client").expect("bans");
        again.sweep().await;
        assert!(hosts(&seen).is_empty(), "nothing changed since the marker");
    }

    /// A cache that takes connections and never answers, and how many it took.
    fn silent_cache() -> (SocketAddr, Arc<Mutex<usize>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let count = Arc::new(Mutex::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                *counted.lock().expect("lock") += 1;
                held.push(stream);
            }
        });
        (addr, count)
    }

    #[tokio::test]
    async fn a_cache_that_does_not_answer_is_asked_once_a_sweep_and_again_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path()).expect("layout");
        let (silent, connections) = silent_cache();
        let bans = CdnBans::new(layout.clone(), "farm.test", &[silent]).expect("client").expect("bans");
        // Every ban taken an hour from now: nothing is owed at the first sweep.
        write_marker(&bans.marker(), SystemTime::now() + Duration::from_secs(3600)).expect("marker");
        bans.sweep().await;
        assert_eq!(*connections.lock().expect("lock"), 0);

        // Two wikis appear; the cache times out on the first ban and is not asked for the second.
        for (name, key) in [("alpha", "k1"), ("beta", "k2")] {
            std::fs::create_dir_all(layout.wikis_dir().join(key)).expect("mkdir");
            std::os::unix::fs::symlink(format!("../wikis/{key}"), layout.hosts_dir().join(name)).expect("link");
        }
        bans.sweep().await;
        assert_eq!(*connections.lock().expect("lock"), 1, "one time-out a sweep");
        {
            let state = bans.state.lock().await;
            for wiki in ["alpha", "beta"] {
                let retry = Instant::now() + SWEEP_INTERVAL;
                assert!(state.owed.iter().any(|(key, at)| key == wiki && *at <= retry), "{wiki} asked again");
            }
            assert!(state.failing.contains(&silent) && state.marker_behind);
        }
        let marker = modified(&bans.marker()).expect("marker");
        assert!(marker > SystemTime::now(), "a ban not taken is not recorded as taken");
    }
}
