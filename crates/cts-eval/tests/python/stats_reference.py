"""Reference statistics for cts-eval's tests (tests/stats_reference.rs).

Usage: python stats_reference.py CASES.json

CASES.json holds lists of inputs per statistic (see below); the script prints
the same keys with the reference values, computed by libraries CTS did not
write: statsmodels, scipy, scikit-learn and numpy.

- wilson: [[successes, trials], ...] -> [[low, high], ...]
  statsmodels.stats.proportion.proportion_confint(method="wilson", alpha=0.05)
- mcnemar: [[both, only_a, only_b, neither], ...] -> [p, ...]
  statsmodels.stats.contingency_tables.mcnemar(exact=True)
- holm: [[p, ...], ...] -> [[adjusted p, ...], ...]
  statsmodels.stats.multitest.multipletests(method="holm")
- paired: [[both, only_a, only_b, neither], ...] -> [[difference, low, high], ...]
  Wald interval for paired proportions written from the multinomial
  covariance, Var(p1 - p2) = [p1(1-p1) + p2(1-p2) - 2(p11 - p1 p2)] / n,
  with the quantile from scipy.stats.norm.ppf(0.975) (statsmodels has no
  paired-difference interval).
- cohen_h: [[p1, p2], ...] -> [h, ...]
  statsmodels.stats.proportion.proportion_effectsize
- pubmedqa: [{"gold": [...], "pred": [...]}, ...] -> [[accuracy, macro_f1], ...]
  sklearn.metrics accuracy_score and f1_score(average="macro"), as PubMedQA's
  evaluation.py
- quantile: [{"values": [...], "q": [...]}, ...] -> [[value, ...], ...]
  numpy.percentile (linear interpolation)
- macro: [[[correct, total], ...], ...] -> [[macro, micro], ...]
  numpy means
"""

import json
import sys

import numpy as np
from scipy.stats import norm
from sklearn.metrics import accuracy_score, f1_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize


def wilson(successes, trials):
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    return [float(low), float(high)]


def mcnemar_exact(both, only_a, only_b, neither):
    table = [[both, only_a], [only_b, neither]]
    return float(mcnemar(table, exact=True).pvalue)


def holm(p_values):
    _, adjusted, _, _ = multipletests(p_values, alpha=0.05, method="holm")
    return [float(p) for p in adjusted]


def paired(both, only_a, only_b, neither):
    n = both + only_a + only_b + neither
    p1 = (both + only_a) / n
    p2 = (both + only_b) / n
    p11 = both / n
    var = (p1 * (1 - p1) + p2 * (1 - p2) - 2 * (p11 - p1 * p2)) / n
    z = norm.ppf(0.975)
    d = p1 - p2
    se = np.sqrt(max(var, 0.0))
    return [float(d), float(d - z * se), float(d + z * se)]


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = {
        "wilson": [wilson(s, n) for s, n in cases["wilson"]],
        "mcnemar": [mcnemar_exact(*t) for t in cases["mcnemar"]],
        "holm": [holm(ps) for ps in cases["holm"]],
        "paired": [paired(*t) for t in cases["paired"]],
        "cohen_h": [float(proportion_effectsize(p1, p2)) for p1, p2 in cases["cohen_h"]],
        "pubmedqa": [
            [
                float(accuracy_score(c["gold"], c["pred"])),
                float(f1_score(c["gold"], c["pred"], average="macro")),
            ]
            for c in cases["pubmedqa"]
        ],
        "quantile": [
            [float(np.percentile(c["values"], 100 * q)) for q in c["q"]]
            for c in cases["quantile"]
        ],
        "macro": [
            [
                float(np.mean([c / t for c, t in groups])),
                float(sum(c for c, _ in groups) / sum(t for _, t in groups)),
            ]
            for groups in cases["macro"]
        ],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
