//! The RocksDB adapter for the read models (layout in [`crate::keys`]).
//!
//! Why one key space and one WriteBatch per commit: the applied position is
//! written in the same batch as the changes of the records it covers, so the
//! database is always the projection of exactly the records up to its
//! position, whatever moment a process dies at. Instances sharing a store
//! take turns: each decides and commits a batch holding [`Store::begin`]'s
//! lock, and a commit re-reads the stored position and refuses to write
//! unless it is the one the batch starts from, so no record is applied twice.
//!
//! Bulk commits (a rebuild into a new database) skip the write-ahead log:
//! RocksDB flushes a single key space's memtables whole and in order, so
//! what survives a crash is still a prefix of batches, position included,
//! though possibly far behind. Compactions wait during such a phase, and
//! [`Store::flush`] ends it before WAL-logged commits resume.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions, DB};
use thiserror::Error;

use fundledger_core::id::{EnterpriseId, LedgerId};

use crate::keys::{self, Kind};
use crate::model::*;
use crate::projection::{Changes, Entities, Position, Projection};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("read-model database {path}: {message}")]
    Database { path: String, message: String },
    #[error("read-model database {path} is in use by another process (is `fundledger serve` running with this data directory?): {message}")]
    Locked { path: String, message: String },
    #[error("read-model database {path} holds ledger {found}, not {expected}; use another --data-dir or `fundledger rebuild`")]
    OtherLedger { path: String, found: String, expected: String },
    #[error("read-model database {path} has layout version {found}, this build uses {expected}; run `fundledger rebuild`")]
    Format { path: String, found: String, expected: u32 },
    #[error("the read models are at record {stored}, but this commit starts after record {expected}")]
    PositionMoved { stored: u64, expected: u64 },
    #[error("read-model database {path} is corrupt: {what}")]
    Corrupt { path: String, what: String },
}

/// Whether a commit is logged (survives a crash on its own) or bulk (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Logged,
    Bulk,
}

/// A key and its value, as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The read-model database of one ledger.
pub struct Store {
    db: DB,
    path: PathBuf,
    ledger: LedgerId,
    commit_lock: Mutex<()>,
    /// Set when the stream lost or changed a record these models reflect:
    /// the projector stopped applying and the query API reports not ready.
    incident: Mutex<Option<String>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Store").field("path", &self.path).field("ledger", &self.ledger).finish()
    }
}

/// Memtable size: large enough that a rebuild flushes rarely.
const WRITE_BUFFER_BYTES: usize = 128 * 1024 * 1024;
/// Memtables at most: a rebuild fills one while others flush, instead of
/// stalling on the flush (the default is 2).
const WRITE_BUFFERS_MAX: i32 = 4;

/// A WriteBatch's header (sequence and count), and what each put adds to
/// its key and value at most (a type byte and two varint32 lengths).
const WRITE_BATCH_HEADER_BYTES: usize = 12;
const WRITE_BATCH_PUT_OVERHEAD_BYTES: usize = 11;

impl Store {
    /// Opens (or creates) the database of `ledger` at `path`.
    pub fn open(path: &Path, ledger: &LedgerId) -> Result<Store, StoreError> {
        let display = path.display().to_string();
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        options.set_write_buffer_size(WRITE_BUFFER_BYTES);
        options.set_max_write_buffer_number(WRITE_BUFFERS_MAX);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Flushes and compactions write whole new files that nobody reads
        // soon: through the page cache, copying them in cost a rebuild more
        // CPU than compressing them. Only where the file system allows O_DIRECT.
        options.set_use_direct_io_for_flush_and_compaction(direct_io_supported(path));
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        options.set_block_based_table_factory(&table);
        let db = DB::open(&options, path).map_err(|error| {
            let message = error.to_string();
            if message.contains("lock") || message.contains("Resource temporarily unavailable") {
                StoreError::Locked { path: display.clone(), message }
            } else {
                StoreError::Database { path: display.clone(), message }
            }
        })?;
        let store = Store { db, path: path.to_path_buf(), ledger: ledger.clone(), commit_lock: Mutex::new(()), incident: Mutex::new(None) };
        match store.db.get(keys::LEDGER).map_err(|error| store.fail(error))? {
            Some(found) if found != ledger.as_str().as_bytes() => {
                return Err(StoreError::OtherLedger { path: display, found: String::from_utf8_lossy(&found).into_owned(), expected: ledger.to_string() })
            }
            Some(_) => {}
            None => {
                let mut batch = WriteBatch::default();
                batch.put(keys::LEDGER, ledger.as_str());
                batch.put(keys::FORMAT, keys::FORMAT_VERSION.to_string());
                store.db.write(batch).map_err(|error| store.fail(error))?;
            }
        }
        let format = store.db.get(keys::FORMAT).map_err(|error| store.fail(error))?.unwrap_or_default();
        if format != keys::FORMAT_VERSION.to_string().as_bytes() {
            return Err(StoreError::Format { path: display, found: String::from_utf8_lossy(&format).into_owned(), expected: keys::FORMAT_VERSION });
        }
        Ok(store)
    }

