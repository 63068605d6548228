//! The writer service: the only appender of a ledger.
//!
//! * [`service`]: the sequencer that verifies, applies, chains and appends.
//! * [`index`]: the durable idempotency index (RocksDB).
//! * [`recovery`]: what an operator runs after a ledger rollback.
//! * [`api`]: HTTP and NATS request/reply, one request/response format.
//! * [`openapi`]: the HTTP API's OpenAPI document, from the answer types.
//! * [`error`]: the typed answers for events that were not appended.
//!
//! Every rule lives in `fundledger-core`; this crate only moves bytes.

pub mod api;
pub mod error;
pub mod index;
pub mod openapi;
pub mod recovery;
pub mod service;

pub use error::{WriteError, WriterError};
pub use service::{Receipt, Writer, WriterConfig, WriterStatus};
