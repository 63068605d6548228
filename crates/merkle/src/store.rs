//! Read access to stored complete-subtree nodes. Proof generation needs only
//! nodes whose subtrees are complete, which never change once written, so a
//! store can be an append-only `(level, index) -> hash` table (one flat file
//! per level in the verifier's store, the in-memory table here for tests and
//! tools).

use crate::compact::CompactRange;
use crate::error::MerkleError;
use crate::hash::Hash;
use crate::node::NodeId;

/// Read access to the complete-subtree nodes reported by
/// [`CompactRange::append`].
pub trait NodeStore {
    /// The hash of node `id`, `Ok(None)` if it is not stored, or
    /// [`MerkleError::Store`] if the store itself failed.
    fn node(&self, id: NodeId) -> Result<Option<Hash>, MerkleError>;
}

impl<T: NodeStore + ?Sized> NodeStore for &T {
    fn node(&self, id: NodeId) -> Result<Option<Hash>, MerkleError> {
        (**self).node(id)
    }
}

/// Reads a node that must exist.
pub(crate) fn read_node(store: &impl NodeStore, id: NodeId) -> Result<Hash, MerkleError> {
    store.node(id)?.ok_or(MerkleError::MissingNode(id))
}

/// All complete-subtree nodes of one tree, in memory: one `Vec` per level, so
/// a tree of n leaves costs about 2n hashes (64 bytes per leaf) and no
/// per-entry overhead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryNodeStore {
    /// `levels[level][index]` is node `(level, index)`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryNodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with room for the nodes of a tree of `leaf_count` leaves.
    pub fn with_leaf_capacity(leaf_count: u64) -> Self {
        let mut store = Self::new();
        store.reserve_leaves(leaf_count);
        store
    }

    fn reserve_leaves(&mut self, leaf_count: u64) {
        let level_count = (u64::BITS - leaf_count.leading_zeros()) as usize;
        if self.levels.len() < level_count {
            self.levels.resize_with(level_count, Vec::new);
        }
        for (level, nodes) in self.levels.iter_mut().enumerate() {
            let wanted = usize::try_from(leaf_count >> level).unwrap_or(usize::MAX);
            nodes.reserve(wanted.saturating_sub(nodes.len()));
        }
    }

    /// The store of the tree over `leaf_hashes` (already `leaf_hash`ed), in
    /// order.
    pub fn from_leaves(leaf_hashes: impl IntoIterator<Item = Hash>) -> Self {
        let leaf_hashes = leaf_hashes.into_iter();
        let mut store = Self::new();
        store.reserve_leaves(leaf_hashes.size_hint().0 as u64);
        let mut range = CompactRange::new();
        for leaf in leaf_hashes {
            range.append(leaf, |id, hash| store.put(id, *hash));
        }
        store
    }

    /// Appends one leaf to the tree held by this store, keeping `range` (the
    /// compact range of the same tree) in step.
    ///
    /// # Panics
    /// If `range` is not the compact range of this store's tree.
    pub fn append(&mut self, range: &mut CompactRange, leaf: Hash) {
        assert_eq!(range.size(), self.leaf_count(), "compact range and node store describe trees of different sizes");
        range.append(leaf, |id, hash| self.put(id, *hash));
    }

    /// Number of leaves stored.
    pub fn leaf_count(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Stores node `id`. Nodes of each level must arrive left to right, as
    /// [`CompactRange::append`] reports them; writing an existing node again
    /// replaces it.
    ///
    /// # Panics
    /// If `id.index` would leave a gap in its level: a `Vec`-per-level store
    /// cannot represent holes, and a hole means the caller skipped nodes.
    pub fn put(&mut self, id: NodeId, hash: Hash) {
        let level = usize::from(id.level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        let nodes = &mut self.levels[level];
        let next_index = nodes.len() as u64;
        assert!(id.index <= next_index, "MemoryNodeStore::put({id}) would leave a gap: level {} holds nodes up to index {next_index} (exclusive)", id.level);
        if id.index == next_index {
            nodes.push(hash);
        } else {
            // id.index < len, and len fits in usize.
            let slot = &mut nodes[id.index as usize];
            debug_assert!(*slot == hash, "node {id} rewritten with a different hash; complete subtrees never change");
            *slot = hash;
        }
    }
}

impl NodeStore for MemoryNodeStore {
    fn node(&self, id: NodeId) -> Result<Option<Hash>, MerkleError> {
        let found = self.levels.get(usize::from(id.level)).and_then(|nodes| nodes.get(usize::try_from(id.index).ok()?)).copied();
        Ok(found)
    }
}
