//! Every active wiki's job queue, run in the background, so that jobs (links tables and
//! category members after an edit, cache purges, notifications) do not wait for page views:
//! with this runner on, MediaWiki runs none during web requests (`$wgJobRunRate = 0`).
//!
//! Fair and bounded: every `poll_interval` the queues are counted (a SQLite wiki's only when
//! its job queue file changed or it had jobs, a MariaDB server's wikis a hundred to a query),
//! and the wikis with queued jobs take turns, round-robin, `workers` at a time: one
//! `runJobs.php --maxjobs N --maxtime S` each, then to the back of the line if jobs remain. A
//! wiki whose turn ran nothing (its jobs cannot run now) waits a minute before its next turn,
//! and a wiki a maintenance script works on is passed over until it is done.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{ScriptLocks, Wakeups};
use crate::backends::FarmDatabases;
use crate::config::JobsConfig;
use crate::domain::{Backend, ResourceKey};
use crate::mediawiki::maintenance::jobs_run;
use crate::mediawiki::php::{Opcache, Php, ScriptEnd, ScriptLimits};
use crate::store::{JobQueueWiki, Store};

/// How long a wiki whose turn made no progress waits for its next.
const NO_PROGRESS_BACKOFF: Duration = Duration::from_secs(60);
/// A turn's time-out beyond its `--maxtime` (MediaWiki finishes the job it is in).
const TURN_GRACE: Duration = Duration::from_secs(120);

/// What the runner knows of the queues, for the metrics.
#[derive(Debug, Default)]
pub struct QueueStatus {
    /// Queued jobs per wiki with any (wiki id → (name, jobs)), as last counted.
    lengths: Mutex<HashMap<i64, (String, i64)>>,
    pub turns: AtomicU64,
    pub jobs_done: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub turn_failures: AtomicU64,
}

impl QueueStatus {
    /// (wiki, queued jobs) of the `limit` longest queues, longest first, and the total and
    /// number of wikis with queued jobs.
    pub fn longest(&self, limit: usize) -> (Vec<(String, i64)>, i64, usize) {
        let lengths = self.lengths.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(String, i64)> = lengths.values().filter(|(_, n)| *n > 0).cloned().collect();
        let total = all.iter().map(|(_, n)| n).sum();
        let wikis = all.len();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(limit);
        (all, total, wikis)
    }

    fn set(&self, wiki: &JobQueueWiki, jobs: i64) {
        let mut lengths = self.lengths.lock().unwrap_or_else(|e| e.into_inner());
        if jobs > 0 {
            lengths.insert(wiki.id, (wiki.name.clone(), jobs));
        } else {
            lengths.remove(&wiki.id);
        }
    }

    fn keep_only(&self, ids: &HashSet<i64>) {
        self.lengths.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| ids.contains(id));
    }
}

pub struct JobQueues {
    pub store: Store,
    pub php: Php,
    pub databases: Arc<FarmDatabases>,
    pub locks: Arc<ScriptLocks>,
    pub status: Arc<QueueStatus>,
    pub wakeups: Arc<Wakeups>,
    pub config: JobsConfig,
    /// Each wiki's jobs run on its own codebase.
    pub codebases: crate::mediawiki::Codebases,
    pub opcache: Option<Opcache>,
}

/// The runner's view between polls.
#[derive(Default)]
struct Queues {
    /// Wikis with queued jobs, in turn order (none twice, none that is running).
    line: VecDeque<i64>,
    wikis: HashMap<i64, JobQueueWiki>,
    running: HashSet<i64>,
    /// A SQLite wiki's job queue file as last seen, and its count then.
    seen: HashMap<i64, ((SystemTime, u64), i64)>,
    not_before: HashMap<i64, Instant>,
}

impl Queues {
    fn enqueue(&mut self, id: i64) {
        if !self.running.contains(&id) && !self.line.contains(&id) {
            self.line.push_back(id);
        }
    }
}

