//! Property tests: for random trees, every inclusion and consistency proof
//! verifies, and fails after any single-bit change to leaf, proof or root.

use cts_ledger::bundle::ProofBundle;
use cts_ledger::proof::{verify_consistency, verify_inclusion};
use cts_ledger::{leaf_hash, Hash, LeafIndex, LogSigner, LogVerifier, MemTree, TreeSize};
use proptest::prelude::*;

fn tree(n: u64, seed: u64) -> MemTree {
    MemTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&(i ^ seed).to_le_bytes()))).unwrap()
}

fn flip(h: Hash, bit: usize) -> Hash {
    let mut b = h.0;
    b[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_verify_and_break_on_any_bit_flip(
        size in 1u64..3000, leaf_frac in 0.0f64..1.0, seed: u64, bit in 0usize..256, which: usize,
    ) {
        let t = tree(size, seed);
        let leaf = LeafIndex(((size as f64 * leaf_frac) as u64).min(size - 1));
        let lh = t.leaf_hash(leaf).unwrap();
        let root = t.root(TreeSize(size)).unwrap();
        let proof = t.inclusion_proof(leaf, TreeSize(size)).unwrap();
        prop_assert!(verify_inclusion(leaf, TreeSize(size), lh, &proof, root).is_ok());

        prop_assert!(verify_inclusion(leaf, TreeSize(size), flip(lh, bit), &proof, root).is_err());
        prop_assert!(verify_inclusion(leaf, TreeSize(size), lh, &proof, flip(root, bit)).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let k = which % bad.len();
            bad[k] = flip(bad[k], bit);
            prop_assert!(verify_inclusion(leaf, TreeSize(size), lh, &bad, root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_break_on_any_bit_flip(
        a in 1u64..3000, b in 1u64..3000, seed: u64, bit in 0usize..256, which: usize,
    ) {
        let (from, to) = (a.min(b), a.max(b));
        let t = tree(to, seed);
        let (r1, r2) = (t.root(TreeSize(from)).unwrap(), t.root(TreeSize(to)).unwrap());
        let proof = t.consistency_proof(TreeSize(from), TreeSize(to)).unwrap();
        prop_assert!(verify_consistency(TreeSize(from), TreeSize(to), r1, r2, &proof).is_ok());
        prop_assert!(verify_consistency(TreeSize(from), TreeSize(to), flip(r1, bit), r2, &proof).is_err());
        prop_assert!(verify_consistency(TreeSize(from), TreeSize(to), r1, flip(r2, bit), &proof).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let k = which % bad.len();
            bad[k] = flip(bad[k], bit);
            prop_assert!(verify_consistency(TreeSize(from), TreeSize(to), r1, r2, &bad).is_err());
        }
    }

    #[test]
    fn proof_bundle_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = ProofBundle::parse(&bytes);
    }

    #[test]
    fn proof_bundle_parser_never_panics_on_near_valid_text(
        lines in proptest::collection::vec("(index -?[0-9]{0,22}|extra [A-Za-z0-9+/=]{0,12}|[A-Za-z0-9+/]{43}=|)", 0..8)
    ) {
        let text = format!("c2sp.org/tlog-proof@v1\n{}\n\nlog\n1\nAAAA\n\n", lines.join("\n"));
        let _ = ProofBundle::parse(text.as_bytes());
    }
}

#[test]
fn proof_bundle_round_trips_and_verifies_offline() {
    let (skey, vkey) = LogSigner::generate("cts.test/bundle").unwrap();
    let signer = LogSigner::from_private_key(&skey).unwrap();
    let entries: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 40]).collect();
    let t = MemTree::from_leaf_hashes(entries.iter().map(|e| leaf_hash(e))).unwrap();
    let cp = signer
        .sign(TreeSize(10), t.root(TreeSize(10)).unwrap())
        .unwrap();
    let bundle = ProofBundle {
        extra: Some(entries[7].clone()),
        index: LeafIndex(7),
        proof: t.inclusion_proof(LeafIndex(7), TreeSize(10)).unwrap(),
        checkpoint: cp.note.clone(),
    };
    let text = bundle.to_text();
    let parsed = ProofBundle::parse(&text).unwrap();
    assert_eq!(parsed, bundle);
    let verifier = LogVerifier::new(&vkey).unwrap();
    assert!(parsed.verify(&verifier, None).is_ok());
    assert!(
        parsed.verify(&verifier, Some(&entries[6])).is_err(),
        "another entry must not verify"
    );
    let mut moved = parsed.clone();
    moved.index = LeafIndex(6);
    assert!(
        moved.verify(&verifier, None).is_err(),
        "the entry at another index must not verify"
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
        "[\u{0}-\u{1f}\"\\\\/\u{7f}\u{2028}\u{e000}-\u{ffff}\u{10000}-\u{10ffff}]{0,6}"
            .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                "[a-z\u{e000}-\u{ffff}\u{10000}-\u{10ffff}]{0,4}",
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn event_encoding_equals_rfc8785_canonicalization(body in json_value(), actor in "\\PC{1,20}", subject in "[a-z]{1,5}:\\PC{1,10}") {
        let draft = cts_ledger::EventDraft {
            time: Some("2026-01-02T03:04:05.678Z".into()),
            ..cts_ledger::EventDraft::new(cts_ledger::EventKind::new("note.appended").unwrap(), actor)
                .subject(subject)
                .body(body)
                .attach("x", b"y".to_vec())
        };
        if let Ok(p) = draft.prepare(|| cts_ledger::Salt([5; 32])) {
            prop_assert_eq!(&p.entry, &serde_json_canonicalizer::to_vec(&p.event).unwrap());
            // Decoding is a fixpoint (JSON numbers like -0.0 and 0 are the same number).
            let decoded = cts_ledger::Event::decode(&p.entry).unwrap();
            prop_assert_eq!(decoded.encode().unwrap(), p.entry);
        }
    }
}
