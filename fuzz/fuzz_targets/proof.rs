//! Proof parsing: checkpoints, proof documents, raw proofs, and genuine proofs that must verify.
//! The body is fundledger_core::fuzz_targets::proof, also run on stable by crates/core/tests/fuzz.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fundledger_core::fuzz_targets::proof(data));
