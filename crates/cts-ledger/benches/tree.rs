//! Inclusion-proof generation and root computation over a 1M-leaf tree.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]
use criterion::{criterion_group, criterion_main, Criterion};
use cts_ledger::{leaf_hash, LeafIndex, MemTree, TreeSize};

fn bench(c: &mut Criterion) {
    let n = 1_000_000u64;
    let tree = MemTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_le_bytes()))).unwrap();
    let mut i = 0u64;
    c.bench_function("inclusion_proof_1m", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            tree.inclusion_proof(LeafIndex(i), TreeSize(n)).unwrap()
        })
    });
    c.bench_function("root_1m", |b| b.iter(|| tree.root(TreeSize(n)).unwrap()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
