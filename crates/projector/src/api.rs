//! The query API: HTTP JSON over the read models (OpenAPI: `GET /openapi.json`,
//! committed as `schemas/api/openapi.json`).
//!
//! Each request reads one RocksDB snapshot on a blocking thread, so an answer
//! is consistent with itself and says the ledger sequence it reflects; the
//! projector keeps committing meanwhile. Unknown query parameters are refused
//! rather than ignored, so a typo never silently returns another answer.
//!
//! Readers sign in with a key registered on the ledger (`sessions.rs`) and
//! read what its roles allow *now*: each request asks the core's rule
//! (`fundledger_core::read_access`) with the key's state at the head, so a
//! revocation takes effect at the next request. Without a session, the
//! public aggregates only, unless the operator opened all reads
//! ([`Reads::Open`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fundledger_core::crypto::{KeyId, Signature};
use fundledger_core::id::{EnterpriseId, EventId, FundId, GrantId, SchemeId, SubFundId};
use fundledger_core::read_access::{self, ReadAccess, Readable, CHALLENGE_BYTES};
use fundledger_core::wire::Refusal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::KeyModel;
use crate::query::{self, EventFilter, Quarter, Query, QueryError};
use crate::sessions::{self, SessionError, Sessions, SESSION_TTL_DEFAULT};
use crate::store::{self, Store};

/// The query API's default address (the writer's is 7400).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7401";
/// Bytes of a sign-in request body, at most.
pub const SIGN_IN_BYTES_MAX: usize = 4 * 1024;

type Params = HashMap<String, String>;

/// Who may read what without signing in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reads {
    /// Readers sign in with a registered key and read what its roles allow;
    /// without a key, the public aggregates only.
    #[default]
    Keys,
    /// Everyone reads everything (a port reachable only by trusted readers).
    Open,
}

/// How the query API lets readers in.
#[derive(Clone, Copy, Debug)]
pub struct ApiConfig {
    pub reads: Reads,
    /// How long a session lasts.
    pub session_ttl: Duration,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig { reads: Reads::Keys, session_ttl: SESSION_TTL_DEFAULT }
    }
}

#[derive(Clone)]
struct ApiState {
    store: Arc<Store>,
    sessions: Arc<Sessions>,
    reads: Reads,
}

/// Who is asking.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// Reads are open: everything.
    Anyone,
    /// No session: the public aggregates.
    Anonymous,
    /// Signed in with this key: what its roles allow at the head.
    Key(KeyId),
}

enum ApiError {
    /// The query's own answer: a refusal or a read-model failure.
    Query(QueryError),
    /// The query task panicked (or was cancelled): a server error.
    Task(String),
    /// A bearer token that is unknown or expired, or a refused sign-in.
    Unauthenticated(&'static str, String),
    /// The reader's key may not read this.
    Forbidden(&'static str, String),
    /// Too many open challenges or sessions.
    Busy(String),
    /// A request body that could not be read: its status and code.
    Body(StatusCode, &'static str, String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Query(error) => error.fmt(formatter),
            ApiError::Task(message)
            | ApiError::Unauthenticated(_, message)
            | ApiError::Forbidden(_, message)
            | ApiError::Busy(message)
            | ApiError::Body(_, _, message) => formatter.write_str(message),
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
            ApiError::Unauthenticated(code, _) => (StatusCode::UNAUTHORIZED, *code),
            ApiError::Forbidden(code, _) => (StatusCode::FORBIDDEN, *code),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Body(status, code, _) => (*status, *code),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "query failed");
        }
        let mut response = (status, Json(Refusal::new(status.as_u16(), code, self.to_string()))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> ApiError {
        ApiError::Query(QueryError::Store(error))
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> ApiError {
        ApiError::Query(error)
    }
}

fn bad(message: String) -> ApiError {
    ApiError::Query(QueryError::BadRequest(message))
}

/// The outcome of a query task: its own result, or, when the task panicked
/// (a defect, never the caller's fault), a server error logged as one.
fn joined<T>(outcome: Result<Result<T, ApiError>, tokio::task::JoinError>) -> Result<T, ApiError> {
    match outcome {
        Ok(result) => result,
        Err(error) => {
            tracing::error!(error = %error, "a query task panicked");
            Err(ApiError::Task(format!("the query task failed: {error}")))
        }
    }
}

/// The query string's parameters: only those in `allowed`, each given once
/// and not empty (a repeated or empty parameter is a mistake to point out,
/// not to guess at).
fn params_of(query: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
    let mut params = Params::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
            return Err(bad(format!("unknown query parameter {name:?}; this endpoint takes: {allowed}")));
        }
        if value.is_empty() {
            return Err(bad(format!("query parameter {name:?} is empty; leave it out instead")));
        }
        if params.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(bad(format!("query parameter {name:?} is given more than once")));
        }
    }
    Ok(params)
}

