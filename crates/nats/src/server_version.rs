//! Which nats-server versions the ledger relies on, and for what.
//!
//! Why a check at all: the chain's fencing is only as good as the server's
//! expected-sequence checks under concurrent and refused publishes. Before
//! 2.9.21 the clustered path of those checks had a race (nats-server #4320,
//! reported for the per-subject header) and a new stream leader could start
//! from a stale count of refused publishes (#4365), which fenced refusals
//! feed. The stream-wide checks fundledger uses are applied in Raft order
//! even there, so this is a precaution, not an observed fork: such releases
//! are also end of life and lack the CVE-2023-47090 fix. A single-node
//! stream checks and stores in one place, so R1 ledgers run on any 2.9; a
//! replicated ledger on an older server is refused unless forced.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A nats-server release number, `major.minor.patch` (a pre-release or
/// build suffix such as `-RC.2` is kept; it only breaks ties in comparisons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// `2` in 2.9.10.
    pub major: u64,
    /// `9` in 2.9.10.
    pub minor: u64,
    /// `10` in 2.9.10.
    pub patch: u64,
    /// What followed the numbers (`-RC.2`, `+build`), empty for a release.
    pub suffix: String,
}

/// The server `scripts/setup` installs and the whole suite runs on.
pub const PINNED_SERVER_VERSION: ServerVersion = ServerVersion::new(2, 15, 1);
/// First release whose clustered streams serialise the expected-sequence
/// checks of concurrent publishes (nats-server #4320).
pub const CLUSTER_FENCING_MIN_VERSION: ServerVersion = ServerVersion::new(2, 9, 21);
/// First 2.9 release with the fix for CVE-2023-47090 (an `authorization`
/// block beside a `$SYS`-only `accounts` block let clients in without a login).
pub const CVE_2023_47090_FIXED_VERSION: ServerVersion = ServerVersion::new(2, 9, 23);
/// First release with atomic batch publish (`Nats-Batch-Id`).
pub const ATOMIC_BATCH_MIN_VERSION: ServerVersion = ServerVersion::new(2, 12, 0);
/// First release that checks `Nats-Expected-Last-Sequence` before the
/// duplicate window. Before it (2.9 to 2.11) a message id already stored is
/// acknowledged as a duplicate whatever its expectations; from it on, a stored
/// message published again with its old expectation is refused as "wrong
/// last sequence" (10071), and only one whose expectation still holds is
/// answered as a duplicate. The expected last message id is checked after
/// the duplicate window on both.
pub const LAST_SEQUENCE_BEFORE_DUPLICATES_MIN_VERSION: ServerVersion = ServerVersion::new(2, 12, 0);
/// Why a replicated stream needs [`CLUSTER_FENCING_MIN_VERSION`], as operators read it.
pub const CLUSTER_FENCING_REASON: &str = "before 2.9.21 the clustered checks of the \
    expected-sequence headers that fence the ledger's appends raced with concurrent publishes \
    (nats-server #4320) and a new stream leader could miscount refused publishes (#4365); \
    such releases also lack the CVE-2023-47090 fix (2.9.23)";

impl ServerVersion {
    /// `major.minor.patch` without a suffix.
    pub const fn new(major: u64, minor: u64, patch: u64) -> ServerVersion {
        ServerVersion { major, minor, patch, suffix: String::new() }
    }

    /// Whether this release has the fix for CVE-2023-47090 (2.9.23, 2.10.2 and later).
    pub fn has_cve_2023_47090_fix(&self) -> bool {
        match (self.major, self.minor) {
            (2, 10) => self.patch >= 2,
            _ => *self >= CVE_2023_47090_FIXED_VERSION,
        }
    }

    /// Whether the server offers atomic batch publish.
    pub fn has_atomic_batch(&self) -> bool {
        *self >= ATOMIC_BATCH_MIN_VERSION
    }

    /// Whether a re-published stored message is refused by its expected last
    /// sequence rather than acknowledged as a duplicate
    /// ([`LAST_SEQUENCE_BEFORE_DUPLICATES_MIN_VERSION`]).
    pub fn checks_last_sequence_before_duplicates(&self) -> bool {
        *self >= LAST_SEQUENCE_BEFORE_DUPLICATES_MIN_VERSION
    }

