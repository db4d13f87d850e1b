//! Property tests: segmentation is total and its spans keep their invariants.

use cts_trace::segment::segment;
use cts_trace::{answer_choice, STEPWISE};
use proptest::prelude::*;

/// Text built from the pieces segmentation cares about, to reach every rule.
fn trace_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<think>".to_owned()),
        Just("</think>".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("Step 1: ".to_owned()),
        Just("1. ".to_owned()),
        Just("(2) ".to_owned()),
        Just("- ".to_owned()),
        Just("• ".to_owned()),
        Just("Final answer: ".to_owned()),
        Just("**Final Answer**".to_owned()),
        Just("Therefore, the answer is ".to_owned()),
        Just("e.g. ".to_owned()),
        Just("2.5 mg. ".to_owned()),
        Just("β-blocker ≥ µg 患者。".to_owned()),
        "[A-Za-z .!?]{0,12}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

fn check(raw: &str) -> Result<(), TestCaseError> {
    let s = segment(raw);
    let r = &s.reasoning_span;
    prop_assert!(r.start <= r.end && r.end <= raw.len());
    prop_assert!(raw.is_char_boundary(r.start) && raw.is_char_boundary(r.end));
    let mut prev_end = r.start;
    for (i, step) in s.steps.iter().enumerate() {
        let sp = &step.span;
        prop_assert_eq!(step.index, i);
        prop_assert!(sp.start < sp.end, "empty span");
        prop_assert!(sp.start >= prev_end, "spans overlap or go backwards");
        prop_assert!(sp.end <= r.end, "step outside reasoning span");
        prop_assert!(raw.is_char_boundary(sp.start) && raw.is_char_boundary(sp.end));
        prop_assert_eq!(&raw[sp.clone()], step.text.as_str());
        prop_assert_eq!(step.text.trim(), step.text.as_str());
        prev_end = sp.end;
    }
    if let Some((text, span)) = &s.answer {
        prop_assert!(span.end <= raw.len());
        prop_assert!(raw.is_char_boundary(span.start) && raw.is_char_boundary(span.end));
        prop_assert_eq!(&raw[span.clone()], text.as_str());
        prop_assert!(!text.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_keep_the_span_invariants(raw in any::<String>()) {
        check(&raw)?;
    }

    #[test]
    fn trace_like_strings_keep_the_span_invariants(raw in trace_like()) {
        check(&raw)?;
    }

    #[test]
    fn answer_choice_is_total_and_in_range(text in any::<String>(), n in 0usize..30) {
        if let Some(c) = answer_choice(&text, n) {
            prop_assert!(c.is_ascii_uppercase());
            prop_assert!(((c as u8 - b'A') as usize) < n.min(26));
        }
    }

    #[test]
    fn rendering_never_panics(q in any::<String>(), options in proptest::collection::vec(any::<String>(), 0..30)) {
        let _ = STEPWISE.render(&q, &options);
    }
}
