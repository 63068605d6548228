//! The writer's two doors, HTTP and NATS request/reply, with one request and
//! one response format: a submission `{"body": {...}, "signatures": [...]}`
//! or a JSON array of them (a batch, up to `SUBMISSION_EVENTS_MAX`); the
//! answer carries an HTTP-style status, and per event a receipt or an error
//! with a stable code.
//!
//! Every answer is counted for `/metrics` (see [`METRICS`]): appended and
//! duplicate events, refusals by error code, request latency by door.
//!
//! Both doors stop cleanly (`serve_http_until`, `serve_nats_until`): they stop
//! taking requests and return once every request under way is answered, so a
//! caller gets its receipts or a 503, never a dropped connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fundledger_core::record::SignedEvent;
use fundledger_http::HttpOptions;
use fundledger_metrics::metrics::{counter, gauge, histogram};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tracing::{info, warn};

use fundledger_core::wire::{BatchAnswer, EventAnswer, SubmitAnswer};

use crate::error::{ErrorBody, ErrorKind, WriteError};
use crate::service::{Receipt, Writer, SHUTTING_DOWN, SUBMISSION_EVENTS_MAX};

/// The only media type `POST /v1/events` takes (others: 415 `unsupported_media_type`).
pub const JSON_MEDIA_TYPE: &str = "application/json";
/// Largest request body accepted, over HTTP and NATS.
pub const REQUEST_BYTES_MAX: usize = 32 * 1024 * 1024;
/// How long a stopping NATS door waits for its last replies to reach the server.
pub const REPLY_FLUSH_TIMEOUT_MS: u64 = 2_000;
/// A stopping HTTP door keeps its port open, answering 503, until no request
/// other than a refusal was answered for this long (see [`serve_http_until`]).
pub const QUIET_BEFORE_CLOSE_MS: u64 = 300;
/// How often a stopping HTTP door checks whether the requests under way are answered.
const QUIET_POLL_MS: u64 = 10;

/// The writer's metrics: name, type and help text (also documented in docs/OPERATIONS.md).
pub const METRICS: &[(&str, &str, &str)] = &[
    ("fundledger_writer_requests_total", "counter", "Submissions answered, by door (http, nats) and HTTP-style status."),
    ("fundledger_writer_request_seconds", "histogram", "Time from receiving a submission to answering it (verification, append and ack included), by door."),
    ("fundledger_writer_events_appended_total", "counter", "Events appended to the ledger by this writer since it started (all doors)."),
    ("fundledger_writer_events_duplicate_total", "counter", "Re-submitted events answered with their original record."),
    ("fundledger_writer_rejected_total", "counter", "Events or requests refused through the API, by error code and kind."),
    ("fundledger_writer_ready", "gauge", "1 when the writer has loaded the ledger and can append, else 0."),
    (
        "fundledger_writer_rollback_detected",
        "gauge",
        "1 when the stream lost or changed a record this writer saw acknowledged (the writer refuses to append), else 0.",
    ),
    ("fundledger_writer_ledger_records", "gauge", "Records in the ledger as the writer last saw it."),
    ("fundledger_writer_reloads_total", "counter", "Times the writer re-read the stream after a failed append."),
    ("fundledger_append_batch_seconds", "histogram", "Time to publish one pipelined batch to JetStream and receive every ack, by outcome."),
    ("fundledger_append_messages_total", "counter", "Messages sent in append batches, by outcome of their batch."),
];

fn describe_metrics() {
    for (name, kind, help) in METRICS {
        match *kind {
            "counter" => fundledger_metrics::describe_counter(name, help),
            "gauge" => fundledger_metrics::describe_gauge(name, help),
            _ => fundledger_metrics::describe_histogram(name, help),
        }
    }
}

/// Counts one refusal by its code and kind.
fn count_rejection(code: &str, kind: ErrorKind) {
    counter!("fundledger_writer_rejected_total", "code" => code.to_string(), "kind" => kind.as_str()).increment(1);
}

/// Counts one answered submission and its latency.
fn count_request(door: &'static str, status: u16, started: Instant) {
    counter!("fundledger_writer_requests_total", "door" => door, "status" => status.to_string()).increment(1);
    histogram!("fundledger_writer_request_seconds", "door" => door).record(started.elapsed().as_secs_f64());
}

/// One answer: a status and a JSON body (`status` is also inside the body).
pub struct Reply {
    pub status: u16,
    pub body: SubmitAnswer,
}

