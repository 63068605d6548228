//! fundledger's adapter to NATS JetStream.
//!
//! Why a crate of its own: everything the ledger needs from the broker — the
//! embedded server, the subject taxonomy, the append-only stream settings, the
//! fenced pipelined appends of the single writer and reading the log back —
//! lives behind this small API, and the broker-specific failure modes
//! (fencing, duplicates, timeouts) are classified in one place. Callers hold
//! a [`Broker`] and never a client type: the NATS client stays in here.

pub mod append;
pub mod client;
pub mod consume;
pub mod embedded;
pub mod error;
pub mod read;
pub mod server_version;
pub mod streams;
pub mod subjects;

pub use append::{raw_publish_batch, AppendError, AppendMode, Appender, OutgoingMessage, PublishReceipt, ATOMIC_BATCH_MESSAGES_MAX, IN_FLIGHT_MAX};
pub use client::{redact_url, Broker, Request, Requests};
pub use consume::{Deliveries, Delivery, DurableConsumer};
pub use embedded::{process_cpu_time, EmbeddedCluster, EmbeddedNats, EmbeddedOptions};
pub use error::NatsError;
pub use read::{follow_from, get_message, last_message_on, read_from, tail_and_message_at, MessageStream, StoredMessage};
pub use server_version::{check_replicas_supported, check_server_for_replicas, ServerVersion, ServerVersionError};
pub use streams::{create_plain_stream, ensure_ledger_streams, server_supports_atomic_publish, LedgerStreams, StreamSettings};
pub use subjects::{checkpoint_stream_name, checkpoint_subject, event_subject, ledger_events_filter, request_subject, stream_name, witness_subject, ScopeKind};
