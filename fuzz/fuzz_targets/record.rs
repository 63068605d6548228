//! Event decoding: a stored record as read back from the stream (Record::from_json).
//! The body is fundledger_core::fuzz_targets::record, also run on stable by crates/core/tests/fuzz.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fundledger_core::fuzz_targets::record(data));