fn error_answer(status: u16, code: &str, message: String) -> Reply {
    count_rejection(code, ErrorKind::Invalid);
    let error = ErrorBody { code: code.to_string(), kind: Some(ErrorKind::Invalid), message, event_id: None };
    Reply { status, body: SubmitAnswer::Event(EventAnswer::error(status, error)) }
}

fn event_answer(outcome: &Result<Receipt, WriteError>, event_id: Option<String>) -> EventAnswer {
    match outcome {
        Ok(receipt) => EventAnswer::receipt(if receipt.duplicate { 200 } else { 201 }, receipt.clone()),
        Err(error) => EventAnswer::error(error.http_status(), error.body(event_id)),
    }
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    body: Option<BodyId<'a>>,
}
#[derive(Deserialize)]
struct BodyId<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// The event id of a submission, if it can be read at all (for error reports).
fn submitted_id(raw: &str) -> Option<String> {
    let parsed: IdOnly = serde_json::from_str(raw).ok()?;
    parsed.body?.id.map(|id| id.chars().take(128).collect())
}

/// The answer to a whole request made while the writer shuts down.
fn shutting_down_answer() -> Reply {
    let error = WriteError::Unavailable(SHUTTING_DOWN.to_string());
    count_rejection(error.code(), ErrorKind::Unavailable);
    Reply { status: 503, body: SubmitAnswer::Event(EventAnswer::error(503, error.body(None))) }
}

fn is_shutting_down(outcome: &Result<Receipt, WriteError>) -> bool {
    matches!(outcome, Err(WriteError::Unavailable(message)) if message == SHUTTING_DOWN)
}

/// Handles a request body; used by both HTTP and NATS. While the writer shuts
/// down, a request is refused as a whole: 503 `unavailable`, nothing appended.
pub async fn handle_submission(writer: &Writer, request: &[u8]) -> Reply {
    if writer.is_shutting_down() {
        return shutting_down_answer();
    }
    if request.len() > REQUEST_BYTES_MAX {
        return error_answer(413, "request_too_large", format!("request is {} bytes; at most {REQUEST_BYTES_MAX} are accepted", request.len()));
    }
    let Ok(text) = std::str::from_utf8(request) else {
        return error_answer(400, "malformed_request", "request is not UTF-8".to_string());
    };
    let is_batch = text.trim_start().starts_with('[');
    let raws: Vec<&RawValue> = if is_batch {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(raws) => raws,
            Err(error) => return error_answer(400, "malformed_request", format!("request is not a JSON array of submissions: {error}")),
        }
    } else {
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => vec![raw],
            Err(error) => return error_answer(400, "malformed_request", format!("request is not JSON: {error}")),
        }
    };
    if raws.is_empty() || raws.len() > SUBMISSION_EVENTS_MAX {
        return error_answer(400, "malformed_request", format!("a batch holds 1 to {SUBMISSION_EVENTS_MAX} events, got {}", raws.len()));
    }
    let ids: Vec<Option<String>> = raws.iter().map(|raw| submitted_id(raw.get())).collect();
    let events = raws.iter().map(|raw| SignedEvent::from_submission_json(raw.get()).map_err(WriteError::from)).collect();
    let outcomes = writer.submit_parsed(events).await;
    if outcomes.iter().all(is_shutting_down) {
        return shutting_down_answer();
    }
    for outcome in &outcomes {
        match outcome {
            Ok(receipt) if receipt.duplicate => counter!("fundledger_writer_events_duplicate_total").increment(1),
            Ok(_) => {}
            Err(error) => count_rejection(error.code(), error.kind()),
        }
    }
    if !is_batch {
        let answer = event_answer(&outcomes[0], ids.into_iter().next().flatten());
        return Reply { status: answer.status, body: SubmitAnswer::Event(answer) };
    }
    let results: Vec<EventAnswer> = outcomes.iter().zip(ids).map(|(outcome, id)| event_answer(outcome, id)).collect();
    let duplicates = outcomes.iter().filter(|outcome| matches!(outcome, Ok(receipt) if receipt.duplicate)).count();
    let accepted = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let body =
        SubmitAnswer::Batch(BatchAnswer { status: 200, appended: accepted - duplicates, duplicates, refused: results.len() - accepted, accepted, results });
    Reply { status: 200, body }
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else { return false };
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case(JSON_MEDIA_TYPE)
}

