//! How fast the ledger's Merkle work is at production scale: the per-record
//! cost a writer pays on append, and what proof generation and verification
//! cost against a 10,000,000-leaf tree served from stored nodes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fundledger_merkle::{consistency_proof, inclusion_proof, leaf_hash, root_at, verify_consistency, verify_inclusion, CompactRange, Hash, MemoryNodeStore};

const TREE_SIZE: u64 = 10_000_000;

/// Deterministic stand-in for random positions (the library itself has no
/// randomness), so successive iterations touch different parts of the tree
/// instead of one cache-hot path.
struct PositionSequence(u64);

impl PositionSequence {
    /// The next position in `[0, bound)` (a 64-bit LCG, high bits used).
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((u128::from(self.0 >> 11) * u128::from(bound)) >> 53) as u64
    }
}

fn record_leaf(index: u64) -> Hash {
    leaf_hash(&leaf_hash(&index.to_be_bytes()))
}

fn append_benches(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    // The writer's hot path: one already-hashed leaf into the compact range.
    group.bench_function("compact_range_append", |bencher| {
        let mut range = CompactRange::new();
        let leaf = record_leaf(1);
        bencher.iter(|| range.append(black_box(leaf), |_, _| {}));
    });

    // Including leaf hashing and persisting every reported node in memory;
    // each sample starts from an empty store so memory stays bounded.
    group.bench_function("leaf_hash_append_and_store", |bencher| {
        bencher.iter_custom(|iterations| {
            let mut store = MemoryNodeStore::with_leaf_capacity(iterations);
            let mut range = CompactRange::new();
            let start = Instant::now();
            for index in 0..iterations {
                store.append(&mut range, record_leaf(black_box(index)));
            }
            start.elapsed()
        });
    });
    group.finish();
}

fn proof_benches(criterion: &mut Criterion) {
    let build_start = Instant::now();
    let store = MemoryNodeStore::from_leaves((0..TREE_SIZE).map(record_leaf));
    let root = root_at(&store, TREE_SIZE).expect("store holds the whole tree");
    eprintln!("built a {TREE_SIZE}-leaf MemoryNodeStore in {:.2?}", build_start.elapsed());

    let mut group = criterion.benchmark_group("proofs_at_10m_leaves");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    group.bench_function("root_at", |bencher| {
        bencher.iter(|| root_at(&store, black_box(TREE_SIZE)));
    });

    let mut positions = PositionSequence(1);
    group.bench_function("inclusion_proof_generate", |bencher| {
        bencher.iter_batched(|| positions.next_below(TREE_SIZE), |leaf_index| inclusion_proof(&store, leaf_index, TREE_SIZE), BatchSize::SmallInput);
    });

    let mut positions = PositionSequence(2);
    group.bench_function("inclusion_proof_verify", |bencher| {
        bencher.iter_batched(
            || {
                let leaf_index = positions.next_below(TREE_SIZE);
                let proof = inclusion_proof(&store, leaf_index, TREE_SIZE).expect("stored");
                (leaf_index, record_leaf(leaf_index), proof)
            },
            |(leaf_index, leaf, proof)| {
                verify_inclusion(&leaf, leaf_index, TREE_SIZE, &proof, &root).expect("honest proof verifies");
            },
            BatchSize::SmallInput,
        );
    });

    let mut positions = PositionSequence(3);
    group.bench_function("consistency_proof_generate", |bencher| {
        bencher.iter_batched(|| positions.next_below(TREE_SIZE - 1) + 1, |old_size| consistency_proof(&store, old_size, TREE_SIZE), BatchSize::SmallInput);
    });

    let mut positions = PositionSequence(4);
    group.bench_function("consistency_proof_verify", |bencher| {
        bencher.iter_batched(
            || {
                let old_size = positions.next_below(TREE_SIZE - 1) + 1;
                let old_root = root_at(&store, old_size).expect("stored");
                let proof = consistency_proof(&store, old_size, TREE_SIZE).expect("stored");
                (old_size, old_root, proof)
            },
            |(old_size, old_root, proof)| {
                verify_consistency(old_size, TREE_SIZE, &old_root, &root, &proof).expect("honest proof verifies");
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, append_benches, proof_benches);
criterion_main!(benches);
