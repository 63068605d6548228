//! The query API: HTTP JSON over the read models (OpenAPI: `GET /openapi.json`,
//! committed as `schemas/api/openapi.json`).
//!
//! Each request reads one RocksDB snapshot on a blocking thread, so an answer
//! is consistent with itself and says the ledger sequence it reflects; the
//! projector keeps committing meanwhile. Unknown query parameters are refused
//! rather than ignored, so a typo never silently returns another answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use crate::query::{self, EventFilter, Quarter, Query, QueryError};
use crate::store::Store;

/// The query API's default address (the writer's is 7400).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7401";

type Params = HashMap<String, String>;

enum ApiError {
    /// The query's own answer: a refusal or a read-model failure.
    Query(QueryError),
    /// The query task panicked (or was cancelled): a server error.
    Task(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Query(error) => error.fmt(formatter),
            ApiError::Task(message) => formatter.write_str(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Query(QueryError::NotFound { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Query(QueryError::AsOfAhead { .. }) => (StatusCode::CONFLICT, "as_of_ahead"),
            ApiError::Query(QueryError::BadRequest(_)) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Query(QueryError::Store(_) | QueryError::Overflow(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "read_model"),
            ApiError::Task(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "query failed");
        }
        (status, Json(json!({"error": {"code": code, "message": self.to_string()}}))).into_response()
    }
}

fn bad(message: String) -> ApiError {
    ApiError::Query(QueryError::BadRequest(message))
}

/// The outcome of a query task: its own result, or, when the task panicked
/// (a defect, never the caller's fault), a server error logged as one.
fn joined<T>(outcome: Result<Result<T, QueryError>, tokio::task::JoinError>) -> Result<T, ApiError> {
    match outcome {
        Ok(result) => result.map_err(ApiError::Query),
        Err(error) => {
            tracing::error!(error = %error, "a query task panicked");
            Err(ApiError::Task(format!("the query task failed: {error}")))
        }
    }
}

/// Refuses parameters other than `allowed`.
fn check_params(params: &Params, allowed: &[&str]) -> Result<(), ApiError> {
    for name in params.keys() {
        if !allowed.contains(&name.as_str()) {
            let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
            return Err(bad(format!("unknown query parameter {name:?}; this endpoint takes: {allowed}")));
        }
    }
    Ok(())
}

fn number<T: std::str::FromStr>(params: &Params, name: &str) -> Result<Option<T>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| bad(format!("{name} must be a non-negative integer, got {text:?}"))),
    }
}

fn as_of(params: &Params) -> Result<Option<u64>, ApiError> {
    number(params, "as_of")
}

/// Runs `work` over a fresh snapshot on a blocking thread and answers JSON.
async fn answer<T, F>(store: Arc<Store>, as_of: Option<u64>, work: F) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Query) -> Result<T, QueryError> + Send + 'static,
{
    let outcome = tokio::task::spawn_blocking(move || {
        let reader = store.reader()?;
        let query = Query::new(&reader, as_of)?;
        let data = work(&query)?;
        Ok::<_, QueryError>(query.answer(data))
    })
    .await;
    Ok(Json(joined(outcome)?).into_response())
}

async fn status(State(store): State<Arc<Store>>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &[])?;
    answer(store, None, query::status).await
}

async fn portfolio(State(store): State<Arc<Store>>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, query::portfolio).await
}

async fn funds(State(store): State<Arc<Store>>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, query::funds).await
}

async fn fund(State(store): State<Arc<Store>>, Path(id): Path<String>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, move |query| query::fund(query, &id)).await
}

async fn subfund(State(store): State<Arc<Store>>, Path(id): Path<String>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, move |query| query::subfund(query, &id)).await
}

async fn schemes(State(store): State<Arc<Store>>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, query::schemes).await
}

async fn scheme(State(store): State<Arc<Store>>, Path(id): Path<String>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, move |query| query::scheme(query, &id)).await
}

async fn enterprise(State(store): State<Arc<Store>>, Path(id): Path<String>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, move |query| query::enterprise(query, &id)).await
}

async fn grant(State(store): State<Arc<Store>>, Path(id): Path<String>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, move |query| query::grant(query, &id)).await
}

async fn event(State(store): State<Arc<Store>>, Path(id): Path<String>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of"])?;
    answer(store, as_of(&params)?, move |query| query::event(query, &id)).await
}