/// The id in the path, parsed with `parse` (the core's id rules), so every
/// endpoint refuses a malformed id alike, before looking it up.
fn path_id<T, E: std::fmt::Display>(path: Result<Path<String>, PathRejection>, parse: fn(&str) -> Result<T, E>) -> Result<T, ApiError> {
    let Path(id) = path.map_err(|rejection| bad(format!("the id in the path is not valid: {}", rejection.body_text())))?;
    parse(&id).map_err(|error| bad(error.to_string()))
}

/// An id parameter, checked with `parse` (the core's id rules).
fn param_id<T, E: std::fmt::Display>(params: &Params, name: &str, parse: fn(&str) -> Result<T, E>) -> Result<Option<String>, ApiError> {
    let Some(id) = params.get(name) else { return Ok(None) };
    parse(id).map_err(|error| bad(format!("{name}: {error}")))?;
    Ok(Some(id.clone()))
}

/// A non-negative integer parameter, at most `i64::MAX` (the documents say int64).
fn number<T: TryFrom<u64>>(params: &Params, name: &str) -> Result<Option<T>, ApiError> {
    let Some(text) = params.get(name) else { return Ok(None) };
    let refused = || bad(format!("{name} must be an integer from 0 to {}, got {text:?}", i64::MAX));
    let value: u64 = text.parse().map_err(|_| refused())?;
    if value > i64::MAX as u64 {
        return Err(refused());
    }
    T::try_from(value).map(Some).map_err(|_| refused())
}

fn as_of(params: &Params) -> Result<Option<u64>, ApiError> {
    number(params, "as_of")
}

