//! Segmentation of a real output of the default local model
//! (SmolLM2-135M-Instruct Q4_1, greedy; copied from cts-llama/testdata, where
//! its README says how it was made).

use cts_trace::segment::{segment, StepKind};

#[test]
fn real_smollm2_output_splits_into_its_numbered_steps() {
    let raw = include_str!("../testdata/smollm2-sample.txt");
    let seg = segment(raw);
    assert!(seg.steps.len() >= 4, "{:#?}", seg.steps);
    // The introduction is a paragraph step; each numbered item keeps its heading and its body.
    assert_eq!(seg.steps[0].kind, StepKind::Paragraph);
    let numbered: Vec<_> = seg
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Numbered)
        .collect();
    assert!(numbered.len() >= 6, "{:#?}", seg.steps);
    assert!(
        numbered[0].text.starts_with("**Dosage and Dosage**"),
        "{:?}",
        numbered[0].text
    );
    // Every item but the last (the output was cut at max_tokens) carries its body paragraph.
    for step in &numbered[..numbered.len() - 1] {
        assert!(step.text.contains("clarithromycin"), "{:?}", step.text);
    }
    for w in seg.steps.windows(2) {
        assert!(
            w[0].span.end <= w[1].span.start,
            "spans increase and do not overlap"
        );
    }
    for s in &seg.steps {
        assert_eq!(
            &raw[s.span.clone()],
            s.text,
            "each step maps back to its bytes"
        );
    }
}
