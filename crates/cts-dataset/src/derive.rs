//! From one case's reviewed traces to training examples: which review
//! stands, whether the trace qualifies, and each export's record.
//!
//! Pure: the same case group and spec always give the same examples, byte
//! for byte, which is what makes releases reproducible and checkable.

use std::collections::{BTreeMap, HashMap};

use cts_review::review::{word_diff, DiffOp, StepChange};
use cts_review::{ReviewBody, Rubric};
use cts_store::datasets::{CaseGroup, Content, GroupReview, GroupTrace};
pub use cts_store::releases::ReviewRole;
use cts_trace::chat::Role;
use cts_trace::TraceDocument;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::{Format, Require, Spec};
use crate::split::split_of;

/// One example ready to write.
#[derive(Clone, Debug)]
pub struct Example {
    /// Export it belongs to.
    pub format: Format,
    /// Split.
    pub split: &'static str,
    /// The JSON line (no newline).
    pub line: String,
    /// Where it came from.
    pub provenance: Provenance,
}

/// The events behind an example (one line of `provenance/<export>/<split>.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Example id.
    pub id: String,
    /// SHA-256 of the example's line.
    pub sha256: String,
    /// Why the standing review stands: agreed, single, adjudicated or
    /// first-submitted.
    pub basis: String,
    /// The case.
    pub case: CaseRef,
    /// The traces (two for a pair of samples).
    pub traces: Vec<TraceRef>,
    /// Every review that qualified each trace: its standing review first,
    /// then the reviews that agreed with it, or that the adjudicator weighed.
    pub reviews: Vec<ReviewRef>,
    /// Adjudications that chose a standing review.
    pub adjudications: Vec<AdjudicationRef>,
}

/// A case version and its `case.imported` leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseRef {
    /// Case id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Leaf.
    pub leaf: u64,
    /// Content commitment (hex).
    pub commitment: String,
}

/// A trace and its `trace.generated` leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRef {
    /// Trace id.
    pub id: String,
    /// Leaf.
    pub leaf: u64,
    /// Content commitment (hex).
    pub commitment: String,
}

/// A review, its `review.submitted` leaf and its `step.edited` leaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRef {
    /// Review id.
    pub id: String,
    /// Reviewer pseudonym.
    pub reviewer: String,
    /// The part it played; absent in releases built before roles were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ReviewRole>,
    /// Leaf.
    pub leaf: u64,
    /// Content commitment (hex).
    pub commitment: String,
    /// Edit leaves.
    pub edit_leaves: Vec<u64>,
}

/// An adjudication and its `adjudication.decided` leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdjudicationRef {
    /// Trace decided.
    pub trace: String,
    /// Leaf.
    pub leaf: u64,
    /// Adjudicator pseudonym.
    pub adjudicator: String,
    /// Review chosen.
    pub chosen: String,
}

/// Why traces were left out, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Traces considered.
    pub traces: u64,
    /// Traces that qualified.
    pub qualified: u64,
    /// Traces (or reviews) left out because content was erased.
    pub redacted: u64,
    /// Left out, by reason.
    pub excluded: BTreeMap<String, u64>,
    /// Content failing its commitment: (trace id, what is wrong).
    pub tampered: Vec<(String, String)>,
}

