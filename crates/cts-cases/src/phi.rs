//! A heuristic guard against direct identifiers (PHI) in case text.
//!
//! [`scan`] looks for the identifiers that most often leak into clinical
//! vignettes pasted from real records: e-mail addresses, phone numbers (US,
//! international and national forms such as `020 7946 0958`), US social
//! security numbers, medical record numbers, dates of birth (numeric or with
//! month names: `DOB: 14-Mar-1956`), admission, discharge and death dates,
//! ages over 89 (a HIPAA safe-harbor identifier), ZIP codes and street
//! addresses. It is tuned to leave ordinary clinical text alone ("72-year-old
//! woman", "metformin 500 mg", "BP 150/90", "eGFR 28 mL/min/1.73 m2").
//!
//! Findings carry the kind and the byte range, never the text found, so a
//! message built from them does not repeat the identifier.
//!
//! This is a tripwire, **not de-identification**: it does not find names,
//! unlabelled dates, or identifiers in unusual formats, and a clean scan does
//! not make text safe to share. Real patient data must be de-identified
//! properly before it comes anywhere near CTS.

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::case::Case;

/// The kind of identifier a finding looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhiKind {
    /// An e-mail address.
    Email,
    /// A phone or fax number (US or international form).
    Phone,
    /// A US social security number.
    Ssn,
    /// A medical record number or similar patient, account or chart identifier.
    MedicalRecordNumber,
    /// A full date of birth.
    DateOfBirth,
    /// A street address or post-office box.
    StreetAddress,
    /// An admission, discharge or death date.
    EncounterDate,
    /// An age over 89, which HIPAA's safe harbor groups as "90 or older".
    AgeOver89,
    /// A US ZIP code (labelled, or after a state abbreviation).
    ZipCode,
}

impl PhiKind {
    /// A short human name for the kind, e.g. `phone number`.
    pub fn describe(self) -> &'static str {
        match self {
            PhiKind::Email => "e-mail address",
            PhiKind::Phone => "phone number",
            PhiKind::Ssn => "social security number",
            PhiKind::MedicalRecordNumber => "medical record number",
            PhiKind::DateOfBirth => "date of birth",
            PhiKind::StreetAddress => "street address",
            PhiKind::EncounterDate => "admission, discharge or death date",
            PhiKind::AgeOver89 => "age over 89",
            PhiKind::ZipCode => "ZIP code",
        }
    }
}

impl fmt::Display for PhiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One likely identifier: its kind and its byte range in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhiFinding {
    /// What the text looks like.
    pub kind: PhiKind,
    /// Byte range of the identifier itself (without a label such as `MRN`).
    pub span: Range<usize>,
}

/// A finding in one field of a [`Case`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasePhiFinding {
    /// The field, as named by [`Case::text_fields`] (`question`, `options[2]`, …).
    pub field: String,
    /// The finding, with its span in that field's text.
    pub finding: PhiFinding,
}

impl fmt::Display for CasePhiFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Range { start, end } = self.finding.span;
        write!(
            f,
            "field \"{}\": possible {} at bytes {start}..{end}",
            self.field, self.finding.kind
        )
    }
}

/// Likely direct identifiers in `text`, sorted by position and never overlapping.
pub fn scan(text: &str) -> Vec<PhiFinding> {
    let mut found = Vec::new();
    for detector in DETECTORS.iter() {
        for caps in detector.regex.captures_iter(text) {
            let Some(m) = caps.get(1).or_else(|| caps.get(0)) else {
                continue;
            };
            if (detector.accept)(text, m.range()) {
                found.push(PhiFinding {
                    kind: detector.kind,
                    span: m.range(),
                });
            }
        }
    }
    // Longest first at each start, then drop anything overlapping a kept finding.
    found.sort_by_key(|f| (f.span.start, usize::MAX - f.span.end));
    let mut kept: Vec<PhiFinding> = Vec::with_capacity(found.len());
    for f in found {
        if kept.last().is_none_or(|k| f.span.start >= k.span.end) {
            kept.push(f);
        }
    }
    kept
}

/// Likely identifiers in every text field of `case`, in field order.
pub fn scan_case(case: &Case) -> Vec<CasePhiFinding> {
    case.text_fields()
        .into_iter()
        .flat_map(|(field, text)| {
            scan(text).into_iter().map(move |finding| CasePhiFinding {
                field: field.clone(),
                finding,
            })
        })
        .collect()
}

/// Decides whether a regex match at this range really is an identifier.
type Accept = fn(&str, Range<usize>) -> bool;

struct Detector {
    kind: PhiKind,
    /// Group 1, when present, is the identifier; otherwise the whole match is.
    regex: Regex,
    /// A check the regex crate cannot express (no look-around).
    accept: Accept,
}

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec";

