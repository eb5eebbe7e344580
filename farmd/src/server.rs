//! The composition root: `farmd serve` opens the farm, starts its jobs in their order
//! ([`farm_core::jobs::Jobs::start`]), puts the HTTP application together (the wiki proxy in
//! front, then the API and the portal) and serves it until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::Request;
use axum::{middleware, Router};
use farm_core::platform::layout::Layout;
use farm_core::{Config, Farm};
use farm_http::proxy::WikiProxy;
use farm_http::{request_id, security};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;
use tracing::{error, info, warn};

/// The whole application: wiki hosts to MediaWiki, everything else to the API and portal.
pub fn app(farm: Arc<Farm>) -> Router {
    let api_and_portal = farm_api::router(farm.clone())
        .merge(farm_web::router().with_state(farm.clone()))
        .layer(middleware::from_fn(security::clear_tossed_cookies));
    // The host check wraps a router that has only a fallback, so it sees every request.
    Router::new()
        .fallback_service(api_and_portal)
        .layer(middleware::from_fn_with_state(WikiProxy::new(farm), farm_http::proxy::route_by_host))
        // Values from the client are logged quoted (`?`), so none can forge a line. Failures
        // (5xx) are logged where they happen, with context and throttled, not once more here.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request_id::of(request);
                    tracing::info_span!("request", method = ?request.method(), uri = ?request.uri().path(), request_id = ?id)
                })
                .on_failure(()),
        )
        .layer(middleware::from_fn(request_id::set))
}

/// `farmd serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let layout = Layout::new(&config.data_dir)?;
    if let Some(group) = &config.web_group {
        let changed =
            layout.share_with(group).with_context(|| format!("sharing the wikis' files with the group {group}"))?;
        info!(group = %group, changed, "the wikis' files are shared with the web server's group");
    }
    // One daemon per data directory: two would race on the same files.
    let lock = std::fs::File::create(layout.lock_file())?;
    lock.try_lock()
        .map_err(|_| anyhow::anyhow!("another farmd is running on the data directory {}", layout.root().display()))?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    // Where this daemon listens, for whoever started it on port 0 (the tests) and for operators.
    farm_core::platform::fsutil::write_atomic(&layout.listen_file(), format!("{local}\n").as_bytes(), 0o600)?;
    let operator_listener = match config.operator.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} ([operator] listen)"))?,
        ),
        None => None,
    };
    let limits = config.http.clone();
    let (farm, jobs) = Farm::open(config, local).await?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    jobs.start(shutdown.clone(), &tasks).await;
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    info!(
        listen = %local,
        data_dir = %layout.root().display(),
        mediawiki = %farm.mediawiki_version(),
        example_wiki = %farm.urls().wiki_url("NAME"),
        "farmd is up"
    );
    if let Some(operator) = operator_listener {
        let (router, limits, shutdown) = (farm_api::operator_router(farm.clone()), limits.clone(), shutdown.clone());
        info!(listen = %operator.local_addr()?, "metrics and health for the operator");
        tasks.spawn(async move {
            if let Err(err) = farm_http::server::serve(operator, router, limits, shutdown.cancelled_owned()).await {
                error!(error = %format!("{err:#}"), "the operator's listener stopped");
            }
        });
    }
    farm_http::server::serve(listener, app(farm.clone()), limits, shutdown.clone().cancelled_owned()).await?;

    tasks.close();
    if tokio::time::timeout(Duration::from_secs(20), tasks.wait()).await.is_err() {
        warn!("background work did not stop within 20 s; exiting anyway (it resumes at the next start)");
    }
    farm.close().await;
    info!("farmd stopped");
    drop(lock);
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        error!("cannot listen for signals");
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
}
