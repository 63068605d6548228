//! Event decoding: a submission as the writer receives it (SignedEvent::from_submission_json).
//! The body is fundledger_core::fuzz_targets::submission, also run on stable by crates/core/tests/fuzz.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fundledger_core::fuzz_targets::submission(data));
