//! Prometheus metrics for every fundledger service.
//!
//! Why one crate: a process has one metrics recorder, and the writer, the
//! projector and the verifier may all run in one `fundledger` process. Code
//! records through the [`metrics`] facade (re-exported here so every crate uses
//! the same version); this crate installs the one Prometheus recorder on first
//! use and serves what it holds at `GET /metrics` in the Prometheus text format.
//!
//! How a service adds its metrics:
//!
//! ```
//! use fundledger_metrics::metrics::{counter, gauge, histogram};
//! // Once, e.g. when the service starts: names, units and help texts.
//! fundledger_metrics::describe_counter("fundledger_projector_applied_total", "Records applied to the read models.");
//! // Where things happen (cheap: an atomic add once the handle is resolved):
//! counter!("fundledger_projector_applied_total").increment(512);
//! gauge!("fundledger_projector_lag_records").set(42.0);
//! histogram!("fundledger_projector_batch_seconds").record(0.004);
//! ```
//!
//! and merges [`router`] into its HTTP router (the writer does in
//! `fundledger_writer::api::router`): `Router::new()...merge(fundledger_metrics::router())`.
//!
//! Naming rules (Prometheus conventions): `fundledger_<service>_<what>_<unit>`;
//! counters end in `_total`; durations are histograms in seconds ending in
//! `_seconds` (they get [`LATENCY_BUCKETS_SECONDS`]); labels take values from a
//! small fixed set (an error code, never an event id or a key).

use std::sync::OnceLock;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
pub use metrics;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for every metric whose name ends in `_seconds`: 100 µs to 10 s.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (the first call does; later
/// calls return the same handle). `None` if another metrics recorder was
/// installed first by someone else: metrics are then not available here.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), LATENCY_BUCKETS_SECONDS).ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// Everything recorded so far, in the Prometheus text format (installs the
/// recorder if needed). `None` if no recorder of ours could be installed.
pub fn render() -> Option<String> {
    install().map(PrometheusHandle::render)
}

/// Sets a counter's help text (installs the recorder first, so it is kept).
pub fn describe_counter(name: &'static str, help: &'static str) {
    install();
    metrics::describe_counter!(name, help);
}

/// Sets a gauge's help text.
pub fn describe_gauge(name: &'static str, help: &'static str) {
    install();
    metrics::describe_gauge!(name, help);
}

/// Sets a histogram's help text (its unit is in its name: `_seconds`).
pub fn describe_histogram(name: &'static str, help: &'static str) {
    install();
    metrics::describe_histogram!(name, metrics::Unit::Seconds, help);
}

/// `GET /metrics` answered from [`render`], with any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    install();
    Router::new().route("/metrics", get(metrics_response))
}

/// Serves `GET /metrics` and `GET /healthz` on `listener`, for a process
/// without an HTTP API of its own (`fundledger tail --verify --metrics ADDR`).
///
/// The recorder is installed by this call, before the returned future first
/// runs: what the process counts in the meantime (a spawned server may wait
/// for a worker thread while the caller verifies) would otherwise be lost.
pub fn serve(listener: tokio::net::TcpListener) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
    let app = router().route("/healthz", get(|| async { "ok" }));
    std::future::IntoFuture::into_future(axum::serve(listener, app))
}

/// The `/metrics` answer: the text format, or 503 if metrics are unavailable.
pub async fn metrics_response() -> Response {
    match render() {
        Some(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics are unavailable: another metrics recorder is installed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_metrics_are_rendered_with_their_help_and_buckets() {
        describe_counter("fundledger_test_things_total", "Things counted by the test.");
        metrics::counter!("fundledger_test_things_total", "code" => "a").increment(3);
        metrics::histogram!("fundledger_test_wait_seconds").record(0.002);
        metrics::gauge!("fundledger_test_level").set(7.0);
        let text = render().expect("our recorder is installed");
        assert!(text.contains("# HELP fundledger_test_things_total Things counted by the test."), "{text}");
        assert!(text.contains("fundledger_test_things_total{code=\"a\"} 3"), "{text}");
        assert!(text.contains("fundledger_test_wait_seconds_bucket{le=\"0.0025\"} 1"), "{text}");
        assert!(text.contains("fundledger_test_level 7"), "{text}");
        assert!(std::ptr::eq(install().unwrap(), install().unwrap()), "one recorder per process");
    }
}
