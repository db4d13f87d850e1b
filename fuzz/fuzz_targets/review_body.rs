//! Review drafts and submissions as the browser sends them: arbitrary bytes
//! through the JSON decoding, shape and rubric checks, the change model and
//! the word diff of every edited step. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<cts_review::ReviewBody>(data) else {
        return;
    };
    let original: Vec<String> = vec![
        "Warfarin is an anticoagulant.".into(),
        "Ibuprofen raises bleeding risk.".into(),
        "Answer: B".into(),
    ];
    let rubric = cts_review::Rubric::default_medication_safety();
    if body.validate_shape(&original).is_ok() {
        let _ = body.validate(&rubric, &original);
        let _ = body.original_labels(original.len());
        for i in 0..body.steps.len() {
            if let cts_review::review::StepChange::Edited { original } = body.change(i, &original) {
                let _ = cts_review::review::word_diff(original, &body.steps[i].text);
            }
        }
    }
});
