//! Final-answer markers and option-letter extraction.
//!
//! A final-answer marker is one of `Final answer:`, `Final answer is`,
//! `**Final Answer**`, a `Final Answer` heading line, `Answer:`, and
//! `[Therefore|Thus|So|Hence,] the [final|correct|best|most appropriate]
//! answer is`, matched case-insensitively. The **last** marker in a text wins,
//! because models often think aloud about "the answer" before committing.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

static MARKER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?imxR)
        (?:
            \*\*[\x20\t]*final[\x20\t]+answer[\x20\t]*:?[\x20\t]*\*\*[\x20\t]*:?
          | ^[\x20\t\#>]*final[\x20\t]+answer[\x20\t]*$
          | \bfinal[\x20\t]+answer[\x20\t]*(?:is\b[\x20\t]*:?|:)
          | (?:\b(?:therefore|thus|so|hence),?[\x20\t]+)?\bthe[\x20\t]+(?:(?:final|correct|best|most[\x20\t]+appropriate)[\x20\t]+)?answer[\x20\t]+is\b[\x20\t]*:?
          | \banswer[\x20\t]*:
        )
        (?:[\x20\t]*\*\*)?",
    )
    .ok()
});

static CHOICE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        ^[\s*_`'\x22$\[]*
        (?:\\boxed\{\s*(?:\\(?:text|mathrm|textbf)\{\s*)?)?
        (?:(?i:option|choice)\s+)?
        (?P<open>\()?
        (?P<letter>[A-Za-z])
        (?P<close>\))?
        (?P<rest>.*)$",
    )
    .ok()
});

/// Byte range of the last final-answer marker in `text`, if any.
pub fn last_marker(text: &str) -> Option<Range<usize>> {
    MARKER.as_ref()?.find_iter(text).last().map(|m| m.range())
}

/// The option letter an answer names, e.g. `B` for `"(B)"`, `"B."`,
/// `"Answer: B) Warfarin"`, `"**B**"` or `"\boxed{B}"`.
///
/// Text after the last final-answer marker is used when there is one. An
/// uppercase letter counts when it stands alone, in parentheses, or is
/// followed by punctuation (`B.`, `B)`, `B:`, `B -`); `"A patient…"` is not a
/// choice. A lowercase letter counts only in parentheses, before `)` or on its
/// own. Returns `None` unless the letter is one of the first `n_options`
/// letters (at most 26).
pub fn answer_choice(answer_text: &str, n_options: usize) -> Option<char> {
    let n = n_options.min(26);
    if n == 0 {
        return None;
    }
    let text = match last_marker(answer_text) {
        Some(m) => &answer_text[m.end..],
        None => answer_text,
    };
    let caps = CHOICE.as_ref()?.captures(text.trim())?;
    let letter = caps.name("letter")?.as_str().chars().next()?;
    let in_parens = caps.name("open").is_some() && caps.name("close").is_some();
    let closed = caps.name("close").is_some();
    let rest = caps.name("rest").map_or("", |m| m.as_str());
    let standalone = rest
        .trim_start_matches(['.', '*', '_', '`', '\'', '"', '}', '$', ']'])
        .trim()
        .is_empty();
    let accepted = if letter.is_ascii_uppercase() {
        in_parens || closed || standalone || follows_as_label(rest)
    } else {
        in_parens || closed || standalone
    };
    let upper = letter.to_ascii_uppercase();
    let index = usize::from(u8::try_from(upper).ok()?.checked_sub(b'A')?);
    (accepted && index < n).then_some(upper)
}

/// True if what follows a bare letter makes it a label: `B. x`, `B: x`, `B - x`, `B (x)`.
fn follows_as_label(rest: &str) -> bool {
    match rest.chars().next() {
        None => true,
        Some('.' | ':' | ',' | ';' | '*' | '}' | ']' | '"' | '\'' | '`' | '$') => true,
        Some(c) if c.is_whitespace() => rest
            .trim_start()
            .chars()
            .next()
            .is_none_or(|n| !n.is_alphanumeric()),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(MARKER.is_some());
        assert!(CHOICE.is_some());
    }

    #[test]
    fn reads_common_answer_forms() {
        for text in [
            "B",
            "(B)",
            "B.",
            "B)",
            "Answer: B) Warfarin",
            "**B**",
            "**B. Warfarin**",
            "B - Warfarin",
            "B (warfarin)",
            "\\boxed{B}",
            "$\\boxed{\\text{B}}$",
            "Option B",
            "The answer is (B).",
            "Therefore, the answer is B: warfarin.",
            "Final answer: B",
            "**Final Answer**\n\nB",
            "(b)",
            "b",
        ] {
            assert_eq!(answer_choice(text, 4), Some('B'), "{text:?}");
        }
    }

    #[test]
    fn uses_the_last_marker() {
        let text = "The answer is probably A, but on reflection\nFinal answer: C";
        assert_eq!(answer_choice(text, 4), Some('C'));
    }

    #[test]
    fn rejects_words_that_start_with_a_letter() {
        assert_eq!(
            answer_choice("A patient with AF should get apixaban", 4),
            None
        );
        assert_eq!(answer_choice("I think it is warfarin", 12), None);
        assert_eq!(answer_choice("B and C", 4), None);
        assert_eq!(answer_choice("Bisoprolol", 4), None);
        assert_eq!(answer_choice("a lower dose", 4), None);
    }

    #[test]
    fn rejects_letters_beyond_the_options() {
        assert_eq!(answer_choice("E", 4), None);
        assert_eq!(answer_choice("D", 4), Some('D'));
        assert_eq!(answer_choice("A", 0), None);
    }

    #[test]
    fn empty_answer_has_no_choice() {
        assert_eq!(answer_choice("", 4), None);
        assert_eq!(answer_choice("Final answer:", 4), None);
    }

    #[test]
    fn marker_needs_a_colon_or_is_after_final_answer() {
        assert_eq!(
            last_marker("before giving a final answer we check the dose"),
            None
        );
        assert!(last_marker("Final answer is B").is_some());
        assert!(last_marker("## Final Answer\nB").is_some());
    }
}
