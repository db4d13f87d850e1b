//! Versioned rubric documents.
//!
//! A rubric is a TOML document naming what a reviewer records for a trace:
//! a PRM800K-style label per step (−1 wrong or unsafe, 0 neutral, +1 correct
//! and useful) with a description of each, safety flags per step, and 1..=N
//! ratings per trace dimension with anchor descriptions, plus the rules for
//! the free-text rationale. A rubric is identified by `id@version`; once a
//! version has been used its text is immutable (enforced by the store, which
//! compares [`Rubric::digest`]).
//!
//! This module parses and validates rubric text; it does not store rubrics or
//! check reviews against them (see `review`).
//!
//! # Format
//!
//! ```
//! let text = r#"
//! id = "example"                    # [a-z0-9-]{1,64}
//! version = 1                       # 1 and up
//! title = "Example rubric"
//! description = "What the rubric is for and who uses it."
//! edit_rationale_min_chars = 5      # optional, default 5, at most 2000
//!
//! [step_labels]                     # what −1, 0 and +1 mean for a step
//! negative = "Wrong or unsafe: ..."
//! neutral = "Neutral: ..."
//! positive = "Correct and useful: ..."
//!
//! [[flags]]                         # one table per flag, at least one
//! id = "dose-error"                 # [a-z0-9-]{1,64}, unique
//! title = "Dose error"
//! description = "Wrong dose, unit, route or interval."
//! unsafe = true                     # required: does the flag make a step unsafe?
//!
//! [[dimensions]]                    # one table per dimension, at least one
//! id = "medical_correctness"        # [a-z0-9_]{1,64}, unique
//! title = "Medical correctness"
//! min = 1                           # optional, default 1
//! max = 5                           # optional, default 5; 1 <= min < max <= 10
//! anchors = [                       # exactly max - min + 1, none blank
//!     "1: major errors",
//!     "2: an error that changes the conclusion",
//!     "3: minor errors",
//!     "4: correct",
//!     "5: correct and precise",
//! ]
//!
//! [rationale]                       # the trace-level free-text rationale
//! required = true
//! min_chars = 20                    # at most 2000
//! "#;
//! let rubric = cts_review::Rubric::parse(text, "example.toml")?;
//! assert_eq!(rubric.key(), "example@1");
//! assert!(rubric.flag("dose-error").is_some_and(|flag| flag.unsafe_));
//! # Ok::<(), cts_review::RubricError>(())
//! ```
//!
//! Every field not marked optional is required, unknown fields are errors,
//! and titles, descriptions, step labels and anchors must not be blank.
//! Tables are written as `[name]` headers or inline `{ ... }`; tables made by
//! dotted keys (`rationale.required = true`) are refused, since their fields
//! could not be given line numbers.
//!
//! # Errors
//!
//! A [`RubricError`] names the file, the 1-based line and the dotted path of
//! the field concerned, with 0-based array indices: `dimensions[2].anchors`
//! is the `anchors` of the third `[[dimensions]]` table. A missing field is
//! reported at the line of the table that lacks it (line 1 for the top level).
//! For TOML syntax errors the path is a best guess from the nearest table
//! header and key, since the document has no structure to point into.

use std::collections::HashMap;
use std::ops::{Range, RangeInclusive};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

/// The default medication-safety rubric shipped with CTS.
pub const DEFAULT_MEDICATION_SAFETY: &str = include_str!("../rubrics/medication-safety-v1.toml");

/// A parsed, validated rubric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rubric {
    /// Lower-case identifier, `[a-z0-9-]{1,64}`.
    pub id: String,
    /// Version number, 1 and up.
    pub version: u32,
    /// Human title.
    pub title: String,
    /// What the rubric is for.
    pub description: String,
    /// Descriptions of the step labels.
    pub step_labels: StepLabels,
    /// Safety flags a reviewer can set on a step (at least one).
    pub flags: Vec<Flag>,
    /// Trace-level rating dimensions (at least one).
    pub dimensions: Vec<Dimension>,
    /// Rules for the trace-level free-text rationale.
    pub rationale: RationaleRule,
    /// Minimum characters of an edit's rationale (default 5).
    pub edit_rationale_min_chars: usize,
}

