//! Benchmark loaders: files on disk to [`BenchItem`]s, all or nothing.
//!
//! The file formats are parsed by `cts_cases::import` (the same parsers feed
//! `cts cases import`); this module picks the files, applies the benchmark's
//! split and setting, and names the benchmark. Every problem names the file,
//! the 1-based line and the field ([`cts_cases::ImportError`]); a loader
//! returns every item of a benchmark or an error, never a part.
//!
//! | benchmark | what to point at | items |
//! |---|---|---|
//! | `medqa` | a MedQA JSONL file (4 or 5 options) | every record |
//! | `medmcqa` | a MedMCQA JSONL file in any of its three shapes | every record; the shape is reported |
//! | `pubmedqa` | the folder with `ori_pqal.json` and `test_ground_truth.json` | the test split (500 PMIDs), in ground-truth order |
//! | `mmlu-medical` | the MMLU folder with `dev/`, `val/`, `test/` (or one CSV) | the six medical subjects of one split |
//! | `custom` | a user benchmark JSONL file (`cts_cases::import::BENCH_JSONL_FIELDS`) | every record |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cts_cases::import::{
    read_bench_jsonl, read_medmcqa, read_medqa, read_mmlu_records, read_pubmedqa_ground_truth,
    read_pubmedqa_records, BenchRecord, ImportIssue, MedmcqaShape,
};
use cts_cases::ImportError;
use serde::{Deserialize, Serialize};

use crate::item::{BenchItem, BenchmarkKind};

/// The six MMLU subjects CTS calls MMLU-medical, in report order.
pub const MMLU_MEDICAL_SUBJECTS: [&str; 6] = [
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
];

/// An MMLU split: `dev` holds the five k-shot exemplars per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MmluSplit {
    /// Five exemplars per subject, for k-shot prompts.
    Dev,
    /// The validation split.
    Val,
    /// The test split (what accuracy is reported on).
    Test,
}

impl MmluSplit {
    /// The split's folder and file-name suffix: `dev`, `val`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            MmluSplit::Dev => "dev",
            MmluSplit::Val => "val",
            MmluSplit::Test => "test",
        }
    }
}

/// Which PubMedQA setting the items are built for (Jin et al. 2019, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PubmedqaSetting {
    /// Question and abstract contexts, without the conclusion (the standard setting).
    ReasoningRequired,
    /// Question, contexts and the long answer (the abstract's conclusion).
    ReasoningFree,
}

/// What to load: a benchmark family, where its files are, and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchmarkSpec {
    /// The family.
    pub kind: BenchmarkKind,
    /// A file (MedQA, MedMCQA, custom, one MMLU CSV) or a folder (PubMedQA, MMLU).
    pub path: PathBuf,
    /// Name in reports; defaults to the family's name.
    pub name: Option<String>,
    /// MMLU split to load from a folder (default test).
    pub mmlu_split: MmluSplit,
    /// PubMedQA setting (default reasoning-required).
    pub pubmedqa_setting: PubmedqaSetting,
}

impl BenchmarkSpec {
    /// A spec with the default split and setting.
    pub fn new(kind: BenchmarkKind, path: impl Into<PathBuf>) -> Self {
        BenchmarkSpec {
            kind,
            path: path.into(),
            name: None,
            mmlu_split: MmluSplit::Test,
            pubmedqa_setting: PubmedqaSetting::ReasoningRequired,
        }
    }
}

/// A loaded benchmark: its items and what the loader found out about its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedBenchmark {
    /// Name in reports.
    pub name: String,
    /// The family.
    pub kind: BenchmarkKind,
    /// The items, in file order.
    pub items: Vec<BenchItem>,
    /// The files read, in order (their digests belong in an evaluation record).
    pub files: Vec<PathBuf>,
    /// For MedMCQA, the shape detected.
    pub medmcqa_shape: Option<MedmcqaShape>,
}

/// Why a benchmark could not be loaded; nothing was loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read or holds invalid records (file, line and field named).
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A file the benchmark needs is not there.
    #[error("{}: missing: {what}", path.display())]
    Missing {
        /// The path looked for.
        path: PathBuf,
        /// What the file is.
        what: &'static str,
    },
    /// The long answer a reasoning-free PubMedQA item needs is absent.
    #[error("{file}:{line}: field \"LONG_ANSWER\": PMID {pmid} has no long answer, which the reasoning-free setting shows")]
    NoLongAnswer {
        /// The `ori_pqal.json` path.
        file: String,
        /// Line of the record.
        line: usize,
        /// The record's PMID.
        pmid: String,
    },
}

/// Loads the benchmark `spec` describes.
pub fn load(spec: &BenchmarkSpec) -> Result<LoadedBenchmark, LoadError> {
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| spec.kind.name().to_owned());
    let mut loaded = match spec.kind {
        BenchmarkKind::Medqa => single(spec, read_medqa(&spec.path)?),
        BenchmarkKind::Medmcqa => {
            let file = read_medmcqa(&spec.path)?;
            let mut loaded = single(spec, file.records);
            loaded.medmcqa_shape = Some(file.shape);
            loaded
        }
        BenchmarkKind::Custom => single(spec, read_bench_jsonl(&spec.path)?),
        BenchmarkKind::Pubmedqa => load_pubmedqa(&spec.path, spec.pubmedqa_setting)?,
        BenchmarkKind::MmluMedical => load_mmlu(&spec.path, spec.mmlu_split)?,
    };
    for item in &mut loaded.items {
        item.benchmark.clone_from(&name);
    }
    loaded.name = name;
    Ok(loaded)
}