    fn fail(&self, error: impl ToString) -> StoreError {
        StoreError::Database { path: self.path.display().to_string(), message: error.to_string() }
    }

    pub fn ledger(&self) -> &LedgerId {
        &self.ledger
    }

    /// Records why these models stopped following the stream (a rollback).
    pub fn set_incident(&self, incident: String) {
        if let Ok(mut slot) = self.incident.lock() {
            *slot = Some(incident);
        }
    }

    /// Why these models stopped following the stream, if they did.
    pub fn incident(&self) -> Option<String> {
        self.incident.lock().ok().and_then(|slot| slot.clone())
    }

    /// The applied position as stored.
    pub fn position(&self) -> Result<Position, StoreError> {
        let bytes = self.db.get(keys::POSITION).map_err(|error| self.fail(error))?;
        decode_position(&self.path, bytes.as_deref())
    }

    /// Exclusive right to commit, held while a batch is decided and committed,
    /// so that instances sharing this store take turns instead of racing.
    pub fn begin(&self) -> Writing<'_> {
        Writing { store: self, _guard: self.commit_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) }
    }

    /// Starts a bulk phase: compactions wait until [`Store::flush`], so that a
    /// rebuild's writes do not share the cores with rewriting what it just wrote.
    pub fn begin_bulk(&self) -> Result<(), StoreError> {
        self.db.set_options(&[("disable_auto_compactions", "true")]).map_err(|error| self.fail(error))
    }

    /// Persists everything committed so far and ends a bulk phase (compactions resume in the background).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|error| self.fail(error))?;
        self.db.set_options(&[("disable_auto_compactions", "false")]).map_err(|error| self.fail(error))
    }

    /// Loads the projection: the position and every entity's latest version.
    pub fn load(&self) -> Result<Projection, StoreError> {
        let reader = self.reader()?;
        let position = reader.position();
        let latest_all = |kind: Kind| -> Result<Vec<Vec<u8>>, StoreError> {
            let mut values = Vec::new();
            for (id, _) in reader.directory(kind)? {
                match reader.version_bytes(kind, &id, position.seq)? {
                    Some((_, bytes)) => values.push(bytes),
                    None => return Err(reader.corrupt(format!("{} {id} is listed but has no version", kind.as_str()))),
                }
            }
            Ok(values)
        };
        fn decode<T: Stored>(reader: &Reader<'_>, values: Vec<Vec<u8>>) -> Result<Vec<T>, StoreError> {
            values.iter().map(|bytes| reader.decode(bytes)).collect()
        }
        let ledger = reader.version::<LedgerModel>(Kind::Ledger, self.ledger.as_str(), position.seq)?.map(|(_, model)| model);
        let entities = Entities {
            ledger,
            keys: decode(&reader, latest_all(Kind::Key)?)?,
            funds: decode(&reader, latest_all(Kind::Fund)?)?,
            subfunds: decode(&reader, latest_all(Kind::SubFund)?)?,
            investments: decode(&reader, latest_all(Kind::Investment)?)?,
            schemes: decode(&reader, latest_all(Kind::Scheme)?)?,
            grants: decode(&reader, latest_all(Kind::Grant)?)?,
            enterprises: reader
                .directory(Kind::Enterprise)?
                .into_iter()
                .map(|(id, _)| EnterpriseId::parse(&id).map_err(|error| reader.corrupt(error.to_string())))
                .collect::<Result<_, _>>()?,
        };
        Ok(Projection::restore(self.ledger.clone(), position, entities))
    }

    /// A consistent view: every read through it sees the same position.
    pub fn reader(&self) -> Result<Reader<'_>, StoreError> {
        let snapshot = self.db.snapshot();
        let bytes = snapshot.get(keys::POSITION).map_err(|error| self.fail(error))?;
        let position = decode_position(&self.path, bytes.as_deref())?;
        Ok(Reader { snapshot, store: self, position })
    }

    /// Every key and value in key order (for comparing two databases).
    pub fn dump(&self) -> Result<Vec<Entry>, StoreError> {
        let mut entries = Vec::new();
        for item in self.db.iterator(IteratorMode::Start) {
            let (key, value) = item.map_err(|error| self.fail(error))?;
            entries.push((key.into_vec(), value.into_vec()));
        }
        Ok(entries)
    }
}

