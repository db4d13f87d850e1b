//! MMLU importer for the original headerless Hendrycks CSV files.
//!
//! Each file is `<subject>_<split>.csv` (e.g. `clinical_knowledge_test.csv`)
//! with six cells per record: question, the options A to D, and the answer
//! letter; see `shared/data/mmlu-medical/README.md`. Each record becomes a
//! case with id `mmlu-<subject>-<split>-<row>`, where `<row>` is the 1-based
//! record number in the file (not the line number: questions may span lines),
//! specialty `<subject>`, the four options, the answer letter as reference
//! answer, tags `["mmlu", "mmlu:<subject>", "split:<split>"]` and source
//! `MMLU (<file name>)`.

use std::path::Path;

use ::csv::{ReaderBuilder, StringRecord};

use super::bench::{finish_records, letters, BenchOption, BenchRecord};
use super::{read_text, strip_bom, ImportError, Issues, ParsedCase};

/// The split names an MMLU file name may end with.
pub const MMLU_SPLITS: [&str; 3] = ["dev", "val", "test"];

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// Subject and split from an MMLU file name: `anatomy_val.csv` → `("anatomy", "val")`.
///
/// Any directory part is ignored. `None` if the name is not `<subject>_<split>.csv`.
pub fn mmlu_file_parts(file_name: &str) -> Option<(&str, &str)> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = base.strip_suffix(".csv")?;
    let (subject, split) = stem.rsplit_once('_')?;
    let subject_ok = !subject.is_empty()
        && subject
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (subject_ok && MMLU_SPLITS.contains(&split)).then_some((subject, split))
}

/// Parses an MMLU CSV into cases; `file_name` names the file and gives the subject and split.
pub fn parse_mmlu(file_name: &str, text: &str) -> Result<Vec<ParsedCase>, ImportError> {
    let records = parse_mmlu_records(file_name, text)?;
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let split = mmlu_file_parts(file_name).map_or("", |(_, split)| split);
    let mut issues = Issues::new(file_name);
    let mut cases = Vec::with_capacity(records.len());
    for r in &records {
        let mut case = r.to_case("mmlu", &format!("MMLU ({base})"));
        case.tags.push(format!("split:{split}"));
        issues.check(case, r.line, &mut cases);
    }
    issues.finish(cases)
}

