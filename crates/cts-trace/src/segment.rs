//! Step segmentation: split a raw model completion into reasoning steps and a
//! final answer, keeping exact byte spans into the raw text.
//!
//! # Where the reasoning is
//!
//! 1. An R1-style `<think>…</think>` block (tags matched ASCII
//!    case-insensitively): the reasoning is inside, the answer after it. An
//!    unclosed `<think>` (a truncated completion) makes everything after it
//!    reasoning with no answer; a lone `</think>` (the chat template ate the
//!    opening tag) makes everything before it reasoning.
//! 2. Otherwise, the last final-answer marker (see [`crate::answer`]): the
//!    reasoning is before it, the answer after it.
//! 3. Otherwise the whole text is reasoning and there is no answer.
//!
//! After a think block, if the text after `</think>` holds a final-answer
//! marker, the answer is what follows the last marker.
//!
//! # How the reasoning is split into steps, first rule that applies
//!
//! 1. Two or more `Step N:` / `Step N.` markers at line starts (also
//!    `### Step 1:` and `**Step 1:**`): a step runs to the next marker.
//! 2. Two or more numbered items (`1.`, `2)`, `(3)`) at line starts, else two
//!    or more bullets (`-`, `*`, `•`). Only the least-indented items start
//!    steps; deeper items and other list lines belong to the current step. An
//!    item ends at the next item, or at a blank line followed by an unindented
//!    line that is not a list item.
//! 3. Two or more blank-line-separated paragraphs: one step each.
//! 4. A single paragraph: one step per sentence. Sentences end at `.`, `!`,
//!    `?` followed by whitespace and a character that is not lowercase, or at
//!    `。`, `！`, `？`; never after `e.g.`, `i.e.`, `Dr.`, `vs.`, `mg.` and
//!    similar abbreviations, nor after a single letter (`B.`, initials).
//!
//! Text outside the items of rules 1 and 2 (a preamble, a closing remark)
//! becomes paragraph steps.
//!
//! # Invariants
//!
//! For every step, `&raw[step.span] == step.text`: the span excludes the list
//! or step marker and surrounding whitespace, and is never empty. Spans lie
//! inside `reasoning_span`, are increasing and do not overlap, and every span
//! boundary is a char boundary. `steps[i].index == i`. The answer span, when
//! present, also satisfies `&raw[span] == text`.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::answer::last_marker;

/// A raw completion split into reasoning steps and a final answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segmentation {
    /// Byte range of the reasoning in the raw text, trimmed of whitespace.
    pub reasoning_span: Range<usize>,
    /// The final answer text and its byte range, if the completion has one.
    pub answer: Option<(String, Range<usize>)>,
    /// The reasoning steps, in order.
    pub steps: Vec<Step>,
    /// Which rule located the reasoning.
    pub boundary: Boundary,
}

/// One reasoning step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Position of the step in [`Segmentation::steps`], from 0.
    pub index: usize,
    /// The step's text, equal to `&raw[span]`.
    pub text: String,
    /// Byte range of the text in the raw completion, without its marker.
    pub span: Range<usize>,
    /// How the step was delimited.
    pub kind: StepKind,
}

/// How a step was delimited in the raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// An explicit `Step N:` marker.
    Marked,
    /// A numbered list item.
    Numbered,
    /// A bulleted list item.
    Bullet,
    /// A blank-line-separated paragraph.
    Paragraph,
    /// A sentence of a single-paragraph reasoning.
    Sentence,
}

/// Which rule separated the reasoning from the answer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// A closed `<think>…</think>` block.
    ThinkBlock,
    /// A `<think>` that is never closed; there is no answer.
    UnclosedThink,
    /// A `</think>` without an opening tag.
    CloseTagOnly,
    /// A final-answer marker such as `Final answer:`.
    AnswerMarker,
    /// No boundary found: all text is reasoning.
    #[default]
    None,
}

