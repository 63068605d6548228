//! The Merkle nodes of the verifier's store, as flat files: one per tree
//! level, node `(level, index)` at byte `32 * index` of file `level-NN`.
//!
//! A verification appends about two nodes per record, always at the right
//! edge of each level, and proofs read a few nodes at fixed places: an array
//! on disk does both in O(1) with no index, where a key-value store sorted
//! every node into its memtable and wrote it out again in the background
//! (about a tenth of a full verification's time). Writes are positional, so
//! writing a node again (a trusted restart re-verifies the records after
//! its checkpoint) puts it where it was.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fundledger_core::crypto::Hash;
use fundledger_core::merkle::{MerkleError, NodeId};

const NODE_BYTES: u64 = 32;
/// Levels of a tree of up to 2^63 leaves.
const LEVELS_MAX: usize = 64;

pub(crate) struct NodeFiles {
    directory: PathBuf,
    /// Opened on first use.
    levels: Mutex<Vec<Option<File>>>,
}

impl NodeFiles {
    pub(crate) fn open(directory: &Path) -> std::io::Result<NodeFiles> {
        std::fs::create_dir_all(directory)?;
        Ok(NodeFiles { directory: directory.to_path_buf(), levels: Mutex::new((0..LEVELS_MAX).map(|_| None).collect()) })
    }

    fn with_level<T>(&self, level: u8, create: bool, action: impl FnOnce(&File) -> std::io::Result<T>) -> std::io::Result<Option<T>> {
        let mut levels = self.levels.lock().map_err(|_| std::io::Error::other("a thread panicked while writing Merkle nodes"))?;
        let Some(slot) = levels.get_mut(usize::from(level)) else {
            return Err(std::io::Error::other(format!("level {level} is beyond the {LEVELS_MAX} levels of a tree")));
        };
        if slot.is_none() {
            let path = self.directory.join(format!("level-{level:02}"));
            match OpenOptions::new().read(true).write(true).create(create).truncate(false).open(&path) {
                Ok(file) => *slot = Some(file),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
                Err(error) => return Err(error),
            }
        }
        match slot {
            Some(file) => action(file).map(Some),
            None => Ok(None),
        }
    }

    /// Writes nodes in the order [`CompactRange::append`](fundledger_core::merkle::CompactRange::append)
    /// reports them; each level's run of consecutive indices is one write.
    pub(crate) fn write(&self, nodes: &[(NodeId, Hash)]) -> std::io::Result<()> {
        let mut runs: Vec<(NodeId, Vec<u8>)> = Vec::new();
        for (id, hash) in nodes {
            let run = runs.iter_mut().find(|(first, bytes)| first.level == id.level && first.index + bytes.len() as u64 / NODE_BYTES == id.index);
            match run {
                Some((_, bytes)) => bytes.extend_from_slice(hash),
                None => runs.push((*id, hash.to_vec())),
            }
        }
        for (first, bytes) in runs {
            let offset = first.index.checked_mul(NODE_BYTES).ok_or_else(|| std::io::Error::other(format!("node {first} lies beyond any file")))?;
            self.with_level(first.level, true, |file| file.write_all_at(&bytes, offset))?;
        }
        Ok(())
    }

    pub(crate) fn read(&self, id: NodeId) -> Result<Option<Hash>, MerkleError> {
        let mut hash = [0u8; 32];
        let offset = id.index.checked_mul(NODE_BYTES).ok_or_else(|| MerkleError::store(format!("node {id} lies beyond any file")))?;
        let read = self.with_level(id.level, false, |file| match file.read_exact_at(&mut hash, offset) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(error) => Err(error),
        });
        match read.map_err(MerkleError::store)? {
            Some(true) => Ok(Some(hash)),
            _ => Ok(None),
        }
    }

    /// Keeps the nodes of the tree of the first `size` leaves (the complete
    /// ones: `index < size >> level`) and forgets the rest.
    pub(crate) fn truncate(&self, size: u64) -> std::io::Result<()> {
        for level in 0..LEVELS_MAX as u8 {
            let keep = (size >> level).saturating_mul(NODE_BYTES);
            self.with_level(level, false, |file| if file.metadata()?.len() > keep { file.set_len(keep) } else { Ok(()) })?;
        }
        Ok(())
    }

    /// Makes the nodes written so far durable.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        for level in 0..LEVELS_MAX as u8 {
            self.with_level(level, false, File::sync_data)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(level: u8, index: u64) -> (NodeId, Hash) {
        (NodeId { level, index }, [level.wrapping_mul(31) ^ index as u8; 32])
    }

    #[test]
    fn nodes_are_read_where_they_were_written_and_truncation_keeps_the_smaller_tree() {
        let directory = tempfile::tempdir().unwrap();
        let files = NodeFiles::open(directory.path()).unwrap();
        // Interleaved levels, as a tree growing to 8 leaves reports them.
        let written: Vec<(NodeId, Hash)> = vec![
            node(0, 0),
            node(0, 1),
            node(1, 0),
            node(0, 2),
            node(0, 3),
            node(1, 1),
            node(2, 0),
            node(0, 4),
            node(0, 5),
            node(1, 2),
            node(0, 6),
            node(0, 7),
            node(1, 3),
            node(2, 1),
            node(3, 0),
        ];
        files.write(&written[..7]).unwrap();
        files.write(&written[7..]).unwrap();
        for (id, hash) in &written {
            assert_eq!(files.read(*id).unwrap(), Some(*hash), "{id}");
        }
        assert_eq!(files.read(NodeId { level: 0, index: 8 }).unwrap(), None);
        assert_eq!(files.read(NodeId { level: 5, index: 0 }).unwrap(), None, "a level never written");

        files.truncate(5).unwrap();
        assert_eq!(files.read(NodeId { level: 0, index: 4 }).unwrap(), Some(node(0, 4).1));
        assert_eq!(files.read(NodeId { level: 0, index: 5 }).unwrap(), None);
        assert_eq!(files.read(NodeId { level: 1, index: 1 }).unwrap(), Some(node(1, 1).1));
        assert_eq!(files.read(NodeId { level: 1, index: 2 }).unwrap(), None);
        assert_eq!(files.read(NodeId { level: 2, index: 0 }).unwrap(), Some(node(2, 0).1));
        assert_eq!(files.read(NodeId { level: 3, index: 0 }).unwrap(), None);
        // Written again after the truncation: in place.
        files.write(&[node(0, 5), node(1, 2)]).unwrap();
        assert_eq!(files.read(NodeId { level: 1, index: 2 }).unwrap(), Some(node(1, 2).1));
        files.sync().unwrap();
        drop(files);
        let reopened = NodeFiles::open(directory.path()).unwrap();
        assert_eq!(reopened.read(NodeId { level: 0, index: 5 }).unwrap(), Some(node(0, 5).1));
        reopened.truncate(0).unwrap();
        assert_eq!(reopened.read(NodeId { level: 0, index: 0 }).unwrap(), None);
    }
}