/// Who sent `headers`: a session's key, or nobody in particular.
fn reader_of(state: &ApiState, headers: &HeaderMap) -> Result<Reader, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(if state.reads == Reads::Open { Reader::Anyone } else { Reader::Anonymous });
    };
    let unauthenticated = |message: &str| ApiError::Unauthenticated("unauthenticated", message.to_string());
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>` (POST /v1/sessions gives a token)"))?;
    match state.sessions.key_of(token.trim()) {
        Some(_) if state.reads == Reads::Open => Ok(Reader::Anyone),
        Some(key) => Ok(Reader::Key(key)),
        None => Err(unauthenticated("the session token is unknown or expired; sign in again (POST /v1/sessions/challenge, then POST /v1/sessions)")),
    }
}

/// What `reader` may read, asked at the read models' head.
fn access(reader: &store::Reader, who: Reader) -> Result<ReadAccess, ApiError> {
    Ok(match who {
        Reader::Anyone => ReadAccess::everything(),
        Reader::Anonymous => ReadAccess::public(),
        Reader::Key(key) => query::access::access_of(reader, &key)?,
    })
}

/// Runs `work` over a fresh snapshot on a blocking thread, once the reader
/// is found allowed to read what `needs` says (`None`: the entity does not
/// exist, which `work` then says; the public aggregates need no lookup).
async fn read<T, N, F>(state: &ApiState, headers: &HeaderMap, as_of: Option<u64>, needs: N, work: F) -> Result<query::Answer<T>, ApiError>
where
    T: Send + 'static,
    N: FnOnce(&store::Reader) -> Result<Option<Readable>, QueryError> + Send + 'static,
    F: FnOnce(&Query) -> Result<T, QueryError> + Send + 'static,
{
    let who = reader_of(state, headers)?;
    let store = state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let reader = store.reader()?;
        if let Some(needed) = needs(&reader)?.filter(|needed| *needed != Readable::Aggregates) {
            if !access(&reader, who)?.may_read(&needed) {
                let (code, whom) = match who {
                    Reader::Key(key) => ("forbidden", format!("key {}", key.short())),
                    _ => ("sign_in_required", "a reader without a session (public aggregates only)".to_string()),
                };
                return Err(ApiError::Forbidden(code, format!("{whom} may not read this: it needs {needed}")));
            }
        }
        let query = Query::new(&reader, as_of)?;
        let data = work(&query)?;
        Ok::<_, ApiError>(query.answer(data))
    })
    .await;
    joined(outcome)
}

/// [`read`], answered as JSON.
async fn answer<T, N, F>(state: &ApiState, headers: &HeaderMap, as_of: Option<u64>, needs: N, work: F) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    N: FnOnce(&store::Reader) -> Result<Option<Readable>, QueryError> + Send + 'static,
    F: FnOnce(&Query) -> Result<T, QueryError> + Send + 'static,
{
    Ok(Json(read(state, headers, as_of, needs, work).await?).into_response())
}

fn aggregates(_: &store::Reader) -> Result<Option<Readable>, QueryError> {
    Ok(Some(Readable::Aggregates))
}

fn whole_ledger(_: &store::Reader) -> Result<Option<Readable>, QueryError> {
    Ok(Some(Readable::Ledger))
}

async fn status(State(state): State<ApiState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    params_of(query.as_deref(), &[])?;
    answer(&state, &headers, None, aggregates, query::status).await
}

async fn portfolio(State(state): State<ApiState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params_of(query.as_deref(), &["as_of"])?;
    answer(&state, &headers, as_of(&params)?, aggregates, query::portfolio).await
}

async fn funds(State(state): State<ApiState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params_of(query.as_deref(), &["as_of"])?;
    answer(&state, &headers, as_of(&params)?, aggregates, query::funds).await
}

async fn fund(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let fund = path_id(path, FundId::parse)?;
    let params = params_of(query.as_deref(), &["as_of"])?;
    let needs = Readable::Fund(fund.clone());
    answer(&state, &headers, as_of(&params)?, move |_| Ok(Some(needs)), move |query| query::fund(query, fund.as_str())).await
}

async fn subfund(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_id(path, SubFundId::parse)?.to_string();
    let params = params_of(query.as_deref(), &["as_of"])?;
    let of = id.clone();
    answer(&state, &headers, as_of(&params)?, move |reader| query::access::readable_subfund(reader, &of), move |query| query::subfund(query, &id)).await
}

async fn schemes(State(state): State<ApiState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params_of(query.as_deref(), &["as_of"])?;
    answer(&state, &headers, as_of(&params)?, aggregates, query::schemes).await
}

async fn scheme(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let scheme = path_id(path, SchemeId::parse)?;
    let params = params_of(query.as_deref(), &["as_of"])?;
    let needs = Readable::Scheme(scheme.clone());
    answer(&state, &headers, as_of(&params)?, move |_| Ok(Some(needs)), move |query| query::scheme(query, scheme.as_str())).await
}

async fn enterprise(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_id(path, EnterpriseId::parse)?.to_string();
    let params = params_of(query.as_deref(), &["as_of"])?;
    answer(&state, &headers, as_of(&params)?, whole_ledger, move |query| query::enterprise(query, &id)).await
}

async fn grant(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_id(path, GrantId::parse)?.to_string();
    let params = params_of(query.as_deref(), &["as_of"])?;
    let of = id.clone();
    answer(&state, &headers, as_of(&params)?, move |reader| query::access::readable_grant(reader, &of), move |query| query::grant(query, &id)).await
}

async fn event(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_id(path, EventId::parse)?.to_string();
    let params = params_of(query.as_deref(), &["as_of"])?;
    let of = id.clone();
    answer(&state, &headers, as_of(&params)?, move |reader| query::access::readable_event(reader, &of), move |query| query::event(query, &id)).await
}

async fn events(State(state): State<ApiState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params_of(query.as_deref(), &["as_of", "fund", "subfund", "scheme", "grant", "enterprise", "after", "limit"])?;
    let filter = EventFilter {
        fund: param_id(&params, "fund", FundId::parse)?,
        subfund: param_id(&params, "subfund", SubFundId::parse)?,
        scheme: param_id(&params, "scheme", SchemeId::parse)?,
        grant: param_id(&params, "grant", GrantId::parse)?,
        enterprise: param_id(&params, "enterprise", EnterpriseId::parse)?,
        after: number(&params, "after")?,
        limit: number(&params, "limit")?,
    };
    let of = filter.clone();
    answer(&state, &headers, as_of(&params)?, move |reader| query::access::readable_events(reader, &of).map(Some), move |query| query::events(query, &filter))
        .await
}

async fn quarterly_report(State(state): State<ApiState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params_of(query.as_deref(), &["as_of", "quarter", "format"])?;
    let quarter = Quarter::parse(params.get("quarter").ok_or_else(|| bad("quarter is required, e.g. quarter=2026Q1".to_string()))?).map_err(ApiError::Query)?;
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad(format!("format must be json or csv, got {other:?}"))),
    };
    let report = read(&state, &headers, as_of(&params)?, whole_ledger, move |query| query::quarterly_report(query, quarter)).await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    let body = query::report_csv(&report.data);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::HeaderName::from_static("fundledger-seq"), report.seq.to_string())], body)
        .into_response())
}

/// `POST /v1/sessions/challenge` `{"key": hex}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    key: String,
}

