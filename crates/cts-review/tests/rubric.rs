//! Rubric documents: the bundled default, errors that name the line and field
//! an author must fix, the digest the store relies on, and no panics on any
//! input (proptest).

use cts_review::rubric::{Rubric, RubricError, DEFAULT_MEDICATION_SAFETY};
use proptest::prelude::*;

/// A small valid rubric; the tests below break it one field at a time. Line
/// numbers in the tests refer to this text.
const VALID: &str = r#"id = "test"
version = 1
title = "Test rubric"
description = "For tests."

[step_labels]
negative = "Wrong or unsafe."
neutral = "Neutral."
positive = "Correct and useful."

[[flags]]
id = "dose-error"
title = "Dose error"
description = "Wrong dose."
unsafe = true

[[flags]]
id = "style"
title = "Style"
description = "Poorly written."
unsafe = false

[[dimensions]]
id = "correctness"
title = "Correctness"
anchors = ["1", "2", "3", "4", "5"]

[[dimensions]]
id = "usefulness"
title = "Usefulness"
min = 1
max = 3
anchors = ["1", "2", "3"]

[rationale]
required = true
min_chars = 20
"#;

/// `VALID` with `from` (which must occur exactly once) replaced by `to`.
fn valid_with(from: &str, to: &str) -> String {
    assert_eq!(
        VALID.matches(from).count(),
        1,
        "{from:?} must occur once in VALID"
    );
    VALID.replacen(from, to, 1)
}

fn parse_error(text: &str) -> RubricError {
    match Rubric::parse(text, "test.toml") {
        Ok(rubric) => panic!("expected an error, parsed {}", rubric.key()),
        Err(err) => err,
    }
}

/// Asserts the error's line and field; returns its reason for further checks.
fn assert_error_at(text: &str, line: usize, field: &str) -> String {
    let err = parse_error(text);
    assert_eq!(
        (err.line, err.field.as_str()),
        (line, field),
        "error: {err}"
    );
    assert_eq!(err.file, "test.toml");
    err.reason
}

// ---------------------------------------------------------------------------
// Valid documents

#[test]
fn default_rubric_parses() {
    let rubric = Rubric::parse(DEFAULT_MEDICATION_SAFETY, "medication-safety-v1.toml")
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(rubric, Rubric::default_medication_safety());
    assert_eq!(rubric.key(), "medication-safety@1");
    assert_eq!(rubric.rationale.min_chars, 20);
    assert!(rubric.rationale.required);
}

#[test]
fn default_rubric_has_the_clinical_flags_all_unsafe() {
    let rubric = Rubric::default_medication_safety();
    for id in [
        "dose-error",
        "interaction-missed",
        "contraindication-missed",
        "unsafe-recommendation",
        "hallucinated-fact",
    ] {
        let flag = rubric
            .flag(id)
            .unwrap_or_else(|| panic!("missing flag {id}"));
        assert!(flag.unsafe_, "{id} must mark a step unsafe");
    }
    assert!(rubric.flag("guideline-deviation").is_some());
    assert!(rubric.flag("missing-monitoring").is_some());
}

#[test]
fn default_rubric_has_exactly_the_five_dimensions_on_one_to_five() {
    let rubric = Rubric::default_medication_safety();
    let ids: Vec<&str> = rubric.dimensions.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "medical_correctness",
            "medication_safety",
            "guideline_consistency",
            "clinical_usefulness",
            "transparency"
        ]
    );
    for dimension in &rubric.dimensions {
        assert_eq!((dimension.min, dimension.max), (1, 5), "{}", dimension.id);
        assert_eq!(dimension.anchors.len(), 5, "{}", dimension.id);
    }
}

/// Version 1 has been used; a change to its content needs a new version (and
/// a new file), which this test makes impossible to miss.
#[test]
fn default_rubric_digest_is_pinned() {
    assert_eq!(
        Rubric::default_medication_safety().digest(),
        "3e3032c34bd45b80525bd0a3a6d957cd72e01d990b22ec1221a2349fc4256e66",
        "medication-safety@1 changed: write medication-safety-v2.toml instead"
    );
}