/// What each step label means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLabels {
    /// −1: wrong or unsafe.
    pub negative: String,
    /// 0: neutral.
    pub neutral: String,
    /// +1: correct and useful.
    pub positive: String,
}

/// A safety flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// Identifier, `[a-z0-9-]{1,64}`, unique within the rubric.
    pub id: String,
    /// Short title.
    pub title: String,
    /// What it means.
    pub description: String,
    /// Whether a step with this flag counts as unsafe (datasets exclude
    /// unsafe steps unless edited).
    pub unsafe_: bool,
}

/// A trace-level rating dimension on an integer scale `min..=max`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    /// Identifier, `[a-z0-9_]{1,64}`, unique within the rubric.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Lowest rating (usually 1).
    pub min: u8,
    /// Highest rating (usually 5).
    pub max: u8,
    /// Anchor description for each value `min..=max`, in order (all required).
    pub anchors: Vec<String>,
}

/// Rules for the trace rationale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RationaleRule {
    /// Whether a rationale is required on submit.
    pub required: bool,
    /// Minimum characters when required.
    pub min_chars: usize,
}

/// A rubric that failed to parse or validate, with the line it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {field}: {reason}")]
pub struct RubricError {
    /// File name (or `<input>`).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The TOML field concerned (dotted path, e.g. `dimensions[2].anchors`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Longest identifier (rubric, flag or dimension id), in characters.
const MAX_ID_CHARS: usize = 64;
/// Highest `min_chars` a rubric may demand of a rationale.
const MAX_MIN_CHARS: i64 = 2000;
/// Highest top of a rating scale.
const MAX_SCALE: i64 = 10;
const DEFAULT_EDIT_RATIONALE_MIN_CHARS: usize = 5;
const DEFAULT_SCALE_MIN: u8 = 1;
const DEFAULT_SCALE_MAX: u8 = 5;
/// The field name used in errors that concern the document as a whole.
const TOP_LEVEL: &str = "<top level>";

impl Rubric {
    /// Parses and validates a rubric document; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Rubric, RubricError> {
        let source = Source { text, file };
        let raw: RawRubric = toml::from_str(text).map_err(|err| source.toml_error(&err))?;
        raw.validate(&source)
    }

    /// The default medication-safety rubric (parsed from [`DEFAULT_MEDICATION_SAFETY`]).
    pub fn default_medication_safety() -> Rubric {
        static DEFAULT: OnceLock<Rubric> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                // Compiled-in text that tests/rubric.rs parses: failing here is a build defect.
                Rubric::parse(DEFAULT_MEDICATION_SAFETY, "medication-safety-v1.toml")
                    .expect("the bundled medication-safety rubric is valid")
            })
            .clone()
    }

    /// `id@version`, e.g. `medication-safety@1`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// SHA-256 (lower-case hex) of the rubric's JSON (serde_json, fields in
    /// declaration order): the identity the store uses to refuse changing a
    /// used version. Comments and layout of the TOML text do not affect it.
    pub fn digest(&self) -> String {
        // Only strings, integers, booleans and vectors of them: cannot fail.
        let json = serde_json::to_vec(self).expect("a Rubric always serializes to JSON");
        hex::encode(Sha256::digest(&json))
    }

    /// The flag with this id.
    pub fn flag(&self, id: &str) -> Option<&Flag> {
        self.flags.iter().find(|flag| flag.id == id)
    }

    /// The dimension with this id.
    pub fn dimension(&self, id: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|dimension| dimension.id == id)
    }
}