static DETECTORS: LazyLock<Vec<Detector>> = LazyLock::new(|| {
    let date = format!(
        r"\d{{1,2}}[-/.\x20](?:{MONTHS})\.?[-/.,\x20]\x20?(?:\d{{4}}|\d{{2}})\b|(?:{MONTHS})[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}})\b|\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})|\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|(?:{MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTHS})\.?,?\s+\d{{4}}"
    );
    let street_suffix = "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Way|Circle|Highway|Hwy|Parkway|Pkwy|Square|Close|Crescent";
    let specs: Vec<(PhiKind, String, Accept)> = vec![
        (
            PhiKind::Email,
            r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}".into(),
            always,
        ),
        (PhiKind::Ssn, r"\b\d{3}-\d{2}-\d{4}\b".into(), not_in_number_chain),
        (
            PhiKind::Ssn,
            r"(?i)\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:is\s+)?[:#]?\s*(\d{3}[- ]?\d{2}[- ]?\d{4})\b".into(),
            always,
        ),
        // US numbers with the usual separators: (555) 123-4567, 555-123-4567, 555.123.4567.
        (
            PhiKind::Phone,
            r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)[\s.-]?|\b\d{3}[.-])\d{3}[.-]\d{4}\b".into(),
            not_in_number_chain,
        ),
        // International numbers always start with + and a country code.
        (
            PhiKind::Phone,
            r"\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}".into(),
            plausible_international,
        ),
        // Anything number-like after a phone label.
        (
            PhiKind::Phone,
            r"(?i)\b(?:phone|tel|telephone|mobile|cell\s*phone|fax|pager|contact\s+number|call(?:\s+(?:him|her|them|me|us))?\s+(?:at|on))\b\.?\s*(?:(?:no|number|#)\.?\s*)?[:#]?\s*(\+?\(?\d[\d\s().-]{5,}\d)".into(),
            seven_to_fifteen_digits,
        ),
        (
            PhiKind::MedicalRecordNumber,
            r"(?i)\b(?:mrn|medical\s+record(?:\s+(?:number|num|no\.?|#))?|hospital\s+(?:number|no\.?|#|id)|patient\s+(?:id|identifier|number|no\.?|#)|chart\s+(?:number|no\.?|#)|nhs\s+(?:number|no\.?)|account\s+(?:number|no\.?|#)|health\s+(?:card|insurance)\s+(?:number|no\.?)|member\s+id)(?:\s+(?:is|was))?\s*[:#=]?\s*([a-z]{0,4}[-\s]?(?:\d{3,}(?: \d{3,}){1,3}|\d[\d-]{3,})[a-z]?)\b".into(),
            four_or_more_digits,
        ),
        // Long bare numbers right after a word that labels an identifier.
        (
            PhiKind::MedicalRecordNumber,
            r"(?i)\b(?:record|patient|pt|id|identifier|account|acct|admission|encounter|visit|ref|reference)\b\.?\s*(?:(?:no|number|num|id|#)\.?\s*)?[:#=]?\s*(\d{7,})\b".into(),
            always,
        ),
        (
            PhiKind::DateOfBirth,
            format!(r"(?i)\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|born(?:\s+on)?)(?:\s+(?:is|was))?\s*[:=-]?\s*({date})"),
            always,
        ),
        (
            PhiKind::StreetAddress,
            format!(r"\b\d{{1,6}}[A-Z]?\s+(?:(?:N|S|E|W|North|South|East|West)\.?\s+)?(?:(?:[A-Z][A-Za-z'-]*|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,4}}(?:{street_suffix})\b\.?"),
            not_after_digit,
        ),
        (PhiKind::StreetAddress, r"(?i)\bp\.?\s?o\.?\s*box\s+\d+".into(), always),
        (
            PhiKind::EncounterDate,
            format!(r"(?i)\b(?:(?:re)?admitted|(?:re)?admission|discharged?|died|deceased|death|d\.?o\.?a\.?|d\.?o\.?d\.?)\b(?:\s+(?:date|on|was|is|to|the|at|from|in|of|hospital|ward|unit|icu))*\s*[:=-]?\s*({date})"),
            always,
        ),
        // "a 92-year-old", "93 yo", "94 years of age", "aged 95", "age: 101".
        (
            PhiKind::AgeOver89,
            r"(?i)\b(9\d|1[0-4]\d)(?:\s*-?\s*(?:years?|yrs?)[\s-]*old|\s*-?\s*y/?o\b|\s*-?\s*(?:years?|yrs?)\s+of\s+age|\s*-?\s*year-old)".into(),
            one_persons_age,
        ),
        (
            PhiKind::AgeOver89,
            r"(?i)\b(?:aged?|age\s*:)\s*[:=]?\s*(9\d|1[0-4]\d)\b".into(),
            not_a_duration,
        ),
        (
            PhiKind::ZipCode,
            r"(?i)\b(?:zip(?:\s*code)?|postal\s+code|post\s*code)\s*[:#]?\s*(\d{5}(?:-\d{4})?)\b".into(),
            always,
        ),
        (
            PhiKind::ZipCode,
            format!(r"\b(?:{US_STATES}),?\s+(\d{{5}}(?:-\d{{4}})?)\b"),
            not_in_number_chain,
        ),
        // National forms with a trunk 0: 020 7946 0958, (02) 9374 4000, 06 12 34 56 78, 0044 20 7946 0958.
        (
            PhiKind::Phone,
            r"(?:\(0\d{1,4}\)\s?|\b0\d{1,4}[\s.-])\d{2,4}(?:[\s.-]\d{2,4}){1,3}\b".into(),
            national_phone,
        ),
    ];
    specs
        .into_iter()
        .filter_map(|(kind, pattern, accept)| {
            // The patterns are constants; one that fails to compile is caught by the tests.
            Regex::new(&pattern).ok().map(|regex| Detector {
                kind,
                regex,
                accept,
            })
        })
        .collect()
});

