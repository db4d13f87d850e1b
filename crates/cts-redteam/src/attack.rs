//! What an attack prompt is, and reading attack sets into them.
//!
//! Three formats, each all or nothing (the first problem fails the whole file,
//! naming file, line and field) and an empty file refused:
//! - **MedSafetyBench**: CSV with header `,harmful_medical_request,safe_response`
//!   (first column an unnamed 0-based row index), one file per category named
//!   `…category_N.csv`, N the AMA Principle of Medical Ethics (1–9, see [`AMA_PRINCIPLES`]).
//! - **Plain text**: one request per line, blank lines skipped, category given by the caller.
//! - **JSONL**: `{id, prompt, category, severity?, reference_safe_response?}` per line;
//!   unknown fields are an error, so a typo is caught rather than dropped.
//!
//! Not here: transforming prompts ([`crate::strategy`]) or sending them anywhere.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The nine AMA Principles of Medical Ethics, in order (MedSafetyBench's categories 1–9).
pub const AMA_PRINCIPLES: [&str; 9] = [
    "competent, compassionate and respectful care",
    "professionalism and honesty",
    "respect for the law and patients' interests",
    "patient rights and privacy",
    "continued study and sharing of knowledge",
    "freedom to choose whom to serve",
    "improvement of the community and public health",
    "responsibility to the patient is paramount",
    "medical care for all",
];

/// Where an attack prompt came from: a file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The file as the caller named it.
    pub file: String,
    /// 1-based line number of the record.
    pub line: usize,
}

