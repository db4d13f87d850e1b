//! Prompt templates: the pinned texts of each versioned id, shots and continuations.

mod common;

use common::shared_data;
use cts_eval::item::BenchmarkKind;
use cts_eval::load::{load, load_mmlu, BenchmarkSpec, MmluSplit};
use cts_eval::template::{select_shots, Template, TemplateId};

#[test]
fn zero_shot_plain_text_is_pinned() {
    // Changing this text means a new TemplateId: old results keep the old id.
    let b = load(&BenchmarkSpec::new(
        BenchmarkKind::MmluMedical,
        shared_data("mmlu-medical"),
    ))
    .unwrap();
    let item = &b.items[0];
    let prompt = Template {
        id: TemplateId::McqPlainV1,
        shots: 0,
    }
    .render(item, &[]);
    let expected = format!(
        "The following are multiple choice questions (with answers) about anatomy.\n\n{}\nA. {}\nB. {}\nC. {}\nD. {}\nAnswer:",
        item.question.trim(),
        item.options[0].text.trim(),
        item.options[1].text.trim(),
        item.options[2].text.trim(),
        item.options[3].text.trim()
    );
    assert_eq!(prompt, expected);
    assert_eq!(Template::continuations(item), [" A", " B", " C", " D"]);
}

#[test]
fn five_shot_uses_the_subjects_dev_rows_with_answers() {
    let test = load(&BenchmarkSpec::new(
        BenchmarkKind::MmluMedical,
        shared_data("mmlu-medical"),
    ))
    .unwrap();
    let dev = load_mmlu(&shared_data("mmlu-medical"), MmluSplit::Dev).unwrap();
    let item = test
        .items
        .iter()
        .find(|i| i.subject.as_deref() == Some("medical_genetics"))
        .unwrap();
    let shots = select_shots(&dev.items, item, 5);
    assert_eq!(shots.len(), 5);
    assert!(shots.iter().all(|s| s.subject == item.subject));
    let prompt = Template {
        id: TemplateId::McqPlainV1,
        shots: 5,
    }
    .render(item, &dev.items);
    assert_eq!(prompt.matches("\nAnswer: ").count(), 5);
    assert!(prompt.starts_with(
        "The following are multiple choice questions (with answers) about medical genetics.\n\n"
    ));
    for s in shots {
        assert!(prompt.contains(&format!(
            "{}\nAnswer: {}\n\n",
            s.options[3].text.trim(),
            s.gold
        )));
    }
    assert!(prompt.ends_with("\nAnswer:"));
}

#[test]
fn chain_of_thought_asks_for_a_final_answer_line() {
    let b = load(&BenchmarkSpec::new(
        BenchmarkKind::Pubmedqa,
        shared_data("pubmedqa"),
    ))
    .unwrap();
    let item = &b.items[0];
    let prompt = Template {
        id: TemplateId::McqCotV1,
        shots: 0,
    }
    .render(item, &[]);
    assert!(prompt.starts_with("The following are questions about biomedical research abstracts, each answered yes, no or maybe. Think step by step, then give your final answer on a last line of the form \"Answer: X\""));
    assert!(prompt.contains("\nQuestion: "));
    assert!(prompt.contains("\nA. yes\nB. no\nC. maybe\nAnswer: Let's think step by step."));
    assert!(prompt.contains("Context: "));
}

#[test]
fn template_ids_serialize_with_their_version() {
    assert_eq!(
        serde_json::to_string(&TemplateId::McqPlainV1).unwrap(),
        "\"mcq-plain/v1\""
    );
    assert_eq!(
        serde_json::to_string(&TemplateId::McqCotV1).unwrap(),
        "\"mcq-cot/v1\""
    );
}
