//! The durable idempotency index: event id -> (sequence, event hash, record
//! hash). JetStream's own de-duplication forgets ids after its window; this
//! index does not, so a re-submitted event returns its original record and a
//! reused id with other content is refused, after restarts and forever.
//!
//! It is a cache of the stream, kept on disk so writer memory does not grow
//! with the number of events: the applied position is written in the same
//! RocksDB WriteBatch as the ids, and on start the writer indexes every record
//! after that position. Deleting the directory is always safe.

use std::path::Path;

use fundledger_core::crypto::Hash;
use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::error::WriterError;

const POSITION_KEY: &[u8] = b"\x00position";
const ID_PREFIX: &[u8] = b"id/";

/// Where an event id was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedEvent {
    pub seq: u64,
    pub event_hash: Hash,
    pub record_hash: Hash,
}

pub struct IdIndex {
    db: DB,
    path: String,
}

fn key(id: &str) -> Vec<u8> {
    [ID_PREFIX, id.as_bytes()].concat()
}

impl IdIndex {
    pub fn open(path: &Path) -> Result<IdIndex, WriterError> {
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        options.set_block_based_table_factory(&table);
        let db = DB::open(&options, path).map_err(|error| WriterError::Index { path: path.display().to_string(), message: error.to_string() })?;
        Ok(IdIndex { db, path: path.display().to_string() })
    }

    fn fail(&self, message: impl ToString) -> WriterError {
        WriterError::Index { path: self.path.clone(), message: message.to_string() }
    }

    /// The last sequence whose id is indexed, and that record's hash (so a
    /// writer can tell an index that belongs to another stream).
    pub fn position(&self) -> Result<(u64, Hash), WriterError> {
        match self.db.get(POSITION_KEY).map_err(|error| self.fail(error))? {
            None => Ok((0, [0; 32])),
            Some(bytes) if bytes.len() == 40 => {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&bytes[8..]);
                let seq = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| self.fail("corrupt position"))?);
                Ok((seq, hash))
            }
            Some(_) => Err(self.fail("corrupt position")),
        }
    }

    /// Removes every entry: the index is rebuilt from the stream.
    pub fn clear(&self) -> Result<(), WriterError> {
        let mut batch = WriteBatch::default();
        batch.delete_range(b"\x00".as_slice(), b"\xff".as_slice());
        self.db.write(batch).map_err(|error| self.fail(error))
    }

    pub fn get(&self, id: &str) -> Result<Option<IndexedEvent>, WriterError> {
        let Some(bytes) = self.db.get(key(id)).map_err(|error| self.fail(error))? else {
            return Ok(None);
        };
        if bytes.len() != 72 {
            return Err(self.fail(format!("corrupt entry for id {id}")));
        }
        let mut event_hash = [0u8; 32];
        let mut record_hash = [0u8; 32];
        event_hash.copy_from_slice(&bytes[8..40]);
        record_hash.copy_from_slice(&bytes[40..72]);
        let seq = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| self.fail("corrupt entry"))?);
        Ok(Some(IndexedEvent { seq, event_hash, record_hash }))
    }

    /// Records ids and the new position atomically. Not synced: the index is
    /// rebuilt from the stream past its position after a crash.
    pub fn put_all<'a>(&self, entries: impl IntoIterator<Item = (&'a str, IndexedEvent)>, position: (u64, Hash)) -> Result<(), WriterError> {
        let mut batch = WriteBatch::default();
        for (id, entry) in entries {
            let mut value = Vec::with_capacity(72);
            value.extend_from_slice(&entry.seq.to_be_bytes());
            value.extend_from_slice(&entry.event_hash);
            value.extend_from_slice(&entry.record_hash);
            batch.put(key(id), value);
        }
        batch.put(POSITION_KEY, [&position.0.to_be_bytes()[..], &position.1].concat());
        let mut options = WriteOptions::default();
        options.set_sync(false);
        self.db.write_opt(batch, &options).map_err(|error| self.fail(error))
    }
}

impl IdIndex {
    /// The ids recorded after sequence `seq` (by scanning every entry), at
    /// most `limit` of them in sequence order, and how many there are in all:
    /// what a rollback loses, for the operator who accepts it.
    pub fn ids_after(&self, seq: u64, limit: usize) -> Result<(Vec<(String, u64)>, u64), WriterError> {
        let mut found = Vec::new();
        let mut count = 0u64;
        for item in self.db.prefix_iterator(ID_PREFIX) {
            let (key, value) = item.map_err(|error| self.fail(error))?;
            if !key.starts_with(ID_PREFIX) {
                break;
            }
            let Some(entry_seq) = value.get(..8).and_then(|bytes| bytes.try_into().ok()).map(u64::from_be_bytes) else {
                return Err(self.fail("corrupt entry"));
            };
            if entry_seq > seq {
                count += 1;
                found.push((String::from_utf8_lossy(&key[ID_PREFIX.len()..]).into_owned(), entry_seq));
            }
        }
        found.sort_by_key(|(_, entry_seq)| *entry_seq);
        found.truncate(limit);
        Ok((found, count))
    }
}