/// Splits `raw` into reasoning steps and a final answer (see the module docs for the rules).
pub fn segment(raw: &str) -> Segmentation {
    let (reasoning, answer_region, boundary) = locate_reasoning(raw);
    let reasoning_span =
        trimmed(raw, reasoning.clone()).unwrap_or(reasoning.start..reasoning.start);
    let answer = answer_region.and_then(|region| {
        let after_marker = match boundary {
            Boundary::AnswerMarker => None,
            _ => last_marker(&raw[region.clone()]).map(|m| region.start + m.end),
        };
        let span = trimmed(raw, after_marker.unwrap_or(region.start)..region.end)?;
        Some((raw[span.clone()].to_owned(), span))
    });
    let mut spans = Vec::new();
    split_steps(raw, reasoning_span.clone(), &mut spans);
    let steps = spans
        .into_iter()
        .enumerate()
        .map(|(index, (span, kind))| Step {
            index,
            text: raw[span.clone()].to_owned(),
            span,
            kind,
        })
        .collect();
    Segmentation {
        reasoning_span,
        answer,
        steps,
        boundary,
    }
}

const OPEN: &[u8] = b"<think>";
const CLOSE: &[u8] = b"</think>";

/// The reasoning region, the answer region (if any) and the rule used.
fn locate_reasoning(raw: &str) -> (Range<usize>, Option<Range<usize>>, Boundary) {
    let len = raw.len();
    let open = find_ascii_ci(raw, OPEN, 0);
    let close = find_ascii_ci(raw, CLOSE, 0);
    match (open, close) {
        (Some(o), close) if close.is_none_or(|c| o < c) => {
            let body = o + OPEN.len();
            match find_ascii_ci(raw, CLOSE, body) {
                Some(c) => (body..c, Some(c + CLOSE.len()..len), Boundary::ThinkBlock),
                None => (body..len, None, Boundary::UnclosedThink),
            }
        }
        (_, Some(c)) => (0..c, Some(c + CLOSE.len()..len), Boundary::CloseTagOnly),
        _ => match last_marker(raw) {
            Some(m) => (0..m.start, Some(m.end..len), Boundary::AnswerMarker),
            None => (0..len, None, Boundary::None),
        },
    }
}

/// First ASCII-case-insensitive occurrence of `pat` in `raw` at or after `from`.
fn find_ascii_ci(raw: &str, pat: &[u8], from: usize) -> Option<usize> {
    raw.as_bytes()
        .get(from..)?
        .windows(pat.len())
        .position(|w| w.eq_ignore_ascii_case(pat))
        .map(|p| p + from)
}

/// `range` shrunk to exclude surrounding whitespace; `None` if nothing is left.
fn trimmed(raw: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = raw.get(range.clone())?;
    let start = range.start + (s.len() - s.trim_start().len());
    let end = range.end - (s.len() - s.trim_end().len());
    (start < end).then_some(start..end)
}

type Spans = Vec<(Range<usize>, StepKind)>;

fn push(raw: &str, out: &mut Spans, range: Range<usize>, kind: StepKind) {
    if let Some(span) = trimmed(raw, range) {
        out.push((span, kind));
    }
}

/// A line of the raw text: `start..end` excludes the line break.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
}

impl Line {
    fn text(self, raw: &str) -> &str {
        &raw[self.start..self.end]
    }

    fn is_blank(self, raw: &str) -> bool {
        self.text(raw).trim().is_empty()
    }

    fn indent(self, raw: &str) -> usize {
        let t = self.text(raw);
        t.len() - t.trim_start_matches([' ', '\t']).len()
    }
}

fn lines(raw: &str, range: Range<usize>) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = range.start;
    for piece in raw[range].split_inclusive('\n') {
        let body = piece.strip_suffix('\n').unwrap_or(piece);
        let body = body.strip_suffix('\r').unwrap_or(body);
        out.push(Line {
            start,
            end: start + body.len(),
        });
        start += piece.len();
    }
    out
}

