//! The fuzz targets (fundledger_core::fuzz_targets) on stable, in CI.
//!
//! cargo-fuzz needs a nightly compiler (see fuzz/README.md); this test runs the
//! same target bodies on inputs made by mutating a seed corpus built from the
//! test vectors in docs/vectors/vectors.json (valid submissions, records,
//! checkpoints, proofs and canonicalisation cases, so mutations reach deep
//! into the parsers), for a bounded number of cases per target: 1,000 by
//! default, `FUNDLEDGER_FUZZ_CASES` to change it. proptest shrinks a failing
//! input to a small one and prints it.
//!
//! Inputs that once failed live in tests/fuzz-regressions/<target>/ (one file
//! each, raw bytes) and are replayed by `regressions_stay_fixed`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fundledger_core::fuzz_targets;
use proptest::prelude::*;
use serde_json::Value;

/// Fragments spliced into inputs: JSON structure, escapes and numbers at the
/// edges of what the parsers accept.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\u00e9",
    "null",
    "true",
    "-",
    "-0",
    "0",
    "1.5",
    "1e3",
    "9007199254740991",
    "9007199254740992",
    "-9007199254740992",
    "18446744073709551616",
    "\"body\":",
    "\"signatures\":[]",
    "\"v\":2",
    "\"seq\":0",
    "é",
    "\u{1F600}",
    "00",
];

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] =
    &[("submission", fuzz_targets::submission), ("record", fuzz_targets::record), ("canonical", fuzz_targets::canonical), ("proof", fuzz_targets::proof)];

fn vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/vectors.json")
}

/// Seed inputs per target, from the test vectors.
fn seeds(target: &str) -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<(String, Vec<Vec<u8>>)>> = OnceLock::new();
    let all = SEEDS.get_or_init(|| {
        let text = std::fs::read_to_string(vectors_path()).expect("reads docs/vectors/vectors.json");
        let vectors: Value = serde_json::from_str(&text).expect("vectors are JSON");
        let strings = |list: &Value, field: &str| -> Vec<Vec<u8>> {
            list.as_array().into_iter().flatten().filter_map(|item| item[field].as_str()).map(|text| text.as_bytes().to_vec()).collect()
        };
        let values = |list: &Value| -> Vec<Vec<u8>> { list.as_array().into_iter().flatten().map(|item| item.to_string().into_bytes()).collect() };
        let mut submission = strings(&vectors["events"], "submission");
        submission.extend(strings(&vectors["submission_layouts"], "submission"));
        let mut record = strings(&vectors["ledger"]["records"], "stored");
        record.extend(strings(&vectors["invalid_records"], "stored"));
        let mut canonical = strings(&vectors["canonicalization"], "input");
        canonical.extend(strings(&vectors["canonicalization_refused"], "input"));
        canonical.extend(strings(&vectors["events"], "body_canonical"));
        let mut proof = values(&vectors["ledger"]["inclusion_proofs"]);
        proof.extend(values(&vectors["ledger"]["consistency_proofs"]));
        proof.extend(["signed_json", "cosignature_json"].iter().filter_map(|field| vectors["checkpoint"][field].as_str()).map(|text| text.as_bytes().to_vec()));
        proof.push((0u8..=255).collect());
        let all =
            vec![("submission".to_string(), submission), ("record".to_string(), record), ("canonical".to_string(), canonical), ("proof".to_string(), proof)];
        for (name, seeds) in &all {
            assert!(seeds.len() >= 2, "the vectors give seeds for {name}");
        }
        all
    });
    &all.iter().find(|(name, _)| name == target).expect("a known target").1
}

/// One edit to an input.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    SetByte { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = input.len();
        let at = |position: usize| if len == 0 { 0 } else { position % (len + 1) };
        match *mutation {
            Mutation::FlipBit { at: position, bit } if len > 0 => input[position % len] ^= 1 << bit,
            Mutation::SetByte { at: position, byte } if len > 0 => input[position % len] = byte,
            Mutation::Delete { at: position, len: count } => {
                let start = at(position);
                let end = (start + count).min(len);
                input.drain(start..end);
            }
            Mutation::Duplicate { at: position, len: count } => {
                let start = at(position);
                let end = (start + count).min(len);
                let copy = input[start..end].to_vec();
                input.splice(end..end, copy);
            }
            Mutation::Insert { at: position, token } => {
                let start = at(position);
                input.splice(start..start, TOKENS[token].bytes());
            }
            Mutation::Truncate { at: position } => input.truncate(at(position)),
            _ => {}
        }
    }
    input
}

fn cases() -> u32 {
    std::env::var("FUNDLEDGER_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(1_000)
}

fn run_target(name: &'static str, target: Target) {
    let seeds = seeds(name);
    // Every seed as it is, first.
    for seed in seeds {
        target(seed);
    }
    let config = ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() };
    let strategy = (0..seeds.len(), proptest::collection::vec(mutation(), 1..8));
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |(seed, mutations)| {
            let input = apply(seeds[seed].clone(), &mutations);
            target(&input);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("fuzz target {name} failed: {failure}"));
}

#[test]
fn submission_decoding_survives_mutated_input() {
    run_target("submission", fuzz_targets::submission);
}

#[test]
fn record_decoding_survives_mutated_input() {
    run_target("record", fuzz_targets::record);
}

#[test]
fn canonical_encoding_survives_mutated_input() {
    run_target("canonical", fuzz_targets::canonical);
}

#[test]
fn proof_parsing_survives_mutated_input() {
    run_target("proof", fuzz_targets::proof);
}

#[test]
fn deeply_nested_and_huge_inputs_are_refused_without_harm() {
    let nested = [
        "[".repeat(100_000),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{{\"body\":{}1{},\"signatures\":[]}}", "[".repeat(50_000), "]".repeat(50_000)),
        "{\"a\":".repeat(100_000),
    ];
    for input in &nested {
        for (_, target) in TARGETS {
            target(input.as_bytes());
        }
    }
}

#[test]
fn regressions_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    assert!(root.join("README.md").is_file(), "the regression corpus is where fuzz/README.md says: {}", root.display());
    for (name, target) in TARGETS {
        // A target without a directory has had no crash yet.
        let Ok(entries) = std::fs::read_dir(root.join(name)) else { continue };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let input = std::fs::read(&path).expect("reads a regression input");
            target(&input);
        }
    }
}
