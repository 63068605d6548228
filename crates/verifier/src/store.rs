//! The verifier's disk-backed store (RocksDB), so that its memory does not
//! grow with the number of events:
//!
//! * column family `ids`: event id -> sequence, to check that no event id is
//!   used twice (FORMAT.md 15, step 6) and to find a record for `prove`;
//! * directory `merkle-nodes`: Merkle complete-subtree nodes `(level, index)`
//!   as [`CompactRange::append`] reports them, in flat files
//!   ([`crate::node_files`]); the store implements [`NodeStore`], so
//!   inclusion and consistency proofs for any past size are read from disk in
//!   O(log n), never from an in-memory tree;
//! * column family `meta`: which ledger, and the size of the checkpoint a
//!   trusted restart resumes from;
//! * column family `tail`: seq -> event id for the records after that
//!   checkpoint, whose ids a trusted restart forgets (it verifies them again);
//! * column family `evidence`: evidence digest -> where it supported spend
//!   (CBOR [`EvidenceUse`]), paged in and out of the ledger state around each
//!   part of a chunk, so that "evidence supports spend once" is checked with
//!   memory independent of the number of events (FORMAT.md 15, step 9);
//! * column family `evidence_undo`: for parts after that checkpoint, (first
//!   seq of the part, digest) -> what `evidence` held for the digest before
//!   (empty: nothing), which a trusted restart puts back.
//!
//! The store is a cache of what the verifier checked: deleting it is always
//! safe (the next run verifies from scratch). Writes skip the write-ahead log
//! for speed; [`Store::flush`] makes them durable at the end of a run, and a
//! crash before that only loses the cache.
//!
//! [`CompactRange::append`]: fundledger_core::merkle::CompactRange::append

use std::path::{Path, PathBuf};

use fundledger_core::crypto::Hash;
use fundledger_core::event::EvidenceDigest;
use fundledger_core::ledger::EvidenceUse;
use fundledger_core::merkle::{MerkleError, NodeId, NodeStore};
use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};

use crate::failure::VerifyError;
use crate::id_filter::{id_hash, IdFilter};
use crate::node_files::NodeFiles;

const CF_IDS: &str = "ids";
/// Where stores written before the node files kept the nodes; dropped when such a store is opened.
const CF_NODES_OLD: &str = "nodes";
const NODES_DIRECTORY: &str = "merkle-nodes";
const CF_META: &str = "meta";
/// seq -> event id, only for records after the newest checkpoint: a trusted
/// restart re-verifies those, so their ids are forgotten first.
const CF_TAIL: &str = "tail";
const CF_EVIDENCE: &str = "evidence";
const CF_EVIDENCE_UNDO: &str = "evidence_undo";
const META_LEDGER: &[u8] = b"ledger";
const META_SNAPSHOT_SIZE: &[u8] = b"snapshot_size";

pub struct Store {
    db: DB,
    nodes: NodeFiles,
    /// Every id in `ids`, while the store holds only what this process put
    /// there (from [`Store::clear`] on); `None` for a store opened with ids.
    id_filter: std::sync::Mutex<Option<IdFilter>>,
    path: PathBuf,
    /// A temporary directory holding the store, removed on drop (after `db`, declared above it, is closed).
    temporary: Option<tempfile::TempDir>,
}

/// Writes of one chunk of records, applied together by [`Store::commit`]
/// (nothing of a batch that is dropped instead).
#[derive(Default)]
pub struct StoreBatch {
    batch: WriteBatch,
    nodes: Vec<(NodeId, Hash)>,
    id_hashes: Vec<u64>,
}

impl StoreBatch {
    pub fn put_id(&mut self, event_id: &str, seq: u64, cf: &rocksdb::ColumnFamily) {
        self.batch.put_cf(cf, event_id.as_bytes(), seq.to_be_bytes());
        self.id_hashes.push(id_hash(event_id));
    }
    pub fn put_node(&mut self, id: NodeId, hash: &Hash) {
        self.nodes.push((id, *hash));
    }
    pub fn put_tail(&mut self, seq: u64, event_id: &str, cf: &rocksdb::ColumnFamily) {
        self.batch.put_cf(cf, seq.to_be_bytes(), event_id.as_bytes());
    }
}

