//! The accept loop and the per-connection driver: hyper's HTTP/1 server with
//! the timeouts, the cap, the rate limiter and TLS of [`HttpOptions`], and a
//! graceful stop like `axum::serve`'s (stop accepting, let every connection
//! finish its request under way, close idle ones).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{info, warn};

use crate::body::DeadlineBody;
use crate::limits::*;
use crate::rate::RateLimiter;
use crate::registry::{Connection, Receiving, Registry, TrackedIo};

/// What every connection of a port shares.
struct Shared {
    router: Router,
    options: HttpOptions,
    limiter: RateLimiter,
    acceptor: Option<TlsAcceptor>,
}

/// Serves `router` on `listener` with `options` until the task is dropped.
pub async fn serve(listener: TcpListener, router: Router, options: &HttpOptions) -> io::Result<()> {
    serve_until(listener, router, options, std::future::pending()).await
}

/// Serves `router` on `listener` with `options` until `shutdown` resolves;
/// then closes the port, lets each connection finish the request under way
/// and returns once all are closed. Bad TLS files or CORS origins are an
/// error before anything is served.
pub async fn serve_until(listener: TcpListener, router: Router, options: &HttpOptions, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    let router = options.apply(router).map_err(io::Error::other)?;
    let acceptor = options.tls.as_ref().map(|files| files.acceptor()).transpose().map_err(io::Error::other)?;
    let cap = options.effective_connections_max();
    let address = listener.local_addr().ok();
    info!(?address, connections_max = cap, tls = acceptor.is_some(), "HTTP port open");
    let limiter = RateLimiter::new(options.requests_per_second_per_client, options.requests_burst_per_client);
    let shared = Arc::new(Shared { router, options: options.clone(), limiter, acceptor });
    let registry = Arc::new(Registry::new());
    let (stop, stopping) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                backoff.reset();
                if registry.len() >= cap && !registry.evict_one() {
                    drop(tcp); // every connection is busy: refuse this one
                    continue;
                }
                let registered = registry.register();
                let (shared, stopping) = (shared.clone(), stopping.clone());
                connections.spawn(async move {
                    let connection = registered.connection.clone();
                    handle(tcp, peer, connection, shared, stopping).await;
                    drop(registered);
                });
            }
            Err(error) => {
                // EMFILE and the like: free a descriptor if an idle connection holds one, and pause.
                registry.evict_one();
                backoff.wait(&error, address).await;
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    info!(?address, "HTTP port closed");
    Ok(())
}

/// Doubling pauses after accept errors, logged at most every [`ACCEPT_ERROR_LOG_INTERVAL_MS`].
#[derive(Default)]
struct AcceptBackoff {
    pause_ms: u64,
    logged: Option<Instant>,
    since_log: u64,
}

impl AcceptBackoff {
    fn reset(&mut self) {
        self.pause_ms = 0;
    }

    async fn wait(&mut self, error: &io::Error, address: Option<SocketAddr>) {
        self.pause_ms = (self.pause_ms * 2).clamp(ACCEPT_BACKOFF_MIN_MS, ACCEPT_BACKOFF_MAX_MS);
        self.since_log += 1;
        if self.logged.is_none_or(|at| at.elapsed() >= Duration::from_millis(ACCEPT_ERROR_LOG_INTERVAL_MS)) {
            warn!(?address, %error, errors = self.since_log, pause_ms = self.pause_ms, "accept error: closing an idle connection and pausing");
            self.logged = Some(Instant::now());
            self.since_log = 0;
        }
        tokio::time::sleep(Duration::from_millis(self.pause_ms)).await;
    }
}

async fn handle(tcp: TcpStream, peer: SocketAddr, connection: Arc<Connection>, shared: Arc<Shared>, stopping: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let io = TrackedIo { inner: tcp, connection: connection.clone() };
    let Some(acceptor) = shared.acceptor.clone() else {
        return drive(io, peer, connection, shared, stopping).await;
    };
    let handshake = tokio::time::timeout(Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS), acceptor.accept(io));
    let tls = tokio::select! {
        result = handshake => result,
        _ = connection.evict.notified() => return,
    };
    if let Ok(Ok(tls)) = tls {
        drive(tls, peer, connection, shared, stopping).await;
    }
}

/// Serves one connection until it closes, is evicted, stays idle past the
/// idle timeout, or the port stops (then gracefully).
async fn drive<I>(io: I, peer: SocketAddr, connection: Arc<Connection>, shared: Arc<Shared>, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle_timeout = shared.options.idle_timeout;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(shared.options.header_read_timeout).keep_alive(true);
    let service_connection = connection.clone();
    let service = hyper::service::service_fn(move |request| respond(request, peer, service_connection.clone(), shared.clone()));
    let served = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(served);
    let mut stopped = *stopping.borrow();
    if stopped {
        served.as_mut().graceful_shutdown();
    }
    loop {
        let left = idle_timeout.saturating_sub(connection.quiet_for());
        let wait = if left.is_zero() { idle_timeout } else { left };
        tokio::select! {
            _ = served.as_mut() => return,
            _ = connection.evict.notified() => return,
            changed = stopping.changed(), if !stopped => {
                stopped = true;
                if changed.is_ok() {
                    served.as_mut().graceful_shutdown();
                }
            }
            _ = tokio::time::sleep(wait) => {
                if connection.is_idle() && connection.quiet_for() >= idle_timeout {
                    return;
                }
            }
        }
    }
}

/// Counts a request under way on its connection while alive.
struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn respond(request: hyper::Request<Incoming>, peer: SocketAddr, connection: Arc<Connection>, shared: Arc<Shared>) -> Result<Response, Infallible> {
    if !UNLIMITED_PATHS.contains(&request.uri().path()) {
        if let Err(wait) = shared.limiter.take(peer.ip()) {
            return Ok(rate_limited(wait, &shared.options));
        }
    }
    connection.in_flight.fetch_add(1, Ordering::SeqCst);
    let receiving = (!http_body::Body::is_end_stream(request.body())).then(|| Receiving::new(connection.clone()));
    let _in_flight = InFlight(connection);
    let timeout = shared.options.body_read_timeout;
    let request = request.map(|body| axum::body::Body::new(DeadlineBody::new(body, timeout, receiving)));
    shared.router.clone().call(request).await
}

fn rate_limited(wait_seconds: f64, options: &HttpOptions) -> Response {
    let message = format!(
        "more than {} requests per second (burst {}) from this address; retry in {:.0} ms",
        options.requests_per_second_per_client,
        options.requests_burst_per_client,
        wait_seconds * 1000.0
    );
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    let retry = HeaderValue::from(wait_seconds.ceil().max(1.0) as u64);
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry);
    response
}
