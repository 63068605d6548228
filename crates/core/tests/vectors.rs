//! Test vectors for other implementations: `docs/vectors/vectors.json`.
//!
//! The file is data, committed next to docs/FORMAT.md, so that a verifier in
//! another language can be checked against it without running Rust. This test
//! regenerates the vectors in memory from the real code and fails if the
//! committed file differs, so the file cannot drift from the code. Run
//!
//! ```text
//! FUNDLEDGER_BLESS=1 cargo test -p fundledger-core --test vectors
//! ```
//!
//! to rewrite it after an intended change (which, per docs/FORMAT.md, is a new
//! format version, never an edit of version 1).
//!
//! The second half re-checks the committed file without the library's code
//! paths wherever that is possible: signatures with ed25519-dalek directly,
//! hashes with sha2 directly, the record hash and checkpoint bytes assembled
//! byte by byte from the documented layout, canonical JSON with a separate
//! little RFC 8785 writer, and Merkle roots and proofs with the naive
//! recursive definitions of RFC 6962.

use std::path::PathBuf;

use fundledger_core::canonical::{canonicalize, CanonicalError};
use fundledger_core::chain::ChainState;
use fundledger_core::checkpoint::{Checkpoint, Cosignature, SignedCheckpoint};
use fundledger_core::crypto::{domain, sha256, SecretKey};
use fundledger_core::event::{
    Event, EvidenceDigest, GrantApproved, GrantDisbursed, KeyRegistered, LedgerGenesis, Role, RoleChange, Scope, SpendVerified, Text,
};
use fundledger_core::id::{EnterpriseId, EventId, GrantId, LedgerId, SchemeId};
use fundledger_core::ledger::Ledger;
use fundledger_core::merkle::{self, MemoryNodeStore};
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::{Record, RecordError, SignedEvent, GENESIS_PREV};
use fundledger_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

const BLESS_VARIABLE: &str = "FUNDLEDGER_BLESS";
const LEDGER: &str = "hk-demo";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/vectors.json")
}

fn blessing() -> bool {
    std::env::var_os(BLESS_VARIABLE).is_some_and(|value| !value.is_empty() && value != "0")
}

// ---------------------------------------------------------------------------
// The file's shape. Structs (not maps) keep the field order fixed whatever
// serde_json features other crates switch on.

#[derive(Serialize)]
struct Vectors {
    about: Vec<&'static str>,
    format_version: u32,
    domains: Vec<DomainVector>,
    keys: Vec<KeyVector>,
    canonicalization: Vec<CanonicalVector>,
    canonicalization_refused: Vec<RefusedVector>,
    events: Vec<EventVector>,
    submission_layouts: Vec<SubmissionLayoutVector>,
    ledger: LedgerVector,
    invalid_records: Vec<InvalidRecordVector>,
    checkpoint: CheckpointVector,
    signature_rules: SignatureRulesVector,
}

#[derive(Serialize)]
struct DomainVector {
    purpose: &'static str,
    text: String,
    hex: String,
}

#[derive(Serialize)]
struct KeyVector {
    label: &'static str,
    used_as: &'static str,
    secret_derivation: String,
    secret_hex: String,
    public_hex: String,
}

#[derive(Serialize)]
struct CanonicalVector {
    name: &'static str,
    input: &'static str,
    output: String,
    output_hex: String,
}

#[derive(Serialize)]
struct RefusedVector {
    name: &'static str,
    input: String,
    error: &'static str,
}

#[derive(Serialize)]
struct EventVector {
    name: &'static str,
    #[serde(rename = "type")]
    event_type: &'static str,
    /// The body as serde writes it (member order of the Rust struct): not canonical.
    body: Box<RawValue>,
    body_canonical: String,
    body_canonical_hex: String,
    event_hash: String,
    signers: Vec<String>,
    signature_message_hex: String,
    signatures: Vec<String>,
    submission: String,
}

#[derive(Serialize)]
struct SubmissionLayoutVector {
    name: &'static str,
    submission: String,
    body_canonical: String,
    event_hash: String,
}

#[derive(Serialize)]
struct LedgerVector {
    id: &'static str,
    records: Vec<RecordVector>,
    roots: Vec<RootVector>,
    inclusion_proofs: Vec<InclusionVector>,
    consistency_proofs: Vec<ConsistencyVector>,
}

#[derive(Serialize)]
struct RecordVector {
    seq: u64,
    event: usize,
    recorded_at: String,
    prev: String,
    event_hash: String,
    record_hash_preimage_hex: String,
    record_hash: String,
    merkle_leaf_hash: String,
    stored: String,
}

#[derive(Serialize)]
struct RootVector {
    size: u64,
    root: String,
}

#[derive(Serialize)]
struct InclusionVector {
    leaf_index: u64,
    tree_size: u64,
    record_hash: String,
    leaf_hash: String,
    root: String,
    path: Vec<String>,
}

#[derive(Serialize)]
struct ConsistencyVector {
    old_size: u64,
    new_size: u64,
    old_root: String,
    new_root: String,
    path: Vec<String>,
}

#[derive(Serialize)]
struct InvalidRecordVector {
    name: &'static str,
    stored: String,
    error: &'static str,
}

#[derive(Serialize)]
struct CheckpointVector {
    ledger: String,
    size: u64,
    root: String,
    head: String,
    issued_at: String,
    signing_bytes_hex: String,
    operator: String,
    operator_message_hex: String,
    operator_signature: String,
    signed_json: String,
    witness: String,
    witness_message_hex: String,
    witness_signature: String,
    cosignature_json: String,
}

/// ZIP 215 as fundledger applies it (docs/FORMAT.md 6.3): crafted keys and
/// signatures where ZIP 215 and RFC 8032's strict rules part ways.
#[derive(Serialize)]
struct SignatureRulesVector {
    about: Vec<&'static str>,
    small_order_keys: Vec<SmallOrderKeyVector>,
    signatures: Vec<SignatureRuleVector>,
}

#[derive(Serialize)]
struct SmallOrderKeyVector {
    public_hex: String,
    /// The order of the point it decodes to: 1, 2, 4 or 8.
    order: u8,
    /// Whether this is the point's canonical encoding (y < p, and the sign bit clear when x = 0).
    canonical: bool,
    /// Whether fundledger accepts it as a key id: never.
    accepted: bool,
}

#[derive(Serialize)]
struct SignatureRuleVector {
    name: &'static str,
    public_hex: String,
    /// The signed message in full (the domain prefix included).
    message_hex: String,
    signature: String,
    /// `Some(i)`: the key and message are those of `events[i]`'s only signer,
    /// so this signature can stand in for that event's signature.
    event: Option<usize>,
    /// The verdict under ZIP 215 with fundledger's key rule (what the writer, replay and verifier decide).
    valid: bool,
    /// The verdict of a strict RFC 8032 verifier (ed25519-dalek `verify_strict`, like libsodium).
    valid_strict: bool,
}

// ---------------------------------------------------------------------------
// Inputs.

const KEYS: [(&str, &str); 4] = [
    ("operator", "ledger operator: signs ledger.genesis, is the first admin, signs checkpoints"),
    ("officer", "grant officer for scheme:pilot"),
    ("officer-two", "second grant officer for scheme:pilot (co-signs the disbursement)"),
    ("auditor", "witness: co-signs the checkpoint"),
];