const US_STATES: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR";

/// Rejects "aged 95 days" (a unit shorter than years), then as [`one_persons_age`].
fn not_a_duration(text: &str, r: Range<usize>) -> bool {
    let rest = text
        .get(r.end..)
        .unwrap_or_default()
        .trim_start()
        .to_ascii_lowercase();
    !["day", "week", "month", "hour", "minute", "%", "mg", "kg"]
        .iter()
        .any(|unit| rest.starts_with(unit))
        && one_persons_age(text, r)
}

/// Rejects the bounds of a population's age range ("18-100 years of age",
/// "aged 92 or 93", "older than 90 years"): safe harbor concerns one person's age.
fn one_persons_age(text: &str, r: Range<usize>) -> bool {
    let before = text
        .get(..r.start)
        .unwrap_or_default()
        .trim_end()
        .to_ascii_lowercase();
    let after = text
        .get(r.end..)
        .unwrap_or_default()
        .trim_start()
        .to_ascii_lowercase();
    let range_before = before.ends_with(['-', '–', '/', '≥', '>', '<', '≤'])
        || [
            "to", "and", "or", "between", "than", "over", "under", "from",
        ]
        .iter()
        .any(|w| before.ends_with(&format!(" {w}")) || before == *w);
    let mut next = after.chars();
    let range_after = match next.next() {
        Some('+') => true,
        Some('-' | '–' | '/') => next.next().is_some_and(|c| c.is_ascii_digit()),
        _ => ["or ", "and ", "to "].iter().any(|w| after.starts_with(w)),
    };
    !range_before && !range_after
}

/// A national number: 9 to 15 digits, not glued to a longer number chain.
fn national_phone(text: &str, r: Range<usize>) -> bool {
    (9..=15).contains(&digits(&text[r.clone()])) && not_in_number_chain(text, r)
}

fn always(_: &str, _: Range<usize>) -> bool {
    true
}

fn digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|s| s.chars().next_back())
}

fn char_after(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

/// Rejects a match glued to more digits or separators (part of a longer number chain).
fn not_in_number_chain(text: &str, r: Range<usize>) -> bool {
    let glued =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '.' || c == '/');
    let after_glued = match (
        char_after(text, r.end),
        text.get(r.end..).and_then(|s| s.chars().nth(1)),
    ) {
        // A full stop ending the sentence is fine; "555-123-4567.8" is not.
        (Some('.'), next) => next.is_some_and(|c| c.is_ascii_digit()),
        (c, _) => glued(c),
    };
    !glued(char_before(text, r.start)) && !after_glued
}

fn not_after_digit(text: &str, r: Range<usize>) -> bool {
    !char_before(text, r.start).is_some_and(|c| c.is_ascii_digit() || c == '.')
}

fn plausible_international(text: &str, r: Range<usize>) -> bool {
    let n = digits(&text[r.clone()]);
    (8..=15).contains(&n) && !char_before(text, r.start).is_some_and(char::is_alphanumeric)
}

fn seven_to_fifteen_digits(text: &str, r: Range<usize>) -> bool {
    (7..=15).contains(&digits(&text[r]))
}

fn four_or_more_digits(text: &str, r: Range<usize>) -> bool {
    digits(&text[r]) >= 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_detector_pattern_compiles() {
        assert_eq!(DETECTORS.len(), 17);
    }
}
