//! Rubric-graded open-ended evaluation in the HealthBench format, the pure
//! part: reading examples, the grader's prompt and its strict verdict
//! parser, the example score and the summary statistics.
//!
//! **Format** (a `.json` file holding one example or an array of them, or
//! JSONL, one example per line): `{"prompt": [{"role", "content"}, …],
//! "rubrics": [{"criterion", "points", "tags"}, …], "example_tags": […],
//! "prompt_id": "…"}`. Points may be negative (an undesirable behaviour);
//! tags like `axis:accuracy` name the axis a criterion measures, example
//! tags like `theme:emergency_referrals` the theme. Other top-level fields
//! (HealthBench files carry a few) are ignored; a rubric item's unknown
//! field is an error. Every problem names file, line (JSONL) and field; an
//! empty file or a repeated `prompt_id` is an error.
//!
//! **Scoring** (as HealthBench defines it): an example's score is the sum of
//! the points of the criteria the grader found met, over the sum of the
//! positive points, clipped to [0, 1]. The overall score is the mean over
//! examples, with the bootstrap standard error (the standard deviation of
//! the means of `resamples` resamples of the examples, seeded). An axis
//! score is the same computation restricted to the criteria tagged with that
//! axis (over the examples that have such criteria with positive points); a
//! theme score is the mean over the examples with that tag.
//!
//! The grader is asked about one criterion at a time ([`grader_prompt`],
//! version [`GRADER_ID`]) and must answer with a JSON object
//! `{"explanation": "…", "criteria_met": true|false}` ([`parse_grade`]).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::stats::SplitMix64;

/// The grader prompt's version.
pub const GRADER_ID: &str = "healthbench-grader/v1";

/// One message of an example's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// One rubric criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// What the response must (or, with negative points, must not) do.
    pub criterion: String,
    /// Points when met (negative: a penalty).
    pub points: f64,
    /// Tags (`axis:completeness`, `level:example`, …).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One example: a conversation to answer and the rubric to grade the answer by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Identifier, unique within the run.
    pub prompt_id: String,
    /// The conversation; the model writes the next assistant turn.
    pub prompt: Vec<Message>,
    /// The criteria.
    pub rubrics: Vec<Criterion>,
    /// Example tags (`theme:…`, …).
    #[serde(default)]
    pub example_tags: Vec<String>,
}

/// Why a HealthBench file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct HealthbenchError {
    /// The file.
    pub file: String,
    /// 1-based line (JSONL), if known.
    pub line: Option<usize>,
    /// What is wrong, naming the field.
    pub reason: String,
}

const ROLES: [&str; 4] = ["system", "developer", "user", "assistant"];

fn check(example: &Example) -> Result<(), String> {
    if example.prompt_id.trim().is_empty() {
        return Err("field prompt_id: empty".into());
    }
    if example.prompt.is_empty() {
        return Err("field prompt: no messages".into());
    }
    for (i, m) in example.prompt.iter().enumerate() {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(format!(
                "field prompt[{i}].role: {:?} is not one of {}",
                m.role,
                ROLES.join(", ")
            ));
        }
    }
    if example.prompt.last().is_some_and(|m| m.role == "assistant") {
        return Err(
            "field prompt: the last message is the assistant's; there is nothing to answer".into(),
        );
    }
    if example.rubrics.is_empty() {
        return Err("field rubrics: no criteria".into());
    }
    for (i, c) in example.rubrics.iter().enumerate() {
        if c.criterion.trim().is_empty() {
            return Err(format!("field rubrics[{i}].criterion: empty"));
        }
        if !c.points.is_finite() {
            return Err(format!("field rubrics[{i}].points: not a finite number"));
        }
    }
    if !example.rubrics.iter().any(|c| c.points > 0.0) {
        return Err(
            "field rubrics: no criterion has positive points, so no score is defined".into(),
        );
    }
    Ok(())
}