impl JobQueues {
    pub async fn run(self, shutdown: CancellationToken) {
        if !self.config.enabled {
            return;
        }
        let this = Arc::new(self);
        let mut queues = Queues::default();
        let mut turns: JoinSet<(i64, u64, Option<i64>)> = JoinSet::new();
        let mut next_poll = Instant::now();
        loop {
            if Instant::now() >= next_poll {
                if let Err(err) = this.poll(&mut queues).await {
                    warn!(error = %format!("{err:#}"), "cannot count the wikis' job queues");
                }
                next_poll = Instant::now() + this.config.poll_interval;
            }
            this.start_turns(&mut queues, &mut turns);
            tokio::select! {
                Some(joined) = turns.join_next(), if !turns.is_empty() => {
                    if let Ok((id, ran, left)) = joined {
                        Self::after_turn(&mut queues, id, ran, left);
                    }
                }
                _ = tokio::time::sleep_until(next_poll.into()) => {}
                _ = this.wakeups.job_queues.notified() => next_poll = Instant::now(),
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Counts the queues of every active wiki (SQLite files that did not change since they
    /// were last counted empty are not opened) and puts those with jobs in line.
    async fn poll(&self, queues: &mut Queues) -> anyhow::Result<()> {
        let wikis = self.store.job_queue_wikis().await?;
        let ids: HashSet<i64> = wikis.iter().map(|w| w.id).collect();
        queues.wikis.retain(|id, _| ids.contains(id));
        queues.seen.retain(|id, _| ids.contains(id));
        queues.line.retain(|id| ids.contains(id));
        self.status.keep_only(&ids);
        let mut by_server: HashMap<String, Vec<(JobQueueWiki, ResourceKey)>> = HashMap::new();
        for wiki in wikis {
            let Some(key) = ResourceKey::parse(&wiki.key) else { continue };
            match (wiki.backend, wiki.server.clone()) {
                (Backend::Sqlite, _) => {
                    let Some(signature) = self.databases.sqlite.job_queue_signature(&key) else { continue };
                    let unchanged =
                        queues.seen.get(&wiki.id).is_some_and(|(seen, jobs)| *seen == signature && *jobs == 0);
                    if !unchanged {
                        match self.databases.sqlite.queued_jobs(&key).await {
                            Ok(jobs) => {
                                queues.seen.insert(wiki.id, (signature, jobs));
                                self.found(queues, wiki, jobs);
                            }
                            Err(err) => {
                                debug!(wiki = %wiki.name, error = %format!("{err:#}"), "cannot count queued jobs")
                            }
                        }
                    }
                }
                (Backend::Mariadb, Some(server)) => by_server.entry(server).or_default().push((wiki, key)),
                (Backend::Mariadb, None) => {}
            }
        }
        for (server, wikis) in by_server {
            let Some(server) = self.databases.servers.get(&server).filter(|s| s.is_healthy()).cloned() else {
                continue;
            };
            let keys: Vec<ResourceKey> = wikis.iter().map(|(_, key)| key.clone()).collect();
            let counts: HashMap<ResourceKey, i64> = server.queued_jobs(&keys).await?.into_iter().collect();
            for (wiki, key) in wikis {
                if let Some(jobs) = counts.get(&key) {
                    self.found(queues, wiki, *jobs);
                }
            }
        }
        Ok(())
    }

    fn found(&self, queues: &mut Queues, wiki: JobQueueWiki, jobs: i64) {
        self.status.set(&wiki, jobs);
        let id = wiki.id;
        queues.wikis.insert(id, wiki);
        if jobs > 0 {
            queues.enqueue(id);
        }
    }

    /// Gives the next wikis in line their turn, up to `workers` at a time.
    fn start_turns(self: &Arc<Self>, queues: &mut Queues, turns: &mut JoinSet<(i64, u64, Option<i64>)>) {
        let now = Instant::now();
        let mut passed_over = Vec::new();
        while turns.len() < self.config.workers {
            let Some(id) = queues.line.pop_front() else { break };
            let Some(wiki) = queues.wikis.get(&id).cloned() else { continue };
            if queues.not_before.get(&id).is_some_and(|t| *t > now) {
                passed_over.push(id);
                continue;
            }
            // A maintenance script works on it: its turn comes at a later poll.
            let Some(guard) = self.locks.try_lock(id) else { continue };
            queues.running.insert(id);
            let this = self.clone();
            turns.spawn(async move {
                let (ran, left) = this.turn(&wiki).await;
                drop(guard);
                (id, ran, left)
            });
        }
        queues.line.extend(passed_over);
    }

    /// One turn: `runJobs.php` for the wiki, then its queue counted again. The jobs it ran,
    /// and how many are left (if that could be counted).
    async fn turn(&self, wiki: &JobQueueWiki) -> (u64, Option<i64>) {
        self.status.turns.fetch_add(1, Ordering::Relaxed);
        let args = [
            "--maxjobs".to_owned(),
            self.config.max_jobs.to_string(),
            "--maxtime".to_owned(),
            self.config.max_time.as_secs().max(1).to_string(),
        ];
        let codebase = self.codebases.serving(&wiki.codebase);
        let php = self.php.on(&codebase);
        let script = codebase.dir.join("maintenance/runJobs.php");
        let limits = ScriptLimits { timeout: self.config.max_time + TURN_GRACE, opcache: self.opcache.clone() };
        let mut jobs_ran = 0;
        match php.run_script(&script, &wiki.name, &args, &limits, &CancellationToken::new()).await {
            Ok(ran) => {
                let (good, failed) = jobs_run(&ran.output);
                jobs_ran = good + failed;
                self.status.jobs_done.fetch_add(good, Ordering::Relaxed);
                self.status.jobs_failed.fetch_add(failed, Ordering::Relaxed);
                if ran.end != ScriptEnd::Exited(0) {
                    self.status.turn_failures.fetch_add(1, Ordering::Relaxed);
                    warn!(wiki = %wiki.name, end = ?ran.end, "a job queue turn failed");
                } else {
                    debug!(wiki = %wiki.name, jobs = good, failed, ms = ran.duration.as_millis() as u64, "job queue turn");
                }
            }
            Err(err) => {
                self.status.turn_failures.fetch_add(1, Ordering::Relaxed);
                warn!(wiki = %wiki.name, error = %format!("{err:#}"), "cannot run the wiki's job queue");
            }
        }
        let left = self.count(wiki).await;
        if let Some(left) = left {
            self.status.set(wiki, left);
        }
        (jobs_ran, left)
    }

    /// The wiki's queued jobs now.
    async fn count(&self, wiki: &JobQueueWiki) -> Option<i64> {
        let key = ResourceKey::parse(&wiki.key)?;
        match (wiki.backend, &wiki.server) {
            (Backend::Sqlite, _) => self.databases.sqlite.queued_jobs(&key).await.ok(),
            (Backend::Mariadb, Some(server)) => {
                let server = self.databases.servers.get(server)?.clone();
                server.queued_jobs(std::slice::from_ref(&key)).await.ok()?.first().map(|(_, n)| *n)
            }
            (Backend::Mariadb, None) => None,
        }
    }

    /// Back in line if jobs remain; a wait first if the turn ran none of them.
    fn after_turn(queues: &mut Queues, id: i64, ran: u64, left: Option<i64>) {
        queues.running.remove(&id);
        // Counted again at the next poll (its file changed).
        queues.seen.remove(&id);
        match left {
            Some(0) => {
                queues.not_before.remove(&id);
            }
            Some(_) if ran > 0 => {
                queues.not_before.remove(&id);
                queues.enqueue(id);
            }
            Some(_) | None => {
                queues.not_before.insert(id, Instant::now() + NO_PROGRESS_BACKOFF);
                queues.enqueue(id);
            }
        }
    }
}
