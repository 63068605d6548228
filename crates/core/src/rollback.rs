//! Rollback: a stream that no longer holds a record a service saw acknowledged.
//!
//! Why this is its own rule: a broker that loses acknowledged messages (a
//! replica that stopped growing and was then elected leader; a store restored
//! from an old backup; a stream deleted and refilled with a prefix) shows a
//! shorter or different stream. Every service that remembers a position (the
//! writer's index and chain, the projector's read models, the checkpointer's
//! last signed checkpoint, a verifying tail) compares it with the stream
//! through [`check`] and treats a mismatch as an incident to refuse loudly,
//! never as a cache to rebuild: rebuilding would accept the acknowledged
//! events again as new ones, at other sequences with other hashes.
//!
//! Pure: the caller reads the stream's last sequence and the record stored at
//! the known sequence, and hands both in.

use std::fmt;

use crate::crypto::Hash;
use crate::record::Record;

/// What a service knew: the sequence of a record it saw acknowledged (or
/// applied, or checkpointed) and that record's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownPosition {
    pub seq: u64,
    pub hash: Hash,
}

/// How the stream differs from what was known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollback {
    /// The stream ends before the known record: records `stream_last + 1`
    /// to `known.seq` are missing.
    Truncated { known: KnownPosition, stream_last: u64 },
    /// The stream holds another record (or an unreadable one) at the known sequence.
    Replaced { known: KnownPosition, found: String },
}

impl Rollback {
    /// The first record the stream lost or changed.
    pub fn first_bad_seq(&self) -> u64 {
        match self {
            Rollback::Truncated { stream_last, .. } => stream_last + 1,
            Rollback::Replaced { known, .. } => known.seq,
        }
    }

    pub fn known(&self) -> KnownPosition {
        match self {
            Rollback::Truncated { known, .. } | Rollback::Replaced { known, .. } => *known,
        }
    }

    /// Records known to have been acknowledged that the stream no longer holds as they were.
    pub fn records_lost(&self) -> u64 {
        let known = self.known();
        known.seq.saturating_sub(self.first_bad_seq()) + 1
    }
}

impl fmt::Display for Rollback {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollback::Truncated { known, stream_last } => write!(
                formatter,
                "ledger rollback: the stream ends at record {stream_last}, but record {} (hash {}) was acknowledged before; records {} to {} ({} records) are missing",
                known.seq,
                hex::encode(known.hash),
                stream_last + 1,
                known.seq,
                known.seq - stream_last
            ),
            Rollback::Replaced { known, found } => write!(
                formatter,
                "ledger rollback: record {} in the stream is {found}, but the record acknowledged at {} has hash {}; the stream was replaced",
                known.seq,
                known.seq,
                hex::encode(known.hash)
            ),
        }
    }
}

/// Checks that a stream whose last sequence is `stream_last`, and which holds
/// `stored` at `known.seq`, still holds the known record. Nothing is known at
/// sequence 0.
pub fn check(known: KnownPosition, stream_last: u64, stored: Option<&[u8]>) -> Result<(), Rollback> {
    if known.seq == 0 {
        return Ok(());
    }
    if stream_last < known.seq {
        return Err(Rollback::Truncated { known, stream_last });
    }
    let Some(bytes) = stored else {
        return Err(Rollback::Replaced { known, found: "missing (deleted)".to_string() });
    };
    match Record::read_stored(bytes) {
        Ok(record) if record.hash == known.hash && record.seq == known.seq => Ok(()),
        Ok(record) => Err(Rollback::Replaced { known, found: format!("record {} with hash {}", record.seq, hex::encode(record.hash)) }),
        Err(error) => Err(Rollback::Replaced { known, found: format!("unreadable ({error})") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: Hash = [7; 32];

    #[test]
    fn nothing_known_is_never_a_rollback() {
        assert_eq!(check(KnownPosition { seq: 0, hash: [0; 32] }, 0, None), Ok(()));
    }

    #[test]
    fn a_shorter_stream_names_the_first_missing_record() {
        let known = KnownPosition { seq: 54_638, hash: HASH };
        let rollback = check(known, 15_848, None).unwrap_err();
        assert_eq!(rollback.first_bad_seq(), 15_849);
        assert_eq!(rollback.records_lost(), 38_790);
        let text = rollback.to_string();
        assert!(text.contains("records 15849 to 54638 (38790 records) are missing"), "{text}");
    }

    #[test]
    fn unreadable_or_missing_bytes_at_the_known_sequence_are_a_replacement() {
        let known = KnownPosition { seq: 3, hash: HASH };
        assert!(matches!(check(known, 5, Some(b"not a record")), Err(Rollback::Replaced { .. })));
        let rollback = check(known, 5, None).unwrap_err();
        assert_eq!(rollback.first_bad_seq(), 3);
        assert_eq!(rollback.records_lost(), 1);
    }
}
