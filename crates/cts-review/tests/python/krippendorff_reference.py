"""Reference agreement values for cts-review's tests (tests/agreement_reference.rs).

Usage: python krippendorff_reference.py CASES.json

CASES.json holds {"alpha": [UNITS, ...], "kappa": [PAIRS, ...]}, where UNITS is
a list of units, each the list of integer values the coders gave it, and PAIRS
is a list of [first rater, second rater] integer pairs. Prints
{"alpha": [{"nominal": A, "ordinal": A, "interval": A}, ...],
 "kappa": [{"kappa": K, "observed": P, "expected": P}, ...]}
with null wherever a statistic is undefined.

Alpha comes from the `krippendorff` package; Cohen's kappa is computed here by
hand from its definition, in exact fractions.
"""

import json
import math
import sys
from collections import Counter
from fractions import Fraction

import krippendorff
import numpy as np

LEVELS = ("nominal", "ordinal", "interval")


def reliability_data(units):
    """Coders x units matrix, NaN for missing values.

    A unit's values carry no coder identity, so the i-th value of each unit is
    assigned to coder i; alpha does not depend on which coder gave a value.
    """
    coders = max((len(unit) for unit in units), default=0)
    data = np.full((coders, len(units)), np.nan)
    for column, unit in enumerate(units):
        for row, value in enumerate(unit):
            data[row, column] = value
    return data


def alpha(units, level):
    """Krippendorff's alpha, or None where the package finds it undefined."""
    data = reliability_data(units)
    if data.size == 0:
        return None
    try:
        # 0/0 (one pairable category) comes back as NaN; no need to warn.
        with np.errstate(invalid="ignore", divide="ignore"):
            value = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except ValueError:
        # Fewer than two values in the domain, or no pairable unit.
        return None
    return None if math.isnan(value) else value


def cohen_kappa(pairs):
    """Cohen's unweighted kappa with its observed and expected agreement."""
    n = len(pairs)
    if n == 0:
        return {"kappa": None, "observed": 0.0, "expected": 0.0}
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    observed = Fraction(sum(1 for a, b in pairs if a == b), n)
    expected = sum((Fraction(first[c] * second[c], n * n) for c in first), Fraction(0))
    kappa = None if expected == 1 else float((observed - expected) / (1 - expected))
    return {"kappa": kappa, "observed": float(observed), "expected": float(expected)}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    result = {
        "alpha": [{level: alpha(units, level) for level in LEVELS} for units in cases["alpha"]],
        "kappa": [cohen_kappa([tuple(pair) for pair in pairs]) for pairs in cases["kappa"]],
    }
    json.dump(result, sys.stdout, allow_nan=False)
    print()


if __name__ == "__main__":
    main()