async fn post_events(State(writer): State<Writer>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let started = Instant::now();
    let answer = match body {
        _ if !is_json(&headers) => {
            let given = headers.get(header::CONTENT_TYPE).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            let given = given.map(|given| format!("Content-Type {given:?}")).unwrap_or_else(|| "no Content-Type".to_string());
            error_answer(415, "unsupported_media_type", format!("POST /v1/events takes Content-Type: {JSON_MEDIA_TYPE}; the request has {given}"))
        }
        Ok(body) => handle_submission(&writer, &body).await,
        Err(rejection) if fundledger_http::is_body_timeout(&rejection) => {
            error_answer(408, "request_timeout", format!("the request body did not arrive in time: {rejection}"))
        }
        // The body limit refuses before reading the whole body; answer in our format.
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            error_answer(413, "request_too_large", format!("request body is over the limit of {REQUEST_BYTES_MAX} bytes"))
        }
        Err(rejection) => error_answer(400, "malformed_request", format!("cannot read the request body: {rejection}")),
    };
    count_request("http", answer.status, started);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}

/// `GET /metrics`: the writer's gauges refreshed from its status, then
/// everything the process recorded (see [`METRICS`]).
async fn get_metrics(State(writer): State<Writer>) -> Response {
    let status = writer.status();
    gauge!("fundledger_writer_ready").set(if status.ready { 1.0 } else { 0.0 });
    gauge!("fundledger_writer_rollback_detected").set(if status.incident.is_some() { 1.0 } else { 0.0 });
    gauge!("fundledger_writer_ledger_records").set(status.size as f64);
    counter!("fundledger_writer_events_appended_total").absolute(status.appended_since_start);
    counter!("fundledger_writer_reloads_total").absolute(status.reloads_since_start);
    fundledger_metrics::metrics_response().await
}

async fn get_status(State(writer): State<Writer>) -> Json<Value> {
    Json(json!(writer.status()))
}

/// `GET /openapi.json`: the writer API's OpenAPI document (`crate::openapi`).
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::document_text()).into_response()
}