#[test]
fn optional_fields_take_their_defaults() {
    let rubric = Rubric::parse(VALID, "test.toml").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(rubric.edit_rationale_min_chars, 5);
    let correctness = rubric.dimension("correctness").expect("declared");
    assert_eq!((correctness.min, correctness.max), (1, 5));
    let usefulness = rubric.dimension("usefulness").expect("declared");
    assert_eq!((usefulness.min, usefulness.max), (1, 3));
}

#[test]
fn unsafe_key_maps_to_the_flag_field() {
    let rubric = Rubric::parse(VALID, "test.toml").unwrap_or_else(|err| panic!("{err}"));
    assert!(rubric.flag("dose-error").expect("declared").unsafe_);
    assert!(!rubric.flag("style").expect("declared").unsafe_);
    assert!(rubric.flag("no-such-flag").is_none());
    assert!(rubric.dimension("no_such_dimension").is_none());
}

/// `VALID` with its `[rationale]` table written inline on line 3 instead.
fn valid_with_inline_rationale(rationale: &str) -> String {
    valid_with("[rationale]\nrequired = true\nmin_chars = 20\n", "").replacen(
        "version = 1\n",
        &format!("version = 1\nrationale = {rationale}\n"),
        1,
    )
}

#[test]
fn inline_tables_are_accepted() {
    let text = valid_with_inline_rationale("{ required = false, min_chars = 0 }");
    let rubric = Rubric::parse(&text, "test.toml").unwrap_or_else(|err| panic!("{err}"));
    assert!(!rubric.rationale.required);
}

// ---------------------------------------------------------------------------
// Errors name the line and the field

#[test]
fn error_displays_file_line_field_and_reason() {
    let err = parse_error(&valid_with("version = 1", "version = 0"));
    assert_eq!(
        err.to_string(),
        "test.toml:2: version: must be between 1 and 4294967295, got 0"
    );
}

#[test]
fn syntax_error_names_its_line_and_field() {
    assert_error_at(
        &valid_with("title = \"Style\"", "title = \"Style"),
        19,
        "flags[1].title",
    );
}

#[test]
fn syntax_error_after_a_multiline_string_counts_tables_correctly() {
    let text = valid_with(
        "description = \"Poorly written.\"",
        "description = \"\"\"\n[[flags]]\nnot a header\"\"\"\ntitle = = 1",
    );
    assert_error_at(&text, 23, "flags[1].title");
}

#[test]
fn duplicate_key_names_its_line_and_field() {
    assert_error_at(
        &valid_with("unsafe = false", "unsafe = false\nunsafe = true"),
        22,
        "flags[1].unsafe",
    );
}

#[test]
fn unknown_top_level_field_names_its_line() {
    let reason = assert_error_at(
        &valid_with("version = 1\n", "version = 1\ncolour = \"red\"\n"),
        3,
        "colour",
    );
    assert!(reason.contains("unknown field `colour`"), "{reason}");
}

#[test]
fn unknown_field_in_a_table_array_names_its_index() {
    assert_error_at(
        &valid_with(
            "title = \"Usefulness\"\n",
            "title = \"Usefulness\"\nscale = 3\n",
        ),
        31,
        "dimensions[1].scale",
    );
}

#[test]
fn unknown_field_in_an_inline_table_names_its_path() {
    assert_error_at(
        &valid_with_inline_rationale("{ required = true, min_chars = 20, max_chars = 9 }"),
        3,
        "rationale.max_chars",
    );
}

#[test]
fn wrong_type_names_the_value() {
    assert_error_at(
        &valid_with("min_chars = 20", "min_chars = \"20\""),
        37,
        "rationale.min_chars",
    );
    assert_error_at(
        &valid_with(
            "anchors = [\"1\", \"2\", \"3\"]",
            "anchors = [\"1\", 2, \"3\"]",
        ),
        33,
        "dimensions[1].anchors[1]",
    );
}

