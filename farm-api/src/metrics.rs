//! `GET /metrics`: Prometheus text format, `farm_`-prefixed. Gauges are read from the farm
//! at scrape time (the registry, the pool, the servers), so nothing here can drift.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::OperatorView;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

fn counter(registry: &Registry, name: &str, help: &str, value: u64) -> prometheus::Result<()> {
    let counter = prometheus::IntCounter::new(name, help)?;
    registry.register(Box::new(counter.clone()))?;
    counter.inc_by(value);
    Ok(())
}

async fn gather(state: &AppState) -> anyhow::Result<String> {
    let metrics = state.farm.metrics().await?;
    let registry = Registry::new();
    let wikis = gauge(&registry, "farm_wikis", "Wikis in the registry, by state.", &["state"])?;
    for (wiki_state, count) in metrics.wikis_by_state {
        wikis.with_label_values(&[wiki_state.as_str()]).set(count);
    }
    let labels = ["backend", "server", "language"];
    let ready = gauge(&registry, "farm_pool_ready", "Databases ready in the warm pool.", &labels)?;
    let filling = gauge(&registry, "farm_pool_filling", "Databases being built for the warm pool.", &labels)?;
    let wanted = gauge(&registry, "farm_pool_wanted", "Databases the warm pool keeps ready.", &labels)?;
    for level in metrics.pool {
        let values = [level.backend.as_str(), level.server.as_deref().unwrap_or(""), level.language.as_str()];
        ready.with_label_values(&values).set(level.ready);
        filling.with_label_values(&values).set(level.filling);
        wanted.with_label_values(&values).set(i64::try_from(level.wanted).unwrap_or(i64::MAX));
    }
    let up = gauge(&registry, "farm_database_server_up", "1 when the MariaDB server answers.", &["server"])?;
    let draining =
        gauge(&registry, "farm_database_server_draining", "1 when the server takes no new wikis.", &["server"])?;
    for (server, answers, is_draining) in metrics.servers {
        up.with_label_values(&[server.as_str()]).set(i64::from(answers));
        draining.with_label_values(&[server.as_str()]).set(i64::from(is_draining));
    }
    let php = prometheus::IntGauge::new("farm_php_servers_ready", "PHP servers ready to serve wikis.")?;
    registry.register(Box::new(php.clone()))?;
    php.set(i64::try_from(metrics.php_servers_ready).unwrap_or(i64::MAX));
    let age = gauge(
        &registry,
        "farm_backup_last_good_age_seconds",
        "Seconds since each served wiki's last verified backup finished (wikis without one have no sample).",
        &["wiki"],
    )?;
    for (wiki, seconds) in metrics.backup_ages {
        age.with_label_values(&[wiki.as_str()]).set(seconds);
    }
    let failures = prometheus::IntCounter::new("farm_backup_failures_total", "Backups that failed.")?;
    registry.register(Box::new(failures.clone()))?;
    failures.inc_by(u64::try_from(metrics.backup_failures).unwrap_or(0));

    let runs = gauge(&registry, "farm_maintenance_runs", "Maintenance runs, by state.", &["state"])?;
    for (run_state, count) in &metrics.maintenance.runs {
        runs.with_label_values(&[run_state.as_str()]).set(*count);
    }
    let run_wikis = gauge(
        &registry,
        "farm_maintenance_run_wikis",
        "Wikis of each queued or running maintenance run, by state (pending, running, done, failed, timed_out, ...).",
        &["run", "script", "state"],
    )?;
    for (run, script, wiki_state, count) in &metrics.maintenance.wikis {
        run_wikis.with_label_values(&[run.to_string().as_str(), script.as_str(), wiki_state.as_str()]).set(*count);
    }
    counter(
        &registry,
        "farm_maintenance_wiki_failures_total",
        "Wikis whose maintenance script failed, timed out or was interrupted.",
        u64::try_from(metrics.maintenance.failures).unwrap_or(0),
    )?;
    let jobs = &metrics.job_queues;
    if jobs.enabled {
        let queued = prometheus::IntGauge::new("farm_jobs_queued", "Jobs waiting in all wikis' job queues.")?;
        registry.register(Box::new(queued.clone()))?;
        queued.set(jobs.queued);
        let wikis = prometheus::IntGauge::new("farm_jobs_wikis_with_jobs", "Wikis with jobs waiting.")?;
        registry.register(Box::new(wikis.clone()))?;
        wikis.set(i64::try_from(jobs.wikis_with_jobs).unwrap_or(i64::MAX));
        let length = gauge(
            &registry,
            "farm_job_queue_length",
            "Jobs waiting in a wiki's queue, for the 50 wikis with the longest queues.",
            &["wiki"],
        )?;
        for (wiki, count) in &jobs.longest {
            length.with_label_values(&[wiki.as_str()]).set(*count);
        }
        counter(&registry, "farm_jobs_run_total", "Jobs the background runner ran.", jobs.jobs_done)?;
        counter(&registry, "farm_jobs_failed_total", "Jobs that failed in the background runner.", jobs.jobs_failed)?;
        counter(&registry, "farm_job_queue_turns_total", "Turns of wikis' job queues (runJobs.php runs).", jobs.turns)?;
        counter(
            &registry,
            "farm_job_queue_turn_failures_total",
            "Turns whose runJobs.php failed or timed out.",
            jobs.turn_failures,
        )?;
    }
    let cache = state.farm.read_cache_stats();
    let read = farm_core::platform::read_cache::ReadCacheStats::read;
    counter(
        &registry,
        "farm_read_cache_hits_total",
        "Wiki requests answered from farmd's read cache.",
        read(&cache.hits),
    )?;
    counter(
        &registry,
        "farm_read_cache_misses_total",
        "Cacheable wiki requests that went to PHP (stored if the answer allowed it).",
        read(&cache.misses),
    )?;
    counter(
        &registry,
        "farm_read_cache_passes_total",
        "Wiki requests not for the cache (a session or sign-on cookie, a POST...).",
        read(&cache.passes),
    )?;
    counter(&registry, "farm_read_cache_purges_total", "PURGE requests taken from MediaWiki.", read(&cache.purges))?;
    let bytes = prometheus::IntGauge::new("farm_read_cache_bytes", "What farmd's read cache holds, in bytes.")?;
    registry.register(Box::new(bytes.clone()))?;
    bytes.set(i64::try_from(read(&cache.bytes)).unwrap_or(i64::MAX));
    let entries = prometheus::IntGauge::new("farm_read_cache_entries", "URLs in farmd's read cache.")?;
    registry.register(Box::new(entries.clone()))?;
    entries.set(i64::try_from(read(&cache.entries)).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8(out)?)
}

/// Prometheus metrics (no token): wikis by state, pool levels, database servers, PHP servers,
/// the age of each wiki's last good backup and failed backups, maintenance runs, the job
/// queues and the wiki proxy's read cache.
#[utoipa::path(
    get, path = "/metrics", tag = "farm",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: `[operator]` keeps the metrics for admins", body = crate::error::ErrorBody),
    )
)]
async fn metrics(State(state): State<AppState>, OperatorView(operator): OperatorView) -> Response {
    if !operator {
        return ApiError::Unauthorized {
            code: "unauthorized",
            message: "the farm's metrics need an admin's token here (see [operator] in the configuration)",
        }
        .into_response();
    }
    match gather(&state).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "cannot gather metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
