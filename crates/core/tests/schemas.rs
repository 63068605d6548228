//! schemas/: the JSON Schemas of the event catalogue, generated from the Rust
//! types (schemars) and committed, so that subscribers in any language can
//! validate what they read. This test regenerates them and fails when the
//! committed files differ; run
//!
//! ```text
//! FUNDLEDGER_BLESS=1 cargo test -p fundledger-core --test schemas
//! ```
//!
//! to rewrite them after an intended change.
//!
//! It also validates real event bodies (one of every type) against the
//! committed schemas with a small validator for the keywords schemars emits.
//! That validator does not evaluate `pattern` (the crate has no regex engine
//! among its dependencies) nor `format`; the patterns are exercised by the
//! parsers in `id.rs`, `time.rs` and `crypto.rs` instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fundledger_core::crypto::{sha256, SecretKey};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::SignedEvent;
use fundledger_core::time::{Date, Timestamp};
use serde_json::{json, Value};

const BLESS_VARIABLE: &str = "FUNDLEDGER_BLESS";
const OUT_OF_DATE: &str = "schemas/ is out of date; run `FUNDLEDGER_BLESS=1 cargo test -p fundledger-core --test schemas`";

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn blessing() -> bool {
    std::env::var_os(BLESS_VARIABLE).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Pretty JSON with object members sorted, whatever map order serde_json or
/// schemars were built with, so the files never change by accident.
/// Integral numbers are written as integers.
fn pretty(value: &Value) -> String {
    fn write(value: &Value, indent: usize, out: &mut String) {
        let pad = |n: usize| "  ".repeat(n);
        match value {
            Value::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (index, item) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    write(item, indent + 1, out);
                    out.push_str(if index + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            Value::Object(members) if !members.is_empty() => {
                let mut names: Vec<&String> = members.keys().collect();
                names.sort();
                out.push_str("{\n");
                for (index, name) in names.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    out.push_str(&serde_json::to_string(name).unwrap());
                    out.push_str(": ");
                    write(&members[name.as_str()], indent + 1, out);
                    out.push_str(if index + 1 < names.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
            // schemars writes bounds as floats (`9007199254740991.0`); an
            // integral bound is written as an integer, which every JSON reader
            // parses exactly (serde_json's default float parser does not).
            Value::Number(number) if number.is_f64() => {
                let float = number.as_f64().unwrap();
                if float.fract() == 0.0 && float.abs() <= 9_007_199_254_740_991.0 {
                    out.push_str(&(float as i64).to_string());
                } else {
                    out.push_str(&number.to_string());
                }
            }
            other => out.push_str(&serde_json::to_string(other).unwrap()),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out.push('\n');
    out
}

fn file_name(event_type: &str) -> String {
    format!("{event_type}.schema.json")
}

/// schemars puts the `type`/`data` pair of the flattened, adjacently tagged
/// `Event` into `oneOf` branches, while `deny_unknown_fields` puts
/// `additionalProperties: false` next to `properties` that lack `type` and
/// `data`. Under draft-07 that rejects every body, so both members are named
/// at the top level (their exact schemas stay in the `oneOf` branches).
/// Does nothing if the generated schema already names them.
fn name_flattened_members(schema: &mut Value) {
    let Some(root) = schema.as_object_mut() else {
        return;
    };
    if root.get("additionalProperties") != Some(&Value::Bool(false)) {
        return;
    }
    let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    if !properties.contains_key("type") {
        properties.insert(
            "type".to_string(),
            json!({"description": "The event type; selects the schema of `data` (see schemas/events/).", "type": "string", "enum": Event::TYPES}),
        );
    }
    if !properties.contains_key("data") {
        properties.insert("data".to_string(), json!({"description": "The event's data; its schema depends on `type`.", "type": "object"}));
    }
    if let Some(required) = root.get_mut("required").and_then(Value::as_array_mut) {
        for name in ["data", "type"] {
            if !required.iter().any(|item| item == name) {
                required.push(json!(name));
            }
        }
    }
}

/// Sorts every `required` list, which schemars emits in field order or in
/// name order depending on its `preserve_order` feature.
fn sort_required(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                match member {
                    Value::Array(items) if name == "required" && items.iter().all(Value::is_string) => {
                        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    }
                    other => sort_required(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_required),
        _ => {}
    }
}

/// Every generated file, by path relative to schemas/.
fn generate() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut body = serde_json::to_value(schemars::schema_for!(EventBody)).unwrap();
    name_flattened_members(&mut body);
    sort_required(&mut body);
    body.as_object_mut().unwrap().insert(
        "$comment".to_string(),
        json!("Generated from the Rust type EventBody by crates/core/tests/schemas.rs; do not edit. Normative text: docs/FORMAT.md."),
    );
    files.insert("event-body.schema.json".to_string(), pretty(&body));

    let mut readme = String::from(
        "# JSON Schemas (generated)\n\n\
         Generated from the Rust types in `crates/core/src/event.rs` with schemars (JSON Schema draft-07) by\n\
         `crates/core/tests/schemas.rs`, which fails when these files and the code disagree. Do not edit them:\n\
         run `FUNDLEDGER_BLESS=1 cargo test -p fundledger-core --test schemas` after an intended change.\n\
         The byte-level format (canonical JSON, hashes, signatures, records) is specified in `docs/FORMAT.md`.\n\n\
         A schema checks the shape of JSON. Some rules of the parsers are stricter than the schemas say: free\n\
         text is 1 to 512 characters without control characters, `v` must be 1, `signers` holds 1 to 8\n\
         distinct keys, timestamps and dates must be real calendar instants from 1970 on, and public keys must\n\
         be valid ed25519 points. The ledger's rules (caps, budgets, authorisation) are not schema matters.\n\n\
         What the generator adds to schemars' output: members sorted by name, integral bounds written as\n\
         integers, a `$comment`, and in `event-body.schema.json` the members `type` and `data` named at the\n\
         top level (schemars leaves them only in the `oneOf` branches next to `additionalProperties: false`,\n\
         which would refuse every body).\n\n\
         | file | what it describes |\n|---|---|\n\
         | [`event-body.schema.json`](event-body.schema.json) | the signed event body `{v, id, ledger, occurred_at, signers, type, data}`; `data` per `type` in `oneOf` |\n",
    );
    for (event_type, schema) in Event::data_schemas() {
        let mut value = serde_json::to_value(schema).unwrap();
        sort_required(&mut value);
        value.as_object_mut().unwrap().insert(
            "$comment".to_string(),
            json!(format!("The `data` of a `{event_type}` event. Generated from the Rust types by crates/core/tests/schemas.rs; do not edit.")),
        );
        let name = file_name(event_type);
        let title = value["title"].as_str().unwrap_or_default().to_string();
        readme.push_str(&format!("| [`events/{name}`](events/{name}) | `data` of `{event_type}` (Rust type `{title}`) |\n"));
        files.insert(format!("events/{name}"), pretty(&value));
    }
    files.insert("README.md".to_string(), readme);
    files
}

fn committed_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for (relative, sub) in [("", dir.to_path_buf()), ("events/", dir.join("events"))] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = entry.file_name().to_string_lossy().to_string();
                files.insert(format!("{relative}{name}"), std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    files
}

#[test]
fn committed_schemas_match_the_code() {
    let generated = generate();
    let dir = schemas_dir();
    if blessing() {
        std::fs::create_dir_all(dir.join("events")).unwrap();
        for name in committed_files(&dir).keys() {
            if !generated.contains_key(name) {
                std::fs::remove_file(dir.join(name)).unwrap();
            }
        }
        for (name, content) in &generated {
            std::fs::write(dir.join(name), content).unwrap();
        }
        return;
    }
    let committed = committed_files(&dir);
    let missing: Vec<&String> = generated.keys().filter(|name| !committed.contains_key(*name)).collect();
    let stale: Vec<&String> = committed.keys().filter(|name| !generated.contains_key(*name)).collect();
    let changed: Vec<&String> = generated.iter().filter(|(name, content)| committed.get(*name).is_some_and(|c| c != *content)).map(|(n, _)| n).collect();
    assert!(
        missing.is_empty() && stale.is_empty() && changed.is_empty(),
        "{OUT_OF_DATE}\n  missing: {missing:?}\n  not generated any more: {stale:?}\n  changed: {changed:?}"
    );
}

#[test]
fn every_event_type_has_a_committed_schema() {
    if blessing() {
        return;
    }
    let dir = schemas_dir().join("events");
    for event_type in Event::TYPES {
        assert!(dir.join(file_name(event_type)).is_file(), "{OUT_OF_DATE} (no schema for {event_type})");
    }
}

// ---------------------------------------------------------------------------
// A minimal draft-07 validator for the keywords schemars emits.

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let name = reference.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("unsupported $ref {reference}"));
    &root["definitions"][name]
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        other => panic!("unsupported type {other}"),
    }
}

fn validate(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: not allowed"));
        }
        return;
    };
    for (keyword, argument) in schema {
        match keyword.as_str() {
            "$ref" => validate(root, resolve(root, argument.as_str().unwrap()), value, path, errors),
            "type" => {
                let allowed: Vec<&str> = match argument {
                    Value::String(one) => vec![one.as_str()],
                    Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("bad type"),
                };
                if !allowed.iter().any(|t| type_matches(t, value)) {
                    errors.push(format!("{path}: expected {allowed:?}, got {value}"));
                }
            }
            "enum" => {
                if !argument.as_array().unwrap().contains(value) {
                    errors.push(format!("{path}: {value} is not one of {argument}"));
                }
            }
            "const" => {
                if argument != value {
                    errors.push(format!("{path}: {value} is not {argument}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in argument.as_array().unwrap() {
                        if !object.contains_key(name.as_str().unwrap()) {
                            errors.push(format!("{path}: missing {name}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, property) in argument.as_object().unwrap() {
                        if let Some(item) = object.get(name) {
                            validate(root, property, item, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let known = schema.get("properties").and_then(Value::as_object);
                    for (name, item) in object {
                        if !known.is_some_and(|known| known.contains_key(name)) {
                            validate(root, argument, item, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (index, item) in items.iter().enumerate() {
                        validate(root, argument, item, &format!("{path}[{index}]"), errors);
                    }
                }
            }
            "allOf" => {
                for branch in argument.as_array().unwrap() {
                    validate(root, branch, value, path, errors);
                }
            }
            "anyOf" | "oneOf" => {
                let outcomes: Vec<Vec<String>> = argument
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|branch| {
                        let mut branch_errors = Vec::new();
                        validate(root, branch, value, path, &mut branch_errors);
                        branch_errors
                    })
                    .collect();
                let passing = outcomes.iter().filter(|outcome| outcome.is_empty()).count();
                if passing == 0 {
                    let closest = outcomes.iter().min_by_key(|outcome| outcome.len()).cloned().unwrap_or_default();
                    errors.push(format!("{path}: no branch of {keyword} matches; the closest fails with {closest:?}"));
                } else if keyword == "oneOf" && passing > 1 {
                    errors.push(format!("{path}: {passing} branches of oneOf match"));
                }
            }
            "minimum" | "maximum" => {
                if let Some(number) = value.as_f64() {
                    let bound = argument.as_f64().unwrap();
                    if (keyword == "minimum" && number < bound) || (keyword == "maximum" && number > bound) {
                        errors.push(format!("{path}: {value} is outside {keyword} {bound}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(text) = value.as_str() {
                    let length = text.chars().count() as u64;
                    let bound = argument.as_u64().unwrap();
                    if (keyword == "minLength" && length < bound) || (keyword == "maxLength" && length > bound) {
                        errors.push(format!("{path}: length {length} is outside {keyword} {bound}"));
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let Some(items) = value.as_array() {
                    let bound = argument.as_u64().unwrap() as usize;
                    if (keyword == "minItems" && items.len() < bound) || (keyword == "maxItems" && items.len() > bound) {
                        errors.push(format!("{path}: {} items is outside {keyword} {bound}", items.len()));
                    }
                }
            }
            // Annotations, and what this validator leaves to the parsers.
            "$schema" | "$comment" | "title" | "description" | "definitions" | "format" | "pattern" | "default" | "uniqueItems" => {}
            other => panic!("the validator does not know keyword {other:?}; extend it"),
        }
    }
}

fn errors_of(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(schema, schema, value, "$", &mut errors);
    errors
}

fn read_schema(relative: &str) -> Value {
    if blessing() {
        return serde_json::from_str(&generate()[relative]).unwrap();
    }
    let text = std::fs::read_to_string(schemas_dir().join(relative)).unwrap_or_else(|_| panic!("{OUT_OF_DATE} (missing {relative})"));
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------
// One real event of every type.

fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

fn sample_events() -> Vec<Event> {
    let key = SecretKey::from_seed_label("officer").key_id();
    let subfund = || SubFundId::parse("sf-ai").unwrap();
    let grant = || GrantId::parse("g-1").unwrap();
    let investment = || InvestmentId::parse("inv-1").unwrap();
    vec![
        Event::LedgerGenesis(LedgerGenesis { name: text("hk"), operator: key, operator_holder: text("operator") }),
        Event::KeyRegistered(KeyRegistered { key, holder: text("officer") }),
        Event::KeyRevoked(KeyRevoked { key, reason: text("left") }),
        Event::RoleGranted(RoleChange { key, role: Role::FundManager, scope: Scope::parse("fund:itf").unwrap() }),
        Event::RoleRevoked(RoleChange { key, role: Role::Admin, scope: Scope::Ledger }),
        Event::FundEstablished(presets::itif("itf")),
        Event::SubFundAdmitted(SubFundAdmitted {
            fund: FundId::parse("itf").unwrap(),
            subfund: subfund(),
            name: text("AI fund"),
            theme: ThemeId::parse("ai-robotics").unwrap(),
            general_partner: text("GP Ltd"),
            target_size_cents: Money::hkd(2_000_000_000),
            investment_period: Some(Period { starts: Date::parse("2026-01-01").unwrap(), ends: Date::parse("2030-12-31").unwrap() }),
        }),
        Event::MarketCommitted(MarketCommitted { subfund: subfund(), investor: text("LP"), amount_cents: Money::hkd(3_000_000_000) }),
        Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund(), amount_cents: Money::hkd(1_000_000_000) }),
        Event::CapitalCalled(CapitalCalled { subfund: subfund(), reference: text("call 1"), amount_cents: Money::hkd(50_000_000) }),
        Event::Distributed(Distributed { subfund: subfund(), amount_cents: Money::MAX, recallable: true }),
        Event::NavReported(NavReported { subfund: subfund(), as_of: Date::parse("2026-06-30").unwrap(), nav_cents: Money::ZERO }),
        Event::Invested(Invested {
            subfund: subfund(),
            investment: investment(),
            investee: text("Robot Co"),
            amount_cents: Money::hkd(10_000_000),
            hk_enterprise: true,
            innovation_technology: true,
        }),
        Event::WrittenOff(WrittenOff { subfund: subfund(), investment: investment(), amount_cents: Money::hkd(1) }),
        Event::FeeCharged(FeeCharged { subfund: subfund(), period: text("2026Q1"), amount_cents: Money::hkd(100) }),
        Event::ProductionSpendReported(ProductionSpendReported {
            subfund: subfund(),
            investment: investment(),
            period: text("2026"),
            amount_cents: Money::hkd(5_000_000),
            spent_on: Some(Date::parse("2026-12-31").unwrap()),
        }),
        Event::SchemeEstablished(presets::nias_scheme("nias")),
        Event::SchemeAmended(presets::nias_amendment_2025_11_18("nias")),
        Event::GrantApproved(GrantApproved {
            scheme: SchemeId::parse("nias").unwrap(),
            grant: grant(),
            enterprise: EnterpriseId::parse("br-1").unwrap(),
            enterprise_name: text("創科 Ltd"),
            project: text("line"),
            approved_cost_cents: Money::hkd(300_000_000),
            grant_cents: Money::hkd(100_000_000),
            duration_months: 36,
            applied_on: Some(Date::parse("2026-01-02").unwrap()),
            attestations: vec![presets::hk_production_line_attestation(EvidenceDigest(sha256(&[b"line"])))],
        }),
        Event::SpendVerified(SpendVerified { grant: grant(), amount_cents: Money::hkd(3), evidence_sha256: EvidenceDigest(sha256(&[b"x"])) }),
        Event::GrantCompleted(GrantCompleted { grant: grant() }),
        Event::GrantDisbursed(GrantDisbursed { grant: grant(), amount_cents: Money::hkd(1), payment_reference: text("PAY-1") }),
        Event::GrantClawedBack(GrantClawedBack {
            grant: grant(),
            amount_cents: Money::hkd(1),
            reason: text("audit"),
            reason_code: Some(ClawbackReason::IneligibleSpend),
        }),
        Event::SpendDisallowed(SpendDisallowed {
            grant: grant(),
            amount_cents: Money::hkd(3),
            reason: DisallowanceReason::IneligibleItem,
            evidence_sha256: EvidenceDigest(sha256(&[b"x"])),
        }),
        Event::MilestoneAccepted(MilestoneAccepted { grant: grant(), milestone: 1, evidence_sha256: EvidenceDigest(sha256(&[b"milestone report"])) }),
        Event::EnterprisesAssociated(EnterprisesAssociated {
            enterprises: vec![EnterpriseId::parse("br-1").unwrap(), EnterpriseId::parse("br-2").unwrap()],
            basis: text("common shareholder"),
            evidence_sha256: EvidenceDigest(sha256(&[b"register of members"])),
        }),
        Event::GrantClosed(GrantClosed { grant: grant(), reason: CloseReason::Withdrawn }),
    ]
}

fn sample_bodies() -> Vec<(&'static str, Value)> {
    let officer = SecretKey::from_seed_label("officer");
    let ledger = LedgerId::parse("hk").unwrap();
    sample_events()
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let id = EventId::parse(&format!("e-{index}")).unwrap();
            let signed = SignedEvent::author(&ledger, id, Timestamp::parse("2026-01-01T00:00:00Z").unwrap(), event, &[&officer]).unwrap();
            let body: Value = serde_json::from_slice(signed.canonical_bytes()).unwrap();
            (signed.body().type_name(), body)
        })
        .collect()
}

#[test]
fn the_samples_cover_the_catalogue() {
    let mut covered: Vec<&str> = sample_bodies().into_iter().map(|(event_type, _)| event_type).collect();
    covered.sort_unstable();
    let mut types = Event::TYPES.to_vec();
    types.sort_unstable();
    assert_eq!(covered, types);
}

#[test]
fn real_bodies_validate_against_the_committed_schemas() {
    let body_schema = read_schema("event-body.schema.json");
    for (event_type, body) in sample_bodies() {
        assert_eq!(errors_of(&body_schema, &body), Vec::<String>::new(), "{event_type} body");
        let data_schema = read_schema(&format!("events/{}", file_name(event_type)));
        assert_eq!(errors_of(&data_schema, &body["data"]), Vec::<String>::new(), "{event_type} data");
    }
}

#[test]
fn the_schemas_refuse_what_the_parsers_refuse() {
    let body_schema = read_schema("event-body.schema.json");
    let (_, body) = sample_bodies().into_iter().find(|(event_type, _)| *event_type == "grant.disbursed").unwrap();
    let mutate = |change: &dyn Fn(&mut Value)| {
        let mut changed = body.clone();
        change(&mut changed);
        changed
    };
    let cases: Vec<(&str, Value)> = vec![
        ("an unknown top-level member", mutate(&|b| b["extra"] = json!(1))),
        ("an unknown data member", mutate(&|b| b["data"]["extra"] = json!(1))),
        ("a negative amount", mutate(&|b| b["data"]["amount_cents"] = json!(-1))),
        ("an amount above 2^53-1", mutate(&|b| b["data"]["amount_cents"] = json!(9_007_199_254_740_992u64))),
        ("a fractional amount", mutate(&|b| b["data"]["amount_cents"] = json!(1.5))),
        (
            "a missing data member",
            mutate(&|b| {
                b["data"].as_object_mut().unwrap().remove("grant");
            }),
        ),
        ("an unknown type", mutate(&|b| b["type"] = json!("grant.teleported"))),
        ("data of another type", mutate(&|b| b["type"] = json!("grant.closed"))),
        (
            "no type",
            mutate(&|b| {
                b.as_object_mut().unwrap().remove("type");
            }),
        ),
        (
            "no data",
            mutate(&|b| {
                b.as_object_mut().unwrap().remove("data");
            }),
        ),
    ];
    for (name, changed) in cases {
        assert!(!errors_of(&body_schema, &changed).is_empty(), "the body schema accepts {name}");
        let text = serde_json::to_string(&changed).unwrap();
        assert!(EventBody::from_json(&text).is_err(), "the parser accepts {name}");
    }
}