#[test]
fn dotted_table_keys_are_rejected_with_their_line() {
    let text = valid_with("[rationale]\nrequired = true\nmin_chars = 20\n", "").replacen(
        "version = 1\n",
        "version = 1\nrationale.required = true\nrationale.min_chars = 20\n",
        1,
    );
    let err = parse_error(&text);
    assert_eq!(err.line, 3, "{err}");
    assert!(err.reason.contains("dotted keys"), "{err}");
}

#[test]
fn missing_field_names_the_table_it_belongs_in() {
    let reason = assert_error_at(&valid_with("unsafe = false\n", ""), 17, "flags[1].unsafe");
    assert_eq!(reason, "missing (required)");
    assert_error_at(&valid_with("version = 1\n", ""), 1, "version");
    assert_error_at(
        &valid_with("neutral = \"Neutral.\"\n", ""),
        6,
        "step_labels.neutral",
    );
}

#[test]
fn duplicate_flag_id_names_the_second_occurrence() {
    let reason = assert_error_at(
        &valid_with("id = \"style\"", "id = \"dose-error\""),
        18,
        "flags[1].id",
    );
    assert!(reason.contains("line 12"), "{reason}");
}

#[test]
fn duplicate_dimension_id_names_the_second_occurrence() {
    assert_error_at(
        &valid_with("id = \"usefulness\"", "id = \"correctness\""),
        29,
        "dimensions[1].id",
    );
}

#[test]
fn wrong_anchor_count_names_the_anchors() {
    let reason = assert_error_at(
        &valid_with(
            "anchors = [\"1\", \"2\", \"3\"]",
            "anchors = [\"1\", \"2\"]",
        ),
        33,
        "dimensions[1].anchors",
    );
    assert!(reason.contains("expected 3 anchors"), "{reason}");
}

#[test]
fn blank_anchor_names_its_index() {
    assert_error_at(
        &valid_with(
            "anchors = [\"1\", \"2\", \"3\"]",
            "anchors = [\"1\", \" \", \"3\"]",
        ),
        33,
        "dimensions[1].anchors[1]",
    );
}

#[test]
fn bad_rubric_id_names_the_id() {
    assert_error_at(&valid_with("id = \"test\"", "id = \"Test\""), 1, "id");
    assert_error_at(&valid_with("id = \"test\"", "id = \"\""), 1, "id");
    let long = format!("id = \"{}\"", "a".repeat(65));
    assert_error_at(&valid_with("id = \"test\"", &long), 1, "id");
}

#[test]
fn bad_flag_and_dimension_ids_name_the_id() {
    // Flags use hyphens, dimensions underscores.
    assert_error_at(
        &valid_with("id = \"dose-error\"", "id = \"dose_error\""),
        12,
        "flags[0].id",
    );
    assert_error_at(
        &valid_with("id = \"correctness\"", "id = \"medical-correctness\""),
        24,
        "dimensions[0].id",
    );
}

#[test]
fn min_not_below_max_names_the_scale() {
    let text = valid_with(
        "min = 1\nmax = 3\nanchors = [\"1\", \"2\", \"3\"]",
        "min = 3\nmax = 3\nanchors = [\"3\"]",
    );
    assert_error_at(&text, 32, "dimensions[1].max");
    let text = valid_with(
        "title = \"Correctness\"\n",
        "title = \"Correctness\"\nmin = 6\n",
    );
    assert_error_at(&text, 26, "dimensions[0].min");
}

#[test]
fn scale_beyond_ten_names_the_bound() {
    assert_error_at(&valid_with("max = 3", "max = 11"), 32, "dimensions[1].max");
    assert_error_at(&valid_with("min = 1", "min = 0"), 31, "dimensions[1].min");
}

#[test]
fn rationale_min_chars_over_2000_is_refused() {
    assert_error_at(
        &valid_with("min_chars = 20", "min_chars = 2001"),
        37,
        "rationale.min_chars",
    );
    assert_error_at(
        &valid_with(
            "version = 1\n",
            "version = 1\nedit_rationale_min_chars = -1\n",
        ),
        3,
        "edit_rationale_min_chars",
    );
}

#[test]
fn blank_title_is_refused() {
    assert_error_at(
        &valid_with("title = \"Dose error\"", "title = \"   \""),
        13,
        "flags[0].title",
    );
}

