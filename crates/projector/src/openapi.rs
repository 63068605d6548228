//! The query API's OpenAPI 3.1 document: paths written here, response schemas
//! generated from the Rust view types (schemars' OpenAPI settings), so the
//! document cannot drift from what the handlers serialise. schemars writes
//! OpenAPI 3.0's `nullable`, which 3.0 ignores beside a `$ref`; `fundledger_http::openapi::to_3_1`
//! turns every nullable schema into JSON Schema's own form (`"type": [T,
//! "null"]`, or `anyOf` with `{"type": "null"}`), one way throughout. It is served at
//! `GET /openapi.json` and committed as `schemas/api/openapi.json`; the test
//! `crates/projector/tests/openapi.rs` fails when the two differ.

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::query::*;

/// `{"$ref": ...}` to the schema of `T`, registering it in the components.
fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    serde_json::to_value(generator.subschema_for::<T>()).unwrap_or(Value::Null)
}

fn as_of() -> Value {
    json!({
        "name": "as_of", "in": "query", "required": false,
        "description": "Answer as of this ledger sequence (a past position); at most the read models' position, else 409.",
        "schema": {"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX}
    })
}

/// The pattern of entity ids (funds, sub-funds, schemes, grants, enterprises).
const ENTITY_ID: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

fn path_id(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "pattern": ENTITY_ID}})
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A `200` answering `ok`, and the `errors` (and 429, which any request can meet) in the `Error` shape.
fn responses(ok_description: &str, ok: Value, errors: &[&str]) -> Value {
    let mut responses = Map::new();
    responses.insert("200".to_string(), json!({"description": ok_description, "content": {"application/json": {"schema": ok}}}));
    for code in errors.iter().chain(&["429"]) {
        let description = match *code {
            "400" => "A parameter is malformed, unknown, empty or given twice, or an id does not match its pattern.",
            "404" => "No such entity (as of the answer's sequence).",
            "409" => "`as_of` is ahead of the read models.",
            "401" => "The bearer token is unknown or expired (`unauthenticated`), or a sign-in was refused (`sign_in_refused`).",
            "403" => "The reader may not read this: `sign_in_required` without a session, `forbidden` when the key's roles do not allow it (`key_not_registered`, `key_revoked` at sign-in).",
            "500" => "The read models could not answer (`read_model`, `internal`).",
            "503" => "Too many sign-ins open (`busy`).",
            "408" => "The request body did not arrive in time (`request_timeout`).",
            "413" => "The request body is too large (`request_too_large`).",
            "429" => "Too many requests from this client (`rate_limited`; `Retry-After` says when to try again).",
            _ => "Error.",
        };
        responses
            .insert(code.to_string(), json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
    }
    Value::Object(responses)
}

/// A `GET` answering `ok`, with or without a session.
fn get(summary: &str, description: &str, parameters: Vec<Value>, ok: Value, errors: &[&str]) -> Value {
    let responses = responses("The answer and the ledger sequence it reflects.", ok, errors);
    json!({"get": {"summary": summary, "description": description, "parameters": parameters, "responses": responses, "security": [{}, {"bearer": []}]}})
}

/// A `POST` taking JSON `request` and answering `ok`.
fn post(summary: &str, description: &str, request: Value, ok: Value, errors: &[&str]) -> Value {
    let request = json!({"required": true, "content": {"application/json": {"schema": request}}});
    json!({"post": {"summary": summary, "description": description, "requestBody": request, "responses": responses("Done.", ok, errors)}})
}

/// The document as a value.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let status = schema_of::<Answer<Status>>(&mut generator);
    let portfolio = schema_of::<Answer<Portfolio>>(&mut generator);
    let funds = schema_of::<Answer<Vec<FundSummary>>>(&mut generator);
    let fund = schema_of::<Answer<FundView>>(&mut generator);
    let subfund = schema_of::<Answer<SubFundView>>(&mut generator);
    let schemes = schema_of::<Answer<Vec<SchemeView>>>(&mut generator);
    let scheme = schema_of::<Answer<SchemeView>>(&mut generator);
    let enterprise = schema_of::<Answer<EnterpriseView>>(&mut generator);
    let grant = schema_of::<Answer<GrantView>>(&mut generator);
    let event = schema_of::<Answer<EventView>>(&mut generator);
    let events = schema_of::<Answer<EventsPage>>(&mut generator);
    let report = schema_of::<Answer<QuarterlyReport>>(&mut generator);
    let challenge = schema_of::<crate::api::ChallengeAnswer>(&mut generator);
    let session = schema_of::<crate::api::SessionAnswer>(&mut generator);
    let current = schema_of::<crate::api::CurrentSession>(&mut generator);
    let mut schemas: Map<String, Value> =
        generator.take_definitions().into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();
    schemas.insert(
        "Error".to_string(),
        json!({
            "type": "object", "required": ["status", "error"],
            "properties": {"status": {"type": "integer", "description": "The HTTP status, repeated."}, "error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "enum": [
                    "bad_request", "not_found", "as_of_ahead", "read_model", "internal", "unauthenticated", "sign_in_refused", "sign_in_required",
                    "forbidden", "key_not_registered", "key_revoked", "busy", "rate_limited", "request_timeout", "request_too_large", "unauthorized"
                ]},
                "message": {"type": "string", "description": "What is wrong, with the figures."}
            }}}
        }),
    );
    let entity = ["400", "401", "403", "404", "409", "500"];
    let aggregate = ["400", "401", "409", "500"];
    let mut paths = Map::new();
    paths.insert(
        "/v1/status".into(),
        get("Where the read models stand", "Records projected, the head hash and entity counts.", vec![], status, &["400", "401", "500"]),
    );
    paths.insert(
        "/v1/portfolio".into(),
        get(
            "Every fund's totals and every scheme",
            "Fund totals (commitments, paid-in, uncalled, distributions, NAV, DPI/RVPI/TVPI, IRR) and scheme budgets.",
            vec![as_of()],
            portfolio,
            &aggregate,
        ),
    );
    paths.insert("/v1/funds".into(), get("Every fund's totals", "As in the portfolio.", vec![as_of()], funds, &aggregate));
    paths.insert(
        "/v1/funds/{fund}".into(),
        get(
            "One fund",
            "Capital, commitments, paid-in, uncalled, distributions, NAV, multiples and since-inception IRR, by theme, sub-fund and GP.",
            vec![path_id("fund", "The fund id."), as_of()],
            fund,
            &entity,
        ),
    );
    paths.insert(
        "/v1/subfunds/{subfund}".into(),
        get(
            "One sub-fund",
            "Market and government commitments, the government share against its maximum, investments, the Hong Kong enterprise share and HK production spend against their minimums, and metrics.",
            vec![path_id("subfund", "The sub-fund id."), as_of()],
            subfund,
            &entity,
        ),
    );
    paths.insert(
        "/v1/schemes".into(),
        get("Every scheme", "Budget, approved, committed, disbursed, remaining, grant and enterprise counts.", vec![as_of()], schemes, &aggregate),
    );
    paths.insert(
        "/v1/schemes/{scheme}".into(),
        get(
            "One scheme",
            "As in the list, with each enterprise's grants, verified spend, disbursements and headroom under each cap.",
            vec![path_id("scheme", "The scheme id."), as_of()],
            scheme,
            &entity,
        ),
    );
    paths.insert(
        "/v1/enterprises/{enterprise}".into(),
        get(
            "One enterprise",
            "Its standing in every scheme it has grants in.",
            vec![path_id("enterprise", "The enterprise id."), as_of()],
            enterprise,
            &entity,
        ),
    );
    paths.insert(
        "/v1/grants/{grant}".into(),
        get("One grant", "Its status, figures and full history.", vec![path_id("grant", "The grant id."), as_of()], grant, &entity),
    );
    paths.insert(
        "/v1/events".into(),
        get(
            "Events, in ledger order",
            "Every event, or those of one fund (its sub-funds' included), sub-fund, scheme (its grants' included), grant or enterprise; paged with `after` and `limit`.",
            vec![
                query_param("fund", "Events of this fund and its sub-funds.", json!({"type": "string", "pattern": ENTITY_ID})),
                query_param("subfund", "Events of this sub-fund.", json!({"type": "string", "pattern": ENTITY_ID})),
                query_param("scheme", "Events of this scheme and its grants.", json!({"type": "string", "pattern": ENTITY_ID})),
                query_param("grant", "Events of this grant.", json!({"type": "string", "pattern": ENTITY_ID})),
                query_param("enterprise", "Events of this enterprise's grants.", json!({"type": "string", "pattern": ENTITY_ID})),
                query_param("after", "Only events after this sequence (the previous page's `next_after`).", json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX})),
                query_param("limit", "At most this many events (default 100).", json!({"type": "integer", "minimum": 1, "maximum": EVENTS_PAGE_MAX})),
                as_of(),
            ],
            events,
            &entity,
        ),
    );
    paths.insert(
        "/v1/events/{id}".into(),
        get(
            "One event by id",
            "The record with the event id given by its author.",
            vec![json!({"name": "id", "in": "path", "required": true, "description": "The event id.", "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}), as_of()],
            event,
            &entity,
        ),
    );
    let mut report_path = get(
        "Quarterly report",
        "Per sub-fund: commitments, calls, fees and distributions dated in the quarter and cumulative to its end, the NAV dated on or before its end, and multiples; per scheme: approvals, disbursements and clawbacks in the quarter and utilisation. `format=csv` answers the same as CSV (header `fundledger-seq` carries the sequence).",
        vec![
            json!({"name": "quarter", "in": "query", "required": true, "description": "The quarter, e.g. 2026Q1.", "schema": {"type": "string", "pattern": "^[0-9]{4}-?[Qq][1-4]$"}}),
            query_param("format", "json (default) or csv.", json!({"type": "string", "enum": ["json", "csv"]})),
            as_of(),
        ],
        report,
        &["400", "401", "403", "409", "500"],
    );
    report_path["get"]["responses"]["200"]["content"]["text/csv"] = json!({"schema": {"type": "string"}});
    paths.insert("/v1/reports/quarterly".into(), report_path);
    let hex = |digits: u32, description: &str| json!({"type": "string", "pattern": format!("^[0-9a-f]{{{digits}}}$"), "description": description});
    paths.insert(
        "/v1/sessions/challenge".into(),
        post(
            "A sign-in challenge for a key",
            "For a key registered and not revoked at the ledger's head (else 403 `key_not_registered` or `key_revoked`), returns a random challenge, good once for 60 seconds (a key holds at most 4 open; a new one retires the oldest), and the exact text to sign: `<ledger>\\n<key>\\n<challenge>`, signed with Ed25519 after the domain `fundledger/v1/read-session\\0` (docs/FORMAT.md 11.4).",
            json!({"type": "object", "additionalProperties": false, "required": ["key"], "properties": {"key": hex(64, "The reader's public key.")}}),
            challenge,
            &["400", "403", "408", "413", "503"],
        ),
    );
    paths.insert(
        "/v1/sessions".into(),
        post(
            "Sign in with a registered key",
            "Checks the signature over the challenge and opens a session for a key registered and not revoked at the ledger's head. What the session may read is decided again at every request from the key's roles, so a revocation takes effect at once.",
            json!({"type": "object", "additionalProperties": false, "required": ["key", "challenge", "signature"], "properties": {
                "key": hex(64, "The reader's public key."), "challenge": hex(64, "The challenge received."), "signature": hex(128, "The Ed25519 signature.")
            }}),
            session,
            &["400", "401", "403", "408", "413", "500", "503"],
        ),
    );
    let mut current = get(
        "The session's key and what it may read now",
        "`key` is null without a session (then `access` is what everyone may read).",
        vec![],
        current,
        &["401", "500"],
    );
    current["get"]["responses"]["200"]["description"] = json!("Who is reading.");
    paths.insert("/v1/sessions/current".into(), current);
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fundledger query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read models of a fundledger ledger, kept by the projector from the ledger stream. Money is integer HK cents. Every answer carries `seq`, the ledger sequence it reflects; `as_of=SEQ` answers as of a past sequence. See docs/QUERYING.md."
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A session token from POST /v1/sessions."}}},
    });
    fundledger_http::openapi::to_3_1(&mut document);
    document
}

/// The document as served and committed: pretty JSON, object members sorted
/// (serde_json's map is ordered by key), ending with a newline.
pub fn document_text() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default() + "\n"
}
