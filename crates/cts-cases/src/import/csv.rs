//! CSV importer: a header row, then one case per record.
//!
//! Columns are the JSONL fields ([`CSV_COLUMNS`]) in any order; `id`,
//! `specialty` and `question` are required, the others optional. The `options`
//! and `tags` cells are `|`-separated lists whose items are trimmed; an empty
//! cell means "absent". Unknown or repeated columns are an error. Quoted cells
//! may span lines; a case's line is the line where its record starts.

use std::path::Path;

use ::csv::{ErrorKind, ReaderBuilder, StringRecord};

use super::{read_text, strip_bom, ImportError, Issues, ParsedCase};
use crate::case::{Case, CaseId};

/// The columns a case CSV may have.
pub const CSV_COLUMNS: [&str; 7] = super::JSONL_FIELDS;

const REQUIRED: [&str; 3] = ["id", "specialty", "question"];

/// Parses CSV `text` with a header row; `file` names the file in problem messages.
pub fn parse_csv(file: &str, text: &str) -> Result<Vec<ParsedCase>, ImportError> {
    let mut issues = Issues::new(file);
    if strip_bom(text).trim().is_empty() {
        return issues.finish(Vec::new());
    }
    if let Some(line) = stray_quote_line(text) {
        issues.push(line, None, STRAY_QUOTE);
        return issues.finish(Vec::new());
    }
    let mut reader = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(strip_bom(text).as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            issues.push(1, None, format!("cannot read the header row: {e}"));
            return issues.finish(Vec::new());
        }
    };
    let Some(columns) = header_columns(&header, &mut issues) else {
        return issues.finish(Vec::new());
    };
    let mut cases = Vec::new();
    let mut record = StringRecord::new();
    loop {
        if issues.is_full() {
            issues.truncated = true;
            break;
        }
        let line = line_of_position(reader.position());
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line() as usize);
                if record.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                if record.len() != header.len() {
                    issues.push(
                        line,
                        None,
                        format!(
                            "expected {} cells (one per header column), found {}",
                            header.len(),
                            record.len()
                        ),
                    );
                    continue;
                }
                issues.check(case_from_record(&columns, &record), line, &mut cases);
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as usize);
                issues.push(line, None, csv_error_message(e.kind()));
                if !matches!(
                    e.kind(),
                    ErrorKind::Utf8 { .. } | ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
    }
    issues.finish(cases)
}

const STRAY_QUOTE: &str = "malformed CSV: a quoted field has text after its closing quote (write \"\" for a quote inside a quoted field)";

/// The 1-based line of the first quoted field with text after its closing quote.
///
/// The `csv` crate reads `"abc"x` as `abcx`; a spreadsheet never writes that,
/// so it means a broken or hostile file, and the importers refuse it rather
/// than guess what the cell was meant to hold.
pub(super) fn stray_quote_line(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut line, mut field_start, mut in_quotes, mut closed) = (1usize, true, false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                    closed = true;
                }
            } else if b == b'\n' {
                line += 1;
            }
        } else if closed {
            match b {
                b',' => (closed, field_start) = (false, true),
                b'\n' => (closed, field_start, line) = (false, true, line + 1),
                b'\r' => {}
                _ => return Some(line),
            }
        } else {
            match b {
                b'"' if field_start => (in_quotes, field_start) = (true, false),
                b',' | b'\r' => field_start = true,
                b'\n' => (field_start, line) = (true, line + 1),
                _ => field_start = false,
            }
        }
        i += 1;
    }
    None
}

/// Reads and parses the CSV file at `path`.
pub fn read_csv(path: &Path) -> Result<Vec<ParsedCase>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_csv(&file, &text)
}

/// Where each known column sits in a record.
struct Columns([Option<usize>; 7]);

impl Columns {
    fn cell<'r>(&self, record: &'r StringRecord, name: &str) -> Option<&'r str> {
        let slot = CSV_COLUMNS.iter().position(|c| *c == name)?;
        self.0[slot].and_then(|i| record.get(i))
    }
}

fn header_columns(header: &StringRecord, issues: &mut Issues) -> Option<Columns> {
    let mut slots = [None; 7];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        match CSV_COLUMNS.iter().position(|c| *c == name) {
            Some(slot) if slots[slot].is_some() => {
                issues.push(1, Some(name), "column appears more than once in the header");
            }
            Some(slot) => slots[slot] = Some(i),
            None => issues.push(
                1,
                Some(name),
                format!(
                    "unknown column (expected some of: {})",
                    CSV_COLUMNS.join(", ")
                ),
            ),
        }
    }
    for name in REQUIRED {
        if let Some(slot) = CSV_COLUMNS.iter().position(|c| *c == name) {
            if slots[slot].is_none() {
                issues.push(1, Some(name), "required column is missing from the header");
            }
        }
    }
    if issues.seen == 0 {
        Some(Columns(slots))
    } else {
        None
    }
}