/// Parses a HealthBench file's `text` (one JSON example, a JSON array, or
/// JSONL); `file` names it in errors. All or nothing.
pub fn parse_examples(file: &str, text: &str) -> Result<Vec<Example>, HealthbenchError> {
    let err = |line: Option<usize>, reason: String| HealthbenchError {
        file: file.to_owned(),
        line,
        reason,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(err(None, "empty file: no examples".into()));
    }
    let mut examples: Vec<(Option<usize>, Example)> = Vec::new();
    if trimmed.starts_with('[') {
        let list: Vec<Example> =
            serde_json::from_str(trimmed).map_err(|e| err(Some(e.line()), e.to_string()))?;
        examples.extend(list.into_iter().map(|e| (None, e)));
    } else if let Ok(one) = serde_json::from_str::<Example>(trimmed) {
        examples.push((None, one));
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: Example =
                serde_json::from_str(line).map_err(|e| err(Some(i + 1), e.to_string()))?;
            examples.push((Some(i + 1), e));
        }
    }
    if examples.is_empty() {
        return Err(err(None, "no examples".into()));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(examples.len());
    for (n, (line, e)) in examples.into_iter().enumerate() {
        let at = |reason: String| match line {
            Some(l) => err(Some(l), reason),
            None => err(
                None,
                format!("example {} ({}): {reason}", n + 1, e.prompt_id),
            ),
        };
        check(&e).map_err(at)?;
        if !seen.insert(e.prompt_id.clone()) {
            return Err(at(format!("field prompt_id: {} occurs twice", e.prompt_id)));
        }
        out.push(e);
    }
    Ok(out)
}

/// What the grader is asked about one criterion of one answered conversation.
pub fn grader_prompt(conversation: &[Message], response: &str, criterion: &Criterion) -> String {
    let mut p = String::from(
        "You grade a medical AI assistant's response against one rubric criterion.\n\n\
         --- CONVERSATION ---\n",
    );
    for m in conversation {
        p.push_str(&format!("{}: {}\n", m.role, m.content));
    }
    p.push_str(&format!(
        "--- END CONVERSATION ---\n\n--- RESPONSE TO GRADE ---\n{response}\n--- END RESPONSE ---\n\n\
         --- CRITERION ({} points) ---\n{}\n--- END CRITERION ---\n\n\
         Decide whether the response meets the criterion. If the criterion describes something \
         undesirable (negative points), it is met when the response does that undesirable thing. \
         A criterion with several conditions is met only if all of them hold.\n\
         Reply with only a JSON object: {{\"explanation\": \"<one or two sentences>\", \"criteria_met\": true or false}}",
        criterion.points, criterion.criterion
    ));
    p
}

/// A parsed grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// Whether the criterion is met.
    pub met: bool,
    /// The grader's explanation.
    pub explanation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireGrade {
    explanation: String,
    criteria_met: bool,
}

/// Parses a grader reply strictly: only a JSON object `{"explanation": "…",
/// "criteria_met": true|false}`, optionally inside one ```` ``` ```` or
/// ```` ```json ```` fence. Anything else is an error (the runner re-asks).
pub fn parse_grade(reply: &str) -> Result<Grade, String> {
    let mut text = reply.trim();
    if text.is_empty() {
        return Err("the grader's reply is empty".into());
    }
    if let Some(rest) = text.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        text = rest
            .strip_suffix("```")
            .ok_or("an unclosed code fence")?
            .trim();
    }
    let g: WireGrade = serde_json::from_str(text).map_err(|e| {
        format!("not a JSON object {{\"explanation\": …, \"criteria_met\": true|false}} ({e})")
    })?;
    Ok(Grade {
        met: g.criteria_met,
        explanation: g.explanation,
    })
}

/// An example's score from `(points, met)` per criterion: met points over
/// positive points, clipped to [0, 1]; `None` without positive points.
pub fn example_score(graded: &[(f64, bool)]) -> Option<f64> {
    let positive: f64 = graded.iter().filter(|g| g.0 > 0.0).map(|g| g.0).sum();
    if positive <= 0.0 {
        return None;
    }
    let achieved: f64 = graded.iter().filter(|g| g.1).map(|g| g.0).sum();
    Some((achieved / positive).clamp(0.0, 1.0))
}