fn regex(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

static STEP_MARKER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    regex(
        r"(?i)^[ \t>]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?step[ \t]*\d{1,3}(?:\*\*|__)?[ \t]*(?:[:.)]|[-–—]|$)(?:[ \t]*(?:\*\*|__))?",
    )
});
static NUMBERED: LazyLock<Option<Regex>> =
    LazyLock::new(|| regex(r"^[ \t>]*(?:\*\*)?(?:\d{1,3}[.)]|\(\d{1,3}\))(?:\*\*)?(?:[ \t]+|$)"));
static BULLET: LazyLock<Option<Regex>> = LazyLock::new(|| regex(r"^[ \t>]*[-*•](?:[ \t]+|$)"));

/// Byte offset where a list marker of `re` ends on `line`, if the line starts with one.
fn marker_end(re: &LazyLock<Option<Regex>>, raw: &str, line: Line) -> Option<usize> {
    re.as_ref()?
        .find(line.text(raw))
        .map(|m| line.start + m.end())
}

/// An item: the index of its line and where its text starts after the marker.
#[derive(Debug, Clone, Copy)]
struct Item {
    line: usize,
    text_start: usize,
}

fn split_steps(raw: &str, region: Range<usize>, out: &mut Spans) {
    if region.is_empty() {
        return;
    }
    let lines = lines(raw, region.clone());
    let items_of = |re: &LazyLock<Option<Regex>>| -> Vec<Item> {
        let found: Vec<(Item, usize)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                marker_end(re, raw, *l).map(|text_start| {
                    (
                        Item {
                            line: i,
                            text_start,
                        },
                        l.indent(raw),
                    )
                })
            })
            .collect();
        let min_indent = found.iter().map(|(_, ind)| *ind).min().unwrap_or(0);
        found
            .into_iter()
            .filter(|(_, ind)| *ind == min_indent)
            .map(|(item, _)| item)
            .collect()
    };

    let marked = items_of(&STEP_MARKER);
    if marked.len() >= 2 {
        paragraphs(raw, region.start..lines[marked[0].line].start, out);
        for (k, item) in marked.iter().enumerate() {
            let end = marked
                .get(k + 1)
                .map_or(region.end, |next| lines[next.line].start);
            push(raw, out, item.text_start..end, StepKind::Marked);
        }
        return;
    }
    for (re, kind) in [(&NUMBERED, StepKind::Numbered), (&BULLET, StepKind::Bullet)] {
        let items = items_of(re);
        if items.len() >= 2 {
            list_items(raw, &lines, &items, region, kind, out);
            return;
        }
    }
    let before = out.len();
    paragraphs(raw, region.clone(), out);
    if out.len() - before == 1 {
        out.truncate(before);
        sentences(raw, region, out);
    }
}

fn is_list_line(raw: &str, line: Line) -> bool {
    [&NUMBERED, &BULLET, &STEP_MARKER]
        .into_iter()
        .any(|re| marker_end(re, raw, line).is_some())
}

fn list_items(
    raw: &str,
    lines: &[Line],
    items: &[Item],
    region: Range<usize>,
    kind: StepKind,
    out: &mut Spans,
) {
    paragraphs(raw, region.start..lines[items[0].line].start, out);
    for (k, item) in items.iter().enumerate() {
        let next_line = items.get(k + 1).map_or(lines.len(), |n| n.line);
        let block_end = lines.get(next_line).map_or(region.end, |l| l.start);
        // Text between two items is the first one's body (models often write
        // "1. **Heading**", a blank line, then the paragraph). After the last
        // item, a blank line followed by unindented, non-list text is a
        // conclusion, not part of the item.
        let last = k + 1 == items.len();
        let loose = (item.line + 1..next_line).filter(|_| last).find_map(|j| {
            if !lines[j].is_blank(raw) {
                return None;
            }
            let after = (j + 1..next_line).find(|&n| !lines[n].is_blank(raw))?;
            let l = lines[after];
            (l.indent(raw) == 0 && !is_list_line(raw, l)).then_some((j, after))
        });
        match loose {
            Some((blank, after)) => {
                push(raw, out, item.text_start..lines[blank].start, kind);
                paragraphs(raw, lines[after].start..block_end, out);
            }
            None => push(raw, out, item.text_start..block_end, kind),
        }
    }
}