impl Tally {
    fn exclude(&mut self, reason: &str) {
        *self.excluded.entry(reason.to_owned()).or_insert(0) += 1;
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: Tally) {
        self.traces += other.traces;
        self.qualified += other.qualified;
        self.redacted += other.redacted;
        for (k, v) in other.excluded {
            *self.excluded.entry(k).or_insert(0) += v;
        }
        self.tampered.extend(other.tampered);
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Message {
    role: String,
    content: String,
}

fn assistant(content: &str) -> Message {
    Message {
        role: "assistant".into(),
        content: content.into(),
    }
}

/// What a qualified trace contributes.
struct Qualified<'a> {
    trace: &'a GroupTrace,
    standing: &'a GroupReview,
    body: &'a ReviewBody,
    reviews: Vec<(&'a GroupReview, &'a ReviewBody)>,
    /// Index of the standing review in `reviews`.
    standing_at: usize,
    basis: &'static str,
    prompt: Vec<Message>,
    original: Vec<String>,
    answer: Option<String>,
    teachable: bool,
    mean_rating: f64,
}

fn example_id(format: Format, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(format.name().as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    format!("{}-{}", format.name(), &hex::encode(h.finalize())[..20])
}

/// The assistant turn for a chain: numbered steps, then the answer line the
/// prompt asked for.
pub fn render_chain(steps: &[String], answer: Option<&str>) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", i + 1, s.trim()));
    }
    if let Some(a) = answer {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("Final answer: ");
        out.push_str(a.trim());
    }
    out.trim_end().to_owned()
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Words added, removed or rewritten between the model's chain and the
/// standing review's.
pub fn changed_words(body: &ReviewBody, original: &[String]) -> usize {
    let mut n = 0;
    for (i, s) in body.steps.iter().enumerate() {
        match body.change(i, original) {
            StepChange::Kept => {}
            StepChange::Added => n += words(&s.text),
            StepChange::Edited { original } => {
                for op in word_diff(original, &s.text) {
                    match op {
                        DiffOp::Equal(_) => {}
                        DiffOp::Delete(t) | DiffOp::Insert(t) => n += words(&t),
                    }
                }
            }
        }
    }
    for d in &body.deleted {
        n += original.get(d.origin).map(|s| words(s)).unwrap_or(0);
    }
    n
}

/// The prompt, the model's steps and its answer, when the prompt has only
/// system and user messages. Steps are [`TraceDocument::step_texts`], as the
/// workbench reads them, so review origins index the same list.
fn trace_parts(doc: &TraceDocument) -> Option<(Vec<Message>, Vec<String>, Option<String>)> {
    if doc.prompt.is_empty() || doc.prompt.iter().any(|m| m.role == Role::Assistant) {
        return None;
    }
    let prompt = doc
        .prompt
        .iter()
        .map(|m| Message {
            role: m.role.as_str().to_owned(),
            content: m.content.clone(),
        })
        .collect();
    Some((
        prompt,
        doc.step_texts(),
        doc.answer_text().map(str::to_owned),
    ))
}

/// Derives every example of one case group. `rubrics` maps rubric keys to
/// rubrics (for which flags are unsafe).
pub fn derive_group(
    spec: &Spec,
    rubrics: &HashMap<String, Rubric>,
    group: &CaseGroup,
) -> (Vec<Example>, Tally) {
    let mut tally = Tally {
        traces: group.traces.len() as u64,
        ..Tally::default()
    };
    let mut out = Vec::new();
    match &group.case {
        Content::Present(_) => {}
        Content::Redacted => {
            tally.redacted += group.traces.len() as u64;
            return (out, tally);
        }
        Content::Tampered(why) => {
            for t in &group.traces {
                tally.tampered.push((t.id.clone(), why.clone()));
            }
            return (out, tally);
        }
    }
    if !spec.select.specialties.is_empty() && !spec.select.specialties.contains(&group.specialty) {
        for _ in &group.traces {
            tally.exclude("specialty");
        }
        return (out, tally);
    }
    let split = split_of(spec.seed, &group.case_id, &spec.split);
    let case_ref = CaseRef {
        id: group.case_id.clone(),
        version: group.case_version,
        leaf: group.leaf,
        commitment: group.commitment.to_hex(),
    };
    let mut qualified = Vec::new();
    for trace in &group.traces {
        match qualify(spec, rubrics, trace, &mut tally) {
            Some(q) => {
                tally.qualified += 1;
                qualified.push(q);
            }
            None => continue,
        }
    }
    for q in &qualified {
        emit_trace(spec, q, split, &case_ref, &mut out);
    }
    if spec.exports.formats.contains(&Format::Dpo)
        || spec.exports.formats.contains(&Format::DpoFlat)
    {
        emit_sample_pairs(spec, &qualified, split, &case_ref, &mut out);
    }
    (out, tally)
}

fn qualify<'a>(
    spec: &Spec,
    rubrics: &HashMap<String, Rubric>,
    trace: &'a GroupTrace,
    tally: &mut Tally,
) -> Option<Qualified<'a>> {
    let doc = match &trace.document {
        Content::Present(d) => d,
        Content::Redacted => {
            tally.redacted += 1;
            return None;
        }
        Content::Tampered(why) => {
            tally.tampered.push((trace.id.clone(), why.clone()));
            return None;
        }
    };
    let Some((prompt, original, answer)) = trace_parts(doc) else {
        tally.exclude("trace-without-prompt-or-steps");
        return None;
    };
    let mut reviews = Vec::new();
    for r in &trace.reviews {
        if !spec.select.rubrics.is_empty() && !spec.select.rubrics.contains(&r.rubric) {
            continue;
        }
        match &r.body {
            Content::Present(b) => reviews.push((r, b)),
            Content::Redacted => tally.redacted += 1,
            Content::Tampered(why) => {
                tally.tampered.push((trace.id.clone(), why.clone()));
                return None;
            }
        }
    }
    if reviews.len() < spec.select.min_reviews {
        tally.exclude("too-few-reviews");
        return None;
    }
    let policy = cts_review::disagreement::Policy {
        rating_gap: spec.select.rating_gap,
        ..cts_review::disagreement::Policy::default()
    };
    let bodies: Vec<&ReviewBody> = reviews.iter().map(|(_, b)| *b).collect();
    let (standing, basis) =
        match cts_review::disagreement::needs_adjudication(&bodies, original.len(), &policy) {
            None if reviews.len() == 1 => (0, "single"),
            None => (0, "agreed"),
            Some(_) => {
                let chosen = trace
                    .adjudication
                    .as_ref()
                    .and_then(|a| reviews.iter().position(|(r, _)| r.id == a.chosen));
                match (chosen, spec.select.require) {
                    (Some(i), _) => (i, "adjudicated"),
                    (None, Require::Submitted) => (0, "first-submitted"),
                    (None, Require::AgreedOrAdjudicated) => {
                        tally.exclude("unresolved-disagreement");
                        return None;
                    }
                }
            }
        };
    let (review, body) = reviews[standing];
    for (dim, min) in &spec.select.min_ratings {
        if body.ratings.get(dim).is_none_or(|r| r < min) {
            tally.exclude("below-min-rating");
            return None;
        }
    }
    let unsafe_flags: Vec<&str> = match &spec.select.exclude_flags {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => match rubrics.get(&review.rubric) {
            Some(r) => r
                .flags
                .iter()
                .filter(|f| f.unsafe_)
                .map(|f| f.id.as_str())
                .collect(),
            // A rubric we cannot read: every flag counts as unsafe.
            None => body
                .steps
                .iter()
                .flat_map(|s| s.flags.iter().map(String::as_str))
                .collect(),
        },
    };
    let teachable = body.steps.iter().enumerate().all(|(i, s)| {
        body.change(i, &original) != StepChange::Kept
            || !(s.flags.iter().any(|f| unsafe_flags.contains(&f.as_str()))
                || (spec.select.exclude_negative_unedited && s.label == Some(-1)))
    });
    let mean_rating = if body.ratings.is_empty() {
        0.0
    } else {
        body.ratings.values().map(|&v| f64::from(v)).sum::<f64>() / body.ratings.len() as f64
    };
    Some(Qualified {
        trace,
        standing: review,
        body,
        reviews,
        standing_at: standing,
        basis,
        prompt,
        original,
        answer,
        teachable,
        mean_rating,
    })
}