// The document as written. Fields are optional so that validation, which
// knows each table's path and line, reports a missing one; spans give lines.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRubric {
    id: Option<Spanned<String>>,
    version: Option<Spanned<i64>>,
    title: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    edit_rationale_min_chars: Option<Spanned<i64>>,
    step_labels: Option<Spanned<RawStepLabels>>,
    flags: Option<Spanned<Vec<Spanned<RawFlag>>>>,
    dimensions: Option<Spanned<Vec<Spanned<RawDimension>>>>,
    rationale: Option<Spanned<RawRationale>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStepLabels {
    negative: Option<Spanned<String>>,
    neutral: Option<Spanned<String>>,
    positive: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlag {
    id: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    #[serde(rename = "unsafe")]
    unsafe_: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    id: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    min: Option<Spanned<i64>>,
    max: Option<Spanned<i64>>,
    anchors: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRationale {
    required: Option<Spanned<bool>>,
    min_chars: Option<Spanned<i64>>,
}

impl RawRubric {
    fn validate(self, source: &Source) -> Result<Rubric, RubricError> {
        let top = Table::top_level();
        let id = source.identifier(
            top.field("id"),
            top.require(source, self.id, "id")?,
            IdKind::Rubric,
        )?;
        let version = source.integer(
            top.field("version"),
            top.require(source, self.version, "version")?,
            1..=i64::from(u32::MAX),
        )?;
        let title = source.text(
            top.field("title"),
            top.require(source, self.title, "title")?,
        )?;
        let description = source.text(
            top.field("description"),
            top.require(source, self.description, "description")?,
        )?;
        let edit_rationale_min_chars = match self.edit_rationale_min_chars {
            Some(value) => source.integer(
                top.field("edit_rationale_min_chars"),
                value,
                0..=MAX_MIN_CHARS,
            )?,
            None => DEFAULT_EDIT_RATIONALE_MIN_CHARS,
        };
        let step_labels = top.require(source, self.step_labels, "step_labels")?;
        let table = Table::new(
            top.field("step_labels"),
            source.line(step_labels.span().start),
        );
        let step_labels = step_labels.into_inner().validate(source, &table)?;
        let flags = validate_flags(source, top.require(source, self.flags, "flags")?)?;
        let dimensions =
            validate_dimensions(source, top.require(source, self.dimensions, "dimensions")?)?;
        let rationale = top.require(source, self.rationale, "rationale")?;
        let table = Table::new(top.field("rationale"), source.line(rationale.span().start));
        let rationale = rationale.into_inner().validate(source, &table)?;
        Ok(Rubric {
            id,
            version,
            title,
            description,
            step_labels,
            flags,
            dimensions,
            rationale,
            edit_rationale_min_chars,
        })
    }
}

impl RawStepLabels {
    fn validate(self, source: &Source, table: &Table) -> Result<StepLabels, RubricError> {
        let label = |value, key| source.text(table.field(key), table.require(source, value, key)?);
        Ok(StepLabels {
            negative: label(self.negative, "negative")?,
            neutral: label(self.neutral, "neutral")?,
            positive: label(self.positive, "positive")?,
        })
    }
}

fn validate_flags(
    source: &Source,
    flags: Spanned<Vec<Spanned<RawFlag>>>,
) -> Result<Vec<Flag>, RubricError> {
    if flags.get_ref().is_empty() {
        return Err(source.error(flags.span(), "flags", "at least one flag is required"));
    }
    let mut ids = UniqueIds::new(IdKind::Flag);
    let mut out = Vec::with_capacity(flags.get_ref().len());
    for (index, raw) in flags.into_inner().into_iter().enumerate() {
        let table = Table::new(format!("flags[{index}]"), source.line(raw.span().start));
        let raw = raw.into_inner();
        out.push(Flag {
            id: ids.take(source, &table, raw.id)?,
            title: source.text(
                table.field("title"),
                table.require(source, raw.title, "title")?,
            )?,
            description: source.text(
                table.field("description"),
                table.require(source, raw.description, "description")?,
            )?,
            unsafe_: table.require(source, raw.unsafe_, "unsafe")?.into_inner(),
        });
    }
    Ok(out)
}

fn validate_dimensions(
    source: &Source,
    dimensions: Spanned<Vec<Spanned<RawDimension>>>,
) -> Result<Vec<Dimension>, RubricError> {
    if dimensions.get_ref().is_empty() {
        return Err(source.error(
            dimensions.span(),
            "dimensions",
            "at least one dimension is required",
        ));
    }
    let mut ids = UniqueIds::new(IdKind::Dimension);
    let mut out = Vec::with_capacity(dimensions.get_ref().len());
    for (index, raw) in dimensions.into_inner().into_iter().enumerate() {
        let table = Table::new(
            format!("dimensions[{index}]"),
            source.line(raw.span().start),
        );
        let raw = raw.into_inner();
        let id = ids.take(source, &table, raw.id)?;
        let title = source.text(
            table.field("title"),
            table.require(source, raw.title, "title")?,
        )?;
        let (min, max) = validate_scale(source, &table, raw.min, raw.max)?;
        let anchors = table.require(source, raw.anchors, "anchors")?;
        let expected = usize::from(max - min) + 1;
        if anchors.get_ref().len() != expected {
            return Err(source.error(
                anchors.span(),
                table.field("anchors"),
                format!(
                    "expected {expected} anchors, one for each rating {min} to {max}, found {}",
                    anchors.get_ref().len()
                ),
            ));
        }
        let anchors = anchors
            .into_inner()
            .into_iter()
            .enumerate()
            .map(|(at, anchor)| source.text(format!("{}[{at}]", table.field("anchors")), anchor))
            .collect::<Result<_, _>>()?;
        out.push(Dimension {
            id,
            title,
            min,
            max,
            anchors,
        });
    }
    Ok(out)
}

/// The ids of one table array, each checked and required to be new.
struct UniqueIds {
    kind: IdKind,
    first_line: HashMap<String, usize>,
}

impl UniqueIds {
    fn new(kind: IdKind) -> UniqueIds {
        UniqueIds {
            kind,
            first_line: HashMap::new(),
        }
    }

    /// The table's valid, not yet used `id`.
    fn take(
        &mut self,
        source: &Source,
        table: &Table,
        id: Option<Spanned<String>>,
    ) -> Result<String, RubricError> {
        let id = table.require(source, id, "id")?;
        let line = source.line(id.span().start);
        let id = source.identifier(table.field("id"), id, self.kind)?;
        match self.first_line.insert(id.clone(), line) {
            Some(first) => Err(source.error_at_line(
                line,
                table.field("id"),
                format!(
                    "duplicate {} id `{id}` (first used at line {first})",
                    self.kind.noun()
                ),
            )),
            None => Ok(id),
        }
    }
}

/// Checks `1 <= min < max <= MAX_SCALE`, blaming the field the author wrote.
fn validate_scale(
    source: &Source,
    table: &Table,
    min: Option<Spanned<i64>>,
    max: Option<Spanned<i64>>,
) -> Result<(u8, u8), RubricError> {
    let scale = 1..=MAX_SCALE;
    let min_line = min.as_ref().map(|value| source.line(value.span().start));
    let max_line = max.as_ref().map(|value| source.line(value.span().start));
    let min: u8 = match min {
        Some(value) => source.integer(table.field("min"), value, scale.clone())?,
        None => DEFAULT_SCALE_MIN,
    };
    let max: u8 = match max {
        Some(value) => source.integer(table.field("max"), value, scale)?,
        None => DEFAULT_SCALE_MAX,
    };
    if min < max {
        return Ok((min, max));
    }
    Err(match (max_line, min_line) {
        (Some(line), _) => source.error_at_line(
            line,
            table.field("max"),
            format!("must be greater than min ({min})"),
        ),
        (None, Some(line)) => source.error_at_line(
            line,
            table.field("min"),
            format!("must be less than max ({max}, the default)"),
        ),
        // Both defaults: 1 < 5.
        (None, None) => {
            source.error_at_line(table.line, table.field("max"), "must be greater than min")
        }
    })
}

impl RawRationale {
    fn validate(self, source: &Source, table: &Table) -> Result<RationaleRule, RubricError> {
        Ok(RationaleRule {
            required: table
                .require(source, self.required, "required")?
                .into_inner(),
            min_chars: source.integer(
                table.field("min_chars"),
                table.require(source, self.min_chars, "min_chars")?,
                0..=MAX_MIN_CHARS,
            )?,
        })
    }
}

/// Which identifier rule applies.
#[derive(Clone, Copy)]
enum IdKind {
    Rubric,
    Flag,
    Dimension,
}

impl IdKind {
    fn allows(self, c: char) -> bool {
        let separator = match self {
            IdKind::Rubric | IdKind::Flag => '-',
            IdKind::Dimension => '_',
        };
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == separator
    }

    fn noun(self) -> &'static str {
        match self {
            IdKind::Rubric => "rubric",
            IdKind::Flag => "flag",
            IdKind::Dimension => "dimension",
        }
    }

    fn charset(self) -> &'static str {
        match self {
            IdKind::Rubric | IdKind::Flag => "a-z, 0-9 and -",
            IdKind::Dimension => "a-z, 0-9 and _",
        }
    }
}