/// The evidence a part of a chunk consulted, as stored before it: what
/// [`Store::put_evidence`] writes back, with undo entries after the snapshot.
pub struct PagedEvidence {
    before: Vec<(EvidenceDigest, Option<EvidenceUse>)>,
}

impl PagedEvidence {
    pub fn entries(&self) -> impl Iterator<Item = (EvidenceDigest, Option<EvidenceUse>)> + '_ {
        self.before.iter().map(|(digest, used)| (*digest, used.clone()))
    }
}

impl Store {
    /// Opens (or creates) the store at `path` for `ledger`. A store that
    /// belongs to another ledger is refused.
    pub fn open(path: &Path, ledger: &str) -> Result<Store, VerifyError> {
        std::fs::create_dir_all(path).map_err(|error| VerifyError::io(path, error))?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.increase_parallelism(2);
        let mut ids = Options::default();
        let mut table = BlockBasedOptions::default();
        // Nearly every lookup is for an id that is not there: bloom filters answer those without reading blocks.
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        ids.set_block_based_table_factory(&table);
        ids.set_write_buffer_size(64 << 20);
        let mut families = vec![
            ColumnFamilyDescriptor::new(CF_IDS, ids),
            ColumnFamilyDescriptor::new(CF_META, Options::default()),
            ColumnFamilyDescriptor::new(CF_TAIL, Options::default()),
            ColumnFamilyDescriptor::new(CF_EVIDENCE, Options::default()),
            ColumnFamilyDescriptor::new(CF_EVIDENCE_UNDO, Options::default()),
        ];
        let old_nodes = DB::list_cf(&options, path).is_ok_and(|names| names.iter().any(|name| name == CF_NODES_OLD));
        if old_nodes {
            families.push(ColumnFamilyDescriptor::new(CF_NODES_OLD, Options::default()));
        }
        let db = DB::open_cf_descriptors(&options, path, families).map_err(|error| store_error(path, error))?;
        let nodes = NodeFiles::open(&path.join(NODES_DIRECTORY)).map_err(|error| store_error(path, error))?;
        let mut store = Store { db, nodes, id_filter: std::sync::Mutex::new(None), path: path.to_path_buf(), temporary: None };
        if old_nodes {
            // Its nodes are not carried over: nothing can resume from it, and the next verification fills it again.
            store.db.drop_cf(CF_NODES_OLD).map_err(|error| store_error(path, error))?;
            store.db.delete_cf(store.cf(CF_META)?, META_SNAPSHOT_SIZE).map_err(|error| store.fail(error))?;
        }
        match store.get_meta(META_LEDGER)? {
            Some(found) if found != ledger.as_bytes() => {
                return Err(VerifyError::Store {
                    path: path.display().to_string(),
                    message: format!("it holds ledger {}, not {ledger}; use another --store directory", String::from_utf8_lossy(&found)),
                })
            }
            Some(_) => {}
            None => store.db.put_cf(store.cf(CF_META)?, META_LEDGER, ledger.as_bytes()).map_err(|error| store.fail(error))?,
        }
        Ok(store)
    }