fn review_ref(r: &GroupReview, role: ReviewRole) -> ReviewRef {
    ReviewRef {
        id: r.id.clone(),
        reviewer: r.reviewer.clone(),
        role: Some(role),
        leaf: r.leaf,
        commitment: r.commitment.to_hex(),
        edit_leaves: r.edit_leaves.clone(),
    }
}

fn trace_ref(t: &GroupTrace) -> TraceRef {
    TraceRef {
        id: t.id.clone(),
        leaf: t.leaf,
        commitment: t.commitment.to_hex(),
    }
}

fn adjudications(q: &Qualified) -> Vec<AdjudicationRef> {
    match (&q.trace.adjudication, q.basis) {
        (Some(a), "adjudicated") => vec![AdjudicationRef {
            trace: q.trace.id.clone(),
            leaf: a.leaf,
            adjudicator: a.adjudicator.clone(),
            chosen: a.chosen.clone(),
        }],
        _ => Vec::new(),
    }
}

/// Every review that qualified the trace, standing review first: the
/// others agreed with it, were weighed by the adjudicator, or (only with
/// `require = "submitted"`) disagree unresolved.
fn qualifying_reviews(q: &Qualified) -> Vec<ReviewRef> {
    let other = match q.basis {
        "adjudicated" => ReviewRole::Considered,
        "first-submitted" => ReviewRole::Disagreeing,
        _ => ReviewRole::Agreeing,
    };
    let mut out = Vec::with_capacity(q.reviews.len());
    out.push(review_ref(q.standing, ReviewRole::Standing));
    for (i, (r, _)) in q.reviews.iter().enumerate() {
        if i != q.standing_at {
            out.push(review_ref(r, other));
        }
    }
    out
}

