//! Recording events from the command line: one typed command per event kind,
//! each signing locally with the user's key file and submitting to the writer.
//!
//! Split by job, so that each file answers one question:
//!
//! * [`flag_values`]: parsing flag values (amounts in Hong Kong dollars as
//!   people write them, `250,000.00` or `HK$1,000,000,000`, carried as integer
//!   cents; basis points, periods, attestations, evidence, caps, ratios, themes).
//! * [`input`]: reading a file argument or standard input, and `--terms` files.
//! * [`signing`]: the signing flags every recording command shares (the key
//!   file, co-signers for dual control, the event id that is the idempotency
//!   key, when it happened, the ledger, the writer), signing, and sending.
//! * [`receipt`]: the writer's answer, for people.
//! * One file per group of commands, building event bodies from flags:
//!   [`keys`] (keygen, init, key, role), [`fund`], [`subfund`], [`scheme`],
//!   [`grant`], [`enterprise`].
//! * [`submit`] (raw signed submissions), [`sign`] (offline signing and
//!   co-signing; the partly signed format is the core's), [`status`].
//!
//! The secret key never leaves the machine: only signatures are sent.

pub mod enterprise;
pub mod flag_values;
pub mod fund;
pub mod grant;
pub mod input;
pub mod keys;
pub mod receipt;
pub mod scheme;
pub mod sign;
pub mod signing;
pub mod status;
pub mod subfund;
pub mod submit;