/// The challenge to sign, and exactly what to sign.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChallengeAnswer {
    ledger: String,
    /// The key, 64 hex digits.
    key: String,
    /// 64 hex digits, good once, for this key only.
    challenge: String,
    /// The text to sign, after the domain `fundledger/v1/read-session\0` (FORMAT.md 11.4).
    message: String,
    expires_in_s: u64,
}

/// `POST /v1/sessions` `{"key": hex, "challenge": hex, "signature": hex}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    key: String,
    challenge: String,
    signature: String,
}

/// A session, and what its key may read now.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SessionAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    key: String,
    holder: String,
    expires_in_s: u64,
    access: ReadAccess,
}

/// A POST body read whole, or the refusal in the API's JSON shape.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if fundledger_http::is_body_timeout(&rejection) {
            ApiError::Body(StatusCode::REQUEST_TIMEOUT, "request_timeout", format!("the request body did not arrive in time: {rejection}"))
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::Body(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", format!("the request body is over the limit: {rejection}"))
        } else {
            bad(format!("cannot read the request body: {rejection}"))
        }
    })
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > SIGN_IN_BYTES_MAX {
        return Err(bad(format!("the request body is {} bytes, at most {SIGN_IN_BYTES_MAX}", body.len())));
    }
    serde_json::from_slice(body).map_err(|error| bad(format!("the request body is not what this endpoint takes: {error}")))
}

fn key_of(text: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(text).map_err(|error| bad(format!("key: {error}")))
}

/// The key's state at the head if it is registered and not revoked, else the refusal.
async fn registered_key(state: &ApiState, key: KeyId) -> Result<KeyModel, ApiError> {
    let store = state.store.clone();
    let found = tokio::task::spawn_blocking(move || Ok::<_, ApiError>(query::access::key_at_head(&store.reader()?, &key)?)).await;
    match joined(found)? {
        None => Err(ApiError::Forbidden("key_not_registered", format!("key {key} is not registered on ledger {}", state.store.ledger()))),
        Some(model) if model.revoked => Err(ApiError::Forbidden("key_revoked", format!("key {key} ({}) is revoked", model.holder))),
        Some(model) => Ok(model),
    }
}

async fn sign_in_challenge(State(state): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let request: ChallengeRequest = json_body(&body_of(body)?)?;
    let key = key_of(&request.key)?;
    // Only keys that could sign in get a challenge, so strangers cannot fill the table.
    registered_key(&state, key).await?;
    let challenge = state.sessions.challenge(key).map_err(|error| ApiError::Busy(error.to_string()))?;
    let ledger = state.store.ledger().clone();
    let message = String::from_utf8_lossy(&read_access::challenge_message(&ledger, &key, &challenge)).into_owned();
    let answer = ChallengeAnswer {
        ledger: ledger.to_string(),
        key: key.to_string(),
        challenge: hex::encode(challenge),
        message,
        expires_in_s: sessions::CHALLENGE_TTL.as_secs(),
    };
    Ok(Json(answer).into_response())
}

