//! The dataset spec (`SPEC.toml`): which reviews qualify, how to split, what
//! to export. Every error names the file, the line and the field.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A parsed, validated spec.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    /// Release name.
    pub name: String,
    /// Seed of the case-level split.
    pub seed: u64,
    /// Which traces qualify.
    pub select: Select,
    /// Split fractions (train, validation, test), summing to 1.
    pub split: Split,
    /// What to write.
    pub exports: Exports,
}

/// When reviews agree enough to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    /// Every current review agrees, or an adjudicator decided.
    AgreedOrAdjudicated,
    /// Any submitted review (the earliest stands when they disagree).
    Submitted,
}

/// Selection rules.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Select {
    /// Agreement required.
    pub require: Require,
    /// Fewest current reviews a trace needs.
    pub min_reviews: usize,
    /// Specialties to include (empty: all).
    pub specialties: Vec<String>,
    /// Rubric keys (`id@version`) whose reviews count (empty: all).
    pub rubrics: Vec<String>,
    /// Lowest rating per dimension of the standing review.
    pub min_ratings: BTreeMap<String, u8>,
    /// Flags that keep a trace out of SFT, chosen and desirable examples
    /// when a step carrying one was not edited: `None` means every flag the
    /// review's rubric marks unsafe.
    pub exclude_flags: Option<Vec<String>>,
    /// Whether an unedited step labelled −1 also keeps a trace out.
    pub exclude_negative_unedited: bool,
    /// Rating gap that counts as disagreement.
    pub rating_gap: u8,
}

/// Split fractions.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Train fraction.
    pub train: f64,
    /// Validation fraction.
    pub validation: f64,
    /// Test fraction.
    pub test: f64,
}

/// Export formats.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Conversational SFT (`messages`).
    Sft,
    /// Conversational preference pairs (`prompt`, `chosen`, `rejected`).
    Dpo,
    /// Flat preference pairs (strings), OpenRLHF style.
    DpoFlat,
    /// KTO (`prompt`, `completion`, `label`).
    Kto,
    /// TRL stepwise supervision (`prompt`, `completions`, `labels`).
    Prm,
    /// PRM800K-style step ratings with flags and reviewers.
    PrmRich,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Sft,
        Format::Dpo,
        Format::DpoFlat,
        Format::Kto,
        Format::Prm,
        Format::PrmRich,
    ];

    /// Name as written in specs and folder names.
    pub fn name(self) -> &'static str {
        match self {
            Format::Sft => "sft",
            Format::Dpo => "dpo",
            Format::DpoFlat => "dpo-flat",
            Format::Kto => "kto",
            Format::Prm => "prm",
            Format::PrmRich => "prm-rich",
        }
    }

    fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Export options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Exports {
    /// Formats to write, in order.
    pub formats: Vec<Format>,
    /// PRM label of a step rated 0.
    pub prm_neutral: bool,
    /// Fewest changed words that make a corrected chain a preference pair
    /// against the model's original.
    pub dpo_min_changed_words: usize,
    /// Smallest mean-rating margin between two samples of a case that makes
    /// them a preference pair.
    pub dpo_rating_margin: f64,
    /// Most sample pairs per case.
    pub dpo_max_pairs_per_case: usize,
}