/// Splits `range` at blank lines into paragraph steps.
fn paragraphs(raw: &str, range: Range<usize>, out: &mut Spans) {
    if range.is_empty() {
        return;
    }
    let mut start: Option<usize> = None;
    let mut last_end = range.start;
    for line in lines(raw, range.clone()) {
        if line.is_blank(raw) {
            if let Some(s) = start.take() {
                push(raw, out, s..last_end, StepKind::Paragraph);
            }
        } else {
            start.get_or_insert(line.start);
            last_end = line.end;
        }
    }
    if let Some(s) = start {
        push(raw, out, s..last_end, StepKind::Paragraph);
    }
}

/// Words that end with a full stop without ending a sentence (compared lowercased).
const ABBREVIATIONS: [&str; 23] = [
    "e.g", "i.e", "eg", "ie", "cf", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "al", "approx",
    "fig", "mg", "mcg", "µg", "kg", "ml", "dl", "tab", "tabs",
];

/// Splits one paragraph into sentence steps.
fn sentences(raw: &str, range: Range<usize>, out: &mut Spans) {
    let text = &raw[range.clone()];
    let base = range.start;
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let cjk = matches!(c, '。' | '！' | '？');
        if !cjk && !matches!(c, '.' | '!' | '?') {
            continue;
        }
        // Swallow repeated terminators and closing quotes or brackets.
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            if matches!(
                d,
                '.' | '!'
                    | '?'
                    | '。'
                    | '！'
                    | '？'
                    | '"'
                    | '\''
                    | '”'
                    | '’'
                    | ')'
                    | ']'
                    | '」'
                    | '』'
            ) {
                end = j + d.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let rest = &text[end..];
        let splits = if cjk {
            true
        } else {
            let followed_by_space = rest.chars().next().is_none_or(char::is_whitespace);
            let next = rest.trim_start().chars().next();
            followed_by_space
                && !next.is_some_and(char::is_lowercase)
                && !(c == '.' && end == i + 1 && is_abbreviation(&text[..i]))
        };
        if splits {
            push(raw, out, base + start..base + end, StepKind::Sentence);
            start = end;
        }
    }
    push(raw, out, base + start..range.end, StepKind::Sentence);
}

/// True if the word just before a full stop is a known abbreviation or a single letter.
fn is_abbreviation(before: &str) -> bool {
    let word: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == 'µ')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let word = word.to_lowercase();
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    (letters == 1 && word.chars().count() == 1) || ABBREVIATIONS.contains(&word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(STEP_MARKER.is_some() && NUMBERED.is_some() && BULLET.is_some());
    }

    #[test]
    fn finds_ascii_case_insensitively() {
        assert_eq!(find_ascii_ci("ab<THINK>", OPEN, 0), Some(2));
        assert_eq!(find_ascii_ci("<think>", OPEN, 1), None);
        assert_eq!(find_ascii_ci("", OPEN, 5), None);
    }

    #[test]
    fn trimmed_drops_blank_ranges() {
        assert_eq!(trimmed("  a b  ", 0..7), Some(2..5));
        assert_eq!(trimmed("   ", 0..3), None);
    }

    #[test]
    fn abbreviations_and_initials_do_not_end_sentences() {
        assert!(is_abbreviation("see e.g"));
        assert!(is_abbreviation("give 500 mg"));
        assert!(is_abbreviation("option B"));
        assert!(!is_abbreviation("the dose"));
    }
}
