//! The writer's two doors, HTTP and NATS request/reply, with one request and
//! one response format: a submission `{"body": {...}, "signatures": [...]}`
//! or a JSON array of them (a batch, up to `SUBMISSION_EVENTS_MAX`); the
//! answer carries an HTTP-style status, and per event a receipt or an error
//! with a stable code.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use fundledger_core::record::SignedEvent;
use serde_json::{json, Value};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::{info, warn};

use crate::error::{ErrorBody, WriteError};
use crate::service::{Receipt, Writer, SUBMISSION_EVENTS_MAX};

/// Largest request body accepted, over HTTP and NATS.
pub const REQUEST_BYTES_MAX: usize = 32 * 1024 * 1024;

/// One answer: a status and a JSON body (`status` is also inside the body).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn error_answer(status: u16, code: &str, message: String) -> Answer {
    let error = ErrorBody { code: code.to_string(), kind: "invalid", message, event_id: None };
    Answer { status, body: json!({ "status": status, "error": error }) }
}

fn outcome_json(outcome: &Result<Receipt, WriteError>, event_id: Option<String>) -> (u16, Value) {
    match outcome {
        Ok(receipt) => {
            let status = if receipt.duplicate { 200 } else { 201 };
            (status, json!({ "status": status, "receipt": receipt }))
        }
        Err(error) => {
            let status = error.http_status();
            (status, json!({ "status": status, "error": error.body(event_id) }))
        }
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

/// Handles a request body; used by both HTTP and NATS.
pub async fn handle_submission(writer: &Writer, request: &[u8]) -> Answer {
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
    if !is_batch {
        let (status, body) = outcome_json(&outcomes[0], ids.into_iter().next().flatten());
        return Answer { status, body };
    }
    let appended = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let results: Vec<Value> = outcomes.iter().zip(ids).map(|(outcome, id)| outcome_json(outcome, id).1).collect();
    Answer { status: 200, body: json!({ "status": 200, "accepted": appended, "refused": results.len() - appended, "results": results }) }
}

async fn post_events(State(writer): State<Writer>, body: Bytes) -> Response {
    let answer = handle_submission(&writer, &body).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}

async fn get_status(State(writer): State<Writer>) -> Json<Value> {
    Json(json!(writer.status()))
}

async fn ready(State(writer): State<Writer>) -> Response {
    if writer.status().ready {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// The writer's HTTP routes: `POST /v1/events`, `GET /v1/status`, `/healthz`, `/readyz`.
pub fn router(writer: Writer) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/status", get(get_status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .with_state(writer)
}

/// Serves HTTP on `listener` until the task is dropped or fails.
pub async fn serve_http(writer: Writer, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    info!(?address, "writer HTTP API listening");
    axum::serve(listener, router(writer)).await
}

/// Answers submissions sent as NATS requests to `fl.<ledger>.submit`.
pub async fn serve_nats(writer: Writer) -> Result<(), fundledger_nats::NatsError> {
    let subject = fundledger_nats::request_subject(writer.ledger().as_str())?;
    let client = writer.nats_client().clone();
    let mut requests = client
        .queue_subscribe(subject.clone(), "fundledger-writer".to_string())
        .await
        .map_err(|error| fundledger_nats::NatsError::JetStream { operation: format!("subscribing to {subject}"), source: Box::new(error) })?;
    info!(%subject, "writer answering NATS requests");
    while let Some(message) = requests.next().await {
        let Some(reply) = message.reply.clone() else { continue };
        let writer = writer.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let answer = handle_submission(&writer, &message.payload).await;
            let bytes = serde_json::to_vec(&answer.body).unwrap_or_default();
            if let Err(error) = client.publish(reply, bytes.into()).await {
                warn!(%error, "could not send a NATS reply");
            }
        });
    }
    Ok(())
}