/// A spec error: file, line, field and reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {reason}")]
pub struct SpecError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Dotted field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
    select: Option<Spanned<RawSelect>>,
    split: Option<Spanned<RawSplit>>,
    exports: Option<Spanned<RawExports>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSelect {
    require: Option<Spanned<String>>,
    min_reviews: Option<Spanned<i64>>,
    specialties: Option<Spanned<Vec<String>>>,
    rubrics: Option<Spanned<Vec<String>>>,
    min_ratings: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
    exclude_flags: Option<Spanned<toml::Value>>,
    exclude_negative_unedited: Option<Spanned<bool>>,
    rating_gap: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSplit {
    train: Option<Spanned<f64>>,
    validation: Option<Spanned<f64>>,
    test: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExports {
    formats: Option<Spanned<Vec<Spanned<String>>>>,
    prm_neutral: Option<Spanned<bool>>,
    dpo_min_changed_words: Option<Spanned<i64>>,
    dpo_rating_margin: Option<Spanned<f64>>,
    dpo_max_pairs_per_case: Option<Spanned<i64>>,
}

struct Src<'a> {
    text: &'a str,
    file: &'a str,
}

impl Src<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        reason: impl Into<String>,
    ) -> Result<T, SpecError> {
        Err(SpecError {
            file: self.file.into(),
            line: self.line(span.start),
            field: field.into(),
            reason: reason.into(),
        })
    }

    fn int<T: TryFrom<i64>>(
        &self,
        v: &Spanned<i64>,
        field: &str,
        lo: i64,
        hi: i64,
    ) -> Result<T, SpecError> {
        let n = *v.get_ref();
        if n < lo || n > hi {
            return self.err(
                v.span(),
                field,
                format!("must be from {lo} to {hi}, not {n}"),
            );
        }
        T::try_from(n).or_else(|_| self.err(v.span(), field, "out of range"))
    }
}

/// The first line of the field named in a TOML syntax error message, if any.
fn toml_error(src: &Src, err: &toml::de::Error) -> SpecError {
    let line = err.span().map(|s| src.line(s.start)).unwrap_or(1);
    let msg = err.message().to_owned();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.contains("unknown field") || msg.contains("missing field"))
        .unwrap_or("<syntax>")
        .to_owned();
    SpecError {
        file: src.file.into(),
        line,
        field,
        reason: msg,
    }
}

const MAX_NAME: usize = 100;

impl Spec {
    /// The spec recorded in a release manifest.
    pub fn from_json(v: &serde_json::Value) -> Result<Spec, serde_json::Error> {
        serde_json::from_value(v.clone())
    }

