//! No case leaks across splits, for many seeds and split fractions: the
//! property is checked on the examples a real reviewed store derives, not
//! only on the split function.

mod common;

use std::collections::{BTreeMap, HashMap};

use cts_dataset::derive::derive_group;
use cts_dataset::spec::Split;
use cts_dataset::Spec;
use cts_store::datasets::CaseGroup;
use proptest::prelude::*;

fn groups() -> (Vec<CaseGroup>, HashMap<String, cts_review::Rubric>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let f = common::fixture().await;
        let size = f.store.ledger().committed_size();
        let mut out = Vec::new();
        cts_store::datasets::for_each_case_group(&f.store, size, |g| {
            out.push(g);
            Ok::<(), cts_store::StoreError>(())
        })
        .await
        .unwrap();
        let rubrics = cts_store::review::rubrics(&f.store)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        (out, rubrics)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_case_in_two_splits(seed in any::<u64>(), train in 0.0f64..1.0, val_share in 0.0f64..1.0) {
        thread_local! {
            static DATA: (Vec<CaseGroup>, HashMap<String, cts_review::Rubric>) = groups();
        }
        let mut spec = Spec::parse(common::SPEC, "spec.toml").unwrap();
        spec.seed = seed;
        let validation = (1.0 - train) * val_share;
        spec.split = Split { train, validation, test: 1.0 - train - validation };
        DATA.with(|(groups, rubrics)| {
            let mut seen: BTreeMap<String, &'static str> = BTreeMap::new();
            let mut n = 0;
            for g in groups {
                let (examples, _) = derive_group(&spec, rubrics, g);
                for e in examples {
                    n += 1;
                    let case = e.provenance.case.id.clone();
                    let prev = *seen.entry(case.clone()).or_insert(e.split);
                    prop_assert_eq!(prev, e.split, "case {} in two splits", case);
                    // A sample pair never joins traces of two cases.
                    for t in &e.provenance.traces {
                        let prefix = format!("{}@", case);
                        prop_assert!(t.id.starts_with(&prefix));
                    }
                }
            }
            prop_assert!(n > 0);
            Ok(())
        })?;
    }
}
