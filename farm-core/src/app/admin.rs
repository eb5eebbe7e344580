//! What operators see: health, metrics, the database servers, the pool, the audit log and
//! the admin overview.

use serde::Serialize;

use super::{page_size, Farm, Page, Readiness};
use crate::backends::mariadb::ServerStatus;
use crate::domain::{permissions, Actor};
use crate::error::FarmError;
use crate::jobs::pool::PoolLevel;
use crate::store::{AuditFilter, AuditRecord};

/// `/healthz`: ready or not, and what operators should see besides.
#[derive(Debug, Serialize)]
pub struct Health {
    pub ready: bool,
    pub readiness: Readiness,
    pub control_store: bool,
    pub mediawiki_version: String,
    pub mail_on: bool,
    pub mail_queued: Option<i64>,
    pub policy: crate::domain::FarmMode,
}

/// The numbers behind `/metrics`, read at scrape time so nothing can drift.
#[derive(Debug)]
pub struct Metrics {
    pub wikis_by_state: Vec<(String, i64)>,
    pub pool: Vec<PoolLevel>,
    /// (server, answers, draining)
    pub servers: Vec<(String, bool, bool)>,
    pub php_servers_ready: usize,
    /// (wiki, seconds since its last verified backup finished), for served wikis that have one.
    pub backup_ages: Vec<(String, i64)>,
    /// Backups that failed, ever.
    pub backup_failures: i64,
    /// Maintenance runs, their wikis and the job queues.
    pub maintenance: crate::store::MaintenanceMetricRows,
    pub job_queues: JobQueueMetrics,
}

/// The job queues as the background runner last counted them.
#[derive(Debug, Default)]
pub struct JobQueueMetrics {
    /// Whether farmd runs them ([jobs] enabled).
    pub enabled: bool,
    /// (wiki, queued jobs) of the longest queues (at most [`QUEUES_LISTED`]).
    pub longest: Vec<(String, i64)>,
    pub queued: i64,
    pub wikis_with_jobs: usize,
    pub turns: u64,
    pub jobs_done: u64,
    pub jobs_failed: u64,
    pub turn_failures: u64,
}

/// How many wikis' queue lengths the metrics name (the longest), so the labels stay bounded.
pub const QUEUES_LISTED: usize = 50;

/// The admins' overview page.
#[derive(Debug)]
pub struct Overview {
    pub wikis_by_state: Vec<(String, i64)>,
    pub servers: Vec<ServerStatus>,
    pub pool: Vec<PoolLevel>,
    pub recent_audit: Vec<AuditRecord>,
    pub mail_on: bool,
    pub mail_queued: i64,
}

/// Filters of the audit log, as a caller gives them (checked by [`Farm::audit_log`]).
#[derive(Debug, Default)]
pub struct AuditQuery<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    /// RFC 3339 times: entries at or after `since`, before `until`.
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    /// The `next_cursor` of the previous page: entries older than it.
    pub before: Option<&'a str>,
    pub limit: Option<u32>,
}

const FILTER_MAX_LEN: usize = 200;

impl Farm {
    /// Health for anyone (no token): readiness and operational details without secrets.
    pub async fn health(&self) -> Health {
        let readiness = self.readiness();
        let control_store = self.store.ping().await.is_ok();
        Health {
            ready: readiness.is_ready() && control_store,
            readiness,
            control_store,
            mediawiki_version: self.codebase.version.clone(),
            mail_on: self.mail_on,
            mail_queued: self.store.unsent_mail_count().await.ok(),
            policy: self.config.policy,
        }
    }

