//! The pure core of fundledger: everything that decides, nothing that does I/O.
//!
//! * [`money`]: HK cents with checked arithmetic.
//! * [`id`], [`time`]: identifiers and instants, parsed at the edge.
//! * [`event`]: the catalogue of events actors sign.
//! * [`ledger`]: the state machine holding every domain and authorisation rule.
//! * [`canonical`], [`crypto`], [`record`], [`chain`], [`checkpoint`]: the bytes
//!   that are signed and hashed, the hash chain and signed checkpoints.
//! * [`partly_signed`]: the submission co-signers pass on for dual control,
//!   with `null` for signatures still missing.
//! * [`merkle`]: the RFC 6962 tree (re-exported from `fundledger-merkle`).
//! * [`wire`]: the services' JSON answers (receipts, errors), typed once.
//! * [`read_access`]: who may read what, from the roles the ledger gives a key.
//!
//! No clock, no randomness, no network, no disk: time and ids arrive inside
//! events, secret key bytes arrive from the shell. The writer and the verifier
//! run this same code, so what the writer accepted the verifier re-checks.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod crypto;
pub mod event;
pub mod fuzz_targets;
pub mod id;
pub mod ledger;
pub mod money;
pub mod partly_signed;
pub mod presets;
pub mod read_access;
pub mod record;
pub mod replay;
pub mod rollback;
pub mod time;
pub mod wire;

pub use fundledger_merkle as merkle;
