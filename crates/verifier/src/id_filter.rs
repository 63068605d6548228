//! A Bloom filter in front of the store's event ids, so that the lookup made
//! for every record (is this id new?) rarely reaches RocksDB: nearly every
//! id is new, and the filter says so from memory.
//!
//! Blocked (every bit of a key in one 64-byte block: one cache miss per
//! lookup) and of fixed size, so memory stays flat: 16 MiB keep false
//! positives near 1% up to about 10 million ids; beyond that more lookups
//! fall through to RocksDB, which still answers correctly. The hash is not
//! keyed: ids chosen to collide only make their own lookups slower.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

const BLOCK_WORDS: usize = 8;
const BLOCKS: usize = 1 << 18;
/// Bits set per id.
const PROBES: u32 = 6;

pub(crate) struct IdFilter {
    blocks: Vec<[u64; BLOCK_WORDS]>,
}

/// The hash the filter uses for an event id.
pub(crate) fn id_hash(event_id: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(event_id)
}

impl IdFilter {
    pub(crate) fn new() -> IdFilter {
        IdFilter { blocks: vec![[0; BLOCK_WORDS]; BLOCKS] }
    }

    /// The block, and the bit of each probe within it (9 bits each from the low 54).
    fn place(hash: u64) -> (usize, impl Iterator<Item = (usize, u64)>) {
        // The top bits of the hash times an odd constant depend on all its bits.
        let block = (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BLOCKS.trailing_zeros())) as usize;
        debug_assert!(block < BLOCKS);
        let bits = (0..PROBES).map(move |probe| {
            let bit = (hash >> (9 * probe)) as usize & 511;
            (bit / 64, 1u64 << (bit % 64))
        });
        (block, bits)
    }

    pub(crate) fn insert(&mut self, hash: u64) {
        let (block, bits) = IdFilter::place(hash);
        let block = &mut self.blocks[block];
        for (word, mask) in bits {
            block[word] |= mask;
        }
    }

    /// `false` only if the id was never inserted.
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let (block, mut bits) = IdFilter::place(hash);
        let block = &self.blocks[block];
        bits.all(|(word, mask)| block[word] & mask != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_ids_are_always_found_and_others_rarely() {
        let mut filter = IdFilter::new();
        let ids: Vec<u64> = (0..200_000).map(|index| id_hash(&format!("ev-{index:08}"))).collect();
        for hash in &ids {
            filter.insert(*hash);
        }
        assert!(ids.iter().all(|hash| filter.may_contain(*hash)), "no false negatives");
        let false_positives = (0..200_000).filter(|index| filter.may_contain(id_hash(&format!("other-{index}")))).count();
        assert!(false_positives < 200, "{false_positives} false positives in 200,000 at 0.2 million ids");
    }
}