fn provenance(q: &Qualified, case: &CaseRef) -> Provenance {
    Provenance {
        id: String::new(),
        sha256: String::new(),
        basis: q.basis.into(),
        case: case.clone(),
        traces: vec![trace_ref(q.trace)],
        reviews: qualifying_reviews(q),
        adjudications: adjudications(q),
    }
}

fn push<T: Serialize>(
    out: &mut Vec<Example>,
    format: Format,
    split: &'static str,
    id: String,
    record: &T,
    mut provenance: Provenance,
) {
    // Records are plain structs of strings, numbers and vectors: serializing cannot fail.
    let line = serde_json::to_string(record).unwrap_or_default();
    provenance.sha256 = cts_ledger::hex32(&Sha256::digest(line.as_bytes()).into());
    provenance.id = id;
    out.push(Example {
        format,
        split,
        line,
        provenance,
    });
}

#[derive(Serialize)]
struct SftRecord<'a> {
    id: &'a str,
    messages: Vec<Message>,
}

#[derive(Serialize)]
struct DpoRecord<'a> {
    id: &'a str,
    prompt: &'a [Message],
    chosen: Vec<Message>,
    rejected: Vec<Message>,
}

#[derive(Serialize)]
struct DpoFlatRecord<'a> {
    id: &'a str,
    prompt: String,
    chosen: &'a str,
    rejected: &'a str,
}

/// A preference pair, written as `dpo` (conversational) or `dpo-flat` (strings).
struct Pair<'a> {
    prompt: &'a [Message],
    chosen: &'a str,
    rejected: &'a str,
}

fn push_pair(
    out: &mut Vec<Example>,
    format: Format,
    split: &'static str,
    id: String,
    pair: Pair,
    provenance: Provenance,
) {
    if format == Format::DpoFlat {
        let record = DpoFlatRecord {
            id: &id,
            prompt: flat_prompt(pair.prompt),
            chosen: pair.chosen,
            rejected: pair.rejected,
        };
        push(out, format, split, id.clone(), &record, provenance);
    } else {
        let record = DpoRecord {
            id: &id,
            prompt: pair.prompt,
            chosen: vec![assistant(pair.chosen)],
            rejected: vec![assistant(pair.rejected)],
        };
        push(out, format, split, id.clone(), &record, provenance);
    }
}