/// A mean with its bootstrap standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean of the example scores, clipped to [0, 1].
    pub mean: f64,
    /// Standard deviation of the bootstrap means (population form).
    pub bootstrap_se: f64,
    /// Examples.
    pub n: usize,
}

/// Mean of `values` and the bootstrap standard error over `resamples`
/// resamples with replacement (seeded); `None` for no values.
pub fn mean_with_bootstrap(values: &[f64], resamples: usize, seed: u64) -> Option<Score> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = SplitMix64::new(seed);
    let means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..n)
                .map(|_| values[rng.below(n as u64) as usize])
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let se = if means.is_empty() {
        0.0
    } else {
        let m = means.iter().sum::<f64>() / means.len() as f64;
        (means.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / means.len() as f64).sqrt()
    };
    Some(Score {
        mean: mean.clamp(0.0, 1.0),
        bootstrap_se: se,
        n,
    })
}

/// One graded example, as the summary needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct GradedExample<'a> {
    /// The example.
    pub example: &'a Example,
    /// Per criterion, in rubric order: met or not.
    pub met: Vec<bool>,
}

/// A run's HealthBench figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthbenchSummary {
    /// Overall score.
    pub overall: Score,
    /// Per axis tag (`axis:…`), over the criteria with that tag.
    pub per_axis: BTreeMap<String, Score>,
    /// Per theme tag (`theme:…`), over the examples with that tag.
    pub per_theme: BTreeMap<String, Score>,
}