/// The right to commit (see [`Store::begin`]).
pub struct Writing<'a> {
    store: &'a Store,
    _guard: MutexGuard<'a, ()>,
}

impl Writing<'_> {
    /// Writes `changes` and the new position `to` in one WriteBatch, if the
    /// stored position is still `from`.
    pub fn commit(self, changes: &Changes, from: Position, to: Position, durability: Durability) -> Result<(), StoreError> {
        assert!(to.seq >= from.seq, "a commit never moves the position back");
        let stored = self.store.position()?;
        if stored != from {
            return Err(StoreError::PositionMoved { stored: stored.seq, expected: from.seq });
        }
        // Sized once: a batch grown put by put is copied each time it doubles.
        let mut batch = WriteBatch::with_capacity_bytes(
            WRITE_BATCH_HEADER_BYTES + changes.byte_len() + keys::POSITION.len() + keys::POSITION_BYTES + (changes.len() + 1) * WRITE_BATCH_PUT_OVERHEAD_BYTES,
        );
        for (key, value) in changes.iter() {
            batch.put(key, value);
        }
        batch.put(keys::POSITION, keys::encode_position(to.seq, &to.hash));
        let mut options = WriteOptions::default();
        options.set_sync(false);
        options.disable_wal(durability == Durability::Bulk);
        self.store.db.write_opt(batch, &options).map_err(|error| self.store.fail(error))
    }
}

/// Whether files in `directory` (created if missing) can be opened with
/// O_DIRECT: tmpfs and some others refuse it, and RocksDB would then fail at
/// its first flush.
fn direct_io_supported(directory: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if std::fs::create_dir_all(directory).is_err() {
            return false;
        }
        let probe = directory.join("DIRECT_IO_PROBE");
        let supported = std::fs::OpenOptions::new().write(true).create(true).truncate(true).custom_flags(libc::O_DIRECT).open(&probe).is_ok();
        let _ = std::fs::remove_file(&probe);
        supported
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = directory;
        false
    }
}

fn decode_position(path: &Path, bytes: Option<&[u8]>) -> Result<Position, StoreError> {
    match bytes {
        None => Ok(Position::START),
        Some(bytes) => keys::decode_position(bytes)
            .map(|(seq, hash)| Position { seq, hash })
            .ok_or_else(|| StoreError::Corrupt { path: path.display().to_string(), what: "the position entry".to_string() }),
    }
}

/// Reads over one snapshot of the store.
pub struct Reader<'a> {
    snapshot: rocksdb::SnapshotWithThreadMode<'a, DB>,
    store: &'a Store,
    position: Position,
}

impl<'a> Reader<'a> {
    /// The position this snapshot reflects.
    pub fn position(&self) -> Position {
        self.position
    }
    pub fn ledger(&self) -> &LedgerId {
        &self.store.ledger
    }

    pub fn corrupt(&self, what: impl ToString) -> StoreError {
        StoreError::Corrupt { path: self.store.path.display().to_string(), what: what.to_string() }
    }

    pub fn decode<T: Stored>(&self, bytes: &[u8]) -> Result<T, StoreError> {
        T::decode(bytes).map_err(|error| self.corrupt(format!("an entry does not decode: {error}")))
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot.get(key).map_err(|error| self.store.fail(error))
    }

    /// The bytes of the version of an entity current as of record `as_of`, and the record that wrote it.
    pub fn version_bytes(&self, kind: Kind, id: &str, as_of: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let prefix = keys::version_prefix(kind, id);
        let mut iterator = self.snapshot.raw_iterator();
        iterator.seek_for_prev(keys::version(kind, id, as_of));
        let found = match (iterator.key(), iterator.value()) {
            (Some(key), Some(value)) if key.starts_with(&prefix) && key.len() == prefix.len() + 8 => {
                Some((keys::trailing_seq(key).unwrap_or(0), value.to_vec()))
            }
            _ => None,
        };
        iterator.status().map_err(|error| self.store.fail(error))?;
        Ok(found)
    }

    /// The version of an entity current as of record `as_of`.
    pub fn version<T: Stored>(&self, kind: Kind, id: &str, as_of: u64) -> Result<Option<(u64, T)>, StoreError> {
        match self.version_bytes(kind, id, as_of)? {
            Some((seq, bytes)) => Ok(Some((seq, self.decode(&bytes)?))),
            None => Ok(None),
        }
    }