    /// Parses and validates a spec; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
        let src = Src { text, file };
        let raw: RawSpec = toml::from_str(text).map_err(|e| toml_error(&src, &e))?;
        let Some(name) = raw.name else {
            return src.err(0..0, "name", "is required (the release's name)");
        };
        if name.get_ref().is_empty()
            || name.get_ref().chars().count() > MAX_NAME
            || !name
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return src.err(
                name.span(),
                "name",
                format!("must be 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"),
            );
        }
        let seed = match raw.seed {
            Some(s) if *s.get_ref() < 0 => {
                return src.err(s.span(), "seed", "must not be negative")
            }
            Some(s) => *s.get_ref() as u64,
            None => 0,
        };
        let select = raw.select.map(Spanned::into_inner).unwrap_or_default();
        let require = match &select.require {
            None => Require::AgreedOrAdjudicated,
            Some(r) => match r.get_ref().as_str() {
                "agreed-or-adjudicated" => Require::AgreedOrAdjudicated,
                "submitted" => Require::Submitted,
                other => {
                    return src.err(
                        r.span(),
                        "select.require",
                        format!("{other:?} is not one of \"agreed-or-adjudicated\", \"submitted\""),
                    )
                }
            },
        };
        let min_reviews = match &select.min_reviews {
            Some(v) => src.int(v, "select.min_reviews", 1, 20)?,
            None => 2,
        };
        let mut min_ratings = BTreeMap::new();
        if let Some(m) = &select.min_ratings {
            for (dim, v) in m.get_ref() {
                min_ratings.insert(
                    dim.clone(),
                    src.int(v, &format!("select.min_ratings.{dim}"), 0, 10)?,
                );
            }
        }
        let exclude_flags = match &select.exclude_flags {
            None => None,
            Some(v) => match v.get_ref() {
                toml::Value::String(s) if s == "unsafe" => None,
                toml::Value::Array(a) => {
                    let mut flags = Vec::new();
                    for item in a {
                        match item.as_str() {
                            Some(s) => flags.push(s.to_owned()),
                            None => {
                                return src.err(
                                    v.span(),
                                    "select.exclude_flags",
                                    "must be \"unsafe\" or a list of flag ids",
                                )
                            }
                        }
                    }
                    Some(flags)
                }
                _ => {
                    return src.err(
                        v.span(),
                        "select.exclude_flags",
                        "must be \"unsafe\" or a list of flag ids",
                    )
                }
            },
        };
        let rating_gap = match &select.rating_gap {
            Some(v) => src.int(v, "select.rating_gap", 1, 10)?,
            None => cts_review::disagreement::Policy::default().rating_gap,
        };
        let select = Select {
            require,
            min_reviews,
            specialties: select
                .specialties
                .map(Spanned::into_inner)
                .unwrap_or_default(),
            rubrics: select.rubrics.map(Spanned::into_inner).unwrap_or_default(),
            min_ratings,
            exclude_flags,
            exclude_negative_unedited: select
                .exclude_negative_unedited
                .map(Spanned::into_inner)
                .unwrap_or(true),
            rating_gap,
        };

        let split = match raw.split {
            None => Split {
                train: 0.8,
                validation: 0.1,
                test: 0.1,
            },
            Some(s) => {
                let span = s.span();
                let s = s.into_inner();
                let mut vals = [0.0f64; 3];
                for (i, (name, v)) in [
                    ("train", &s.train),
                    ("validation", &s.validation),
                    ("test", &s.test),
                ]
                .into_iter()
                .enumerate()
                {
                    if let Some(v) = v {
                        let x = *v.get_ref();
                        if !(0.0..=1.0).contains(&x) {
                            return src.err(
                                v.span(),
                                &format!("split.{name}"),
                                "must be between 0 and 1",
                            );
                        }
                        vals[i] = x;
                    }
                }
                let sum: f64 = vals.iter().sum();
                if (sum - 1.0).abs() > 1e-9 {
                    return src.err(
                        span,
                        "split",
                        format!("train + validation + test must be 1, not {sum}"),
                    );
                }
                Split {
                    train: vals[0],
                    validation: vals[1],
                    test: vals[2],
                }
            }
        };

        let ex = raw.exports.map(Spanned::into_inner).unwrap_or_default();
        let formats = match &ex.formats {
            None => vec![Format::Sft, Format::Dpo, Format::Kto, Format::Prm],
            Some(list) => {
                if list.get_ref().is_empty() {
                    return src.err(list.span(), "exports.formats", "names no format");
                }
                let mut out = Vec::new();
                for f in list.get_ref() {
                    let Some(format) = Format::parse(f.get_ref()) else {
                        return src.err(
                            f.span(),
                            "exports.formats",
                            format!(
                                "{:?} is not one of {}",
                                f.get_ref(),
                                Format::ALL.map(Format::name).join(", ")
                            ),
                        );
                    };
                    if out.contains(&format) {
                        return src.err(
                            f.span(),
                            "exports.formats",
                            format!("{:?} is listed twice", f.get_ref()),
                        );
                    }
                    out.push(format);
                }
                out
            }
        };
        let dpo_rating_margin = match &ex.dpo_rating_margin {
            Some(v) if !(0.0..=10.0).contains(v.get_ref()) => {
                return src.err(
                    v.span(),
                    "exports.dpo_rating_margin",
                    "must be between 0 and 10",
                )
            }
            Some(v) => *v.get_ref(),
            None => 1.0,
        };
        let exports = Exports {
            formats,
            prm_neutral: ex.prm_neutral.map(Spanned::into_inner).unwrap_or(false),
            dpo_min_changed_words: match &ex.dpo_min_changed_words {
                Some(v) => src.int(v, "exports.dpo_min_changed_words", 0, 100_000)?,
                None => 1,
            },
            dpo_rating_margin,
            dpo_max_pairs_per_case: match &ex.dpo_max_pairs_per_case {
                Some(v) => src.int(v, "exports.dpo_max_pairs_per_case", 0, 10_000)?,
                None => 4,
            },
        };
        Ok(Spec {
            name: name.into_inner(),
            seed,
            select,
            split,
            exports,
        })
    }
}

/// The spec `cts dataset init-spec` writes: every option with its default.
pub const DEFAULT_SPEC: &str = include_str!("../specs/default.toml");
