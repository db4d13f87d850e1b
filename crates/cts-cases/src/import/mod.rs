//! Importers: turn case files into validated [`Case`]s, all or nothing.
//!
//! Every importer returns either every case of the file or the problems it
//! found, never a partial list. Problems name the file, the 1-based line and
//! the field (`cases.jsonl:7: field "question": must be a non-empty string`),
//! and up to [`MAX_ISSUES`] of them are collected so a user can fix a file in
//! one pass. Ids must be unique within a file; de-duplication across files
//! (content addressing by [`Case::digest`]) belongs to the store, not here.
//!
//! Each format has a `parse_*` function over text already in memory and a
//! `read_*` function that reads a path and names the file after it.

mod bench;
mod csv;
mod jsonl;
mod medmcqa;
mod medqa;
mod mmlu;
mod pubmedqa;
mod userbench;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::case::Case;

pub use self::bench::{records_to_cases, BenchOption, BenchRecord};
pub use self::csv::{parse_csv, read_csv, CSV_COLUMNS};
pub use self::jsonl::{parse_jsonl, read_jsonl, JSONL_FIELDS};
pub use self::medmcqa::{parse_medmcqa, read_medmcqa, MedmcqaFile, MedmcqaShape};
pub use self::medqa::{parse_medqa, read_medqa};
pub use self::mmlu::{
    mmlu_file_parts, parse_mmlu, parse_mmlu_records, read_mmlu, read_mmlu_records, MMLU_SPLITS,
};
pub use self::pubmedqa::{
    parse_pubmedqa, parse_pubmedqa_ground_truth, parse_pubmedqa_records, read_pubmedqa,
    read_pubmedqa_ground_truth, read_pubmedqa_records, GroundTruthEntry, PUBMEDQA_OPTIONS,
    PUBMEDQA_SOURCE,
};
pub use self::userbench::{parse_bench_jsonl, read_bench_jsonl, BENCH_JSONL_FIELDS};

/// Most problems collected from one file before the importer stops looking.
pub const MAX_ISSUES: usize = 20;

/// A case together with the 1-based line of its source file where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCase {
    /// The validated case.
    pub case: Case,
    /// 1-based line where the case's record starts in its file.
    pub line: usize,
}

/// One problem in an import file, located by file, line and (when known) field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportIssue {
    /// The file name as given to the importer.
    pub file: String,
    /// 1-based line of the record (0 when the problem concerns the whole file).
    pub line: usize,
    /// The field at fault, e.g. `question` or `options[2]`, if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ImportIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("{}: cannot read file: {source}", path.display())]
    Read {
        /// The path that was asked for.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but holds invalid records; nothing was imported.
    #[error("{}", render_issues(issues, *truncated))]
    Invalid {
        /// The problems found, in file order.
        issues: Vec<ImportIssue>,
        /// True when the importer stopped after [`MAX_ISSUES`] problems.
        truncated: bool,
    },
}

impl ImportError {
    /// The located problems, or an empty slice for a read error.
    pub fn issues(&self) -> &[ImportIssue] {
        match self {
            ImportError::Invalid { issues, .. } => issues,
            ImportError::Read { .. } => &[],
        }
    }
}

fn render_issues(issues: &[ImportIssue], truncated: bool) -> String {
    let mut out = issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    if truncated {
        out.push_str(&format!(
            "\n(stopped after {MAX_ISSUES} problems; fix these and import again to see more)"
        ));
    }
    out
}

/// Collects problems for one file, up to [`MAX_ISSUES`].
struct Issues {
    file: String,
    list: Vec<ImportIssue>,
    truncated: bool,
    /// Problems reported so far, kept or not: lets a caller see if a step added any.
    seen: usize,
}

impl Issues {
    fn new(file: &str) -> Self {
        Issues {
            file: file.to_owned(),
            list: Vec::new(),
            truncated: false,
            seen: 0,
        }
    }

    fn push(&mut self, line: usize, field: Option<&str>, message: impl Into<String>) {
        self.seen += 1;
        if self.list.len() >= MAX_ISSUES {
            self.truncated = true;
            return;
        }
        self.list.push(ImportIssue {
            file: self.file.clone(),
            line,
            field: field.map(str::to_owned),
            message: message.into(),
        });
    }

    fn is_full(&self) -> bool {
        self.list.len() >= MAX_ISSUES
    }

    /// Validates `case` with [`Case::problems`] and keeps it only if it is valid.
    fn check(&mut self, case: Case, line: usize, cases: &mut Vec<ParsedCase>) {
        let problems = case.problems();
        if problems.is_empty() {
            cases.push(ParsedCase { case, line });
        }
        for p in problems {
            self.push(line, Some(&p.field), p.message);
        }
    }

    /// Adds duplicate-id problems and returns the cases if nothing went wrong.
    fn finish(mut self, cases: Vec<ParsedCase>) -> Result<Vec<ParsedCase>, ImportError> {
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for c in &cases {
            match first_line.get(c.case.id.as_str()) {
                Some(&first) => self.push(
                    c.line,
                    Some("id"),
                    format!(
                        "duplicate id \"{}\" (first used on line {first})",
                        c.case.id
                    ),
                ),
                None => {
                    first_line.insert(c.case.id.as_str(), c.line);
                }
            }
        }
        self.into_result(cases)
    }

    /// The items if no problem was found; an empty file (no items, no problems) is a problem too.
    fn into_result<T>(mut self, items: Vec<T>) -> Result<Vec<T>, ImportError> {
        if items.is_empty() && self.seen == 0 {
            self.push(0, None, "the file holds no records (it is empty or blank)");
        }
        if self.list.is_empty() {
            Ok(items)
        } else {
            self.list.sort_by_key(|i| i.line);
            Err(ImportError::Invalid {
                issues: self.list,
                truncated: self.truncated,
            })
        }
    }
}

/// Reads `path` as UTF-8 and names it by its display form for messages.
fn read_text(path: &Path) -> Result<(String, String), ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok((path.display().to_string(), text))
}

/// Turns increasing byte offsets into 1-based line numbers in one pass over the text.
struct LineCounter<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> Self {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// Line of byte `offset`; offsets before the previous one restart the count.
    fn line_at(&mut self, offset: usize) -> usize {
        if offset < self.offset {
            *self = LineCounter::new(self.text);
        }
        let end = offset.min(self.text.len());
        let skipped = &self.text.as_bytes()[self.offset.min(end)..end];
        self.line += skipped.iter().filter(|&&b| b == b'\n').count();
        self.offset = end;
        self.line
    }
}

/// Drops a UTF-8 byte-order mark, which some spreadsheet tools write.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}
