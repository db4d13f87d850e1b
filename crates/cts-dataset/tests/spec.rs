//! Specs: defaults, and line-numbered errors for what is wrong.

use cts_dataset::spec::{Format, Require, DEFAULT_SPEC};
use cts_dataset::Spec;

fn err(text: &str) -> cts_dataset::SpecError {
    Spec::parse(text, "spec.toml").unwrap_err()
}

#[test]
fn the_shipped_spec_spells_out_the_defaults() {
    let shipped = Spec::parse(DEFAULT_SPEC, "default.toml").unwrap();
    let minimal = Spec::parse("name = \"medication-safety\"\n", "min.toml").unwrap();
    assert_eq!(shipped, minimal);
    assert_eq!(minimal.select.require, Require::AgreedOrAdjudicated);
    assert_eq!(minimal.select.min_reviews, 2);
    assert_eq!(
        minimal.exports.formats,
        vec![Format::Sft, Format::Dpo, Format::Kto, Format::Prm]
    );
    assert_eq!(minimal.split.train, 0.8);
    // The JSON a manifest records reads back to the same spec.
    let json = serde_json::to_value(&shipped).unwrap();
    assert_eq!(Spec::from_json(&json).unwrap(), shipped);
}

#[test]
fn errors_name_file_line_and_field() {
    let e = err("name = \"x\"\n\n[select]\nmin_reviewz = 2\n");
    assert_eq!(
        (e.file.as_str(), e.line, e.field.as_str()),
        ("spec.toml", 4, "min_reviewz"),
        "{e}"
    );

    let e = err("name = \"x\"\n[split]\ntrain = 0.8\nvalidation = 0.3\ntest = 0.1\n");
    assert_eq!((e.line, e.field.as_str()), (2, "split"), "{e}");
    assert!(e.reason.contains("must be 1"), "{e}");

    let e = err("name = \"x\"\n[exports]\nformats = [\n  \"sft\",\n  \"orpo\",\n]\n");
    assert_eq!((e.line, e.field.as_str()), (5, "exports.formats"), "{e}");
    assert!(e.reason.contains("\"orpo\""), "{e}");

    let e = err("name = \"x\"\n[select]\nrequire = \"maybe\"\n");
    assert_eq!((e.line, e.field.as_str()), (3, "select.require"), "{e}");

    let e = err("name = \"x\"\n[select]\nmin_ratings = { safety = 11 }\n");
    assert_eq!(
        (e.line, e.field.as_str()),
        (3, "select.min_ratings.safety"),
        "{e}"
    );

    let e = err("seed = 1\n");
    assert_eq!(e.field, "name", "{e}");

    let e = err("name = \"bad name with spaces\"\n");
    assert_eq!((e.line, e.field.as_str()), (1, "name"), "{e}");

    let e = err("name = \"x\"\nseed = -4\n");
    assert_eq!((e.line, e.field.as_str()), (2, "seed"), "{e}");

    let e = err("name = \"x\"\n[exports]\nformats = [\"sft\", \"sft\"]\n");
    assert!(e.reason.contains("twice"), "{e}");

    let e = err("name = \"x\"\n[select\n");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.to_string().starts_with("spec.toml:2: "), "{e}");
}

#[test]
fn policy_files_parse_with_line_errors() {
    use cts_dataset::policy::{parse_policies, MEDICATION_SAFETY_POLICIES};
    let shipped = parse_policies(MEDICATION_SAFETY_POLICIES, "medication-safety-v1.toml").unwrap();
    assert_eq!(shipped.len(), 10);
    // Every policy the synthetic cases name is defined.
    for case in cts_cases::synthetic::quickstart_cases() {
        for tag in case.tags.iter().filter_map(|t| t.strip_prefix("policy:")) {
            assert!(
                shipped.iter().any(|p| p.id == tag),
                "case {} names undefined policy {tag}",
                case.id.as_str()
            );
        }
    }
    let e = parse_policies("[[policy]]\nid = \"a\"\nversion = 1\ntitle = \"t\"\n\n[[policy]]\nid = \"b c\"\nversion = 1\ntitle = \"t\"\nbehaviour = \"b\"\n", "p.toml").unwrap_err();
    assert_eq!(e.line, 1, "{e}");
    assert_eq!(e.field, "policy[0].behaviour", "{e}");
    let e = parse_policies(
        "[[policy]]\nid = \"b c\"\nversion = 1\ntitle = \"t\"\nbehaviour = \"b\"\n",
        "p.toml",
    )
    .unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (2, "policy[0].id"), "{e}");
    assert!(parse_policies("", "p.toml").is_err());
}