    /// Every `(key suffix, value)` under `prefix`, from `start` (a full key) on, while `keep` says so.
    pub fn scan(&self, prefix: &[u8], start: Option<&[u8]>, mut keep: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        let mut options = ReadOptions::default();
        let mut upper = prefix.to_vec();
        upper.push(0xff);
        options.set_iterate_upper_bound(upper);
        let from = start.unwrap_or(prefix);
        let iterator = self.snapshot.iterator_opt(IteratorMode::From(from, Direction::Forward), options);
        for item in iterator {
            let (key, value) = item.map_err(|error| self.store.fail(error))?;
            if !key.starts_with(prefix) {
                break;
            }
            if !keep(&key[prefix.len()..], &value) {
                break;
            }
        }
        Ok(())
    }

    /// The entities of a kind with the record that created each, in id order.
    pub fn directory(&self, kind: Kind) -> Result<Vec<(String, u64)>, StoreError> {
        self.named_entries(&keys::directory_prefix(kind))
    }

    /// The children of an entity with the record that linked each, in id order.
    pub fn children(&self, kind: Kind, id: &str, child: Kind) -> Result<Vec<(String, u64)>, StoreError> {
        self.named_entries(&keys::children_prefix(kind, id, child))
    }

    fn named_entries(&self, prefix: &[u8]) -> Result<Vec<(String, u64)>, StoreError> {
        let mut entries = Vec::new();
        let mut bad = None;
        self.scan(prefix, None, |suffix, value| match (std::str::from_utf8(suffix), keys::decode_seq(value)) {
            (Ok(id), Some(seq)) => {
                entries.push((id.to_string(), seq));
                true
            }
            _ => {
                bad = Some(String::from_utf8_lossy(suffix).into_owned());
                false
            }
        })?;
        match bad {
            Some(entry) => Err(self.corrupt(format!("directory entry {entry:?}"))),
            None => Ok(entries),
        }
    }

    /// The sequences of an entity's events after `after`, at most `as_of`, at most `limit` of them.
    pub fn indexed(&self, kind: Kind, id: &str, after: u64, as_of: u64, limit: usize) -> Result<Vec<u64>, StoreError> {
        let prefix = keys::index_prefix(kind, id);
        let start = keys::index(kind, id, after.saturating_add(1));
        let mut seqs = Vec::new();
        self.scan(&prefix, Some(&start), |suffix, _| match keys::decode_seq(suffix) {
            Some(seq) if seq <= as_of && seqs.len() < limit => {
                seqs.push(seq);
                true
            }
            _ => false,
        })?;
        Ok(seqs)
    }

    /// The dated flows of a sub-fund or scheme up to record `as_of`.
    pub fn flows(&self, kind: Kind, id: &str, as_of: u64) -> Result<Vec<Flow>, StoreError> {
        let prefix = keys::flow_prefix(kind, id);
        let mut flows = Vec::new();
        let mut failure = None;
        self.scan(&prefix, None, |suffix, value| match keys::decode_seq(suffix) {
            Some(seq) if seq <= as_of => match self.decode::<Flow>(value) {
                Ok(flow) => {
                    flows.push(flow);
                    true
                }
                Err(error) => {
                    failure = Some(error);
                    false
                }
            },
            _ => false,
        })?;
        match failure {
            Some(error) => Err(error),
            None => Ok(flows),
        }
    }

    /// The stored record at `seq`.
    pub fn record(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if seq == 0 || seq > self.position.seq {
            return Ok(None);
        }
        self.get(&keys::record(seq))
    }

    /// The sequence of the event with this id, if it is projected.
    pub fn seq_of_event(&self, id: &str) -> Result<Option<u64>, StoreError> {
        match self.get(&keys::event_id(id))? {
            Some(bytes) => keys::decode_seq(&bytes).map(Some).ok_or_else(|| self.corrupt(format!("id entry of event {id}"))),
            None => Ok(None),
        }
    }

    /// Records after `after`, up to `as_of`, at most `limit`.
    pub fn records(&self, after: u64, as_of: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut records = Vec::new();
        let start = keys::record(after.saturating_add(1));
        self.scan(keys::RECORD_PREFIX, Some(&start), |suffix, value| match keys::decode_seq(suffix) {
            Some(seq) if seq <= as_of && records.len() < limit => {
                records.push((seq, value.to_vec()));
                true
            }
            _ => false,
        })?;
        Ok(records)
    }
}
