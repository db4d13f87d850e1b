//! Train/validation/test assignment by case: a case's split is a pure
//! function of the seed and the case id, so every trace, sample and example
//! of a case lands in the same split and no case leaks across splits.

use sha2::{Digest, Sha256};

use crate::spec::Split;

/// Split names, in file order.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];

/// The split of `case_id` under `seed`: SHA-256(seed as 8 bytes
/// big-endian ‖ case id) read as a fraction in [0, 1), compared with the
/// cumulative fractions.
pub fn split_of(seed: u64, case_id: &str, split: &Split) -> &'static str {
    let mut h = Sha256::new();
    h.update(seed.to_be_bytes());
    h.update(case_id.as_bytes());
    let digest = h.finalize();
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    // 53 bits give an exactly representable fraction.
    let x = (u64::from_be_bytes(top) >> 11) as f64 / (1u64 << 53) as f64;
    if x < split.train {
        "train"
    } else if x < split.train + split.validation {
        "validation"
    } else if split.test > 0.0 || split.validation == 0.0 {
        "test"
    } else {
        // Rounding left a sliver above train + validation with no test split.
        "validation"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_respected_roughly() {
        let split = Split {
            train: 0.8,
            validation: 0.1,
            test: 0.1,
        };
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            let s = split_of(7, &format!("case-{i}"), &split);
            counts[SPLITS.iter().position(|x| *x == s).unwrap_or(0)] += 1;
        }
        assert!((7_600..8_400).contains(&counts[0]), "{counts:?}");
        assert!((800..1_200).contains(&counts[1]), "{counts:?}");
        assert!((800..1_200).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn a_zero_fraction_gets_nothing() {
        let split = Split {
            train: 1.0,
            validation: 0.0,
            test: 0.0,
        };
        for i in 0..1000 {
            assert_eq!(split_of(1, &format!("c{i}"), &split), "train");
        }
    }
}
