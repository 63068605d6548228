//! Projectors and the query API: the ledger's read side.
//!
//! A projector consumes a ledger stream through a durable JetStream consumer
//! and keeps read models in RocksDB: funds, sub-funds, investments, schemes,
//! grants and enterprises with exact money (HK cents) and their full history,
//! and every record indexed by id and by entity. The query API serves them as
//! HTTP JSON with an OpenAPI document.
//!
//! * [`record`], [`projection`], [`performance`], [`model`], [`keys`]: pure —
//!   record -> key/value changes, and fund performance (DPI/RVPI/TVPI/IRR)
//!   from integer cents.
//! * [`store`]: the RocksDB adapter. The applied position is written in the
//!   same WriteBatch as the model changes it covers.
//! * [`consumer`]: the loop that reads the stream and applies strictly in
//!   sequence (`seq == position + 1`), so redelivery or a second instance can
//!   never double-apply and a gap is filled from the stream, never skipped.
//! * [`query`], [`api`], [`openapi`]: answers over a consistent snapshot; each
//!   says the ledger sequence it reflects, and `?as_of=SEQ` reads the past.
//! * [`sessions`]: readers' sign-in with a registered key (bearer tokens);
//!   what a key may read is the core's rule, asked at every request.

pub mod api;
pub mod consumer;
pub mod keys;
pub mod model;
pub mod openapi;
pub mod performance;
pub mod projection;
pub mod query;
pub mod record;
pub mod sessions;
pub mod store;

pub use consumer::{Applier, Delivered, Projector, ProjectorConfig, ProjectorError};
pub use projection::{Changes, Position, Projection, ProjectionError};
pub use store::{Durability, Store, StoreError};
