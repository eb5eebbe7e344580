//! The HTTP server: hyper's HTTP/1 on every accepted connection, with the limits a server
//! that anyone can reach needs. A slow or idle client never holds a connection for long:
//!
//! - a new connection gets `header_read_timeout` to send the whole head of its first request;
//! - a kept-alive connection waits at most `keep_alive_timeout` for the first byte of its next
//!   request, then `header_read_timeout` from that byte to the end of the headers;
//! - a request body may pause at most `request_body_timeout` between two pieces;
//! - at most `max_connections` are open at once: beyond that, new ones wait in the listen
//!   queue until one closes (and the time-outs above make sure some do).
//!
//! While a request is being answered, its connection has no deadline of its own: the answer
//! has its own (the proxy's upstream time-out, the handlers' work).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use farm_core::config::HttpLimits;
use farm_core::platform::throttle::LogThrottle;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long open requests may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

static ACCEPT_ERRORS: LogThrottle = LogThrottle::new(1);

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets open
/// requests finish (up to [`DRAIN_TIMEOUT`]) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, mostly: wait a moment instead of spinning.
                    if let Some(suppressed) = ACCEPT_ERRORS.allow() {
                        tracing::warn!(error = %err, suppressed, "cannot accept a connection");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(stream, peer, app.clone(), limits.clone(), stopping.clone(), permit));
    }
    drop(listener);
    let _ = stop.send(true);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait()).await.is_err() {
        tracing::warn!("open requests did not finish within {} s of shutdown", DRAIN_TIMEOUT.as_secs());
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(WatchedStream { inner: stream, activity: activity.clone() });
    let body_timeout = limits.request_body_timeout;
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_request = InRequest::begin(&service_activity);
        let mut request = request.map(|body| Body::new(PatientBody::new(body, body_timeout)));
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            // The request counts as answered once its body has been sent (or dropped).
            Ok::<_, Infallible>(response.map(|body| Body::new(Answering { body, _in_request: in_request })))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = *stopping.borrow();
    if draining {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    // Malformed requests, resets, time-outs of bodies: the client's doing.
                    tracing::debug!(peer = %peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = activity.expired(&limits) => {
                tracing::debug!(peer = %peer, "connection timed out while idle or sending headers");
                return;
            }
            changed = stopping.changed(), if !draining => {
                if changed.is_err() || *stopping.borrow() {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What a connection is doing, for its deadlines.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the first byte of a request (`fresh`: no request yet on this connection).
    Idle { since: Instant, fresh: bool },
    /// Bytes of a request's head have come; the request has not reached the service.
    Head { since: Instant },
    /// Requests are being answered.
    Answering,
}

#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Idle { since: Instant::now(), fresh: true }),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
        self.changed.notify_one();
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes came in: if the connection was idle, a request's head has begun.
    fn bytes_read(&self) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::Idle { since, fresh } = *phase {
            // A new connection's head counts from the connection's start.
            *phase = Phase::Head { since: if fresh { since } else { Instant::now() } };
            self.changed.notify_one();
        }
    }

    /// Completes when the connection has been idle or sending headers for too long.
    async fn expired(&self, limits: &HttpLimits) {
        loop {
            let deadline = match self.phase() {
                Phase::Idle { since, fresh: true } => Some(since + limits.header_read_timeout),
                Phase::Idle { since, fresh: false } => Some(since + limits.keep_alive_timeout),
                Phase::Head { since } => Some(since + limits.header_read_timeout),
                Phase::Answering => None,
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {
                            if Instant::now() >= deadline && !matches!(self.phase(), Phase::Answering) {
                                return;
                            }
                        }
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// Held from the moment a request reaches the service until its response body is done.
struct InRequest(Arc<Activity>);

impl InRequest {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.set(Phase::Answering);
        Self(activity.clone())
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.set(Phase::Idle { since: Instant::now(), fresh: false });
        }
    }
}

/// A response body that ends the request's [`InRequest`] when it is finished or dropped.
struct Answering {
    body: Body,
    _in_request: InRequest,
}

impl HttpBody for Answering {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails when the client pauses longer than `timeout` between two pieces.
/// (tower-http's `TimeoutBody` does the same but hides the body's length, which the proxy
/// passes on to PHP.)
struct PatientBody {
    body: Incoming,
    timeout: Duration,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl PatientBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self { body, timeout, pause: None }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the client paused the request body for longer than {0:?}")]
struct BodyTimedOut(Duration);

impl HttpBody for PatientBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let timeout = self.timeout;
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            self.pause = None;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let pause = self.pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match pause.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The TCP stream, telling [`Activity`] when bytes arrive.
struct WatchedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        poll
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