    pub async fn metrics(&self) -> Result<Metrics, FarmError> {
        Ok(Metrics {
            wikis_by_state: self.store.wiki_counts_by_state().await?,
            pool: self.pool_plan.levels(&self.store).await?,
            servers: self
                .servers
                .all()
                .iter()
                .map(|s| (s.name().to_owned(), s.is_healthy(), s.config.draining))
                .collect(),
            php_servers_ready: self.php_servers().map_or(0, |s| s.ready_count()),
            backup_ages: {
                let now = crate::platform::time::now();
                self.store
                    .last_good_backups()
                    .await?
                    .into_iter()
                    .filter_map(|b| b.finished_at.map(|t| (b.wiki, now.saturating_sub(t).max(0))))
                    .collect()
            },
            backup_failures: self.store.failed_backup_count().await?,
            maintenance: self.store.maintenance_metrics().await?,
            job_queues: {
                use std::sync::atomic::Ordering::Relaxed;
                let status = &self.job_queues;
                let (longest, queued, wikis_with_jobs) = status.longest(QUEUES_LISTED);
                JobQueueMetrics {
                    enabled: self.config.jobs.enabled,
                    longest,
                    queued,
                    wikis_with_jobs,
                    turns: status.turns.load(Relaxed),
                    jobs_done: status.jobs_done.load(Relaxed),
                    jobs_failed: status.jobs_failed.load(Relaxed),
                    turn_failures: status.turn_failures.load(Relaxed),
                }
            },
        })
    }

    /// The warm pool's levels (admins only).
    pub async fn pool_levels(&self, actor: &Actor) -> Result<Vec<PoolLevel>, FarmError> {
        permissions::see_farm(actor)?;
        Ok(self.pool_plan.levels(&self.store).await?)
    }

    /// Every database server with its health, wiki count and size (admins only).
    pub async fn server_statuses(&self, actor: &Actor) -> Result<Vec<ServerStatus>, FarmError> {
        permissions::see_farm(actor)?;
        let counts = self.store.wiki_counts_by_server().await?;
        let mut statuses = Vec::new();
        for server in self.servers.all() {
            let count = counts.iter().find(|(n, _)| n == server.name()).map_or(0, |(_, c)| *c);
            statuses.push(server.status(count).await);
        }
        Ok(statuses)
    }

    /// The audit log, newest first (admins only).
    pub async fn audit_log(&self, actor: &Actor, query: &AuditQuery<'_>) -> Result<Page<AuditRecord>, FarmError> {
        permissions::read_audit_log(actor)?;
        let limit = page_size(query.limit)?;
        if [query.actor, query.action, query.target].iter().flatten().any(|v| v.len() > FILTER_MAX_LEN) {
            return Err(FarmError::bad_request(
                "invalid_query",
                format!("filter values have at most {FILTER_MAX_LEN} characters"),
            ));
        }
        let time = |field: &str, value: Option<&str>| {
            value
                .map(|v| {
                    crate::platform::time::parse_rfc3339(v).ok_or_else(|| {
                        FarmError::bad_request(
                            "invalid_time",
                            format!("{field} must be an RFC 3339 time such as 2026-01-31T12:00:00Z"),
                        )
                    })
                })
                .transpose()
        };
        let before = super::parse_cursor(query.before)?;
        let filter = AuditFilter {
            actor: query.actor,
            action: query.action,
            target: query.target,
            since: time("since", query.since)?,
            until: time("until", query.until)?,
            before_id: before,
            limit: limit + 1,
        };
        let entries = self.store.audit_entries(&filter).await?;
        Ok(Page::from_rows(entries, limit, |e| e.id))
    }

    /// The admins' overview: wikis by state, servers, pool, mail, recent audit entries.
    pub async fn overview(&self, actor: &Actor) -> Result<Overview, FarmError> {
        permissions::see_farm(actor)?;
        let filter = AuditFilter { limit: 20, ..Default::default() };
        Ok(Overview {
            wikis_by_state: self.store.wiki_counts_by_state().await?,
            servers: self.server_statuses(actor).await?,
            pool: self.pool_levels(actor).await?,
            recent_audit: self.store.audit_entries(&filter).await?,
            mail_on: self.mail_on,
            mail_queued: self.store.unsent_mail_count().await?,
        })
    }
}