    /// A store in a new temporary directory, removed when the store is dropped.
    pub fn temporary(ledger: &str) -> Result<Store, VerifyError> {
        let directory = tempfile::Builder::new()
            .prefix("fundledger-verify-")
            .tempdir()
            .map_err(|error| VerifyError::Io { path: std::env::temp_dir().display().to_string(), message: error.to_string() })?;
        let mut store = Store::open(directory.path(), ledger)?;
        store.temporary = Some(directory);
        *store.id_filter() = Some(IdFilter::new());
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, error: impl std::fmt::Display) -> VerifyError {
        store_error(&self.path, error)
    }
    /// A failure reading this store's Merkle nodes (a node missing or unreadable).
    pub fn merkle_error(&self, error: MerkleError) -> VerifyError {
        self.fail(error)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, VerifyError> {
        self.db.cf_handle(name).ok_or_else(|| self.fail(format!("column family {name} is missing")))
    }
    pub fn ids_cf(&self) -> Result<&rocksdb::ColumnFamily, VerifyError> {
        self.cf(CF_IDS)
    }
    pub fn tail_cf(&self) -> Result<&rocksdb::ColumnFamily, VerifyError> {
        self.cf(CF_TAIL)
    }

    /// Records the size of the checkpoint the state snapshot was taken at,
    /// and drops what the tail holds of records at or below it (a resumed
    /// run lists every record after its trusted size).
    pub fn put_snapshot_size(&self, size: u64) -> Result<(), VerifyError> {
        let mut batch = WriteBatch::default();
        let end = size.saturating_add(1).to_be_bytes();
        batch.delete_range_cf(self.cf(CF_TAIL)?, [0u8].as_slice(), end.as_slice());
        batch.delete_range_cf(self.cf(CF_EVIDENCE_UNDO)?, [0u8].as_slice(), end.as_slice());
        batch.put_cf(self.cf(CF_META)?, META_SNAPSHOT_SIZE, size.to_be_bytes());
        self.db.write(batch).map_err(|error| self.fail(error))
    }
    pub fn snapshot_size(&self) -> Result<Option<u64>, VerifyError> {
        match self.get_meta(META_SNAPSHOT_SIZE)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(u64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| self.fail("corrupt snapshot size"))?))),
        }
    }

    /// Forgets the ids of the records after the snapshot (listed in `tail`)
    /// and the Merkle nodes beyond its `size`, before a trusted restart from
    /// `size` verifies them again.
    pub fn forget_after(&self, size: u64) -> Result<u64, VerifyError> {
        self.nodes.truncate(size).map_err(|error| self.fail(error))?;
        let tail = self.cf(CF_TAIL)?;
        let ids = self.cf(CF_IDS)?;
        let mut batch = WriteBatch::default();
        let mut forgotten = 0;
        for entry in self.db.iterator_cf(tail, rocksdb::IteratorMode::Start) {
            let (seq, id) = entry.map_err(|error| self.fail(error))?;
            batch.delete_cf(ids, id);
            batch.delete_cf(tail, seq);
            forgotten += 1;
        }
        // Evidence as it stood at `size`: undo entries newest first, so the oldest (the state at `size`) is written last.
        let evidence = self.cf(CF_EVIDENCE)?;
        let undo = self.cf(CF_EVIDENCE_UNDO)?;
        for entry in self.db.iterator_cf(undo, rocksdb::IteratorMode::End) {
            let (key, before) = entry.map_err(|error| self.fail(error))?;
            let Some(digest) = key.get(8..) else { return Err(self.fail("corrupt evidence undo key")) };
            if before.is_empty() {
                batch.delete_cf(evidence, digest);
            } else {
                batch.put_cf(evidence, digest, &before);
            }
            batch.delete_cf(undo, &key);
        }
        self.db.write(batch).map_err(|error| self.fail(error))?;
        Ok(forgotten)
    }

    /// Stores evidence at once (a version-2 trusted state's).
    pub fn put_evidence_now(&self, evidence: std::collections::BTreeMap<EvidenceDigest, EvidenceUse>) -> Result<(), VerifyError> {
        let cf = self.cf(CF_EVIDENCE)?;
        let mut batch = WriteBatch::default();
        for (digest, used) in &evidence {
            batch.put_cf(cf, digest.0, encode_evidence(self, used)?);
        }
        self.db.write(batch).map_err(|error| self.fail(error))
    }

    /// What the store holds of these pieces of evidence, for a part to page in.
    pub fn page_in_evidence(&self, digests: std::collections::BTreeSet<EvidenceDigest>) -> Result<PagedEvidence, VerifyError> {
        if digests.is_empty() {
            // Most parts verify no spend: no lookup at all.
            return Ok(PagedEvidence { before: Vec::new() });
        }
        let cf = self.cf(CF_EVIDENCE)?;
        let results = self.db.batched_multi_get_cf(cf, digests.iter().map(|digest| digest.0.as_slice()), true);
        let mut before = Vec::with_capacity(digests.len());
        for (digest, result) in digests.into_iter().zip(results) {
            let used = match result.map_err(|error| self.fail(error))? {
                None => None,
                Some(bytes) => Some(ciborium::from_reader(bytes.as_ref()).map_err(|error| self.fail(format!("corrupt evidence entry {digest}: {error}")))?),
            };
            before.push((digest, used));
        }
        Ok(PagedEvidence { before })
    }

    /// Adds to `batch` the evidence a part paged out (`after`), and, for a
    /// part after the snapshot starting at `first_seq`, what it held before.
    pub fn put_evidence(
        &self,
        batch: &mut StoreBatch,
        before: PagedEvidence,
        after: std::collections::BTreeMap<EvidenceDigest, EvidenceUse>,
        undo_from: Option<u64>,
    ) -> Result<(), VerifyError> {
        let evidence = self.cf(CF_EVIDENCE)?;
        for (digest, used) in &after {
            // A part only consults (and so only changes) what it paged in.
            debug_assert!(before.before.iter().any(|(paged, _)| paged == digest));
            batch.batch.put_cf(evidence, digest.0, encode_evidence(self, used)?);
        }
        if let Some(first_seq) = undo_from {
            let undo = self.cf(CF_EVIDENCE_UNDO)?;
            for (digest, used) in before.before {
                if after.get(&digest) == used.as_ref() {
                    continue;
                }
                let mut key = first_seq.to_be_bytes().to_vec();
                key.extend_from_slice(&digest.0);
                let value = match &used {
                    Some(used) => encode_evidence(self, used)?,
                    None => Vec::new(),
                };
                batch.batch.put_cf(undo, key, value);
            }
        }
        Ok(())
    }

    fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, VerifyError> {
        self.db.get_cf(self.cf(CF_META)?, key).map_err(|error| self.fail(error))
    }

    /// Empties the store (ids, nodes, tail and snapshot size), keeping its ledger.
    pub fn clear(&self) -> Result<(), VerifyError> {
        self.nodes.truncate(0).map_err(|error| self.fail(error))?;
        let mut batch = WriteBatch::default();
        for family in [CF_IDS, CF_TAIL, CF_EVIDENCE, CF_EVIDENCE_UNDO] {
            let cf = self.cf(family)?;
            // Keys are ids (at most 128 bytes) or fixed binary (at most 40): all sort below 129 bytes of 0xff.
            batch.delete_range_cf(cf, [0u8].as_slice(), [0xffu8; 129].as_slice());
        }
        let meta = self.cf(CF_META)?;
        batch.delete_cf(meta, META_SNAPSHOT_SIZE);
        self.db.write(batch).map_err(|error| self.fail(error))?;
        *self.id_filter() = Some(IdFilter::new());
        Ok(())
    }

    fn id_filter(&self) -> std::sync::MutexGuard<'_, Option<IdFilter>> {
        // The filter is only ever updated whole (an insert cannot be left half done): a poisoned lock still holds a sound one.
        self.id_filter.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sequences at which these event ids were recorded, in order (`None` for unknown ids).
    pub fn lookup_ids(&self, ids: &[&str]) -> Result<Vec<Option<u64>>, VerifyError> {
        // Only the ids the filter may hold (all of them without a filter) are looked up.
        let asked: Vec<usize> = match self.id_filter().as_ref() {
            Some(filter) => (0..ids.len()).filter(|index| filter.may_contain(id_hash(ids[*index]))).collect(),
            None => (0..ids.len()).collect(),
        };
        let mut found = vec![None; ids.len()];
        if asked.is_empty() {
            return Ok(found);
        }
        let cf = self.cf(CF_IDS)?;
        let sorted = asked.windows(2).all(|pair| ids[pair[0]] < ids[pair[1]]);
        let results = self.db.batched_multi_get_cf(cf, asked.iter().map(|index| ids[*index].as_bytes()), sorted);
        for (index, result) in asked.into_iter().zip(results) {
            if let Some(bytes) = result.map_err(|error| self.fail(error))? {
                let array: [u8; 8] = bytes.as_ref().try_into().map_err(|_| self.fail("corrupt id entry"))?;
                found[index] = Some(u64::from_be_bytes(array));
            }
        }
        Ok(found)
    }

    pub fn lookup_id(&self, id: &str) -> Result<Option<u64>, VerifyError> {
        Ok(self.lookup_ids(&[id])?.into_iter().next().flatten())
    }

    /// Applies a chunk's writes: the nodes, then the ids atomically (without
    /// the write-ahead log: see the module doc).
    pub fn commit(&self, batch: StoreBatch) -> Result<(), VerifyError> {
        self.nodes.write(&batch.nodes).map_err(|error| self.fail(error))?;
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db.write_opt(batch.batch, &options).map_err(|error| self.fail(error))?;
        if let Some(filter) = self.id_filter().as_mut() {
            for hash in batch.id_hashes {
                filter.insert(hash);
            }
        }
        Ok(())
    }

    /// Makes everything written so far durable; a temporary store is
    /// removed when it is dropped, so it is left as it is.
    pub fn flush(&self) -> Result<(), VerifyError> {
        if self.temporary.is_some() {
            return Ok(());
        }
        self.nodes.sync().map_err(|error| self.fail(error))?;
        for family in [CF_IDS, CF_META, CF_TAIL, CF_EVIDENCE, CF_EVIDENCE_UNDO] {
            self.db.flush_cf(self.cf(family)?).map_err(|error| self.fail(error))?;
        }
        Ok(())
    }
}

