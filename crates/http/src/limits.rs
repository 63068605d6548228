//! The limits of one HTTP port, their defaults, and the layers (CORS, the
//! `/metrics` guard) that every router gets the same way.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use fundledger_core::wire::Refusal;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::tls::TlsFiles;

/// A client has this long from connecting (or from its last answer) to send
/// a whole header block.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// A request's whole body must arrive within this long after its headers.
pub const BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// A connection with no request under way and no byte moving is closed after this long.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// A TLS handshake must finish within this long.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Open connections per port; also at most [`FILE_LIMIT_SHARE_DIVISOR`]th of the process's file limit.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Each port may hold at most this share (1/n) of the process's open-file limit,
/// leaving the rest to the other port, NATS, RocksDB and logs.
pub const FILE_LIMIT_SHARE_DIVISOR: u64 = 4;
/// The lowest connection cap a small file limit is allowed to leave.
pub const CONNECTIONS_MIN: usize = 8;
/// Sustained requests per second from one IP address (0: no limit).
pub const REQUESTS_PER_SECOND_PER_CLIENT: u32 = 1_000;
/// Requests one IP address may send at once above the sustained rate.
pub const REQUESTS_BURST_PER_CLIENT: u32 = 2_000;
/// Clients whose buckets are remembered; full buckets are forgotten first.
pub const RATE_CLIENTS_MAX: usize = 65_536;
/// First pause after an accept error (e.g. EMFILE), doubled up to [`ACCEPT_BACKOFF_MAX_MS`].
pub const ACCEPT_BACKOFF_MIN_MS: u64 = 5;
pub const ACCEPT_BACKOFF_MAX_MS: u64 = 1_000;
/// Accept errors are logged at most once in this long.
pub const ACCEPT_ERROR_LOG_INTERVAL_MS: u64 = 5_000;
/// Paths that are never rate limited (probes).
pub const UNLIMITED_PATHS: &[&str] = &["/healthz", "/readyz"];
/// The path the metrics options guard.
pub const METRICS_PATH: &str = "/metrics";

/// Everything one port needs to be served safely; `Default` is the documented defaults.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub connections_max: usize,
    pub requests_per_second_per_client: u32,
    pub requests_burst_per_client: u32,
    /// Serve HTTPS with these PEM files.
    pub tls: Option<TlsFiles>,
    /// Origins allowed by CORS; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// `/metrics` answers only with `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            header_read_timeout: Duration::from_millis(HEADER_READ_TIMEOUT_MS),
            body_read_timeout: Duration::from_millis(BODY_READ_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(IDLE_TIMEOUT_MS),
            connections_max: CONNECTIONS_MAX,
            requests_per_second_per_client: REQUESTS_PER_SECOND_PER_CLIENT,
            requests_burst_per_client: REQUESTS_BURST_PER_CLIENT,
            tls: None,
            cors_origins: Vec::new(),
            metrics_token: None,
        }
    }
}

/// Errors in the HTTP options, found before serving.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("CORS origin {0:?} is not a valid header value")]
    CorsOrigin(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// The process's soft open-file limit, if it can be read.
fn file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (result == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

impl HttpOptions {
    /// The connection cap in force: the configured one, at most a share of the file limit.
    pub fn effective_connections_max(&self) -> usize {
        let share = file_limit().map(|limit| (limit / FILE_LIMIT_SHARE_DIVISOR) as usize).unwrap_or(usize::MAX);
        self.connections_max.min(share).max(CONNECTIONS_MIN)
    }

    /// `router` with the CORS policy and the `/metrics` guard applied.
    pub fn apply(&self, router: Router) -> Result<Router, OptionsError> {
        let mut router = router;
        if let Some(token) = &self.metrics_token {
            let expected: Arc<str> = format!("Bearer {token}").into();
            router = router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
                let expected = expected.clone();
                async move { guard_metrics(&expected, request, next).await }
            }));
        }
        if !self.cors_origins.is_empty() {
            router = router.layer(self.cors()?);
        }
        Ok(router)
    }

    fn cors(&self) -> Result<CorsLayer, OptionsError> {
        let origins = self
            .cors_origins
            .iter()
            .map(|origin| HeaderValue::from_str(origin).map_err(|_| OptionsError::CorsOrigin(origin.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]))
    }
}

async fn guard_metrics(expected: &str, request: Request, next: Next) -> Response {
    if request.uri().path() != METRICS_PATH {
        return next.run(request).await;
    }
    let given = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized", "/metrics needs Authorization: Bearer <the metrics token>".to_string());
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Only `/metrics` of `router` (for a metrics listener of its own).
pub fn metrics_only(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(|request: Request, next: Next| async move {
        if request.uri().path() == METRICS_PATH {
            next.run(request).await
        } else {
            error_response(StatusCode::NOT_FOUND, "not_found", "this listener serves only /metrics".to_string())
        }
    }))
}

/// `router` without `/metrics` (when metrics have a listener of their own).
pub fn without_metrics(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(|request: Request, next: Next| async move {
        if request.uri().path() == METRICS_PATH {
            error_response(StatusCode::NOT_FOUND, "not_found", "/metrics is served on the metrics listener".to_string())
        } else {
            next.run(request).await
        }
    }))
}

/// The JSON error shape both APIs use: `{"status": n, "error": {"code", "message"}}`.
pub fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (status, axum::Json(Refusal::new(status.as_u16(), code, message))).into_response()
}