async fn sign_in(State(state): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let request: SignInRequest = json_body(&body_of(body)?)?;
    let key = key_of(&request.key)?;
    let challenge: [u8; CHALLENGE_BYTES] = hex::decode(&request.challenge)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| bad(format!("challenge must be {} hex digits", 2 * CHALLENGE_BYTES)))?;
    let signature = Signature::parse(&request.signature).map_err(|error| bad(format!("signature: {error}")))?;
    // The key must be registered and not revoked at the head before a session opens.
    let model = registered_key(&state, key).await?;
    let session = state.sessions.sign_in(key, &challenge, &signature).map_err(|error| match error {
        SessionError::Full(_) | SessionError::Random(_) => ApiError::Busy(error.to_string()),
        SessionError::UnknownChallenge(_) | SessionError::BadSignature { .. } => ApiError::Unauthenticated("sign_in_refused", error.to_string()),
    })?;
    let answer = SessionAnswer {
        token: session.token,
        key: key.to_string(),
        holder: model.holder.as_str().to_string(),
        expires_in_s: session.expires_in.as_secs(),
        access: ReadAccess::of_key(model.revoked, &model.roles),
    };
    Ok(Json(answer).into_response())
}

/// Who is reading: `key` is null without a session (then `access` is what everyone may read).
#[derive(Serialize, JsonSchema)]
pub(crate) struct CurrentSession {
    key: Option<String>,
    access: ReadAccess,
}

/// `GET /v1/sessions/current`: who the token stands for and what it may read now.
async fn current_session(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let who = reader_of(&state, &headers)?;
    let store = state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let reader = store.reader()?;
        let key = match who {
            Reader::Key(key) => Some(key.to_string()),
            _ => None,
        };
        Ok::<_, ApiError>(CurrentSession { key, access: access(&reader, who)? })
    })
    .await;
    Ok(Json(joined(outcome)?).into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::document_text()).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the read models can be read (answers 503 with the reason otherwise).
async fn readyz(State(state): State<ApiState>) -> Response {
    if let Some(incident) = state.store.incident() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {incident}")).into_response();
    }
    let store = state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let reader = store.reader()?;
        query::status(&Query::new(&reader, None)?).map_err(ApiError::Query)
    })
    .await;
    match joined(outcome) {
        Ok(_) => "ready".into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {error}")).into_response(),
    }
}

async fn fallback() -> Response {
    (StatusCode::NOT_FOUND, Json(Refusal::new(404, "not_found", "no such endpoint; see GET /openapi.json".to_string()))).into_response()
}

/// The query API's routes over `store`, with readers let in as `config` says.
pub fn router(store: Arc<Store>, config: ApiConfig) -> Router {
    let sessions = Arc::new(Sessions::new(store.ledger().clone(), config.session_ttl));
    let state = ApiState { store, sessions, reads: config.reads };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/sessions/challenge", post(sign_in_challenge))
        .route("/v1/sessions", post(sign_in))
        .route("/v1/sessions/current", get(current_session))
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
        .with_state(state)
}

/// Serves the query API on `listener` until the task is dropped.
pub async fn serve(store: Arc<Store>, listener: tokio::net::TcpListener, config: ApiConfig) -> std::io::Result<()> {
    serve_with(store, listener, &fundledger_http::HttpOptions::default(), false, config, std::future::pending()).await
}

/// Serves the query API on `listener` with the port's limits, TLS, CORS and
/// metrics guard (see `fundledger_http`; `hide_metrics` when `/metrics` has a
/// listener of its own) until `shutdown` resolves, then stops accepting and
/// returns once the requests under way are answered.
pub async fn serve_with(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    options: &fundledger_http::HttpOptions,
    hide_metrics: bool,
    config: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = if hide_metrics { fundledger_http::without_metrics(router(store, config)) } else { router(store, config) };
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
        let outcome = tokio::task::spawn_blocking(|| -> Result<u64, ApiError> { panic!("a defect in a query") }).await;
        assert!(outcome.as_ref().is_err_and(|error| error.is_panic()));
        let response = joined(outcome).expect_err("a panic is an error").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("the query task failed"), "{body}");
    }

    #[tokio::test]
    async fn a_query_error_keeps_its_status() {
        let response = joined::<u64>(Ok(Err(QueryError::BadRequest("no".to_string()).into()))).err().unwrap().into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_of(response).await["error"]["code"], "bad_request");
        let response = joined::<u64>(Ok(Err(QueryError::Overflow("NAVs overflow".to_string()).into()))).err().unwrap().into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(joined(Ok(Ok::<u64, ApiError>(7))).ok(), Some(7));
    }
}