    fn numbers(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

impl PartialOrd for ServerVersion {
    fn partial_cmp(&self, other: &ServerVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ServerVersion {
    /// By the numbers: a pre-release of 2.9.21 is not older than 2.9.21.
    fn cmp(&self, other: &ServerVersion) -> Ordering {
        self.numbers().cmp(&other.numbers()).then_with(|| self.suffix.cmp(&other.suffix))
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}{}", self.major, self.minor, self.patch, self.suffix)
    }
}

impl FromStr for ServerVersion {
    type Err = ServerVersionError;

    /// Parses what the server reports in INFO (`2.9.10`, `2.12.0-RC.3`;
    /// a leading `v` as in `nats-server --version` is accepted).
    fn from_str(text: &str) -> Result<ServerVersion, ServerVersionError> {
        let unparsable = || ServerVersionError::Unparsable { text: text.to_string() };
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let split = trimmed.find(['-', '+']).unwrap_or(trimmed.len());
        let (numbers, suffix) = trimmed.split_at(split);
        let mut parts = numbers.split('.');
        let mut next = || -> Result<u64, ServerVersionError> {
            let part = parts.next().ok_or_else(unparsable)?;
            if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(unparsable());
            }
            part.parse().map_err(|_| unparsable())
        };
        let (major, minor, patch) = (next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(unparsable());
        }
        Ok(ServerVersion { major, minor, patch, suffix: suffix.to_string() })
    }
}

/// Why a server cannot be used as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerVersionError {
    /// The server reported a version that is not `major.minor.patch`.
    #[error("nats-server reported the version {text:?}, which is not major.minor.patch")]
    Unparsable {
        /// What the server reported.
        text: String,
    },

    /// A replicated stream was asked of a server too old to fence it.
    #[error(
        "refusing {replicas}-replica streams on nats-server {version}: {reason}; upgrade the \
         cluster to {required} or later ({pinned} is the tested default, scripts/setup installs \
         it), use one replica, or force it (`fundledger serve --allow-old-nats-cluster`) and \
         accept the risk",
        required = CLUSTER_FENCING_MIN_VERSION,
        pinned = PINNED_SERVER_VERSION
    )]
    ClusterTooOld {
        /// The server's version.
        version: String,
        /// The replicas asked for.
        replicas: usize,
        /// Why that version is needed.
        reason: &'static str,
    },
}

/// Decides whether streams with `replicas` replicas may be used on a server
/// reporting `server_version` (the connection's `server_info().version`).
///
/// One replica is accepted on any version (a version that cannot be parsed
/// too: nothing here depends on it). More replicas need
/// [`CLUSTER_FENCING_MIN_VERSION`]; an older or unreadable version is
/// refused unless `allow_old_cluster` is set, in which case the caller should
/// warn. Returns the parsed version where there is one.
pub fn check_replicas_supported(replicas: usize, server_version: &str, allow_old_cluster: bool) -> Result<Option<ServerVersion>, ServerVersionError> {
    let parsed = server_version.parse::<ServerVersion>();
    if replicas <= 1 || allow_old_cluster {
        return Ok(parsed.ok());
    }
    let version = parsed?;
    if version < CLUSTER_FENCING_MIN_VERSION {
        return Err(ServerVersionError::ClusterTooOld { version: version.to_string(), replicas, reason: CLUSTER_FENCING_REASON });
    }
    Ok(Some(version))
}