fn encode_evidence(store: &Store, used: &EvidenceUse) -> Result<Vec<u8>, VerifyError> {
    let mut bytes = Vec::new();
    ciborium::into_writer(used, &mut bytes).map_err(|error| store.fail(format!("cannot encode evidence: {error}")))?;
    Ok(bytes)
}

fn store_error(path: &Path, error: impl std::fmt::Display) -> VerifyError {
    VerifyError::Store { path: path.display().to_string(), message: error.to_string() }
}

impl NodeStore for Store {
    fn node(&self, id: NodeId) -> Result<Option<Hash>, MerkleError> {
        self.nodes.read(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::merkle::{inclusion_proof, leaf_hash, verify_inclusion, CompactRange};

    #[test]
    fn nodes_and_ids_round_trip_and_serve_proofs() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::open(directory.path(), "hk").unwrap();
        let ids = store.ids_cf().unwrap();
        let mut batch = StoreBatch::default();
        let mut range = CompactRange::new();
        for index in 0u8..13 {
            range.append(leaf_hash(&[index; 32]), |id, hash| batch.put_node(id, hash));
            batch.put_id(&format!("e{index}"), u64::from(index) + 1, ids);
        }
        store.commit(batch).unwrap();
        let proof = inclusion_proof(&store, 5, 13).unwrap();
        verify_inclusion(&leaf_hash(&[5; 32]), 5, 13, &proof, &range.root()).unwrap();
        assert_eq!(store.lookup_ids(&["e3", "nope"]).unwrap(), vec![Some(4), None]);
        drop(store);
        assert!(Store::open(directory.path(), "other").is_err());
        let store = Store::open(directory.path(), "hk").unwrap();
        store.clear().unwrap();
        assert_eq!(store.lookup_id("e3").unwrap(), None);
        assert!(inclusion_proof(&store, 5, 13).is_err());
        // A cleared store answers from its id filter first: ids committed since are still found.
        let mut batch = StoreBatch::default();
        for index in 0..5000u64 {
            batch.put_id(&format!("f{index}"), index + 1, store.ids_cf().unwrap());
        }
        store.commit(batch).unwrap();
        let asked: Vec<String> = (4990..5010u64).map(|index| format!("f{index}")).collect();
        let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
        let expected: Vec<Option<u64>> = (4990..5010u64).map(|index| (index < 5000).then_some(index + 1)).collect();
        assert_eq!(store.lookup_ids(&asked).unwrap(), expected);
        drop(store);
        let reopened = Store::open(directory.path(), "hk").unwrap();
        assert_eq!(reopened.lookup_ids(&asked).unwrap(), expected, "a store opened with ids has no filter and asks RocksDB");
    }

    #[test]
    fn a_store_that_kept_its_nodes_in_rocksdb_opens_and_cannot_be_resumed_from() {
        let directory = tempfile::tempdir().unwrap();
        {
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            let old = DB::open_cf(&options, directory.path(), [CF_IDS, CF_NODES_OLD, CF_META, CF_TAIL]).unwrap();
            let meta = old.cf_handle(CF_META).unwrap();
            old.put_cf(meta, META_LEDGER, b"hk").unwrap();
            old.put_cf(meta, META_SNAPSHOT_SIZE, 7u64.to_be_bytes()).unwrap();
            old.put_cf(old.cf_handle(CF_NODES_OLD).unwrap(), [0u8; 9], [1u8; 32]).unwrap();
        }
        let store = Store::open(directory.path(), "hk").unwrap();
        assert_eq!(store.snapshot_size().unwrap(), None, "its nodes are gone, so no trusted restart may start from it");
        drop(store);
        let families = DB::list_cf(&Options::default(), directory.path()).unwrap();
        assert!(!families.iter().any(|name| name == CF_NODES_OLD), "{families:?}");
    }
}