/// One harmful request to put to a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackPrompt {
    /// Identifier, unique within its set.
    pub id: String,
    /// The request text.
    pub prompt: String,
    /// Harm category (e.g. `dosage-manipulation`, or an AMA principle name).
    pub category: String,
    /// Severity 1 (least) to 5 (most), if the set states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    /// A response a safe model might give, if the set has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_safe_response: Option<String>,
    /// File and line it was read from (absent in the JSONL input itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// Why an attack file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// The file could not be read.
    #[error("{file}: cannot read file: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file has no records.
    #[error("{file}: no attack prompts in file")]
    Empty {
        /// The file.
        file: String,
    },
    /// A MedSafetyBench file name does not end in `category_N.csv` with N in 1–9.
    #[error("{file}: file name must end in category_N.csv with N from 1 to 9")]
    CategoryFromName {
        /// The file.
        file: String,
    },
    /// A record is malformed.
    #[error("{file}:{line}: {field}: {problem}")]
    Record {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The field at fault (`header`, `record`, or a field name).
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn record_error(file: &str, line: usize, field: &str, problem: impl Into<String>) -> AttackError {
    AttackError::Record {
        file: file.to_owned(),
        line,
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn read(path: &Path) -> Result<String, AttackError> {
    std::fs::read_to_string(path).map_err(|source| AttackError::Read {
        file: path.display().to_string(),
        source,
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The AMA principle number N of a file named `…category_N.csv`, if it is one.
pub fn medsafety_category_number(file_name: &str) -> Option<u8> {
    let stem = file_name.strip_suffix(".csv")?;
    let digits = stem.rsplit_once("category_")?.1;
    let n: u8 = digits.parse().ok()?;
    (1..=9).contains(&n).then_some(n)
}

/// The category label for AMA principle `n` (1–9): `ama-N: <principle>`.
pub fn ama_category(n: u8) -> Option<String> {
    let name = AMA_PRINCIPLES.get(usize::from(n).checked_sub(1)?)?;
    Some(format!("ama-{n}: {name}"))
}

/// Reads a MedSafetyBench `…category_N.csv` file.
pub fn load_medsafetybench(path: &Path) -> Result<Vec<AttackPrompt>, AttackError> {
    let file = path.display().to_string();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let n = medsafety_category_number(name)
        .ok_or_else(|| AttackError::CategoryFromName { file: file.clone() })?;
    parse_medsafetybench(&file, n, &read(path)?)
}

/// Parses MedSafetyBench CSV `text` for AMA principle `category` (1–9); `file` names it in errors.
pub fn parse_medsafetybench(
    file: &str,
    category: u8,
    text: &str,
) -> Result<Vec<AttackPrompt>, AttackError> {
    let category_label = ama_category(category)
        .ok_or_else(|| AttackError::CategoryFromName { file: file.into() })?;
    let text = strip_bom(text);
    if text.trim().is_empty() {
        return Err(AttackError::Empty { file: file.into() });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| record_error(file, 1, "header", e.to_string()))?
        .clone();
    let expected = ["", "harmful_medical_request", "safe_response"];
    if header.iter().collect::<Vec<_>>() != expected {
        return Err(record_error(
            file,
            1,
            "header",
            "expected `,harmful_medical_request,safe_response`",
        ));
    }
    let mut prompts = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line_hint = i + 2;
        let row = row.map_err(|e| {
            let line = e.position().map_or(line_hint, |p| p.line() as usize);
            record_error(file, line, "record", e.to_string())
        })?;
        let line = row.position().map_or(line_hint, |p| p.line() as usize);
        let index: usize = row[0]
            .trim()
            .parse()
            .map_err(|_| record_error(file, line, "index", "must be a 0-based row number"))?;
        if index != i {
            return Err(record_error(
                file,
                line,
                "index",
                format!("expected row index {i}, found {index}"),
            ));
        }
        let prompt = row[1].trim();
        if prompt.is_empty() {
            return Err(record_error(
                file,
                line,
                "harmful_medical_request",
                "is empty",
            ));
        }
        let safe = row[2].trim();
        prompts.push(AttackPrompt {
            id: format!("medsafetybench-c{category}-{index}"),
            prompt: prompt.to_owned(),
            category: category_label.clone(),
            severity: None,
            reference_safe_response: (!safe.is_empty()).then(|| safe.to_owned()),
            source: Some(Source {
                file: file.to_owned(),
                line,
            }),
        });
    }
    if prompts.is_empty() {
        return Err(AttackError::Empty { file: file.into() });
    }
    Ok(prompts)
}

/// Reads a plain-text attack file: one request per line, all in `category`.
pub fn load_plain(path: &Path, category: &str) -> Result<Vec<AttackPrompt>, AttackError> {
    parse_plain(&path.display().to_string(), category, &read(path)?)
}

/// Parses plain-text `text` (one request per line, blank lines skipped); ids are `<category>-<line>`.
pub fn parse_plain(
    file: &str,
    category: &str,
    text: &str,
) -> Result<Vec<AttackPrompt>, AttackError> {
    let prompts: Vec<AttackPrompt> = strip_bom(text)
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| AttackPrompt {
            id: format!("{category}-{}", i + 1),
            prompt: l.trim().to_owned(),
            category: category.to_owned(),
            severity: None,
            reference_safe_response: None,
            source: Some(Source {
                file: file.to_owned(),
                line: i + 1,
            }),
        })
        .collect();
    if prompts.is_empty() {
        return Err(AttackError::Empty { file: file.into() });
    }
    Ok(prompts)
}

/// Reads a generic JSONL attack file.
pub fn load_jsonl(path: &Path) -> Result<Vec<AttackPrompt>, AttackError> {
    parse_jsonl(&path.display().to_string(), &read(path)?)
}

/// The fields a JSONL attack record may have.
pub const JSONL_FIELDS: [&str; 5] = [
    "id",
    "prompt",
    "category",
    "severity",
    "reference_safe_response",
];

/// Parses generic JSONL `text`; blank lines are skipped, ids must be unique.
pub fn parse_jsonl(file: &str, text: &str) -> Result<Vec<AttackPrompt>, AttackError> {
    let mut prompts: Vec<AttackPrompt> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in strip_bom(text).lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| record_error(file, line_no, "record", format!("not JSON: {e}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(record_error(
                file,
                line_no,
                "record",
                "must be a JSON object",
            ));
        };
        if let Some(key) = object.keys().find(|k| !JSONL_FIELDS.contains(&k.as_str())) {
            return Err(record_error(
                file,
                line_no,
                key,
                format!(
                    "unknown field (expected one of: {})",
                    JSONL_FIELDS.join(", ")
                ),
            ));
        }
        let text_field = |name: &str, required: bool| -> Result<Option<String>, AttackError> {
            match object.get(name) {
                None | Some(serde_json::Value::Null) if !required => Ok(None),
                None | Some(serde_json::Value::Null) => {
                    Err(record_error(file, line_no, name, "is required"))
                }
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                    Err(record_error(file, line_no, name, "is empty"))
                }
                Some(serde_json::Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(record_error(file, line_no, name, "must be a string")),
            }
        };
        let id = text_field("id", true)?.unwrap_or_default();
        if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(record_error(
                file,
                line_no,
                "id",
                "must not contain whitespace or control characters",
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(record_error(
                file,
                line_no,
                "id",
                format!("duplicate id `{id}`"),
            ));
        }
        let prompt = text_field("prompt", true)?.unwrap_or_default();
        let category = text_field("category", true)?.unwrap_or_default();
        let reference_safe_response = text_field("reference_safe_response", false)?;
        let severity = match object.get("severity") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(s @ 1..=5) => Some(s as u8),
                _ => {
                    return Err(record_error(
                        file,
                        line_no,
                        "severity",
                        "must be an integer from 1 to 5",
                    ))
                }
            },
        };
        prompts.push(AttackPrompt {
            id,
            prompt,
            category,
            severity,
            reference_safe_response,
            source: Some(Source {
                file: file.to_owned(),
                line: line_no,
            }),
        });
    }
    if prompts.is_empty() {
        return Err(AttackError::Empty { file: file.into() });
    }
    Ok(prompts)
}

/// The synthetic attack seed set shipped with CTS (see `data/README.md`).
pub const SYNTHETIC_ATTACKS: &str = include_str!("../data/synthetic-attacks.jsonl");
/// The synthetic benign medical requests shipped with CTS, for the over-refusal check.
pub const SYNTHETIC_BENIGN: &str = include_str!("../data/synthetic-benign.jsonl");

/// The synthetic attack seed set, parsed.
pub fn synthetic_attacks() -> Result<Vec<AttackPrompt>, AttackError> {
    parse_jsonl(
        "cts-redteam/data/synthetic-attacks.jsonl",
        SYNTHETIC_ATTACKS,
    )
}

/// The synthetic benign request set, parsed.
pub fn synthetic_benign() -> Result<Vec<AttackPrompt>, AttackError> {
    parse_jsonl("cts-redteam/data/synthetic-benign.jsonl", SYNTHETIC_BENIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSB: &str =
        ",harmful_medical_request,safe_response\n0,Request one,Safe one\n1,\"Request, two\",\n";

    #[test]
    fn medsafetybench_rows_become_prompts_with_principle_category() {
        let p = parse_medsafetybench("med_safety_demonstrations_category_4.csv", 4, MSB).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].id, "medsafetybench-c4-0");
        assert_eq!(p[0].category, "ama-4: patient rights and privacy");
        assert_eq!(p[0].reference_safe_response.as_deref(), Some("Safe one"));
        assert_eq!(p[1].prompt, "Request, two");
        assert_eq!(p[1].reference_safe_response, None);
        assert_eq!(p[1].source.as_ref().unwrap().line, 3);
    }

    #[test]
    fn medsafetybench_category_comes_from_file_name() {
        assert_eq!(medsafety_category_number("x_category_9.csv"), Some(9));
        assert_eq!(medsafety_category_number("category_1.csv"), Some(1));
        assert_eq!(medsafety_category_number("category_10.csv"), None);
        assert_eq!(medsafety_category_number("category_0.csv"), None);
        assert_eq!(medsafety_category_number("category_3.tsv"), None);
    }

    #[test]
    fn medsafetybench_file_without_category_in_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attacks.csv");
        std::fs::write(&path, MSB).unwrap();
        assert!(matches!(
            load_medsafetybench(&path),
            Err(AttackError::CategoryFromName { .. })
        ));
        let path = dir.path().join("demo_category_2.csv");
        std::fs::write(&path, MSB).unwrap();
        assert_eq!(
            load_medsafetybench(&path).unwrap()[0].category,
            "ama-2: professionalism and honesty"
        );
    }

    #[test]
    fn medsafetybench_wrong_header_names_line_one() {
        let err = parse_medsafetybench("f.csv", 1, "id,request,safe\n0,a,b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.csv:1: header: expected `,harmful_medical_request,safe_response`"
        );
    }

    #[test]
    fn medsafetybench_out_of_order_index_names_line_and_field() {
        let err = parse_medsafetybench(
            "f.csv",
            1,
            ",harmful_medical_request,safe_response\n0,a,b\n5,c,d\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.csv:3: index: expected row index 1, found 5"
        );
    }

    #[test]
    fn medsafetybench_empty_request_is_refused() {
        let err = parse_medsafetybench(
            "f.csv",
            1,
            ",harmful_medical_request,safe_response\n0, ,b\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.csv:2: harmful_medical_request: is empty"
        );
    }

    #[test]
    fn medsafetybench_ragged_row_names_its_line() {
        let err = parse_medsafetybench(
            "f.csv",
            1,
            ",harmful_medical_request,safe_response\n0,a,b\n1,c\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("f.csv:3: record:"), "{err}");
    }

    #[test]
    fn medsafetybench_multiline_request_keeps_its_first_line() {
        let p = parse_medsafetybench(
            "f.csv",
            1,
            ",harmful_medical_request,safe_response\n0,\"two\nlines\",b\n1,c,d\n",
        )
        .unwrap();
        assert_eq!(p[0].prompt, "two\nlines");
        assert_eq!(p[1].source.as_ref().unwrap().line, 4);
    }

    #[test]
    fn medsafetybench_header_only_is_empty() {
        let err = parse_medsafetybench("f.csv", 1, ",harmful_medical_request,safe_response\n")
            .unwrap_err();
        assert!(matches!(err, AttackError::Empty { .. }));
    }

    #[test]
    fn plain_text_skips_blank_lines_and_keeps_line_numbers() {
        let p = parse_plain("p.txt", "privacy", "first\n\n  second  \n").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].prompt, "second");
        assert_eq!(p[1].id, "privacy-3");
        assert_eq!(p[1].source.as_ref().unwrap().line, 3);
    }

    #[test]
    fn empty_files_are_refused_in_every_format() {
        assert!(matches!(
            parse_plain("p.txt", "c", "\n \n"),
            Err(AttackError::Empty { .. })
        ));
        assert!(matches!(
            parse_jsonl("a.jsonl", ""),
            Err(AttackError::Empty { .. })
        ));
        assert!(matches!(
            parse_medsafetybench("a.csv", 1, ""),
            Err(AttackError::Empty { .. })
        ));
    }

    #[test]
    fn jsonl_reads_optional_fields() {
        let p = parse_jsonl(
            "a.jsonl",
            "{\"id\":\"a1\",\"prompt\":\"p\",\"category\":\"c\",\"severity\":3,\"reference_safe_response\":\"no\"}\n",
        )
        .unwrap();
        assert_eq!(p[0].severity, Some(3));
        assert_eq!(p[0].reference_safe_response.as_deref(), Some("no"));
    }

    #[test]
    fn jsonl_unknown_field_is_an_error_naming_it() {
        let err = parse_jsonl(
            "a.jsonl",
            "\n{\"id\":\"a\",\"prompt\":\"p\",\"category\":\"c\",\"sevrity\":2}\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a.jsonl:2: sevrity: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_severity_out_of_range_is_an_error() {
        let err = parse_jsonl(
            "a.jsonl",
            "{\"id\":\"a\",\"prompt\":\"p\",\"category\":\"c\",\"severity\":6}",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.jsonl:1: severity: must be an integer from 1 to 5"
        );
    }

    #[test]
    fn jsonl_missing_prompt_and_duplicate_id_are_errors() {
        let err = parse_jsonl("a.jsonl", "{\"id\":\"a\",\"category\":\"c\"}").unwrap_err();
        assert_eq!(err.to_string(), "a.jsonl:1: prompt: is required");
        let line = "{\"id\":\"a\",\"prompt\":\"p\",\"category\":\"c\"}";
        let err = parse_jsonl("a.jsonl", &format!("{line}\n{line}\n")).unwrap_err();
        assert_eq!(err.to_string(), "a.jsonl:2: id: duplicate id `a`");
    }

    #[test]
    fn attack_prompt_round_trips_through_json() {
        let p = parse_plain("p.txt", "c", "x").unwrap().remove(0);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<AttackPrompt>(&json).unwrap(), p);
    }

    #[test]
    fn synthetic_sets_parse_and_are_marked_synthetic() {
        let attacks = synthetic_attacks().unwrap();
        let benign = synthetic_benign().unwrap();
        assert!(attacks.iter().all(|a| a.id.starts_with("synthetic-")));
        assert!(benign.iter().all(|a| a.id.starts_with("synthetic-benign-")));
        let categories: std::collections::BTreeSet<_> =
            attacks.iter().map(|a| a.category.as_str()).collect();
        assert_eq!(categories.len(), 9, "{categories:?}");
        for c in &categories {
            assert!(
                attacks.iter().filter(|a| &a.category == c).count() >= 3,
                "{c}"
            );
        }
        assert!(attacks.iter().all(|a| a.severity.is_some()));
        assert!(benign.len() >= 10);
    }

    #[test]
    fn synthetic_attacks_carry_no_doses() {
        let dose = regex::Regex::new(r"(?i)\d+\s*(mg|mcg|µg|g|ml|units?)\b").unwrap();
        for a in synthetic_attacks().unwrap() {
            assert!(!dose.is_match(&a.prompt), "{}", a.id);
        }
    }

    proptest::proptest! {
        #[test]
        fn importers_never_panic_on_arbitrary_text(text in "\\PC{0,400}") {
            let _ = parse_jsonl("a.jsonl", &text);
            let _ = parse_plain("a.txt", "c", &text);
            let _ = parse_medsafetybench("a.csv", 1, &text);
            let with_header = format!(",harmful_medical_request,safe_response\n{text}");
            let _ = parse_medsafetybench("a.csv", 1, &with_header);
        }
    }
}
