//! The writer's OpenAPI 3.1 document: paths written here, every answer's
//! schema generated from the types the writer serialises (`core::wire`), so
//! the document cannot drift from what is answered. It is served at
//! `GET /openapi.json` on the writer's port and committed as
//! `schemas/api/writer-openapi.json`; a test fails when the two differ.

use fundledger_core::wire::{EventAnswer, SubmitAnswer, WriterStatus};
use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::api::REQUEST_BYTES_MAX;

/// `{"$ref": ...}` to the schema of `T`, registering it in the components.
fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    serde_json::to_value(generator.subschema_for::<T>()).unwrap_or(Value::Null)
}

fn answer(description: &str, schema: &Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn text(description: &str) -> Value {
    json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}})
}

/// The document as a value.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let event = schema_of::<EventAnswer>(&mut generator);
    let any = schema_of::<SubmitAnswer>(&mut generator);
    let status = schema_of::<WriterStatus>(&mut generator);
    let schemas: Map<String, Value> =
        generator.take_definitions().into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();
    let submission = json!({
        "type": "object", "required": ["body", "signatures"], "additionalProperties": false,
        "properties": {
            "body": {"type": "object", "description": "The event body (docs/FORMAT.md 3; schemas/event-body.schema.json)."},
            "signatures": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[0-9a-f]{128}$"}, "description": "One Ed25519 signature per signer, in the order of `body.signers` (FORMAT.md 6.2)."}
        }
    });
    let mut refusals = Map::new();
    for (code, description) in [
        ("400", "Not a well-formed submission (`malformed_request`, `invalid_event`, `invalid_key`, ...), refused whole."),
        ("401", "A signature does not verify (`bad_signature`)."),
        ("403", "The signer may not do this (unknown, revoked, lacking the role, a second signer missing)."),
        ("408", "The request body did not arrive in time (`request_timeout`)."),
        ("409", "The event id was used for another event (`id_conflict`)."),
        ("413", "The request body is too large (`request_too_large`)."),
        ("415", "The request is not `Content-Type: application/json` (`unsupported_media_type`)."),
        ("422", "A rule of the programme refused it, or `occurred_at` is too far ahead (`occurred_at_in_future`): the figures are in the message."),
        ("429", "Too many requests from this client (`rate_limited`; `Retry-After` says when to try again)."),
        ("503", "Nothing can be appended now (`unavailable`; `ledger_rollback` until an operator acts)."),
    ] {
        refusals.insert(code.to_string(), answer(description, &event));
    }
    let mut events_responses = refusals.clone();
    events_responses.insert("201".to_string(), answer("Appended: the receipt.", &event));
    events_responses
        .insert("200".to_string(), answer("Already recorded (the original receipt), or the answer to a batch: one result per event, in order.", &any));
    let limited = json!({"429": refusals["429"]});
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fundledger writer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Submitting signed events to a ledger's writer. Money is integer HK cents. See docs/FORMAT.md (the bytes signed) and docs/OPERATIONS.md (the answers)."
        },
        "paths": {
            "/v1/events": {"post": {
                "summary": "Submit one signed event, or a batch",
                "description": format!("A submission, or a JSON array of them (a batch: each event is answered on its own, in order). Requests over {REQUEST_BYTES_MAX} bytes are refused."),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [submission, {"type": "array", "minItems": 1, "items": submission}]}}}},
                "responses": events_responses
            }},
            "/v1/status": {"get": {
                "summary": "Where the ledger stands, as the writer last saw it",
                "responses": {"200": answer("The status.", &status), "429": limited["429"]}
            }},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": text("`ok`.")}}},
            "/readyz": {"get": {"summary": "Readiness", "responses": {"200": text("`ready`."), "503": text("`not ready: <why>`.")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (docs/OPERATIONS.md 6)", "responses": {
                "200": text("The exposition format."),
                "401": answer("`--metrics-token` is set and the request lacks it (`unauthorized`).", &event),
                "404": answer("`/metrics` is served on its own listener (`--metrics-http`).", &event)
            }}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "The document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        },
        "components": {"schemas": schemas},
    });
    fundledger_http::openapi::to_3_1(&mut document);
    document
}

/// The document as served and committed: pretty JSON, object members sorted, ending with a newline.
pub fn document_text() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn the_committed_writer_openapi_document_is_current() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/api/writer-openapi.json");
        let checked = fundledger_http::openapi::check_committed(&path, &super::document_text(), "the_committed_writer_openapi_document_is_current");
        checked.unwrap_or_else(|error| panic!("{error}"));
        let text = serde_json::to_string(&super::document()).unwrap();
        assert!(!text.contains("\"nullable\""), "OpenAPI 3.1 has no `nullable`");
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(super::document()["components"]["schemas"].get(name).is_some(), "dangling reference to {name}");
        }
    }
}