/// [`check_replicas_supported`] for the server `client` is connected to,
/// logging a warning when an old server is used anyway (forced, or a
/// release without the CVE-2023-47090 fix).
pub fn check_server_for_replicas(broker: &crate::Broker, replicas: usize, allow_old_cluster: bool) -> Result<Option<ServerVersion>, ServerVersionError> {
    let reported = broker.server_version();
    let version = check_replicas_supported(replicas, &reported, allow_old_cluster)?;
    match &version {
        Some(version) if replicas > 1 && *version < CLUSTER_FENCING_MIN_VERSION => {
            tracing::warn!(%version, replicas, "forced onto an old nats-server cluster: {CLUSTER_FENCING_REASON}");
        }
        None if replicas > 1 => {
            tracing::warn!(reported, replicas, "forced onto a nats-server whose version cannot be read");
        }
        _ => {}
    }
    if let Some(version) = version.as_ref().filter(|version| !version.has_cve_2023_47090_fix()) {
        tracing::warn!(
            %version,
            "nats-server {version} lacks the fix for CVE-2023-47090 (2.9.23, 2.10.2): do not combine an \
             `authorization` block with a $SYS-only `accounts` block; {PINNED_SERVER_VERSION} is the tested default"
        );
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ServerVersion {
        match text.parse() {
            Ok(version) => version,
            Err(error) => panic!("{text}: {error}"),
        }
    }

    #[test]
    fn parses_what_servers_report() {
        assert_eq!(v("2.9.10"), ServerVersion::new(2, 9, 10));
        assert_eq!(v("v2.15.1"), PINNED_SERVER_VERSION);
        let rc = v("2.12.0-RC.3");
        assert_eq!((rc.major, rc.minor, rc.patch, rc.suffix.as_str()), (2, 12, 0, "-RC.3"));
        assert_eq!(rc.to_string(), "2.12.0-RC.3");
        for bad in ["", "2", "2.9", "2.9.x", "2.9.10.1", "two.9.10", "2..10", "-1.2.3", "2.9.+1"] {
            assert!(matches!(bad.parse::<ServerVersion>(), Err(ServerVersionError::Unparsable { .. })), "{bad:?} must not parse");
        }
    }

    #[test]
    fn compares_by_number_not_by_text() {
        assert!(v("2.9.10") < v("2.9.21"));
        assert!(v("2.9.9") < v("2.9.10"));
        assert!(v("2.10.0") > v("2.9.23"));
        assert!(v("2.15.1") > v("2.12.0"));
        assert!(v("2.9.21-RC.1") >= CLUSTER_FENCING_MIN_VERSION);
    }

    #[test]
    fn knows_which_releases_have_the_cve_fix_and_atomic_batches() {
        for (text, fixed) in [("2.9.10", false), ("2.9.22", false), ("2.9.23", true), ("2.10.1", false), ("2.10.2", true), ("2.15.1", true)] {
            assert_eq!(v(text).has_cve_2023_47090_fix(), fixed, "{text}");
        }
        assert!(!v("2.11.9").has_atomic_batch());
        assert!(v("2.12.0").has_atomic_batch() && PINNED_SERVER_VERSION.has_atomic_batch());
        assert!(!v("2.9.10").checks_last_sequence_before_duplicates());
        assert!(!v("2.11.9").checks_last_sequence_before_duplicates());
        assert!(PINNED_SERVER_VERSION.checks_last_sequence_before_duplicates());
    }

    #[test]
    fn one_replica_runs_on_any_server() {
        assert_eq!(check_replicas_supported(1, "2.9.10", false), Ok(Some(v("2.9.10"))));
        assert_eq!(check_replicas_supported(1, "something odd", false), Ok(None));
    }

    #[test]
    fn replicas_on_a_server_before_2_9_21_are_refused_with_the_reason() {
        for old in ["2.9.10", "2.9.20", "2.2.0"] {
            let error = check_replicas_supported(3, old, false).expect_err("refused");
            assert!(matches!(&error, ServerVersionError::ClusterTooOld { version, replicas: 3, .. } if version == old));
            let message = error.to_string();
            for part in [old, "#4320", "2.9.21", "--allow-old-nats-cluster", "3-replica"] {
                assert!(message.contains(part), "{message:?} names {part:?}");
            }
        }
        assert!(matches!(check_replicas_supported(3, "2.9", false), Err(ServerVersionError::Unparsable { .. })));
    }

    #[test]
    fn replicas_on_a_fixed_server_or_when_forced_are_accepted() {
        assert_eq!(check_replicas_supported(3, "2.9.21", false), Ok(Some(v("2.9.21"))));
        assert_eq!(check_replicas_supported(3, "2.15.1", false), Ok(Some(PINNED_SERVER_VERSION)));
        assert_eq!(check_replicas_supported(3, "2.9.10", true), Ok(Some(v("2.9.10"))));
        assert_eq!(check_replicas_supported(5, "unknown", true), Ok(None));
    }
}
