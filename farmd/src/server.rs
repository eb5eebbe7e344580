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

    let listener = match inherited_listener()? {
        Some(listener) => listener,
        None => tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?,
    };
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
    // A restart keeps the listening socket open across exec: connections wait in its queue
    // meanwhile instead of being refused.
    let spare = std::os::fd::AsFd::as_fd(&listener).try_clone_to_owned()?;
    let restart = farm.restart_requested();
    tokio::spawn({
        let (restart, shutdown) = (restart.clone(), shutdown.clone());
        async move {
            tokio::select! {
                _ = restart.cancelled() => shutdown.cancel(),
                _ = shutdown.cancelled() => {}
            }
        }
    });

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
    drop(lock);
    if !restart.is_cancelled() {
        // Connections that wait for a restart that is not coming are refused at once.
        drop(spare);
        info!("farmd stopped");
        return Ok(());
    }
    info!("farmd restarts");
    Err(restart_with(spare))
}

/// The variable that hands the listening socket to the farmd a restart executes.
const LISTEN_FD_VAR: &str = "FARMD_LISTEN_FD";

/// The socket a restarting farmd left open for this one, if any.
#[allow(unsafe_code)]
fn inherited_listener() -> anyhow::Result<Option<tokio::net::TcpListener>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let Some(value) = std::env::var_os(LISTEN_FD_VAR) else { return Ok(None) };
    // Not for this farmd's own children.
    std::env::remove_var(LISTEN_FD_VAR);
    let fd: i32 = value.to_str().and_then(|v| v.parse().ok()).filter(|fd| *fd > 2).context("FARMD_LISTEN_FD")?;
    // Only a listening TCP socket is taken.
    // SAFETY: borrowed for this one call; a descriptor that is not open makes it fail.
    let is_listening = nix::sys::socket::getsockopt(
        &unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        nix::sys::socket::sockopt::AcceptConn,
    )
    .unwrap_or(false);
    anyhow::ensure!(is_listening, "FARMD_LISTEN_FD={fd} is not a listening socket");
    // SAFETY: the descriptor was checked to be an open listening socket, which the exec
    // handed to this process alone; it is owned from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&owned),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    let listener = std::net::TcpListener::from(owned);
    listener.set_nonblocking(true)?;
    Ok(Some(tokio::net::TcpListener::from_std(listener)?))
}

/// Replaces this process with a new farmd (same program, arguments and environment) that
/// takes over `listener`. Returns only if that cannot be done.
fn restart_with(listener: std::os::fd::OwnedFd) -> anyhow::Error {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = listener.as_raw_fd();
    if let Err(err) = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())) {
        return anyhow::anyhow!("cannot hand the listening socket over for the restart: {err}");
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "farmd".into());
    let err =
        std::process::Command::new("/proc/self/exe").arg0(arg0).args(args).env(LISTEN_FD_VAR, fd.to_string()).exec();
    anyhow::anyhow!("cannot restart farmd: {err}")
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