/// Hand-written canonical forms (RFC 8785); the test checks both the library
/// and the test's own writer against them.
const CANONICAL_CASES: [(&str, &str, &str); 8] = [
    ("member order and whitespace", "{ \"b\" : 2,\n  \"a\" : 1,\n  \"c\" : { \"z\" : true, \"y\" : null } }", r#"{"a":1,"b":2,"c":{"y":null,"z":true}}"#),
    (
        "member names sorted by UTF-16 code units, not by UTF-8 bytes",
        r#"{"｡":1,"😀":2,"€":3,"a":4,"\r":5,"1":6,"":7}"#,
        "{\"\":7,\"\\r\":5,\"1\":6,\"a\":4,\"€\":3,\"😀\":2,\"｡\":1}",
    ),
    (
        "string escaping as ECMAScript JSON.stringify",
        r#""\u0041\u00e9\/\b\f\n\r\t\u0001\u001f\u007f\"\\\u2028\ud83d\ude00""#,
        "\"Aé/\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}\\\"\\\\\u{2028}😀\"",
    ),
    ("integers at the limits", "[0, 1, -1, 9007199254740991, -9007199254740991]", "[0,1,-1,9007199254740991,-9007199254740991]"),
    ("literals", "[ true , false , null ]", "[true,false,null]"),
    ("empty containers", "{\"b\": [], \"a\": {}, \"c\": [{}, []]}", r#"{"a":{},"b":[],"c":[{},[]]}"#),
    (
        "nested objects are sorted at every level",
        r#"{"data":{"grant":"g1","amount_cents":100},"v":1,"id":"e1"}"#,
        r#"{"data":{"amount_cents":100,"grant":"g1"},"id":"e1","v":1}"#,
    ),
    ("non-ASCII text is written as UTF-8, not escaped", r#""\u5275\u79d1 I&T <fund>""#, "\"創科 I&T <fund>\""),
];

fn refused_cases() -> Vec<(&'static str, String)> {
    let mut deep = String::from("1");
    for _ in 0..33 {
        deep = format!("[{deep}]");
    }
    vec![
        ("a fraction", "1.5".to_string()),
        ("a fraction equal to an integer", "1.0".to_string()),
        ("an exponent", "1e3".to_string()),
        ("negative zero", "-0".to_string()),
        ("2^53", "9007199254740992".to_string()),
        ("-(2^53)", "-9007199254740992".to_string()),
        ("a number inside an event body", r#"{"data":{"amount_cents":100.5}}"#.to_string()),
        ("a scalar inside 33 nested arrays (deeper than 32)", deep),
    ]
}

fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

fn hexs(hash: &[u8]) -> String {
    hex::encode(hash)
}

struct Step {
    name: &'static str,
    occurred_at: &'static str,
    signers: Vec<&'static str>,
    event: Event,
}

fn key(label: &str) -> SecretKey {
    SecretKey::from_seed_label(label)
}

/// The pilot scheme as these vectors recorded it (before issue 19 added an
/// application window and an attestation to the preset): the committed
/// records must keep verifying byte for byte (FORMAT.md 13).
fn pilot_scheme_v1() -> fundledger_core::event::SchemeEstablished {
    fundledger_core::event::SchemeEstablished {
        enterprise_grant_max_cents: Some(Money::hkd(250_000)),
        ..presets::matching_scheme("pilot", "Manufacturing and Production Line Upgrade Support Pilot Scheme", Money::hkd(100_000_000))
    }
}

fn steps() -> Vec<Step> {
    let pilot = Scope::parse("scheme:pilot").unwrap();
    vec![
        Step {
            name: "genesis: names the ledger and its operator",
            occurred_at: "2026-03-02T09:00:00Z",
            signers: vec!["operator"],
            event: Event::LedgerGenesis(LedgerGenesis {
                name: text("Hong Kong innovation funding (test vectors)"),
                operator: key("operator").key_id(),
                operator_holder: text("Ledger operator"),
            }),
        },
        Step {
            name: "a matching-grant scheme with optional caps left out",
            occurred_at: "2026-03-02T09:01:00Z",
            signers: vec!["operator"],
            event: Event::SchemeEstablished(pilot_scheme_v1()),
        },
        Step {
            name: "a key is registered",
            occurred_at: "2026-03-02T09:02:00Z",
            signers: vec!["operator"],
            event: Event::KeyRegistered(KeyRegistered { key: key("officer").key_id(), holder: text("Grant officer A") }),
        },
        Step {
            name: "a role is granted for one scheme",
            occurred_at: "2026-03-02T09:03:00Z",
            signers: vec!["operator"],
            event: Event::RoleGranted(RoleChange { key: key("officer").key_id(), role: Role::GrantOfficer, scope: pilot.clone() }),
        },
        Step {
            name: "a second key is registered",
            occurred_at: "2026-03-02T09:04:00Z",
            signers: vec!["operator"],
            event: Event::KeyRegistered(KeyRegistered { key: key("officer-two").key_id(), holder: text("Grant officer B") }),
        },
        Step {
            name: "the second key gets the same role",
            occurred_at: "2026-03-02T09:05:00Z",
            signers: vec!["operator"],
            event: Event::RoleGranted(RoleChange { key: key("officer-two").key_id(), role: Role::GrantOfficer, scope: pilot }),
        },
        Step {
            name: "a grant approval with non-ASCII text, a quote and a backslash",
            occurred_at: "2026-03-02T09:06:30.250Z",
            signers: vec!["officer"],
            event: Event::GrantApproved(GrantApproved {
                scheme: SchemeId::parse("pilot").unwrap(),
                grant: GrantId::parse("g-0001").unwrap(),
                enterprise: EnterpriseId::parse("br-12345678").unwrap(),
                enterprise_name: text("創科 Robotics (HK) Ltd"),
                project: text("Line \"A\" upgrade \\ phase 1 — 生產線"),
                approved_cost_cents: Money::hkd(750_000),
                grant_cents: Money::hkd(250_000),
                duration_months: 18,
                applied_on: None,
                attestations: Vec::new(),
            }),
        },
        Step {
            name: "verified spend anchored by the SHA-256 of its evidence",
            occurred_at: "2026-03-02T09:07:00Z",
            signers: vec!["officer"],
            event: Event::SpendVerified(SpendVerified {
                grant: GrantId::parse("g-0001").unwrap(),
                amount_cents: Money::hkd(300_000),
                evidence_sha256: EvidenceDigest(sha256(&[b"invoice INV-2026-0042"])),
            }),
        },
        Step {
            name: "a disbursement signed by two officers",
            occurred_at: "2026-03-02T09:08:00.5Z",
            signers: vec!["officer", "officer-two"],
            event: Event::GrantDisbursed(GrantDisbursed {
                grant: GrantId::parse("g-0001").unwrap(),
                amount_cents: Money::hkd(100_000),
                payment_reference: text("PAY-2026-0007"),
            }),
        },
    ]
}

const INCLUSION_CASES: [(u64, u64); 4] = [(4, 9), (8, 9), (0, 1), (2, 7)];
const CONSISTENCY_CASES: [(u64, u64); 4] = [(6, 9), (4, 9), (1, 2), (3, 7)];
const CHECKPOINT_ISSUED_AT: &str = "2026-03-02T09:10:00.000Z";

fn recorded_at(seq: u64) -> String {
    format!("2026-03-02T09:{:02}:45.500Z", seq - 1)
}

// ---------------------------------------------------------------------------
// Generation: the library's own code paths.

fn generate() -> String {
    let ledger_id = LedgerId::parse(LEDGER).unwrap();
    let domains = vec![
        ("event hash", domain::EVENT),
        ("event signature", domain::EVENT_SIGNATURE),
        ("record hash", domain::RECORD),
        ("checkpoint signature (operator)", domain::CHECKPOINT),
        ("checkpoint co-signature (witness)", domain::WITNESS),
    ]
    .into_iter()
    .map(|(purpose, bytes)| DomainVector { purpose, text: String::from_utf8(bytes.to_vec()).unwrap(), hex: hexs(bytes) })
    .collect();

    let keys = KEYS
        .iter()
        .map(|&(label, used_as)| {
            let secret = key(label);
            KeyVector {
                label,
                used_as,
                secret_derivation: format!("SHA-256(\"fundledger/test-key\\u0000\" || \"{label}\")"),
                secret_hex: secret.to_hex(),
                public_hex: secret.key_id().to_string(),
            }
        })
        .collect();

    let canonicalization = CANONICAL_CASES
        .iter()
        .map(|&(name, input, _)| {
            let output = canonicalize(&serde_json::from_str(input).unwrap()).unwrap();
            CanonicalVector { name, input, output_hex: hexs(&output), output: String::from_utf8(output).unwrap() }
        })
        .collect();

    let canonicalization_refused = refused_cases()
        .into_iter()
        .map(|(name, input)| {
            let value: Value = serde_json::from_str(&input).unwrap();
            let error = match canonicalize(&value).expect_err(name) {
                CanonicalError::Number(..) => "a number that is not an integer within ±(2^53-1)",
                CanonicalError::TooDeep(_) => "nesting deeper than 32",
                CanonicalError::Serialize(_) => unreachable!("parsed JSON always serialises"),
            };
            RefusedVector { name, input, error }
        })
        .collect();

    let mut events = Vec::new();
    let mut signed_events = Vec::new();
    for (index, step) in steps().into_iter().enumerate() {
        let secrets: Vec<SecretKey> = step.signers.iter().map(|label| key(label)).collect();
        let refs: Vec<&SecretKey> = secrets.iter().collect();
        let occurred_at = Timestamp::parse(step.occurred_at).unwrap();
        let id = EventId::parse(&format!("ev-{:04}", index + 1)).unwrap();
        let signed = SignedEvent::author(&ledger_id, id, occurred_at, step.event, &refs).unwrap();
        let body = signed.body();
        events.push(EventVector {
            name: step.name,
            event_type: body.type_name(),
            body: RawValue::from_string(serde_json::to_string(body).unwrap()).unwrap(),
            body_canonical: String::from_utf8(signed.canonical_bytes().to_vec()).unwrap(),
            body_canonical_hex: hexs(signed.canonical_bytes()),
            event_hash: hexs(signed.event_hash()),
            signers: body.signers.iter().map(ToString::to_string).collect(),
            signature_message_hex: hexs(&signed.signed_message()),
            signatures: signed.signatures().iter().map(ToString::to_string).collect(),
            submission: signed.to_submission_json(),
        });
        signed_events.push(signed);
    }

    // One body submitted in a different layout signs and hashes the same.
    let disbursement = &signed_events[8];
    let signatures: Vec<String> = disbursement.signatures().iter().map(|s| format!("\"{s}\"")).collect();
    let relaid = format!(
        "{{\n  \"signatures\": [{}],\n  \"body\": {}\n}}",
        signatures.join(", "),
        serde_json::to_string_pretty(disbursement.body()).unwrap().replace("PAY-2026-0007", "\\u0050AY-2026-0007").replace('\n', "\n  ")
    );
    let reparsed = SignedEvent::from_submission_json(&relaid).unwrap();
    assert_eq!(reparsed.event_hash(), disbursement.event_hash());
    let submission_layouts = vec![SubmissionLayoutVector {
        name: "pretty-printed, members in struct order, signatures first, one character escaped",
        body_canonical: String::from_utf8(reparsed.canonical_bytes().to_vec()).unwrap(),
        event_hash: hexs(reparsed.event_hash()),
        submission: relaid,
    }];

    // The chain and the tree.
    let mut chain = ChainState::new(ledger_id.clone());
    let mut store = MemoryNodeStore::new();
    let mut ledger = Ledger::new();
    let mut records = Vec::new();
    let mut record_vectors = Vec::new();
    for (index, signed) in signed_events.into_iter().enumerate() {
        let verified = signed.verify().unwrap();
        ledger.apply(&verified).unwrap_or_else(|violation| panic!("vector event {index} refused: {violation}"));
        let recorded = Timestamp::parse(&recorded_at(chain.size() + 1)).unwrap();
        let record = chain.seal_next(recorded, verified.into_signed());
        chain.append(&record, |id, hash| store.put(id, *hash)).unwrap();
        record_vectors.push(RecordVector {
            seq: record.seq,
            event: index,
            recorded_at: record.recorded_at.to_string(),
            prev: hexs(&record.prev),
            event_hash: hexs(record.event.event_hash()),
            record_hash_preimage_hex: hexs(&documented_record_preimage(
                LEDGER,
                record.seq,
                &record.prev,
                record.recorded_at.as_str(),
                record.event.event_hash(),
                &record.event.signatures().iter().map(|s| s.0).collect::<Vec<_>>(),
            )),
            record_hash: hexs(&record.hash),
            merkle_leaf_hash: hexs(&merkle::leaf_hash(&record.hash)),
            stored: String::from_utf8(record.to_json()).unwrap(),
        });
        records.push(record);
    }
    let size = chain.size();
    let roots = (0..=size).map(|n| RootVector { size: n, root: hexs(&merkle::root_at(&store, n).unwrap()) }).collect();
    let inclusion_proofs = INCLUSION_CASES
        .iter()
        .map(|&(leaf_index, tree_size)| {
            let record_hash = records[leaf_index as usize].hash;
            InclusionVector {
                leaf_index,
                tree_size,
                record_hash: hexs(&record_hash),
                leaf_hash: hexs(&merkle::leaf_hash(&record_hash)),
                root: hexs(&merkle::root_at(&store, tree_size).unwrap()),
                path: merkle::proof_to_hex(&merkle::inclusion_proof(&store, leaf_index, tree_size).unwrap()),
            }
        })
        .collect();
    let consistency_proofs = CONSISTENCY_CASES
        .iter()
        .map(|&(old_size, new_size)| ConsistencyVector {
            old_size,
            new_size,
            old_root: hexs(&merkle::root_at(&store, old_size).unwrap()),
            new_root: hexs(&merkle::root_at(&store, new_size).unwrap()),
            path: merkle::proof_to_hex(&merkle::consistency_proof(&store, old_size, new_size).unwrap()),
        })
        .collect();

    // Stored records that a verifier must refuse.
    let approval = String::from_utf8(records[6].to_json()).unwrap();
    let original_hash = hexs(&records[6].hash);
    let first_signature = records[6].event.signatures()[0].to_string();
    let mut flipped_signature = first_signature.clone();
    flipped_signature.replace_range(0..1, if flipped_signature.starts_with('0') { "1" } else { "0" });
    let invalid_records = vec![
        InvalidRecordVector { name: "whitespace inside the body", stored: approval.replacen("{\"data\":{", "{\"data\": {", 1), error: "NotCanonical" },
        InvalidRecordVector {
            name: "a character of the body written as an escape",
            stored: approval.replacen("Robotics", "Rob\\u006ftics", 1),
            error: "NotCanonical",
        },
        InvalidRecordVector { name: "seq changed", stored: approval.replacen("\"seq\":7", "\"seq\":8", 1), error: "HashMismatch" },
        InvalidRecordVector {
            name: "one signature character changed (the record hash covers the signatures)",
            stored: approval.replacen(&first_signature, &flipped_signature, 1),
            error: "HashMismatch",
        },
        InvalidRecordVector {
            name: "record hash in uppercase hex",
            stored: approval.replacen(&original_hash, &original_hash.to_uppercase(), 1),
            error: "Json",
        },
        InvalidRecordVector { name: "an unknown envelope member", stored: approval.replacen("{\"v\":1,", "{\"v\":1,\"note\":\"x\",", 1), error: "Json" },
        InvalidRecordVector { name: "envelope version 2", stored: approval.replacen("{\"v\":1,\"ledger\"", "{\"v\":2,\"ledger\"", 1), error: "Version" },
    ];

    // A checkpoint over the whole ledger, and a witness's co-signature.
    let operator = key("operator");
    let auditor = key("auditor");
    assert_eq!(ledger.operator(), Some(&operator.key_id()));
    let checkpoint =
        Checkpoint { ledger: ledger_id.clone(), size, root: chain.root(), head: *chain.head(), issued_at: Timestamp::parse(CHECKPOINT_ISSUED_AT).unwrap() };
    let signing_bytes = checkpoint.signing_bytes();
    let cosignature = checkpoint.witness(&auditor);
    let signed = checkpoint.clone().sign(&operator);
    let checkpoint_vector = CheckpointVector {
        ledger: LEDGER.to_string(),
        size,
        root: hexs(&checkpoint.root),
        head: hexs(&checkpoint.head),
        issued_at: CHECKPOINT_ISSUED_AT.to_string(),
        signing_bytes_hex: hexs(&signing_bytes),
        operator: operator.key_id().to_string(),
        operator_message_hex: hexs(&[domain::CHECKPOINT, &signing_bytes].concat()),
        operator_signature: signed.signature.to_string(),
        signed_json: String::from_utf8(signed.to_json()).unwrap(),
        witness: auditor.key_id().to_string(),
        witness_message_hex: hexs(&[domain::WITNESS, &signing_bytes].concat()),
        witness_signature: cosignature.signature.to_string(),
        cosignature_json: serde_json::to_string(&cosignature).unwrap(),
    };

    let signature_rules = signature_rules(&events[0]);
    let vectors = Vectors {
        about: vec![
            "Test vectors for fundledger format version 1; the normative text is docs/FORMAT.md.",
            "Generated by crates/core/tests/vectors.rs, which fails when this file and the code disagree.",
            "Hashes, keys and signatures are lowercase hex. 'events[i]' is the body of record seq i+1.",
            "Keys are deterministic test keys: never use them for anything real.",
        ],
        format_version: 1,
        domains,
        keys,
        canonicalization,
        canonicalization_refused,
        events,
        submission_layouts,
        ledger: LedgerVector { id: LEDGER, records: record_vectors, roots, inclusion_proofs, consistency_proofs },
        invalid_records,
        checkpoint: checkpoint_vector,
        signature_rules,
    };
    let mut json = serde_json::to_string_pretty(&vectors).unwrap();
    json.push('\n');
    json
}

/// The secret scalar `a` of a test key (RFC 8032 5.1.5: the clamped first half of SHA-512 of the seed).
fn secret_scalar(label: &str) -> curve25519_dalek::Scalar {
    let seed = sha256(&[b"fundledger/test-key\0", label.as_bytes()]);
    let expanded = sha2::Sha512::digest(seed);
    let mut low = [0u8; 32];
    low.copy_from_slice(&expanded[..32]);
    curve25519_dalek::Scalar::from_bytes_mod_order(curve25519_dalek::scalar::clamp_integer(low))
}

/// `SHA-512(parts...) mod L`.
fn scalar_of_hash(parts: &[&[u8]]) -> curve25519_dalek::Scalar {
    let mut hasher = sha2::Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    curve25519_dalek::Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

/// `R || S` with `S = r + k·a`, `k = SHA-512(R || A || M) mod L`: an
/// Ed25519 signature whose `R` (bytes) need not be `r·B`.
fn crafted_signature(r_bytes: [u8; 32], r: curve25519_dalek::Scalar, a: curve25519_dalek::Scalar, a_bytes: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let k = scalar_of_hash(&[&r_bytes, a_bytes, message]);
    let s = r + k * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r_bytes);
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

fn strict_verdict(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(public).is_ok_and(|key| key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok())
}

/// Every encoding of a small-order point: the eight canonical ones, and the
/// non-canonical ones (y + p for y < 19; the sign bit set when x = 0).
fn small_order_encodings() -> Vec<([u8; 32], bool)> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let canonical: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION.iter().map(|point| point.compress().to_bytes()).collect();
    let mut all: Vec<([u8; 32], bool)> = canonical.iter().map(|bytes| (*bytes, true)).collect();
    for bytes in &canonical {
        let mut candidates = Vec::new();
        let mut flipped = *bytes;
        flipped[31] ^= 0x80;
        candidates.push(flipped);
        // y + p, when it fits in 255 bits (only for y < 19): add p = 2^255 - 19 to the little-endian y.
        let mut y = *bytes;
        y[31] &= 0x7f;
        let p: [u8; 32] = {
            let mut p = [0xffu8; 32];
            p[0] = 0xed;
            p[31] = 0x7f;
            p
        };
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let total = u16::from(y[i]) + u16::from(p[i]) + carry;
            sum[i] = total as u8;
            carry = total >> 8;
        }
        if carry == 0 && sum[31] & 0x80 == 0 {
            for sign_bit in [0u8, 0x80] {
                let mut candidate = sum;
                candidate[31] |= sign_bit;
                candidates.push(candidate);
            }
        }
        for candidate in candidates {
            let decodes_small = CompressedEdwardsY(candidate).decompress().is_some_and(|point| point.is_small_order());
            if decodes_small && !all.iter().any(|(known, _)| *known == candidate) {
                all.push((candidate, false));
            }
        }
    }
    all
}

fn point_order(bytes: &[u8; 32]) -> u8 {
    let point = curve25519_dalek::edwards::CompressedEdwardsY(*bytes).decompress().expect("a point");
    use curve25519_dalek::traits::IsIdentity;
    let mut multiple = point;
    for order in [1u8, 2, 4, 8] {
        if multiple.is_identity() {
            return order;
        }
        multiple = multiple + multiple;
    }
    panic!("not a point of small order")
}

fn signature_rules(genesis: &EventVector) -> SignatureRulesVector {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::Scalar;
    let small_order_keys = small_order_encodings()
        .into_iter()
        .map(|(bytes, canonical)| SmallOrderKeyVector {
            public_hex: hexs(&bytes),
            order: point_order(&bytes),
            canonical,
            accepted: fundledger_core::crypto::KeyId::parse(&hexs(&bytes)).is_ok(),
        })
        .collect();

    let operator = key("operator");
    let a = secret_scalar("operator");
    let a_bytes = *operator.key_id().as_bytes();
    assert_eq!(EdwardsPoint::mul_base(&a).compress().to_bytes(), a_bytes, "the secret scalar gives the public key");
    let message = unhex(&Value::String(genesis.signature_message_hex.clone()));
    let nonce = |label: &str| scalar_of_hash(&[b"fundledger/test-vector-nonce\0", label.as_bytes()]);
    let order_eight = EIGHT_TORSION[1];
    assert_eq!(point_order(&order_eight.compress().to_bytes()), 8);

    // (name, key, signature, the index of the batch item to spoil, if any)
    type Case = (&'static str, [u8; 32], [u8; 64], Option<usize>);
    let mut cases: Vec<Case> = Vec::new();
    // R = r·B + T, T of order 8.
    let r = nonce("small-order component");
    let r_bytes = (EdwardsPoint::mul_base(&r) + order_eight).compress().to_bytes();
    cases.push(("R = r·B + T with T of order 8 (a small-order component in R)", a_bytes, crafted_signature(r_bytes, r, a, &a_bytes, &message), Some(0)));
    // R = T itself.
    cases.push(("R is a point of order 8", a_bytes, crafted_signature(order_eight.compress().to_bytes(), Scalar::ZERO, a, &a_bytes, &message), Some(0)));
    // R = the identity, encoded with y = p + 1 (not canonical).
    let mut identity_noncanonical = [0xffu8; 32];
    identity_noncanonical[0] = 0xee;
    identity_noncanonical[31] = 0x7f;
    cases.push((
        "R is the identity in a non-canonical encoding (y = p + 1); k is computed over R's bytes as given",
        a_bytes,
        crafted_signature(identity_noncanonical, Scalar::ZERO, a, &a_bytes, &message),
        Some(0),
    ));
    // The genuine signature with L added to S.
    let mut genuine = [0u8; 64];
    hex::decode_to_slice(&genesis.signatures[0], &mut genuine).unwrap();
    let mut s_plus_l = genuine;
    // L = (L - 1) + 1, with L - 1 = -1 mod L.
    let mut l = (-Scalar::ONE).to_bytes();
    l[0] += 1;
    let mut carry = 0u16;
    for i in 0..32 {
        let total = u16::from(genuine[32 + i]) + u16::from(l[i]) + carry;
        s_plus_l[32 + i] = total as u8;
        carry = total >> 8;
    }
    assert_eq!(carry, 0);
    cases.push(("S not canonical: the genuine signature of events[0] with L added to S", a_bytes, s_plus_l, Some(0)));
    // A key A' = a·B + T (mixed order, not small order): accepted as a key, and its ZIP 215 signatures verify.
    let mixed = (EdwardsPoint::mul_base(&a) + order_eight).compress().to_bytes();
    let mixed_signature = (0u32..)
        .map(|attempt| {
            let r = nonce(&format!("mixed-order key {attempt}"));
            crafted_signature(EdwardsPoint::mul_base(&r).compress().to_bytes(), r, a, &mixed, &message)
        })
        .find(|signature| !strict_verdict(&mixed, &message, signature))
        .unwrap();
    cases.push(("the key is a·B + T with T of order 8 (mixed order, not small order); R = r·B", mixed, mixed_signature, None));

    let signatures = cases
        .into_iter()
        .map(|(name, public, signature, event)| {
            let valid = fundledger_core::crypto::KeyId::parse(&hexs(&public))
                .is_ok_and(|key| fundledger_core::crypto::verify(&key, b"", &message, &fundledger_core::crypto::Signature(signature)).is_ok());
            SignatureRuleVector {
                name,
                public_hex: hexs(&public),
                message_hex: hexs(&message),
                signature: hexs(&signature),
                event,
                valid,
                valid_strict: strict_verdict(&public, &message, &signature),
            }
        })
        .collect();
    SignatureRulesVector {
        about: vec![
            "Signatures are verified under ZIP 215 (docs/FORMAT.md 6.3): S < L, R and A decode to points (non-canonical encodings accepted), [8][S]B = [8]R + [8][k]A with k = SHA-512(R || A || M) mod L over the bytes as given.",
            "fundledger adds one rule: a key of small order is refused when it is parsed (every encoding listed in small_order_keys), so no record, checkpoint or witness can name one.",
            "'valid' is fundledger's verdict; 'valid_strict' that of a strict RFC 8032 verifier (ed25519-dalek verify_strict, libsodium), which refuses what only a signer with its own secret key can craft.",
            "'event': 0 means the key and message are those of events[0] (the genesis, signed by the operator alone).",
        ],
        small_order_keys,
        signatures,
    }
}

#[test]
fn committed_vectors_match_the_code() {
    let generated = generate();
    let path = vectors_path();
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b).map_or(0, |n| n + 1);
        panic!(
            "docs/vectors/vectors.json is out of date (first difference near line {line}); \
             run `{BLESS_VARIABLE}=1 cargo test -p fundledger-core --test vectors` if the change is intended \
             (a format change is a new version: see docs/FORMAT.md)"
        );
    }
}

// ---------------------------------------------------------------------------
// Independent re-checks of the committed file.

fn committed() -> Value {
    if blessing() {
        return serde_json::from_str(&generate()).unwrap();
    }
    let text = std::fs::read_to_string(vectors_path()).expect("docs/vectors/vectors.json is missing; bless it");
    serde_json::from_str(&text).unwrap()
}

fn unhex(value: &Value) -> Vec<u8> {
    let text = value.as_str().unwrap();
    assert_eq!(text, text.to_lowercase(), "hex must be lowercase");
    hex::decode(text).unwrap()
}

fn unhex32(value: &Value) -> [u8; 32] {
    unhex(value).try_into().unwrap()
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap()
}

fn plain_sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The record hash preimage exactly as docs/FORMAT.md lays it out.
fn documented_record_preimage(ledger: &str, seq: u64, prev: &[u8; 32], recorded_at: &str, event_hash: &[u8; 32], signatures: &[[u8; 64]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"fundledger/v1/record");
    bytes.push(0);
    for shift in (0..8).rev() {
        bytes.push((seq >> (shift * 8)) as u8);
    }
    bytes.extend_from_slice(prev);
    bytes.push((ledger.len() >> 8) as u8);
    bytes.push(ledger.len() as u8);
    bytes.extend_from_slice(ledger.as_bytes());
    bytes.push((recorded_at.len() >> 8) as u8);
    bytes.push(recorded_at.len() as u8);
    bytes.extend_from_slice(recorded_at.as_bytes());
    bytes.extend_from_slice(event_hash);
    bytes.push((signatures.len() >> 8) as u8);
    bytes.push(signatures.len() as u8);
    for signature in signatures {
        bytes.extend_from_slice(signature);
    }
    bytes
}

/// The checkpoint signing bytes exactly as docs/FORMAT.md lays them out.
fn documented_checkpoint_bytes(ledger: &str, size: u64, root: &[u8; 32], head: &[u8; 32], issued_at: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(ledger.len() as u16).to_be_bytes());
    bytes.extend_from_slice(ledger.as_bytes());
    bytes.extend_from_slice(&size.to_be_bytes());
    bytes.extend_from_slice(root);
    bytes.extend_from_slice(head);
    bytes.extend_from_slice(&(issued_at.len() as u16).to_be_bytes());
    bytes.extend_from_slice(issued_at.as_bytes());
    bytes
}

/// A second, separately written RFC 8785 writer for the integer-only subset.
fn independent_jcs(value: &Value, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > 32 {
        return Err("too deep".into());
    }
    match value {
        Value::Null | Value::Bool(_) => out.push_str(&value.to_string()),
        Value::Number(number) => {
            let limit = 9_007_199_254_740_991i128;
            let integer = number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from)).ok_or("not an integer")?;
            if integer.abs() > limit {
                return Err("integer too large".into());
            }
            out.push_str(&integer.to_string());
        }
        Value::String(text) => {
            out.push('"');
            for unit in text.chars() {
                match unit {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                independent_jcs(item, depth + 1, out)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut entries: Vec<(Vec<u16>, &String, &Value)> = members.iter().map(|(k, v)| (k.encode_utf16().collect(), k, v)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (index, (_, name, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                independent_jcs(&Value::String(name.clone()), depth + 1, out)?;
                out.push(':');
                independent_jcs(item, depth + 1, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn jcs(text: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let mut out = String::new();
    independent_jcs(&value, 0, &mut out)?;
    Ok(out)
}

fn verify_ed25519(public: &[u8], message: &[u8], signature: &[u8]) {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public.try_into().unwrap()).unwrap();
    assert!(!key.is_weak());
    let signature = ed25519_dalek::Signature::from_bytes(signature.try_into().unwrap());
    key.verify_strict(message, &signature).expect("signature verifies (strict)");
}

// RFC 6962 section 2.1, naively and recursively, over record hashes.
fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(data: &[[u8; 32]]) -> [u8; 32] {
    match data.len() {
        0 => plain_sha256(&[]),
        1 => plain_sha256(&[&[0u8], &data[0]]),
        n => {
            let k = largest_power_of_two_below(n);
            plain_sha256(&[&[1u8], &mth(&data[..k]), &mth(&data[k..])])
        }
    }
}

fn rfc_path(m: usize, data: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = data.len();
    if n == 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n);
    if m < k {
        let mut path = rfc_path(m, &data[..k]);
        path.push(mth(&data[k..]));
        path
    } else {
        let mut path = rfc_path(m - k, &data[k..]);
        path.push(mth(&data[..k]));
        path
    }
}

fn rfc_subproof(m: usize, data: &[[u8; 32]], complete: bool) -> Vec<[u8; 32]> {
    let n = data.len();
    if m == n {
        return if complete { Vec::new() } else { vec![mth(data)] };
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        let mut proof = rfc_subproof(m, &data[..k], complete);
        proof.push(mth(&data[k..]));
        proof
    } else {
        let mut proof = rfc_subproof(m - k, &data[k..], false);
        proof.push(mth(&data[..k]));
        proof
    }
}

fn hex_list(value: &Value) -> Vec<[u8; 32]> {
    value.as_array().unwrap().iter().map(unhex32).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecord<'a> {
    v: u32,
    ledger: String,
    seq: u64,
    prev: String,
    recorded_at: String,
    #[serde(borrow)]
    body: &'a RawValue,
    signatures: Vec<String>,
    hash: String,
}

#[test]
fn domains_and_keys_check_independently() {
    let vectors = committed();
    for domain in vectors["domains"].as_array().unwrap() {
        let text = str_of(&domain["text"]);
        assert!(text.starts_with("fundledger/v1/") && text.ends_with('\0'));
        assert_eq!(unhex(&domain["hex"]), text.as_bytes());
    }
    for key in vectors["keys"].as_array().unwrap() {
        let secret = unhex(&key["secret_hex"]);
        assert_eq!(secret, plain_sha256(&[b"fundledger/test-key\0", str_of(&key["label"]).as_bytes()]));
        let signing = ed25519_dalek::SigningKey::from_bytes(&secret.try_into().unwrap());
        assert_eq!(signing.verifying_key().to_bytes().to_vec(), unhex(&key["public_hex"]));
    }
}

#[test]
fn canonicalization_vectors_check_independently() {
    let vectors = committed();
    let cases = vectors["canonicalization"].as_array().unwrap();
    assert_eq!(cases.len(), CANONICAL_CASES.len());
    for (case, (name, input, expected)) in cases.iter().zip(CANONICAL_CASES) {
        assert_eq!(str_of(&case["name"]), name);
        assert_eq!(str_of(&case["input"]), input);
        assert_eq!(str_of(&case["output"]), expected, "{name}: committed output differs from the hand-written one");
        assert_eq!(unhex(&case["output_hex"]), expected.as_bytes());
        assert_eq!(jcs(input).as_deref(), Ok(expected), "{name}: independent writer");
        let library = canonicalize(&serde_json::from_str(input).unwrap()).unwrap();
        assert_eq!(library, expected.as_bytes(), "{name}: library");
        // Canonical output is a fixed point.
        assert_eq!(jcs(expected).as_deref(), Ok(expected));
    }
    for case in vectors["canonicalization_refused"].as_array().unwrap() {
        let input = str_of(&case["input"]);
        assert!(jcs(input).is_err(), "independent writer accepts {input}");
        let value: Value = serde_json::from_str(input).unwrap();
        assert!(matches!(canonicalize(&value), Err(CanonicalError::Number(..) | CanonicalError::TooDeep(_))));
    }
}

#[test]
fn event_vectors_check_independently() {
    let vectors = committed();
    let event_prefix = b"fundledger/v1/event\0";
    let signature_prefix = b"fundledger/v1/event-signature\0";
    let mut types = Vec::new();
    for event in vectors["events"].as_array().unwrap() {
        let canonical = str_of(&event["body_canonical"]);
        assert_eq!(unhex(&event["body_canonical_hex"]), canonical.as_bytes());
        // The struct-order body and the canonical body are the same JSON.
        assert_eq!(jcs(event["body"].to_string().as_str()).as_deref(), Ok(canonical));
        assert_eq!(jcs(canonical).as_deref(), Ok(canonical));
        let event_hash = plain_sha256(&[event_prefix, canonical.as_bytes()]);
        assert_eq!(unhex32(&event["event_hash"]), event_hash);
        let message = [&signature_prefix[..], &event_hash].concat();
        assert_eq!(unhex(&event["signature_message_hex"]), message);
        let body: Value = serde_json::from_str(canonical).unwrap();
        assert_eq!(body["signers"], event["signers"]);
        assert_eq!(body["type"], event["type"]);
        let signers = event["signers"].as_array().unwrap();
        let signatures = event["signatures"].as_array().unwrap();
        assert_eq!(signers.len(), signatures.len());
        for (signer, signature) in signers.iter().zip(signatures) {
            verify_ed25519(&unhex(signer), &message, &unhex(signature));
        }
        // The submission carries the canonical body verbatim.
        let submission: serde_json::Map<String, Value> = serde_json::from_str(str_of(&event["submission"])).unwrap();
        assert_eq!(submission.len(), 2);
        assert_eq!(submission["signatures"], event["signatures"]);
        assert!(str_of(&event["submission"]).starts_with(&format!("{{\"body\":{canonical},\"signatures\":[")));
        types.push(str_of(&event["type"]).to_string());
    }
    types.sort();
    types.dedup();
    assert!(types.len() >= 3, "vectors cover at least three event types");
    for layout in vectors["submission_layouts"].as_array().unwrap() {
        let submission: Value = serde_json::from_str(str_of(&layout["submission"])).unwrap();
        let canonical = jcs(&submission["body"].to_string()).unwrap();
        assert_eq!(canonical, str_of(&layout["body_canonical"]));
        assert_eq!(unhex32(&layout["event_hash"]), plain_sha256(&[event_prefix, canonical.as_bytes()]));
        let parsed = SignedEvent::from_submission_json(str_of(&layout["submission"])).unwrap();
        assert!(parsed.verify().is_ok());
    }
}

#[test]
fn ledger_vectors_check_independently() {
    let vectors = committed();
    let events = vectors["events"].as_array().unwrap();
    let records = vectors["ledger"]["records"].as_array().unwrap();
    let ledger = str_of(&vectors["ledger"]["id"]);
    let mut prev = [0u8; 32];
    let mut record_hashes = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let seq = record["seq"].as_u64().unwrap();
        assert_eq!(seq, index as u64 + 1, "seq starts at 1 and has no gaps");
        let event = &events[record["event"].as_u64().unwrap() as usize];
        assert_eq!(unhex32(&record["prev"]), prev, "prev of record 1 is 32 zero bytes, then the previous record hash");
        assert_eq!(record["event_hash"], event["event_hash"]);
        let signatures: Vec<[u8; 64]> = event["signatures"].as_array().unwrap().iter().map(|s| unhex(s).try_into().unwrap()).collect();
        let recorded_at = str_of(&record["recorded_at"]);
        let preimage = documented_record_preimage(ledger, seq, &prev, recorded_at, &unhex32(&event["event_hash"]), &signatures);
        assert_eq!(unhex(&record["record_hash_preimage_hex"]), preimage);
        let record_hash = plain_sha256(&[&preimage]);
        assert_eq!(unhex32(&record["record_hash"]), record_hash);
        assert_eq!(unhex32(&record["merkle_leaf_hash"]), plain_sha256(&[&[0u8], &record_hash]));

        // The stored JSON carries exactly these values, the body byte for byte.
        let stored_text = str_of(&record["stored"]);
        let stored: StoredRecord = serde_json::from_str(stored_text).unwrap();
        assert_eq!(stored.v, 1);
        assert_eq!(stored.ledger, ledger);
        assert_eq!(stored.seq, seq);
        assert_eq!(stored.prev, hex::encode(prev));
        assert_eq!(stored.recorded_at, recorded_at);
        assert_eq!(stored.body.get(), str_of(&event["body_canonical"]));
        assert_eq!(stored.signatures, event["signatures"].as_array().unwrap().iter().map(|s| str_of(s).to_string()).collect::<Vec<_>>());
        assert_eq!(stored.hash, hex::encode(record_hash));
        let parsed = Record::from_json(stored_text.as_bytes()).unwrap();
        assert_eq!(parsed.hash, record_hash);
        assert_eq!(parsed.to_json(), stored_text.as_bytes(), "the writer's layout of the stored record");

        prev = record_hash;
        record_hashes.push(record_hash);
    }

    for root in vectors["ledger"]["roots"].as_array().unwrap() {
        let size = root["size"].as_u64().unwrap() as usize;
        assert_eq!(unhex32(&root["root"]), mth(&record_hashes[..size]), "root at size {size}");
    }
    assert_eq!(str_of(&vectors["ledger"]["roots"][0]["root"]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for proof in vectors["ledger"]["inclusion_proofs"].as_array().unwrap() {
        let (index, size) = (proof["leaf_index"].as_u64().unwrap(), proof["tree_size"].as_u64().unwrap());
        let path = hex_list(&proof["path"]);
        assert_eq!(path, rfc_path(index as usize, &record_hashes[..size as usize]), "inclusion {index} in {size}");
        assert_eq!(unhex32(&proof["record_hash"]), record_hashes[index as usize]);
        let leaf = unhex32(&proof["leaf_hash"]);
        assert_eq!(leaf, plain_sha256(&[&[0u8], &record_hashes[index as usize]]));
        let root = unhex32(&proof["root"]);
        assert_eq!(root, mth(&record_hashes[..size as usize]));
        merkle::verify_inclusion(&leaf, index, size, &path, &root).unwrap();
    }
    for proof in vectors["ledger"]["consistency_proofs"].as_array().unwrap() {
        let (m, n) = (proof["old_size"].as_u64().unwrap(), proof["new_size"].as_u64().unwrap());
        let path = hex_list(&proof["path"]);
        assert_eq!(path, rfc_subproof(m as usize, &record_hashes[..n as usize], true), "consistency {m} to {n}");
        let (old_root, new_root) = (unhex32(&proof["old_root"]), unhex32(&proof["new_root"]));
        assert_eq!(old_root, mth(&record_hashes[..m as usize]));
        assert_eq!(new_root, mth(&record_hashes[..n as usize]));
        merkle::verify_consistency(m, n, &old_root, &new_root, &path).unwrap();
    }

    // The checkpoint states the tree and chain head of the whole ledger.
    let checkpoint = &vectors["checkpoint"];
    let size = checkpoint["size"].as_u64().unwrap();
    assert_eq!(size, record_hashes.len() as u64);
    let (root, head) = (unhex32(&checkpoint["root"]), unhex32(&checkpoint["head"]));
    assert_eq!(root, mth(&record_hashes));
    assert_eq!(head, *record_hashes.last().unwrap());
    let bytes = documented_checkpoint_bytes(str_of(&checkpoint["ledger"]), size, &root, &head, str_of(&checkpoint["issued_at"]));
    assert_eq!(unhex(&checkpoint["signing_bytes_hex"]), bytes);
    let operator_message = [&b"fundledger/v1/checkpoint\0"[..], &bytes].concat();
    let witness_message = [&b"fundledger/v1/witness\0"[..], &bytes].concat();
    assert_eq!(unhex(&checkpoint["operator_message_hex"]), operator_message);
    assert_eq!(unhex(&checkpoint["witness_message_hex"]), witness_message);
    verify_ed25519(&unhex(&checkpoint["operator"]), &operator_message, &unhex(&checkpoint["operator_signature"]));
    verify_ed25519(&unhex(&checkpoint["witness"]), &witness_message, &unhex(&checkpoint["witness_signature"]));
    // A witness signature is not an operator signature, and vice versa.
    let witness_key = ed25519_dalek::VerifyingKey::from_bytes(&unhex(&checkpoint["witness"]).try_into().unwrap()).unwrap();
    let witness_signature = ed25519_dalek::Signature::from_bytes(&unhex(&checkpoint["witness_signature"]).try_into().unwrap());
    assert!(witness_key.verify_strict(&operator_message, &witness_signature).is_err());

    let signed: Value = serde_json::from_str(str_of(&checkpoint["signed_json"])).unwrap();
    for field in ["ledger", "size", "root", "head", "issued_at"] {
        assert_eq!(signed[field], checkpoint[field], "{field}");
    }
    assert_eq!(signed["signer"], checkpoint["operator"]);
    assert_eq!(signed["signature"], checkpoint["operator_signature"]);
    assert_eq!(signed.as_object().unwrap().len(), 7);
    let parsed = SignedCheckpoint::from_json(str_of(&checkpoint["signed_json"]).as_bytes()).unwrap();
    parsed.verify(&parsed.signer).unwrap();
    let cosignature: Cosignature = serde_json::from_str(str_of(&checkpoint["cosignature_json"])).unwrap();
    assert_eq!(cosignature.witness.to_string(), str_of(&checkpoint["witness"]));
    cosignature.verify(&parsed.checkpoint).unwrap();

    // What docs/FORMAT.md section 11 says a reader refuses.
    let text = str_of(&checkpoint["signed_json"]);
    let root_hex = str_of(&checkpoint["root"]);
    for (name, bad) in [
        ("an unknown member", text.replacen('{', "{\"x\":1,", 1)),
        ("a repeated member", text.replacen('{', "{\"size\":10,", 1)),
        ("uppercase hex", text.replacen(root_hex, &root_hex.to_uppercase(), 1)),
    ] {
        assert!(SignedCheckpoint::from_json(bad.as_bytes()).is_err(), "a checkpoint with {name} is accepted");
    }
    let mut forged = parsed.clone();
    forged.checkpoint.size -= 1;
    assert!(forged.verify(&parsed.signer).is_err());
    assert!(cosignature.verify(&forged.checkpoint).is_err());
}

#[test]
fn invalid_records_are_refused_for_the_stated_reason() {
    let vectors = committed();
    for case in vectors["invalid_records"].as_array().unwrap() {
        let error = Record::from_json(str_of(&case["stored"]).as_bytes()).expect_err(str_of(&case["name"]));
        let kind = match error {
            RecordError::Json(_) => "Json",
            RecordError::Version(_) => "Version",
            RecordError::NotCanonical => "NotCanonical",
            RecordError::Body(_) => "Body",
            RecordError::HashMismatch { .. } => "HashMismatch",
            RecordError::LedgerMismatch { .. } => "LedgerMismatch",
        };
        assert_eq!(kind, str_of(&case["error"]), "{}: {error}", str_of(&case["name"]));
    }
}

/// ZIP 215, written out with curve25519-dalek alone: `S < L`, `R` and `A`
/// decode (non-canonical encodings too), `[8](S·B - k·A - R)` is the identity.
fn zip215_verifies(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::traits::IsIdentity;
    let (r_bytes, s_bytes): ([u8; 32], [u8; 32]) = (signature[..32].try_into().unwrap(), signature[32..].try_into().unwrap());
    let Some(s) = Option::<curve25519_dalek::Scalar>::from(curve25519_dalek::Scalar::from_canonical_bytes(s_bytes)) else { return false };
    let (Some(r), Some(a)) = (CompressedEdwardsY(r_bytes).decompress(), CompressedEdwardsY(*public).decompress()) else { return false };
    let k = scalar_of_hash(&[&r_bytes, public, message]);
    (EdwardsPoint::mul_base(&s) - k * a - r).mul_by_cofactor().is_identity()
}

#[test]
fn signature_rule_vectors_check_independently() {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use fundledger_core::crypto::{self, BatchItem, KeyId, Signature};
    let vectors = committed();
    let rules = &vectors["signature_rules"];

    let keys = rules["small_order_keys"].as_array().unwrap();
    for point in curve25519_dalek::constants::EIGHT_TORSION {
        assert!(keys.iter().any(|case| str_of(&case["public_hex"]) == hexs(&point.compress().to_bytes())), "every point of small order is listed");
    }
    assert_eq!(keys.len(), 14, "8 canonical encodings and 6 non-canonical ones");
    let genesis_canonical = str_of(&vectors["events"][0]["body_canonical"]).to_string();
    let operator = str_of(&vectors["keys"][0]["public_hex"]).to_string();
    for case in keys {
        let text = str_of(&case["public_hex"]);
        let bytes = unhex32(&case["public_hex"]);
        let point = CompressedEdwardsY(bytes).decompress().expect("decodes to a point");
        assert!(point.is_small_order(), "{text}");
        assert_eq!(case["order"].as_u64().unwrap(), u64::from(point_order(&bytes)));
        assert_eq!(case["canonical"].as_bool().unwrap(), point.compress().to_bytes() == bytes, "{text}");
        assert_eq!(case["accepted"], Value::Bool(false));
        // ZIP 215 alone takes it as a key; fundledger refuses it when a key is parsed.
        assert!(ed25519_zebra::VerificationKey::try_from(bytes).is_ok(), "{text}");
        assert!(KeyId::parse(text).is_err(), "{text}");
        // So a body naming it (as signer and operator) is refused before any signature is looked at.
        let body = genesis_canonical.replace(&operator, text).into_bytes();
        let signatures = vec![Signature::parse(str_of(&vectors["events"][0]["signatures"][0])).unwrap()];
        assert!(SignedEvent::from_canonical(body, signatures).is_err(), "{text}");
    }

    let cases = rules["signatures"].as_array().unwrap();
    let genuine_message = unhex(&vectors["events"][0]["signature_message_hex"]);
    let genuine_signature = Signature::parse(str_of(&vectors["events"][0]["signatures"][0])).unwrap();
    let operator_key = KeyId::parse(&operator).unwrap();
    for case in cases {
        let name = str_of(&case["name"]);
        let public = unhex32(&case["public_hex"]);
        let message = unhex(&case["message_hex"]);
        let signature: [u8; 64] = unhex(&case["signature"]).try_into().unwrap();
        let valid = case["valid"].as_bool().unwrap();
        assert_eq!(zip215_verifies(&public, &message, &signature), valid, "{name}: ZIP 215 written out");
        assert_eq!(strict_verdict(&public, &message, &signature), case["valid_strict"].as_bool().unwrap(), "{name}: strict");
        let key = KeyId::parse(str_of(&case["public_hex"])).expect("not of small order");
        let signature = Signature(signature);
        assert_eq!(crypto::verify(&key, b"", &message, &signature).is_ok(), valid, "{name}: one by one");
        assert_eq!(crypto::verify_batch(&[BatchItem { key: &key, message: &message, signature: &signature }]).is_ok(), valid, "{name}: alone in a batch");
        let mixed = [
            BatchItem { key: &operator_key, message: &genuine_message, signature: &genuine_signature },
            BatchItem { key: &key, message: &message, signature: &signature },
        ];
        assert_eq!(crypto::verify_batch(&mixed).is_ok(), valid, "{name}: in a batch with a standard signature");
        if let Some(index) = case["event"].as_u64() {
            let event = &vectors["events"][index as usize];
            assert_eq!(message, unhex(&event["signature_message_hex"]));
            assert_eq!(str_of(&case["public_hex"]), str_of(&event["signers"][0]));
            let signed = SignedEvent::from_canonical(str_of(&event["body_canonical"]).as_bytes().to_vec(), vec![signature]).unwrap();
            assert_eq!(signed.clone().verify().is_ok(), valid, "{name}: as the event's signature");
            let batch = fundledger_core::record::verify_events(vec![signed.clone(), signed]);
            assert!(batch.iter().all(|verdict| verdict.is_ok() == valid), "{name}: as the event's signature, batched");
        }
    }
    // What the vectors show: ZIP 215 accepts every crafted R and the mixed-order key, refuses S >= L; a strict verifier refuses them all.
    let verdicts: Vec<(bool, bool)> = cases.iter().map(|case| (case["valid"].as_bool().unwrap(), case["valid_strict"].as_bool().unwrap())).collect();
    assert_eq!(verdicts, vec![(true, false), (true, false), (true, false), (false, false), (true, false)]);
}

#[test]
fn committed_ledger_replays_through_the_state_machine() {
    let vectors = committed();
    let ledger_id = LedgerId::parse(str_of(&vectors["ledger"]["id"])).unwrap();
    let mut chain = ChainState::new(ledger_id);
    let mut ledger = Ledger::new();
    for record in vectors["ledger"]["records"].as_array().unwrap() {
        let record = Record::from_json(str_of(&record["stored"]).as_bytes()).unwrap();
        if record.seq == 1 {
            assert_eq!(record.prev, GENESIS_PREV);
        }
        chain.append(&record, |_, _| {}).unwrap();
        let verified = record.event.clone().verify().unwrap();
        ledger.apply(&verified).unwrap();
    }
    assert_eq!(hex::encode(chain.root()), str_of(&vectors["checkpoint"]["root"]));
    let grant = &ledger.grants()[&GrantId::parse("g-0001").unwrap()];
    assert_eq!(grant.disbursed, Money::hkd(100_000));
    assert_eq!(grant.verified_spend, Money::hkd(300_000));
}