/// Summarises graded examples; `None` for none.
pub fn summarize(
    graded: &[GradedExample<'_>],
    resamples: usize,
    seed: u64,
) -> Option<HealthbenchSummary> {
    let score_of = |g: &GradedExample<'_>, keep: &dyn Fn(&Criterion) -> bool| {
        let pairs: Vec<(f64, bool)> = g
            .example
            .rubrics
            .iter()
            .zip(&g.met)
            .filter(|(c, _)| keep(c))
            .map(|(c, m)| (c.points, *m))
            .collect();
        example_score(&pairs)
    };
    let overall: Vec<f64> = graded
        .iter()
        .filter_map(|g| score_of(g, &|_| true))
        .collect();
    let overall = mean_with_bootstrap(&overall, resamples, seed)?;
    let mut axes: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut themes: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for g in graded {
        let tags: std::collections::BTreeSet<&str> = g
            .example
            .rubrics
            .iter()
            .flat_map(|c| c.tags.iter().map(String::as_str))
            .filter(|t| t.starts_with("axis:"))
            .collect();
        for tag in tags {
            if let Some(s) = score_of(g, &|c| c.tags.iter().any(|t| t == tag)) {
                axes.entry(tag.to_owned()).or_default().push(s);
            }
        }
        if let Some(s) = score_of(g, &|_| true) {
            for t in g
                .example
                .example_tags
                .iter()
                .filter(|t| t.starts_with("theme:"))
            {
                themes.entry(t.clone()).or_default().push(s);
            }
        }
    }
    let fold = |m: BTreeMap<String, Vec<f64>>| {
        m.into_iter()
            .filter_map(|(k, v)| Some((k, mean_with_bootstrap(&v, resamples, seed)?)))
            .collect()
    };
    Some(HealthbenchSummary {
        overall,
        per_axis: fold(axes),
        per_theme: fold(themes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNTHETIC: &str = include_str!("../testdata/healthbench-synthetic.jsonl");

    #[test]
    fn the_synthetic_examples_parse_in_every_layout() {
        let jsonl = parse_examples("s.jsonl", SYNTHETIC).unwrap();
        assert_eq!(jsonl.len(), 3);
        let array = format!(
            "[{}]",
            SYNTHETIC
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(parse_examples("s.json", &array).unwrap(), jsonl);
        let one = SYNTHETIC.lines().next().unwrap();
        assert_eq!(parse_examples("one.json", one).unwrap(), jsonl[..1]);
    }

    #[test]
    fn bad_files_name_file_line_and_field() {
        let good = SYNTHETIC.lines().next().unwrap();
        let cases = [
            ("", "empty file"),
            ("\n\n", "empty file"),
            (
                &format!("{good}\n{{\"prompt_id\":\"x\",\"prompt\":[]}}\n") as &str,
                "s.jsonl:2",
            ),
            (&format!("{good}\n{good}\n"), "occurs twice"),
            (
                r#"{"prompt_id":"a","prompt":[{"role":"doctor","content":"x"}],"rubrics":[{"criterion":"c","points":1}]}"#,
                "prompt[0].role",
            ),
            (
                r#"{"prompt_id":"a","prompt":[{"role":"user","content":"x"}],"rubrics":[{"criterion":"c","points":-1}]}"#,
                "no criterion has positive points",
            ),
            (
                r#"{"prompt_id":"a","prompt":[{"role":"user","content":"x"}],"rubrics":[{"criterion":"c","points":1,"weight":2}]}"#,
                "weight",
            ),
        ];
        for (text, want) in cases {
            let e = parse_examples("s.jsonl", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn example_scores_follow_the_healthbench_definition() {
        assert_eq!(example_score(&[(5.0, true), (5.0, false)]), Some(0.5));
        // A met penalty subtracts; the result is clipped at 0.
        assert_eq!(
            example_score(&[(4.0, true), (-2.0, true), (4.0, false)]),
            Some(0.25)
        );
        assert_eq!(example_score(&[(4.0, false), (-8.0, true)]), Some(0.0));
        // Unmet penalties do not count; all positive met is 1.
        assert_eq!(example_score(&[(3.0, true), (-9.0, false)]), Some(1.0));
        assert_eq!(example_score(&[(-1.0, true)]), None);
    }

    #[test]
    fn the_bootstrap_is_seeded_and_zero_for_equal_values() {
        let s = mean_with_bootstrap(&[0.5, 0.5, 0.5], 200, 7).unwrap();
        assert_eq!((s.mean, s.bootstrap_se, s.n), (0.5, 0.0, 3));
        let a = mean_with_bootstrap(&[0.0, 1.0, 0.25, 0.75], 500, 7).unwrap();
        let b = mean_with_bootstrap(&[0.0, 1.0, 0.25, 0.75], 500, 7).unwrap();
        assert_eq!(a, b);
        // SE of a mean of 4 values with population sd 0.3953: about 0.198.
        assert!((a.bootstrap_se - 0.198).abs() < 0.03, "{a:?}");
    }

    #[test]
    fn axis_and_theme_scores_restrict_criteria_and_examples() {
        let ex = parse_examples("s.jsonl", SYNTHETIC).unwrap();
        let graded: Vec<GradedExample<'_>> = ex
            .iter()
            .map(|e| GradedExample {
                example: e,
                met: e.rubrics.iter().map(|c| c.points > 0.0).collect(),
            })
            .collect();
        let s = summarize(&graded, 100, 1).unwrap();
        assert_eq!(
            s.overall.mean, 1.0,
            "every positive criterion met, no penalty"
        );
        assert!(s.per_axis.contains_key("axis:accuracy"), "{s:?}");
        assert!(s.per_theme.keys().all(|k| k.starts_with("theme:")));
        let none_met: Vec<GradedExample<'_>> = ex
            .iter()
            .map(|e| GradedExample {
                example: e,
                met: vec![false; e.rubrics.len()],
            })
            .collect();
        assert_eq!(summarize(&none_met, 100, 1).unwrap().overall.mean, 0.0);
    }

    #[test]
    fn grades_parse_strictly() {
        let g = parse_grade(
            r#"{"explanation": "It advises calling emergency services.", "criteria_met": true}"#,
        )
        .unwrap();
        assert!(g.met);
        assert!(
            parse_grade("```json\n{\"explanation\": \"No.\", \"criteria_met\": false}\n```")
                .is_ok()
        );
        for bad in [
            "",
            "yes",
            r#"{"criteria_met": "true", "explanation": "x"}"#,
            r#"{"criteria_met": true}"#,
            r#"{"criteria_met": true, "explanation": "x", "score": 3}"#,
            "```json\n{\"explanation\": \"x\", \"criteria_met\": true}",
        ] {
            assert!(parse_grade(bad).is_err(), "{bad:?}");
        }
    }
}