async fn events(State(store): State<Arc<Store>>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of", "fund", "subfund", "scheme", "grant", "enterprise", "after", "limit"])?;
    let filter = EventFilter {
        fund: params.get("fund").cloned(),
        subfund: params.get("subfund").cloned(),
        scheme: params.get("scheme").cloned(),
        grant: params.get("grant").cloned(),
        enterprise: params.get("enterprise").cloned(),
        after: number(&params, "after")?,
        limit: number(&params, "limit")?,
    };
    answer(store, as_of(&params)?, move |query| query::events(query, &filter)).await
}

async fn quarterly_report(State(store): State<Arc<Store>>, QueryParams(params): QueryParams<Params>) -> Result<Response, ApiError> {
    check_params(&params, &["as_of", "quarter", "format"])?;
    let quarter = Quarter::parse(params.get("quarter").ok_or_else(|| bad("quarter is required, e.g. quarter=2026Q1".to_string()))?).map_err(ApiError::Query)?;
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad(format!("format must be json or csv, got {other:?}"))),
    };
    let as_of = as_of(&params)?;
    if !csv {
        return answer(store, as_of, move |query| query::quarterly_report(query, quarter)).await;
    }
    let outcome = tokio::task::spawn_blocking(move || {
        let reader = store.reader()?;
        let query = Query::new(&reader, as_of)?;
        Ok::<_, QueryError>((query.seq(), query::report_csv(&query::quarterly_report(&query, quarter)?)))
    })
    .await;
    let (seq, body) = joined(outcome)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::HeaderName::from_static("fundledger-seq"), seq.to_string())], body)
        .into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::document_text()).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the read models can be read (answers 503 with the reason otherwise).
async fn readyz(State(store): State<Arc<Store>>) -> Response {
    if let Some(incident) = store.incident() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {incident}")).into_response();
    }
    match answer(store, None, query::status).await {
        Ok(_) => "ready".into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {error}")).into_response(),
    }
}

async fn fallback() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": {"code": "not_found", "message": "no such endpoint; see GET /openapi.json"}}))).into_response()
}

/// The query API's routes over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/status", get(status))
        .route("/v1/portfolio", get(portfolio))
        .route("/v1/funds", get(funds))
        .route("/v1/funds/{fund}", get(fund))
        .route("/v1/subfunds/{subfund}", get(subfund))
        .route("/v1/schemes", get(schemes))
        .route("/v1/schemes/{scheme}", get(scheme))
        .route("/v1/enterprises/{enterprise}", get(enterprise))
        .route("/v1/grants/{grant}", get(grant))
        .route("/v1/events", get(events))
        .route("/v1/events/{id}", get(event))
        .route("/v1/reports/quarterly", get(quarterly_report))
        .merge(fundledger_metrics::router())
        .fallback(fallback)
        .with_state(store)
}

/// Serves the query API on `listener` until the task is dropped.
pub async fn serve(store: Arc<Store>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_until(store, listener, std::future::pending()).await
}

/// Serves the query API on `listener` until `shutdown` resolves, then stops
/// accepting and returns once the requests under way are answered.
pub async fn serve_until(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(store, listener, &fundledger_http::HttpOptions::default(), false, shutdown).await
}

/// [`serve_until`] with the port's limits, TLS, CORS and metrics guard (see
/// `fundledger_http`); `hide_metrics` when `/metrics` has a listener of its own.
pub async fn serve_with(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    options: &fundledger_http::HttpOptions,
    hide_metrics: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = if hide_metrics { fundledger_http::without_metrics(router(store)) } else { router(store) };
    fundledger_http::serve_until(listener, router, options, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panicked_query_task_is_a_server_error() {
        let outcome = tokio::task::spawn_blocking(|| -> Result<u64, QueryError> { panic!("a defect in a query") }).await;
        assert!(outcome.as_ref().is_err_and(|error| error.is_panic()));
        let response = joined(outcome).err().expect("a panic is an error").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("the query task failed"), "{body}");
    }

    #[tokio::test]
    async fn a_query_error_keeps_its_status() {
        let response = joined::<u64>(Ok(Err(QueryError::BadRequest("no".to_string())))).err().unwrap().into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_of(response).await["error"]["code"], "bad_request");
        let response = joined::<u64>(Ok(Err(QueryError::Overflow("NAVs overflow".to_string())))).err().unwrap().into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(joined(Ok(Ok::<u64, QueryError>(7))).ok(), Some(7));
    }
}