/// Items from the records of one file.
fn single(spec: &BenchmarkSpec, records: Vec<BenchRecord>) -> LoadedBenchmark {
    let file = spec.path.display().to_string();
    LoadedBenchmark {
        name: spec.kind.name().to_owned(),
        kind: spec.kind,
        items: records
            .into_iter()
            .map(|r| item(spec.kind, &file, r, None))
            .collect(),
        files: vec![spec.path.clone()],
        medmcqa_shape: None,
    }
}

fn item(kind: BenchmarkKind, file: &str, r: BenchRecord, context: Option<String>) -> BenchItem {
    BenchItem {
        benchmark: kind.name().to_owned(),
        kind,
        id: r.id,
        file: file.to_owned(),
        line: r.line,
        subject: r.subject,
        question: r.question,
        context: context.or(r.context),
        options: r.options,
        gold: r.gold,
    }
}

/// The PubMedQA test split from the folder holding `ori_pqal.json` and `test_ground_truth.json`.
///
/// Items follow the ground-truth file's order. Every ground-truth PMID must
/// be in `ori_pqal.json` with the same decision; a disagreement is an error
/// naming the ground-truth line.
pub fn load_pubmedqa(dir: &Path, setting: PubmedqaSetting) -> Result<LoadedBenchmark, LoadError> {
    let ori = dir.join("ori_pqal.json");
    let truth_path = dir.join("test_ground_truth.json");
    for (path, what) in [
        (
            &ori,
            "PubMedQA's ori_pqal.json (the expert-labelled records)",
        ),
        (
            &truth_path,
            "PubMedQA's test_ground_truth.json (the test split)",
        ),
    ] {
        if !path.is_file() {
            return Err(LoadError::Missing {
                path: path.clone(),
                what,
            });
        }
    }
    let records = read_pubmedqa_records(&ori)?;
    let truth = read_pubmedqa_ground_truth(&truth_path)?;
    let ori_file = ori.display().to_string();
    let truth_file = truth_path.display().to_string();
    let mut by_pmid: HashMap<String, BenchRecord> = records
        .into_iter()
        .map(|r| (r.id.trim_start_matches("pubmedqa-").to_owned(), r))
        .collect();
    let mut issues = Vec::new();
    let mut items = Vec::with_capacity(truth.len());
    for entry in truth {
        let Some(record) = by_pmid.remove(&entry.pmid) else {
            issues.push(ImportIssue {
                file: truth_file.clone(),
                line: entry.line,
                field: Some(entry.pmid.clone()),
                message: "PMID is not in ori_pqal.json (or appears twice)".to_owned(),
            });
            continue;
        };
        if record.gold_text() != Some(entry.label.as_str()) {
            issues.push(ImportIssue {
                file: truth_file.clone(),
                line: entry.line,
                field: Some(entry.pmid.clone()),
                message: format!(
                    "label \"{}\" disagrees with final_decision in ori_pqal.json line {}",
                    entry.label, record.line
                ),
            });
            continue;
        }
        let context = match setting {
            PubmedqaSetting::ReasoningRequired => record.context.clone(),
            PubmedqaSetting::ReasoningFree => {
                let Some(long) = &record.long_answer else {
                    return Err(LoadError::NoLongAnswer {
                        file: ori_file,
                        line: record.line,
                        pmid: entry.pmid,
                    });
                };
                let mut text = record.context.clone().unwrap_or_default();
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str("CONCLUSION: ");
                text.push_str(long.trim());
                Some(text)
            }
        };
        items.push(item(BenchmarkKind::Pubmedqa, &ori_file, record, context));
    }
    if !issues.is_empty() {
        return Err(ImportError::Invalid {
            truncated: false,
            issues,
        }
        .into());
    }
    Ok(LoadedBenchmark {
        name: BenchmarkKind::Pubmedqa.name().to_owned(),
        kind: BenchmarkKind::Pubmedqa,
        items,
        files: vec![ori, truth_path],
        medmcqa_shape: None,
    })
}

/// The six MMLU-medical subjects of `split`, in [`MMLU_MEDICAL_SUBJECTS`] order.
///
/// `path` is the MMLU folder (files under `<split>/<subject>_<split>.csv`, or
/// directly in it), or one subject's CSV file, which loads that subject only.
pub fn load_mmlu(path: &Path, split: MmluSplit) -> Result<LoadedBenchmark, LoadError> {
    let files: Vec<PathBuf> = if path.is_file() {
        vec![path.to_owned()]
    } else {
        let folder = if path.join(split.name()).is_dir() {
            path.join(split.name())
        } else {
            path.to_owned()
        };
        MMLU_MEDICAL_SUBJECTS
            .iter()
            .map(|s| folder.join(format!("{s}_{}.csv", split.name())))
            .collect()
    };
    let mut items = Vec::new();
    for file in &files {
        if !file.is_file() {
            return Err(LoadError::Missing {
                path: file.clone(),
                what: "an MMLU-medical subject file (the benchmark is all six subjects)",
            });
        }
        let name = file.display().to_string();
        items.extend(
            read_mmlu_records(file)?
                .into_iter()
                .map(|r| item(BenchmarkKind::MmluMedical, &name, r, None)),
        );
    }
    Ok(LoadedBenchmark {
        name: BenchmarkKind::MmluMedical.name().to_owned(),
        kind: BenchmarkKind::MmluMedical,
        items,
        files,
        medmcqa_shape: None,
    })
}