#[derive(Serialize)]
struct KtoRecord<'a> {
    id: &'a str,
    prompt: &'a [Message],
    completion: Vec<Message>,
    label: bool,
}

#[derive(Serialize)]
struct PrmRecord<'a> {
    id: &'a str,
    prompt: String,
    completions: &'a [String],
    labels: Vec<bool>,
}

#[derive(Serialize)]
struct PrmRichStep<'a> {
    text: &'a str,
    rating: Option<i8>,
    flags: Vec<String>,
    edited: Option<&'a str>,
    reviewers: Vec<PrmRichRating<'a>>,
}

#[derive(Serialize)]
struct PrmRichRating<'a> {
    reviewer: &'a str,
    rating: Option<i8>,
    flags: Vec<String>,
}

#[derive(Serialize)]
struct PrmRichRecord<'a> {
    id: &'a str,
    case_id: &'a str,
    trace_id: &'a str,
    prompt: &'a [Message],
    steps: Vec<PrmRichStep<'a>>,
    answer: Option<&'a str>,
    ratings: &'a BTreeMap<String, u8>,
    basis: &'a str,
    reviewers: Vec<&'a str>,
    model: &'a serde_json::Value,
}

/// The prompt as one string, for formats that take text: the messages'
/// contents, separated by a blank line.
fn flat_prompt(prompt: &[Message]) -> String {
    prompt
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Flags of original step `o` in a review (none when deleted).
fn flags_of(body: &ReviewBody, o: usize) -> Vec<String> {
    body.steps
        .iter()
        .find(|s| s.origin == Some(o))
        .map(|s| s.flags.clone())
        .unwrap_or_default()
}

/// Every example one qualified trace gives, export by export, in the
/// spec's order of formats.
fn emit_trace(
    spec: &Spec,
    q: &Qualified,
    split: &'static str,
    case: &CaseRef,
    out: &mut Vec<Example>,
) {
    let trace = TraceExamples::new(spec, q, split, case);
    for &format in &spec.exports.formats {
        match format {
            Format::Sft => trace.sft(out),
            Format::Dpo | Format::DpoFlat => trace.corrected_pair(format, out),
            Format::Kto => trace.kto(out),
            Format::Prm => trace.prm(out),
            Format::PrmRich => trace.prm_rich(out),
        }
    }
}

/// What the exports of one qualified trace are made from: the chains as
/// the standing review corrected them and as the model wrote them, and
/// what the review said about the model's steps.
struct TraceExamples<'a> {
    spec: &'a Spec,
    q: &'a Qualified<'a>,
    split: &'static str,
    case: &'a CaseRef,
    /// The standing review's chain, rendered.
    corrected: String,
    /// The model's chain, rendered.
    original: String,
    /// The standing review's label of each original step.
    labels: Vec<Option<i8>>,
    /// Whether the standing review labels an original step −1 or flags it.
    original_bad: bool,
    /// Words the standing review added, removed or rewrote.
    changed: usize,
}

impl<'a> TraceExamples<'a> {
    fn new(spec: &'a Spec, q: &'a Qualified<'a>, split: &'static str, case: &'a CaseRef) -> Self {
        let corrected_steps: Vec<String> = q.body.steps.iter().map(|s| s.text.clone()).collect();
        let labels = q.body.original_labels(q.original.len());
        let original_bad = labels.contains(&Some(-1))
            || (0..q.original.len()).any(|o| !flags_of(q.body, o).is_empty());
        TraceExamples {
            spec,
            q,
            split,
            case,
            corrected: render_chain(&corrected_steps, q.answer.as_deref()),
            original: render_chain(&q.original, q.answer.as_deref()),
            labels,
            original_bad,
            changed: changed_words(q.body, &q.original),
        }
    }

    /// The example id: the trace and standing review, then `extra`.
    fn example_id(&self, format: Format, extra: &[&str]) -> String {
        let mut parts = vec![self.q.trace.id.as_str(), self.q.standing.id.as_str()];
        parts.extend_from_slice(extra);
        example_id(format, &parts)
    }

