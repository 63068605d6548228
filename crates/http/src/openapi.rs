//! What the OpenAPI documents of both HTTP ports share (the query API's,
//! `fundledger_projector::openapi`, and the writer's,
//! `fundledger_writer::openapi`): schemars writes OpenAPI 3.0 schemas, and
//! both documents are OpenAPI 3.1, whose schemas are JSON Schema 2020-12.

use serde_json::{json, Map, Value};

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