fn case_from_record(columns: &Columns, record: &StringRecord) -> Case {
    let text = |name| columns.cell(record, name).unwrap_or_default().to_owned();
    let optional = |name| {
        columns
            .cell(record, name)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    };
    let list = |name| {
        columns
            .cell(record, name)
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.split('|').map(|item| item.trim().to_owned()).collect())
            .unwrap_or_default()
    };
    Case {
        id: CaseId(text("id")),
        specialty: text("specialty"),
        question: text("question"),
        options: list("options"),
        reference_answer: optional("reference_answer"),
        tags: list("tags"),
        source: optional("source"),
    }
}

fn line_of_position(pos: &::csv::Position) -> usize {
    usize::try_from(pos.line()).unwrap_or(usize::MAX)
}

fn csv_error_message(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Utf8 { err, .. } => format!("cell {} is not valid UTF-8", err.field() + 1),
        ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} cells, found {len}")
        }
        other => format!("malformed CSV: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(err: ImportError) -> Vec<String> {
        err.issues().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_empty_file_or_a_header_alone_is_an_error() {
        for text in ["", " \n\n", "id,specialty,question\n"] {
            let msgs = messages(parse_csv("c.csv", text).unwrap_err());
            assert_eq!(
                msgs,
                vec!["c.csv:0: the file holds no records (it is empty or blank)"]
            );
        }
    }

    #[test]
    fn a_stray_quote_after_a_closing_quote_names_its_line() {
        let msgs = messages(
            parse_csv(
                "c.csv",
                "id,specialty,question\na,s,\"multi\nline\"\nb,s,\"Q\" x\n",
            )
            .unwrap_err(),
        );
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].starts_with(
                "c.csv:4: malformed CSV: a quoted field has text after its closing quote"
            ),
            "{}",
            msgs[0]
        );
    }

    #[test]
    fn doubled_quotes_and_quoted_commas_are_not_stray() {
        let cases = parse_csv(
            "c.csv",
            "id,specialty,question\na,s,\"He said \"\"stop\"\", then left\"\r\n",
        )
        .unwrap();
        assert_eq!(cases[0].case.question, "He said \"stop\", then left");
    }

    #[test]
    fn parses_lists_split_on_bars() {
        let text = "id,specialty,question,options,reference_answer,tags\nc1,cardiology,Q?, Warfarin | Apixaban ,B,policy:x|synthetic\n";
        let cases = parse_csv("cases.csv", text).unwrap();
        assert_eq!(cases[0].line, 2);
        assert_eq!(cases[0].case.options, vec!["Warfarin", "Apixaban"]);
        assert_eq!(cases[0].case.tags, vec!["policy:x", "synthetic"]);
        assert_eq!(cases[0].case.source, None);
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let text = "question,id,specialty\nQ?,c1,nephrology\n";
        let cases = parse_csv("cases.csv", text).unwrap();
        assert_eq!(cases[0].case.id.as_str(), "c1");
        assert_eq!(cases[0].case.specialty, "nephrology");
    }

    #[test]
    fn quoted_newlines_keep_the_starting_line() {
        let text = "id,specialty,question\na,s,\"line one\nline two\"\nb,s,Q\n";
        let cases = parse_csv("cases.csv", text).unwrap();
        assert_eq!(cases[0].case.question, "line one\nline two");
        assert_eq!(cases[1].line, 4);
    }

    #[test]
    fn missing_required_column_is_reported_on_line_1() {
        let msgs = messages(parse_csv("c.csv", "id,question\na,Q\n").unwrap_err());
        assert_eq!(
            msgs,
            vec!["c.csv:1: field \"specialty\": required column is missing from the header"]
        );
    }

    #[test]
    fn unknown_column_is_an_error() {
        let msgs =
            messages(parse_csv("c.csv", "id,specialty,question,notes\na,s,Q,n\n").unwrap_err());
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].starts_with("c.csv:1: field \"notes\": unknown column"),
            "{}",
            msgs[0]
        );
    }

    #[test]
    fn empty_question_cell_names_line_and_field() {
        let msgs =
            messages(parse_csv("c.csv", "id,specialty,question\na,s,Q\nb,s,\n").unwrap_err());
        assert_eq!(
            msgs,
            vec!["c.csv:3: field \"question\": must be a non-empty string"]
        );
    }

    #[test]
    fn wrong_cell_count_is_reported() {
        let msgs = messages(parse_csv("c.csv", "id,specialty,question\na,s\n").unwrap_err());
        assert_eq!(
            msgs,
            vec!["c.csv:2: expected 3 cells (one per header column), found 2"]
        );
    }

    #[test]
    fn duplicate_ids_name_both_lines() {
        let msgs =
            messages(parse_csv("c.csv", "id,specialty,question\na,s,Q\na,s,Q2\n").unwrap_err());
        assert_eq!(
            msgs,
            vec!["c.csv:3: field \"id\": duplicate id \"a\" (first used on line 2)"]
        );
    }

    #[test]
    fn empty_item_in_a_list_is_reported() {
        let msgs = messages(
            parse_csv("c.csv", "id,specialty,question,options\na,s,Q,x||y\n").unwrap_err(),
        );
        assert_eq!(
            msgs,
            vec!["c.csv:2: field \"options[1]\": must be a non-empty string"]
        );
    }
}