    /// Adds `record` as an example of this trace, with its provenance.
    fn push_record<T: Serialize>(
        &self,
        out: &mut Vec<Example>,
        format: Format,
        id: String,
        record: &T,
    ) {
        push(
            out,
            format,
            self.split,
            id,
            record,
            provenance(self.q, self.case),
        );
    }

    /// `sft`: the prompt and the corrected chain, when it is teachable.
    fn sft(&self, out: &mut Vec<Example>) {
        if !self.q.teachable {
            return;
        }
        let format = Format::Sft;
        let id = self.example_id(format, &[]);
        let mut messages = self.q.prompt.clone();
        messages.push(assistant(&self.corrected));
        self.push_record(out, format, id.clone(), &SftRecord { id: &id, messages });
    }

    /// `dpo` or `dpo-flat`: the corrected chain chosen over the model's,
    /// when the review changed enough words.
    fn corrected_pair(&self, format: Format, out: &mut Vec<Example>) {
        let changed = self.changed;
        if !(self.q.teachable && changed > 0 && changed >= self.spec.exports.dpo_min_changed_words)
        {
            return;
        }
        let pair = Pair {
            prompt: &self.q.prompt,
            chosen: &self.corrected,
            rejected: &self.original,
        };
        let id = self.example_id(format, &["corrected"]);
        push_pair(
            out,
            format,
            self.split,
            id,
            pair,
            provenance(self.q, self.case),
        );
    }

    /// `kto`: the corrected chain as desirable (when teachable), the
    /// model's as undesirable (when the review faulted and changed it).
    fn kto(&self, out: &mut Vec<Example>) {
        let format = Format::Kto;
        let cases = [
            (self.q.teachable, &self.corrected, "desirable", true),
            (
                self.original_bad && self.changed > 0,
                &self.original,
                "undesirable",
                false,
            ),
        ];
        for (wanted, text, kind, label) in cases {
            if !wanted {
                continue;
            }
            let id = self.example_id(format, &[kind]);
            let record = KtoRecord {
                id: &id,
                prompt: &self.q.prompt,
                completion: vec![assistant(text)],
                label,
            };
            self.push_record(out, format, id.clone(), &record);
        }
    }

    /// `prm`: the model's steps with the standing review's labels as
    /// booleans (a neutral step as the spec says).
    fn prm(&self, out: &mut Vec<Example>) {
        if self.q.original.is_empty() {
            return;
        }
        let format = Format::Prm;
        let id = self.example_id(format, &[]);
        let labels = self
            .labels
            .iter()
            .map(|l| match l {
                Some(1) => true,
                Some(-1) => false,
                _ => self.spec.exports.prm_neutral,
            })
            .collect();
        let record = PrmRecord {
            id: &id,
            prompt: flat_prompt(&self.q.prompt),
            completions: &self.q.original,
            labels,
        };
        self.push_record(out, format, id.clone(), &record);
    }

    /// `prm-rich`: the model's steps with every qualifying review's
    /// ratings and flags, and the trace's ratings, basis and model.
    fn prm_rich(&self, out: &mut Vec<Example>) {
        if self.q.original.is_empty() {
            return;
        }
        let format = Format::PrmRich;
        let q = self.q;
        let id = self.example_id(format, &[]);
        let record = PrmRichRecord {
            id: &id,
            case_id: &self.case.id,
            trace_id: &q.trace.id,
            prompt: &q.prompt,
            steps: self.prm_rich_steps(),
            answer: q.answer.as_deref(),
            ratings: &q.body.ratings,
            basis: q.basis,
            reviewers: q.reviews.iter().map(|(r, _)| r.reviewer.as_str()).collect(),
            model: &q.trace.model,
        };
        self.push_record(out, format, id.clone(), &record);
    }