#[test]
fn empty_flag_list_is_refused() {
    let start = VALID.find("[[flags]]").expect("VALID has flags");
    let end = VALID.find("[[dimensions]]").expect("VALID has dimensions");
    let text = format!("flags = []\n{}{}", &VALID[..start], &VALID[end..]);
    assert_error_at(&text, 1, "flags");
}

#[test]
fn syntax_error_without_a_message_still_has_a_reason() {
    // toml reports a control character in a comment with an empty message.
    let reason = assert_error_at(&valid_with("version = 1", "version = 1 #\0"), 2, "version");
    assert!(!reason.is_empty());
}

#[test]
fn empty_document_reports_the_first_missing_field() {
    assert_error_at("", 1, "id");
}

// ---------------------------------------------------------------------------
// Digest

#[test]
fn digest_is_stable_lower_case_hex() {
    let a = Rubric::parse(VALID, "a.toml").expect("valid");
    let b = Rubric::parse(VALID, "b.toml").expect("valid");
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.digest().len(), 64);
    assert!(a
        .digest()
        .chars()
        .all(|c| matches!(c, '0'..='9' | 'a'..='f')));
}

#[test]
fn digest_ignores_comments_and_layout() {
    let reformatted = valid_with("version = 1\n", "# A comment.\nversion   =   1   # why\n\n");
    assert_eq!(
        Rubric::parse(VALID, "a.toml").expect("valid").digest(),
        Rubric::parse(&reformatted, "b.toml")
            .expect("valid")
            .digest()
    );
}

#[test]
fn digest_changes_when_content_changes() {
    let base = Rubric::parse(VALID, "a.toml").expect("valid").digest();
    for (from, to) in [
        (
            "description = \"Wrong dose.\"",
            "description = \"Wrong dose or unit.\"",
        ),
        ("unsafe = false", "unsafe = true"),
        (
            "anchors = [\"1\", \"2\", \"3\"]",
            "anchors = [\"1\", \"2\", \"three\"]",
        ),
        ("min_chars = 20", "min_chars = 21"),
    ] {
        let changed = Rubric::parse(&valid_with(from, to), "b.toml").expect("valid");
        assert_ne!(changed.digest(), base, "{from} -> {to}");
    }
}

// ---------------------------------------------------------------------------
// No panics

/// Checks what every error must satisfy on any input.
fn check_any(text: &str) {
    if let Err(err) = Rubric::parse(text, "fuzz.toml") {
        let lines = text.split('\n').count();
        assert!(
            (1..=lines).contains(&err.line),
            "line {} of {lines}: {err}",
            err.line
        );
        assert!(!err.field.is_empty(), "{err}");
        assert!(!err.reason.is_empty(), "{err}");
    }
}

/// The default rubric with up to 8 byte deletions and insertions.
fn mutated_default() -> impl Strategy<Value = String> {
    let edit = (any::<prop::sample::Index>(), prop::option::of(any::<u8>()));
    prop::collection::vec(edit, 1..8).prop_map(|edits| {
        let mut bytes = DEFAULT_MEDICATION_SAFETY.as_bytes().to_vec();
        for (at, insert) in edits {
            let at = at.index(bytes.len());
            match insert {
                Some(byte) => bytes.insert(at, byte),
                None => {
                    bytes.remove(at);
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Short documents built from TOML's own punctuation and this format's keys,
/// which reach deeper than uniformly random text.
fn toml_like() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        "=",
        ",",
        ".",
        "\"",
        "'''",
        "\"\"\"",
        "\n",
        " ",
        "#",
        "id",
        "flags",
        "dimensions",
        "anchors",
        "min",
        "max",
        "rationale",
        "unsafe",
        "1",
        "-1",
        "99999999999999999999",
        "true",
        "1979-05-27",
        "\"x\"",
        "é",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        check_any(&text);
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(text in toml_like()) {
        check_any(&text);
    }

    #[test]
    fn parse_never_panics_on_a_mutated_default(text in mutated_default()) {
        check_any(&text);
    }
}
