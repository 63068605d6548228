//! Canonical encoding: RFC 8785 canonicalisation of any JSON.
//! The body is fundledger_core::fuzz_targets::canonical, also run on stable by crates/core/tests/fuzz.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fundledger_core::fuzz_targets::canonical(data));