    /// Each original step as `prm-rich` writes it: the standing review's
    /// rating, flags and edit, and every qualifying reviewer's rating and flags.
    fn prm_rich_steps(&self) -> Vec<PrmRichStep<'a>> {
        let q = self.q;
        let per_review: Vec<Vec<Option<i8>>> = q
            .reviews
            .iter()
            .map(|(_, b)| b.original_labels(q.original.len()))
            .collect();
        q.original
            .iter()
            .enumerate()
            .map(|(o, text)| PrmRichStep {
                text,
                rating: self.labels[o],
                flags: flags_of(q.body, o),
                edited: q
                    .body
                    .steps
                    .iter()
                    .find(|s| s.origin == Some(o) && s.text != *text)
                    .map(|s| s.text.as_str()),
                reviewers: q
                    .reviews
                    .iter()
                    .zip(&per_review)
                    .map(|((r, b), l)| PrmRichRating {
                        reviewer: &r.reviewer,
                        rating: l[o],
                        flags: flags_of(b, o),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Pairs of samples of the same case and prompt, ranked by the standing
/// reviews' mean rating: the best clean original (no −1 label, no flag, no
/// edit) against the worst, pairing each trace at most once.
fn emit_sample_pairs(
    spec: &Spec,
    qs: &[Qualified],
    split: &'static str,
    case: &CaseRef,
    out: &mut Vec<Example>,
) {
    let max = spec.exports.dpo_max_pairs_per_case;
    if max == 0 || qs.len() < 2 {
        return;
    }
    let mut by_prompt: BTreeMap<String, Vec<&Qualified>> = BTreeMap::new();
    for q in qs {
        by_prompt
            .entry(serde_json::to_string(&q.prompt).unwrap_or_default())
            .or_default()
            .push(q);
    }
    let mut made = 0;
    for group in by_prompt.values() {
        let mut ranked: Vec<&&Qualified> = group.iter().collect();
        ranked.sort_by(|a, b| {
            b.mean_rating
                .total_cmp(&a.mean_rating)
                .then_with(|| a.trace.id.cmp(&b.trace.id))
        });
        let clean = |q: &Qualified| {
            q.teachable
                && !q.body.is_edited(&q.original)
                && q.body
                    .steps
                    .iter()
                    .all(|s| s.label != Some(-1) && s.flags.is_empty())
        };
        let mut used = vec![false; ranked.len()];
        for ci in 0..ranked.len() {
            if made >= max {
                return;
            }
            if used[ci] || !clean(ranked[ci]) {
                continue;
            }
            let Some(ri) = (ci + 1..ranked.len()).rev().find(|&ri| {
                !used[ri]
                    && ranked[ci].mean_rating - ranked[ri].mean_rating
                        >= spec.exports.dpo_rating_margin
                    && ranked[ci].original != ranked[ri].original
            }) else {
                continue;
            };
            used[ci] = true;
            used[ri] = true;
            made += 1;
            let (c, r) = (ranked[ci], ranked[ri]);
            let chosen = render_chain(&c.original, c.answer.as_deref());
            let rejected = render_chain(&r.original, r.answer.as_deref());
            let mut prov = provenance(c, case);
            prov.traces.push(trace_ref(r.trace));
            prov.reviews.extend(qualifying_reviews(r));
            prov.adjudications.extend(adjudications(r));
            prov.basis = format!("ranked:{}>{}", c.basis, r.basis);
            let parts = [
                c.trace.id.as_str(),
                c.standing.id.as_str(),
                r.trace.id.as_str(),
                r.standing.id.as_str(),
            ];
            for &format in &spec.exports.formats {
                if matches!(format, Format::Dpo | Format::DpoFlat) {
                    let pair = Pair {
                        prompt: &c.prompt,
                        chosen: &chosen,
                        rejected: &rejected,
                    };
                    let id = example_id(format, &parts);
                    push_pair(out, format, split, id, pair, prov.clone());
                }
            }
        }
    }
}
