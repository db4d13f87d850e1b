//! Segmentation of hand-written model outputs, one layout per test.

use cts_trace::answer_choice;
use cts_trace::segment::{segment, Boundary, Segmentation, StepKind};

fn texts(s: &Segmentation) -> Vec<&str> {
    s.steps.iter().map(|st| st.text.as_str()).collect()
}

fn kinds(s: &Segmentation) -> Vec<StepKind> {
    s.steps.iter().map(|st| st.kind).collect()
}

fn answer(s: &Segmentation) -> Option<&str> {
    s.answer.as_ref().map(|(t, _)| t.as_str())
}

/// The documented invariants, checked on every example.
fn check_invariants(raw: &str, s: &Segmentation) {
    let mut prev_end = s.reasoning_span.start;
    for (i, step) in s.steps.iter().enumerate() {
        assert_eq!(step.index, i);
        assert!(!step.text.is_empty());
        assert_eq!(&raw[step.span.clone()], step.text);
        assert!(step.span.start >= prev_end, "overlap at step {i}");
        assert!(step.span.end <= s.reasoning_span.end);
        prev_end = step.span.end;
    }
    if let Some((text, span)) = &s.answer {
        assert_eq!(&raw[span.clone()], text);
    }
}

fn seg(raw: &str) -> Segmentation {
    let s = segment(raw);
    check_invariants(raw, &s);
    s
}

#[test]
fn r1_think_block_holds_the_reasoning_and_the_answer_follows() {
    let raw = "<think>\nThe patient is on apixaban.\n\nIbuprofen raises bleeding risk.\n</think>\n\nFinal answer: B";
    let s = seg(raw);
    assert_eq!(s.boundary, Boundary::ThinkBlock);
    assert_eq!(
        texts(&s),
        vec![
            "The patient is on apixaban.",
            "Ibuprofen raises bleeding risk."
        ]
    );
    assert_eq!(kinds(&s), vec![StepKind::Paragraph; 2]);
    assert_eq!(answer(&s), Some("B"));
}

#[test]
fn answer_after_think_without_marker_is_the_whole_tail() {
    let s = seg("<think>Check renal function.</think>\n\n**C. Stop metformin**\n");
    assert_eq!(answer(&s), Some("**C. Stop metformin**"));
    assert_eq!(answer_choice(answer(&s).unwrap_or_default(), 4), Some('C'));
}

#[test]
fn unclosed_think_is_all_reasoning_and_has_no_answer() {
    let s = seg("<think>\n1. Check potassium.\n2. Review the ECG.\nFinal answer: maybe");
    assert_eq!(s.boundary, Boundary::UnclosedThink);
    assert_eq!(s.answer, None);
    assert_eq!(
        texts(&s),
        vec!["Check potassium.", "Review the ECG.\nFinal answer: maybe"]
    );
}

#[test]
fn lone_closing_tag_splits_reasoning_from_answer() {
    let s = seg("The QTc is long. Avoid clarithromycin.\n</think>\nAnswer: A");
    assert_eq!(s.boundary, Boundary::CloseTagOnly);
    assert_eq!(texts(&s), vec!["The QTc is long.", "Avoid clarithromycin."]);
    assert_eq!(answer(&s), Some("A"));
}

#[test]
fn think_tags_match_case_insensitively() {
    let s = seg("<THINK>Reason.</Think>Done");
    assert_eq!(s.boundary, Boundary::ThinkBlock);
    assert_eq!(answer(&s), Some("Done"));
}

#[test]
fn explicit_step_markers_split_steps_and_keep_multiline_bodies() {
    let raw = "Let me work through this.\n\nStep 1: Identify the interaction.\nCitalopram prolongs QT.\n\nStep 2: Check electrolytes.\n**Step 3:** Choose doxycycline.\n\nFinal answer: A";
    let s = seg(raw);
    assert_eq!(s.boundary, Boundary::AnswerMarker);
    assert_eq!(
        texts(&s),
        vec![
            "Let me work through this.",
            "Identify the interaction.\nCitalopram prolongs QT.",
            "Check electrolytes.",
            "Choose doxycycline."
        ]
    );
    assert_eq!(
        kinds(&s),
        vec![
            StepKind::Paragraph,
            StepKind::Marked,
            StepKind::Marked,
            StepKind::Marked
        ]
    );
    assert_eq!(answer(&s), Some("A"));
}

#[test]
fn markdown_heading_step_markers_are_recognised() {
    let s =
        seg("### Step 1. Assess\nRenal function is poor.\n### Step 2 - Decide\nStop metformin.");
    assert_eq!(
        texts(&s),
        vec!["Assess\nRenal function is poor.", "Decide\nStop metformin."]
    );
}

#[test]
fn numbered_list_items_become_steps_without_their_numbers() {
    let raw = "Reasoning:\n1. eGFR is 24, below 30.\n2) Metformin is contraindicated.\n(3) Choose another agent.\nTherefore, the answer is C.";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "Reasoning:",
            "eGFR is 24, below 30.",
            "Metformin is contraindicated.",
            "Choose another agent."
        ]
    );
    assert_eq!(kinds(&s)[1..], [StepKind::Numbered; 3]);
    assert_eq!(answer(&s), Some("C."));
    assert_eq!(answer_choice("C.", 4), Some('C'));
}

