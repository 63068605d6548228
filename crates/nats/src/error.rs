//! The crate's error type for everything except appends.
//!
//! Why a single enum: callers (the writer, the CLI, verifiers) mostly need to
//! report what went wrong and where; the one failure they must branch on —
//! losing the append race — has its own type, [`crate::AppendError`], so it
//! cannot be confused with a broker hiccup.

use std::path::PathBuf;

/// A boxed error from the NATS client, kept as the source of [`NatsError`]s.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong starting servers, setting up streams and reading.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No nats-server executable could be found.
    #[error(
        "nats-server binary not found (tried {tried}); run scripts/setup (installs the tested \
         nats-server into the project's .tools/), install it with `apt-get install nats-server`, \
         or point FUNDLEDGER_NATS_SERVER at the executable"
    )]
    ServerBinaryNotFound {
        /// The locations that were tried, comma-separated.
        tried: String,
    },

    /// The server cannot be used as asked (too old for replicated streams).
    /// Boxed: it is the largest variant, and every caller's error holds a `NatsError`.
    #[error(transparent)]
    ServerVersion(Box<crate::server_version::ServerVersionError>),

    /// A local file-system or process operation failed.
    #[error("could not {action} ({path}): {source}")]
    Io {
        /// What was being done, e.g. "write the nats-server config".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The nats-server process exited while we waited for it to accept clients.
    #[error("nats-server exited during start-up ({status}); log tail:\n{log_tail}")]
    ServerExited {
        /// The exit status as printed by the OS.
        status: String,
        /// The last lines of the server's log.
        log_tail: String,
    },

    /// The nats-server process did not accept clients in time.
    #[error("nats-server at {url} did not become ready within {timeout_ms} ms; log tail:\n{log_tail}")]
    ServerStartTimeout {
        /// The URL it should have been listening on.
        url: String,
        /// The bound that elapsed.
        timeout_ms: u64,
        /// The last lines of the server's log.
        log_tail: String,
    },

    /// The embedded cluster never elected a JetStream meta leader.
    #[error("the nats cluster had no JetStream meta leader within {timeout_ms} ms (last error: {last_error})")]
    ClusterNotReady {
        /// The bound that elapsed.
        timeout_ms: u64,
        /// The last error seen while probing.
        last_error: String,
    },

    /// A node index outside the cluster was given.
    #[error("cluster node {index} does not exist (the cluster has {size} nodes)")]
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// How many nodes the cluster has.
        size: usize,
    },

    /// The embedded server is not running (it was killed or stopped).
    #[error("the embedded nats-server on port {port} is not running")]
    ServerNotRunning {
        /// Its client port.
        port: u16,
    },

    /// A cluster needs at least one node.
    #[error("an embedded cluster needs between 1 and {max} nodes, {requested} were requested")]
    InvalidClusterSize {
        /// The number asked for.
        requested: usize,
        /// The largest supported size.
        max: usize,
    },

    /// Connecting a client to a server failed.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// The server URL.
        url: String,
        /// The client's error.
        #[source]
        source: async_nats::ConnectError,
    },

    /// A server URL could not be parsed.
    #[error("invalid NATS server URL {url:?}: {source}")]
    InvalidUrl {
        /// The rejected URL.
        url: String,
        /// The parser's error.
        #[source]
        source: std::io::Error,
    },

    /// A ledger, fund or scheme id is not `[a-z0-9][a-z0-9_-]{0,63}`.
    #[error("invalid {kind} id {value:?}: must match [a-z0-9][a-z0-9_-]{{0,63}}")]
    InvalidId {
        /// "ledger", "fund", "scheme" or "auditor key prefix".
        kind: &'static str,
        /// The rejected value.
        value: String,
    },

    /// An event type is not two lowercase tokens such as `grant.disbursed`.
    #[error("invalid event type {value:?}: must be two tokens like `grant.disbursed`, each [a-z][a-z0-9_]{{0,63}}")]
    InvalidEventType {
        /// The rejected value.
        value: String,
    },

    /// An existing stream's configuration differs from what the ledger requires.
    #[error("stream {stream} exists with {setting} = {found}, but the ledger requires {expected}; refusing to change it")]
    StreamSettingMismatch {
        /// The stream's name.
        stream: String,
        /// The configuration field that differs.
        setting: &'static str,
        /// What the ledger requires.
        expected: String,
        /// What the server has.
        found: String,
    },

    /// A JetStream request failed.
    #[error("JetStream {operation} failed: {source}")]
    JetStream {
        /// What was being done, e.g. "stream info for FUNDLEDGER_HK".
        operation: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },

    /// A message read from the stream lacked JetStream metadata.
    #[error("message read from stream {stream} has no JetStream metadata: {detail}")]
    MalformedMessage {
        /// The stream.
        stream: String,
        /// What was wrong.
        detail: String,
    },

    /// A replay stopped before reaching the sequence it had to reach.
    #[error("replay of {stream} ended at sequence {reached} before reaching {target}: {detail}")]
    ReplayIncomplete {
        /// The stream.
        stream: String,
        /// The last sequence delivered.
        reached: u64,
        /// The sequence the replay had to reach.
        target: u64,
        /// Why it stopped.
        detail: String,
    },
}

impl NatsError {
    /// Wraps a client error with the operation it interrupted.
    pub(crate) fn jetstream(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        NatsError::JetStream { operation: operation.into(), source: source.into() }
    }
}

impl From<crate::server_version::ServerVersionError> for NatsError {
    fn from(error: crate::server_version::ServerVersionError) -> NatsError {
        NatsError::ServerVersion(Box::new(error))
    }
}
