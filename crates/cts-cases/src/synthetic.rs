//! The built-in quick-start set: 20 synthetic medication-safety vignettes.
//!
//! The vignettes were written for CTS and describe no real patient. Each is
//! tagged with the behaviour policy it exercises (`policy:renal-dose`,
//! `policy:qt-interaction`, …). Most are multiple choice with a reference
//! letter; those tagged `open-ended` have a free-text reference answer. The
//! file ships inside the binary so a first run needs no downloads.

use crate::case::Case;
use crate::import::parse_jsonl;

/// File name of the embedded quick-start set, as used in import messages.
pub const QUICKSTART_FILE: &str = "synthetic-medication-safety.jsonl";

/// The raw JSONL text of the quick-start set.
pub const QUICKSTART_JSONL: &str = include_str!("../data/synthetic-medication-safety.jsonl");

/// The `source` every quick-start case carries.
pub const QUICKSTART_SOURCE: &str = "CTS synthetic (written for the project; not patient data)";

/// The quick-start cases, parsed and validated through the JSONL importer.
pub fn quickstart_cases() -> Vec<Case> {
    // The text is compiled in and checked by this crate's tests, so a failure
    // here is a build defect, not bad user input.
    parse_jsonl(QUICKSTART_FILE, QUICKSTART_JSONL)
        .expect("the embedded quick-start JSONL is valid (see synthetic tests)")
        .into_iter()
        .map(|parsed| parsed.case)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::phi::scan_case;

    #[test]
    fn quickstart_has_twenty_cases() {
        assert_eq!(quickstart_cases().len(), 20);
    }

    #[test]
    fn quickstart_passes_the_phi_guard() {
        for case in quickstart_cases() {
            let findings = scan_case(&case);
            assert!(findings.is_empty(), "{}: {findings:?}", case.id);
        }
    }

    #[test]
    fn every_quickstart_case_is_synthetic_and_names_a_policy() {
        for case in quickstart_cases() {
            assert_eq!(
                case.source.as_deref(),
                Some(QUICKSTART_SOURCE),
                "{}",
                case.id
            );
            assert!(
                case.tags.iter().any(|t| t.starts_with("policy:")),
                "{}",
                case.id
            );
            assert!(case.reference_answer.is_some(), "{}", case.id);
        }
    }

    #[test]
    fn quickstart_covers_ten_policies_and_eight_specialties() {
        let cases = quickstart_cases();
        let policies: BTreeSet<_> = cases
            .iter()
            .flat_map(|c| c.tags.iter().filter(|t| t.starts_with("policy:")))
            .collect();
        let specialties: BTreeSet<_> = cases.iter().map(|c| &c.specialty).collect();
        assert_eq!(policies.len(), 10, "{policies:?}");
        assert_eq!(specialties.len(), 8, "{specialties:?}");
    }

    #[test]
    fn multiple_choice_answers_are_spread_over_the_letters() {
        let letters: Vec<_> = quickstart_cases()
            .into_iter()
            .filter(|c| !c.options.is_empty())
            .filter_map(|c| c.reference_answer)
            .collect();
        assert!(letters.len() >= 14);
        for letter in ["A", "B", "C", "D"] {
            let n = letters.iter().filter(|l| *l == letter).count();
            assert!(n >= 3, "only {n} answers are {letter}");
        }
    }

    #[test]
    fn open_ended_cases_have_no_options() {
        for case in quickstart_cases() {
            let open = case.tags.iter().any(|t| t == "open-ended");
            assert_eq!(open, case.options.is_empty(), "{}", case.id);
        }
    }
}