#[test]
fn nested_bullets_stay_inside_their_numbered_item() {
    let raw = "1. Risks:\n   - bleeding\n   - renal injury\n2. Plan: topical NSAID.";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "Risks:\n   - bleeding\n   - renal injury",
            "Plan: topical NSAID."
        ]
    );
}

#[test]
fn text_after_a_list_becomes_its_own_paragraph() {
    let raw = "1. First point.\n2. Second point.\n\nOverall the combination is unsafe.";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "First point.",
            "Second point.",
            "Overall the combination is unsafe."
        ]
    );
    assert_eq!(kinds(&s)[2], StepKind::Paragraph);
}

#[test]
fn decimals_at_line_start_are_not_list_numbers() {
    let s = seg("2.5 mg is the dose.\n3.0 is the INR.");
    assert!(
        s.steps.iter().all(|st| st.kind == StepKind::Sentence),
        "{s:?}"
    );
}

#[test]
fn bullets_split_steps() {
    let raw =
        "- Sertraline plus tramadol.\n* Clonus and fever.\n• Serotonin syndrome.\n\nAnswer: B";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "Sertraline plus tramadol.",
            "Clonus and fever.",
            "Serotonin syndrome."
        ]
    );
    assert_eq!(kinds(&s), vec![StepKind::Bullet; 3]);
    assert_eq!(answer(&s), Some("B"));
}

#[test]
fn bold_text_at_line_start_is_not_a_bullet() {
    let s = seg("**Assessment** first.\n**Plan** second.");
    assert_eq!(s.steps.len(), 2);
    assert!(s.steps.iter().all(|st| st.kind == StepKind::Sentence));
}

#[test]
fn paragraphs_split_on_blank_lines() {
    let raw = "First, the patient is elderly.\nShe has CKD.\n\n   \nSecond, the drug is renally cleared.\r\n\r\nSo reduce the dose.";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "First, the patient is elderly.\nShe has CKD.",
            "Second, the drug is renally cleared.",
            "So reduce the dose."
        ]
    );
    assert_eq!(s.answer, None);
    assert_eq!(s.boundary, Boundary::None);
}

#[test]
fn single_paragraph_splits_into_sentences() {
    let raw = "The patient takes warfarin, e.g. for AF. Dr. Lee notes INR 3.2 today! Is 2.5 mg too much? Give 1 mg. then recheck. See Fig. 2 for details.";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "The patient takes warfarin, e.g. for AF.",
            "Dr. Lee notes INR 3.2 today!",
            "Is 2.5 mg too much?",
            "Give 1 mg. then recheck.",
            "See Fig. 2 for details."
        ]
    );
    assert_eq!(kinds(&s), vec![StepKind::Sentence; 5]);
}

#[test]
fn sentences_keep_closing_quotes_and_brackets() {
    let s = seg("He said \"stop the NSAID.\" Then (as advised.) We reviewed.");
    assert_eq!(
        texts(&s),
        vec![
            "He said \"stop the NSAID.\"",
            "Then (as advised.)",
            "We reviewed."
        ]
    );
}

#[test]
fn non_ascii_text_keeps_char_boundaries() {
    let raw = "<think>\n- β-blocker at 5 µg/kg/min.\n- Age ≥ 65 years.\n- 患者服用华法林。\n</think>\nFinal answer: (D) β-blocker";
    let s = seg(raw);
    assert_eq!(
        texts(&s),
        vec![
            "β-blocker at 5 µg/kg/min.",
            "Age ≥ 65 years.",
            "患者服用华法林。"
        ]
    );
    assert_eq!(answer(&s), Some("(D) β-blocker"));
    assert_eq!(answer_choice(answer(&s).unwrap_or_default(), 4), Some('D'));
}

#[test]
fn chinese_sentences_split_on_ideographic_full_stops() {
    let s = seg("患者七十二岁。肾功能下降！应减少剂量？是的");
    assert_eq!(
        texts(&s),
        vec!["患者七十二岁。", "肾功能下降！", "应减少剂量？", "是的"]
    );
}

#[test]
fn empty_input_has_no_steps_and_no_answer() {
    for raw in ["", "   \n\n", "<think></think>", "<think>"] {
        let s = seg(raw);
        assert!(s.steps.is_empty(), "{raw:?}");
        assert_eq!(s.answer, None, "{raw:?}");
    }
}

#[test]
fn output_without_answer_is_all_reasoning() {
    let s = seg("I am not sure. More information is needed.");
    assert_eq!(s.boundary, Boundary::None);
    assert_eq!(s.answer, None);
    assert_eq!(s.steps.len(), 2);
}

#[test]
fn last_answer_marker_wins() {
    let raw = "Answer: not yet clear.\nThe INR is high.\nFinal Answer: A";
    let s = seg(raw);
    assert_eq!(answer(&s), Some("A"));
    assert_eq!(
        texts(&s),
        vec!["Answer: not yet clear.", "The INR is high."]
    );
}

#[test]
fn bold_final_answer_heading_is_a_marker() {
    let s = seg("Reasoning here.\n\n**Final Answer**\n\n\\boxed{C}");
    assert_eq!(answer(&s), Some("\\boxed{C}"));
    assert_eq!(answer_choice(answer(&s).unwrap_or_default(), 4), Some('C'));
}

#[test]
fn empty_list_items_are_dropped() {
    let s = seg("1.\n2. Real step.\n3. Another.");
    assert_eq!(texts(&s), vec!["Real step.", "Another."]);
}