/// A table of the document: its dotted path and the line it starts on.
struct Table {
    path: String,
    line: usize,
}

impl Table {
    fn top_level() -> Table {
        Table {
            path: String::new(),
            line: 1,
        }
    }

    fn new(path: String, line: usize) -> Table {
        Table { path, line }
    }

    /// The path of `key` in this table.
    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn require<T>(
        &self,
        source: &Source,
        value: Option<Spanned<T>>,
        key: &str,
    ) -> Result<Spanned<T>, RubricError> {
        value.ok_or_else(|| source.error_at_line(self.line, self.field(key), "missing (required)"))
    }
}

/// The text being parsed, for turning byte offsets into errors.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    /// The 1-based line holding byte `offset`.
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> RubricError {
        self.error_at_line(self.line(span.start), field, reason)
    }

    fn error_at_line(
        &self,
        line: usize,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> RubricError {
        RubricError {
            file: self.file.to_owned(),
            line,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A string that must not be blank.
    fn text(&self, field: String, value: Spanned<String>) -> Result<String, RubricError> {
        if value.get_ref().trim().is_empty() {
            return Err(self.error(value.span(), field, "must not be blank"));
        }
        Ok(value.into_inner())
    }

    fn identifier(
        &self,
        field: String,
        value: Spanned<String>,
        kind: IdKind,
    ) -> Result<String, RubricError> {
        let id = value.get_ref();
        let reason = if id.is_empty() {
            Some("must not be empty".to_owned())
        } else if let Some(c) = id.chars().find(|&c| !kind.allows(c)) {
            Some(format!("{c:?} is not allowed; use only {}", kind.charset()))
        } else if id.chars().count() > MAX_ID_CHARS {
            Some(format!("is longer than {MAX_ID_CHARS} characters"))
        } else {
            None
        };
        match reason {
            Some(reason) => Err(self.error(value.span(), field, reason)),
            None => Ok(value.into_inner()),
        }
    }

    /// An integer in `range`, converted to the rubric's type.
    fn integer<T: TryFrom<i64>>(
        &self,
        field: String,
        value: Spanned<i64>,
        range: RangeInclusive<i64>,
    ) -> Result<T, RubricError> {
        let n = *value.get_ref();
        match T::try_from(n) {
            Ok(converted) if range.contains(&n) => Ok(converted),
            _ => Err(self.error(
                value.span(),
                field,
                format!(
                    "must be between {} and {}, got {n}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// A TOML syntax error or a field of the wrong name or type.
    fn toml_error(&self, err: &toml::de::Error) -> RubricError {
        let offset = err.span().map_or(0, |span| span.start);
        let mut reason = err.message().trim().replace('\n', "; ");
        if reason.is_empty() {
            // toml has no message for some syntax errors, e.g. a control character in a comment.
            reason = match self.text.get(offset..).and_then(|rest| rest.chars().next()) {
                Some(c) => format!("invalid TOML syntax at {c:?}"),
                None => "invalid TOML syntax".to_owned(),
            };
        }
        if reason.ends_with("expected a borrowed string") {
            // `toml::Spanned` cannot locate a table made implicitly by a
            // dotted key or a `[a.b]` header; serde's message says nothing useful.
            reason = "tables must be written as `[name]` or `{ ... }`; dotted keys and sub-tables are not allowed here"
                .to_owned();
        }
        let field = match toml::from_str::<Node>(self.text) {
            Ok(Node::Table(entries)) => path_at(&entries, offset),
            _ => lexical_path(self.text, offset),
        };
        let field = if field.is_empty() {
            TOP_LEVEL.to_owned()
        } else {
            field
        };
        self.error_at_line(self.line(offset), field, reason)
    }
}

/// A parsed document reduced to its shape and spans, to name the field at a
/// byte offset when the typed parse fails.
enum Node {
    Leaf,
    Array(Vec<Spanned<Node>>),
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Table(entries))
    }
}

/// The dotted path of the key or value covering byte `offset`.
fn path_at(entries: &[(Spanned<String>, Spanned<Node>)], offset: usize) -> String {
    let mut path = String::new();
    let mut entries = entries;
    loop {
        let Some((key, value)) = entries
            .iter()
            .find(|(key, value)| covers(key.span(), offset) || covers(value.span(), offset))
        else {
            return path;
        };
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key.get_ref());
        if covers(key.span(), offset) {
            return path;
        }
        let mut node = value;
        while let Node::Array(items) = node.get_ref() {
            match items.iter().position(|item| covers(item.span(), offset)) {
                Some(index) => {
                    path.push_str(&format!("[{index}]"));
                    node = &items[index];
                }
                None => return path,
            }
        }
        match node.get_ref() {
            Node::Table(inner) => entries = inner,
            _ => return path,
        }
    }
}

fn covers(span: Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || span.start == offset
}

/// A best guess at the field on the line holding byte `offset`, from the
/// table headers above it and the key at its start; for syntax errors, where
/// there is no parsed document to look into.
fn lexical_path(text: &str, offset: usize) -> String {
    let mut header = String::new();
    let mut array_counts: HashMap<String, usize> = HashMap::new();
    let mut open_multiline: Option<&str> = None;
    let mut key = None;
    let mut line_start = 0;
    for line in text.split('\n') {
        if line_start > offset {
            break;
        }
        let line_end = line_start + line.len();
        line_start = line_end + 1;
        let is_error_line = offset <= line_end;
        if let Some(delimiter) = open_multiline {
            if line.matches(delimiter).count() % 2 == 1 {
                open_multiline = None;
            }
            continue;
        }
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|rest| rest.split("]]").next())
        {
            let name = name.trim().to_owned();
            let count = array_counts.entry(name.clone()).or_insert(0);
            header = format!("{name}[{count}]");
            *count += 1;
        } else if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
        {
            header = name.trim().to_owned();
        } else if let Some((before, _)) = trimmed.split_once('=') {
            let candidate = before.trim();
            let bare = candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if is_error_line && bare && !candidate.is_empty() {
                key = Some(candidate.to_owned());
            }
        }
        open_multiline = ["\"\"\"", "'''"]
            .into_iter()
            .find(|delimiter| line.matches(delimiter).count() % 2 == 1);
    }
    match (header.is_empty(), key) {
        (_, None) => header,
        (true, Some(key)) => key,
        (false, Some(key)) => format!("{header}.{key}"),
    }
}