async fn ready(State(writer): State<Writer>) -> Response {
    let status = writer.status();
    match (status.ready, status.incident) {
        (_, Some(incident)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {incident}")).into_response(),
        (true, None) => (StatusCode::OK, "ready").into_response(),
        (false, None) => match writer.unavailable_reason() {
            Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}")).into_response(),
            None => (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response(),
        },
    }
}

/// Once the writer is shutting down, every answer closes its connection, so
/// that no client sends its next request on a connection about to be closed.
async fn close_when_shutting_down(State(writer): State<Writer>, mut response: Response) -> Response {
    if writer.is_shutting_down() {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The HTTP requests under way, and when one was last answered with anything
/// but a 503: a stopping door closes its port only once it has been quiet for
/// [`QUIET_BEFORE_CLOSE_MS`], so a client that just got its receipts and comes
/// back gets a 503 rather than a refused or reset connection.
#[derive(Default)]
struct Activity {
    in_progress: AtomicUsize,
    last_served: Mutex<Option<Instant>>,
}

impl Activity {
    fn served(&self) {
        if let Ok(mut last) = self.last_served.lock() {
            *last = Some(Instant::now());
        }
    }

    /// How much longer to wait for `quiet`, or `None` once it has been.
    fn until_quiet(&self, quiet: Duration) -> Option<Duration> {
        if self.in_progress.load(Ordering::SeqCst) > 0 {
            return Some(Duration::from_millis(QUIET_POLL_MS));
        }
        let last = self.last_served.lock().ok().and_then(|last| *last)?;
        quiet.checked_sub(last.elapsed()).filter(|left| !left.is_zero())
    }
}

/// Decrements the count of requests under way, also if the request is dropped.
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn track(State(activity): State<Arc<Activity>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    activity.in_progress.fetch_add(1, Ordering::SeqCst);
    let _guard = InProgress(activity.clone());
    let response = next.run(request).await;
    if response.status() != StatusCode::SERVICE_UNAVAILABLE {
        activity.served();
    }
    response
}

/// The writer's HTTP routes: `POST /v1/events`, `GET /v1/status`, `/healthz`,
/// `/readyz`, `/metrics`, `/openapi.json`.
pub fn router(writer: Writer) -> Router {
    router_tracked(writer, Arc::new(Activity::default()))
}

fn router_tracked(writer: Writer, activity: Arc<Activity>) -> Router {
    describe_metrics();
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/metrics", get(get_metrics))
        .route("/v1/status", get(get_status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .layer(axum::middleware::map_response_with_state(writer.clone(), close_when_shutting_down))
        .layer(axum::middleware::from_fn_with_state(activity, track))
        .with_state(writer)
}

/// Serves HTTP on `listener` until the task is dropped or fails.
pub async fn serve_http(writer: Writer, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_http_until(writer, listener, std::future::pending()).await
}

/// Serves HTTP on `listener` until `shutdown` resolves. Then the writer shuts
/// down ([`Writer::shut_down`]: new submissions get 503 and their connections
/// are closed), the port stays open until it has been quiet for
/// [`QUIET_BEFORE_CLOSE_MS`], and the call returns once every request under
/// way is answered.
pub async fn serve_http_until(writer: Writer, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    serve_http_with(writer, listener, &HttpOptions::default(), shutdown).await
}

/// [`serve_http_until`] with the port's limits, TLS, CORS and metrics guard
/// (see `fundledger_http`); `metrics_only` serves nothing but `/metrics`
/// (a metrics listener of its own), `without_metrics` everything else.
pub async fn serve_http_with(
    writer: Writer,
    listener: tokio::net::TcpListener,
    options: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_http_routes(writer, listener, options, Routes::All, shutdown).await
}

/// Which of the writer's routes a port serves.
#[derive(Clone, Copy, Debug)]
pub enum Routes {
    All,
    WithoutMetrics,
    MetricsOnly,
}

/// [`serve_http_with`], serving `routes` of the writer's router.
pub async fn serve_http_routes(
    writer: Writer,
    listener: tokio::net::TcpListener,
    options: &HttpOptions,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    info!(?address, "writer HTTP API listening");
    let activity = Arc::new(Activity::default());
    let router = router_tracked(writer.clone(), activity.clone());
    let router = match routes {
        Routes::All => router,
        Routes::WithoutMetrics => fundledger_http::without_metrics(router),
        Routes::MetricsOnly => fundledger_http::metrics_only(router),
    };
    let closing = async move {
        shutdown.await;
        writer.shut_down();
        drop(writer);
        activity.served();
        while let Some(left) = activity.until_quiet(Duration::from_millis(QUIET_BEFORE_CLOSE_MS)) {
            tokio::time::sleep(left).await;
        }
        info!(?address, "writer HTTP API closing its port");
    };
    fundledger_http::serve_until(listener, router, options, closing).await
}

/// Answers submissions sent as NATS requests to `fl.<ledger>.submit`.
pub async fn serve_nats(writer: Writer) -> Result<(), fundledger_nats::NatsError> {
    serve_nats_until(writer, std::future::pending()).await
}

/// Like [`serve_nats`] until `shutdown` resolves; then drains the
/// subscription (requests already delivered are still answered), waits for
/// every answer and flushes the replies.
pub async fn serve_nats_until(writer: Writer, shutdown: impl Future<Output = ()>) -> Result<(), fundledger_nats::NatsError> {
    let subject = fundledger_nats::request_subject(writer.ledger().as_str())?;
    let broker = writer.broker().clone();
    let mut requests = broker.serve_requests(subject.clone(), "fundledger-writer").await?;
    info!(%subject, "writer answering NATS requests");
    tokio::pin!(shutdown);
    let mut draining = false;
    let mut answering = tokio::task::JoinSet::new();
    loop {
        let request = tokio::select! {
            _ = &mut shutdown, if !draining => {
                draining = true;
                if let Err(error) = requests.drain().await {
                    warn!(%error, %subject, "could not drain the NATS request subscription");
                    break;
                }
                continue;
            }
            Some(_) = answering.join_next(), if !answering.is_empty() => continue,
            request = requests.next() => request,
        };
        let Some(request) = request else { break };
        if !request.wants_reply() {
            continue;
        }
        let writer = writer.clone();
        let broker = broker.clone();
        answering.spawn(async move {
            let started = Instant::now();
            let answer = handle_submission(&writer, &request.payload).await;
            count_request("nats", answer.status, started);
            let bytes = serde_json::to_vec(&answer.body).unwrap_or_default();
            if let Err(error) = broker.reply(&request, bytes).await {
                warn!(%error, "could not send a NATS reply");
            }
        });
    }
    while answering.join_next().await.is_some() {}
    drop(writer);
    match tokio::time::timeout(Duration::from_millis(REPLY_FLUSH_TIMEOUT_MS), broker.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(%error, "could not flush the last NATS replies"),
        Err(_) => warn!("the last NATS replies were not flushed within {REPLY_FLUSH_TIMEOUT_MS} ms"),
    }
    info!(%subject, "writer stopped answering NATS requests");
    Ok(())
}