/// Parses an MMLU CSV into benchmark records (subject from the file name).
pub fn parse_mmlu_records(file_name: &str, text: &str) -> Result<Vec<BenchRecord>, ImportError> {
    let mut issues = Issues::new(file_name);
    let Some((subject, split)) = mmlu_file_parts(file_name) else {
        issues.push(
            0,
            None,
            "file name must be <subject>_<split>.csv with split dev, val or test (e.g. anatomy_test.csv)",
        );
        return finish_records(issues, Vec::new());
    };
    if let Some(line) = super::csv::stray_quote_line(text) {
        issues.push(
            line,
            None,
            "malformed CSV: a quoted field has text after its closing quote (write \"\" for a quote inside a quoted field)",
        );
        return finish_records(issues, Vec::new());
    }
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(strip_bom(text).as_bytes());
    let mut records = Vec::new();
    let mut record = StringRecord::new();
    let mut row = 0usize;
    loop {
        if issues.is_full() {
            issues.truncated = true;
            break;
        }
        let before = usize::try_from(reader.position().line()).unwrap_or(usize::MAX);
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                row += 1;
                let line = record
                    .position()
                    .and_then(|p| usize::try_from(p.line()).ok())
                    .unwrap_or(before);
                if record.len() != 6 {
                    issues.push(
                        line,
                        None,
                        format!(
                            "expected 6 cells (question, A, B, C, D, answer), found {}",
                            record.len()
                        ),
                    );
                    continue;
                }
                let answer = record.get(5).unwrap_or_default().trim();
                if !LETTERS.contains(&answer) {
                    issues.push(
                        line,
                        Some("answer"),
                        format!("must be one of A, B, C, D (found \"{answer}\")"),
                    );
                    continue;
                }
                let question = record.get(0).unwrap_or_default();
                if question.trim().is_empty() {
                    issues.push(line, Some("question"), "must be a non-empty string");
                    continue;
                }
                let before = issues.seen;
                let mut options = Vec::with_capacity(4);
                for (i, label) in letters(4).into_iter().enumerate() {
                    let text = record.get(i + 1).unwrap_or_default();
                    if text.trim().is_empty() {
                        issues.push(line, Some(&label), "must be a non-empty string");
                    }
                    options.push(BenchOption {
                        label,
                        text: text.to_owned(),
                    });
                }
                if issues.seen != before {
                    continue;
                }
                records.push(BenchRecord {
                    id: format!("mmlu-{subject}-{split}-{row}"),
                    line,
                    subject: Some(subject.to_owned()),
                    question: question.to_owned(),
                    options,
                    gold: answer.to_owned(),
                    context: None,
                    long_answer: None,
                    explanation: None,
                });
            }
            Err(e) => {
                row += 1;
                let line = e
                    .position()
                    .and_then(|p| usize::try_from(p.line()).ok())
                    .unwrap_or(before);
                issues.push(line, None, format!("malformed CSV: {e}"));
                if !matches!(e.kind(), ::csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    finish_records(issues, records)
}

/// Reads and parses the MMLU CSV at `path` into cases; its file name gives subject and split.
pub fn read_mmlu(path: &Path) -> Result<Vec<ParsedCase>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_mmlu(&file, &text)
}

/// Reads and parses the MMLU CSV at `path` into benchmark records.
pub fn read_mmlu_records(path: &Path) -> Result<Vec<BenchRecord>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_mmlu_records(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_gives_subject_and_split() {
        assert_eq!(
            mmlu_file_parts("clinical_knowledge_test.csv"),
            Some(("clinical_knowledge", "test"))
        );
        assert_eq!(
            mmlu_file_parts("data/dev/anatomy_dev.csv"),
            Some(("anatomy", "dev"))
        );
        assert_eq!(mmlu_file_parts("anatomy_train.csv"), None);
        assert_eq!(mmlu_file_parts("anatomy.csv"), None);
        assert_eq!(mmlu_file_parts("anatomy_test.json"), None);
    }

    #[test]
    fn builds_cases_from_rows() {
        let text = "What is 1+1?,1,2,3,4,B\n\"Multi\nline, quoted\",a,b,c,d,D\n";
        let cases = parse_mmlu("anatomy_val.csv", text).unwrap();
        assert_eq!(cases.len(), 2);
        let c = &cases[1].case;
        assert_eq!(c.id.as_str(), "mmlu-anatomy-val-2");
        assert_eq!(c.specialty, "anatomy");
        assert_eq!(c.question, "Multi\nline, quoted");
        assert_eq!(c.options, vec!["a", "b", "c", "d"]);
        assert_eq!(c.reference_answer.as_deref(), Some("D"));
        assert_eq!(c.source.as_deref(), Some("MMLU (anatomy_val.csv)"));
        assert_eq!(cases[1].line, 2);
    }

    #[test]
    fn bad_answer_letter_names_line_and_field() {
        let err = parse_mmlu("anatomy_val.csv", "Q,a,b,c,d,A\nQ,a,b,c,d,E\n").unwrap_err();
        assert_eq!(
            err.issues()[0].to_string(),
            "anatomy_val.csv:2: field \"answer\": must be one of A, B, C, D (found \"E\")"
        );
    }

    #[test]
    fn stray_quote_is_an_error_not_silently_unquoted() {
        let err = parse_mmlu("anatomy_val.csv", "Q,a,b,c,d,A\n\"Q\"x,a,b,c,d,B\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("anatomy_val.csv:2: malformed CSV"),
            "{err}"
        );
    }

    #[test]
    fn short_row_is_reported() {
        let err = parse_mmlu("anatomy_val.csv", "Q,a,b,c,A\n").unwrap_err();
        assert!(err.to_string().contains("expected 6 cells"), "{err}");
    }

    #[test]
    fn unusable_file_name_is_reported() {
        let err = parse_mmlu("questions.csv", "Q,a,b,c,d,A\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("questions.csv:0: file name must be"),
            "{err}"
        );
    }
}
