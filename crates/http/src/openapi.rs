//! What the OpenAPI documents of both HTTP ports share (the query API's,
//! `fundledger_projector::openapi`, and the writer's,
//! `fundledger_writer::openapi`): schemars writes OpenAPI 3.0 schemas, and
//! both documents are OpenAPI 3.1, whose schemas are JSON Schema 2020-12.

use std::path::Path;

use serde_json::{json, Map, Value};

/// The variable that makes [`check_committed`] rewrite the committed file.
pub const BLESS_VARIABLE: &str = "FUNDLEDGER_BLESS";

/// For the tests that keep a committed document current: `Ok` when the file
/// at `path` holds `generated`, or after rewriting it when `FUNDLEDGER_BLESS`
/// is set; otherwise what to run, naming `test`.
pub fn check_committed(path: &Path, generated: &str, test: &str) -> Result<(), String> {
    if std::env::var_os(BLESS_VARIABLE).is_some_and(|value| !value.is_empty() && value != "0") {
        return std::fs::write(path, generated).map_err(|error| format!("cannot write {}: {error}", path.display()));
    }
    match std::fs::read_to_string(path) {
        Ok(committed) if committed == generated => Ok(()),
        _ => Err(format!("{} is out of date; run `{BLESS_VARIABLE}=1 cargo test --workspace -- {test}`", path.display())),
    }
}

/// Rewrites OpenAPI 3.0's `nullable: true` (which schemars writes, and which
/// 3.0 ignores beside a `$ref`) as JSON Schema 2020-12 says it, as OpenAPI
/// 3.1 takes it: `"type": [T, "null"]` where the schema names one type,
/// else `anyOf` with `{"type": "null"}`.
pub fn to_3_1(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for member in members.values_mut() {
                to_3_1(member);
            }
            if members.remove("nullable") != Some(Value::Bool(true)) {
                return;
            }
            if let Some(Value::String(single)) = members.get("type") {
                let single = single.clone();
                members.insert("type".to_string(), json!([single, "null"]));
                if let Some(Value::Array(choices)) = members.get_mut("enum") {
                    choices.push(Value::Null);
                }
                return;
            }
            // Keep the annotations beside the choice; the rest is the non-null choice.
            let mut annotations = Map::new();
            for name in ["description", "title", "default", "example"] {
                if let Some(annotation) = members.remove(name) {
                    annotations.insert(name.to_string(), annotation);
                }
            }
            let schema = Value::Object(std::mem::take(members));
            annotations.insert("anyOf".to_string(), json!([schema, {"type": "null"}]));
            *members = annotations;
        }
        Value::Array(items) => items.iter_mut().for_each(to_3_1),
        _ => {}
    }
}
