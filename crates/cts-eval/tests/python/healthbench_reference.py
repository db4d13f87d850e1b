"""Reference values for HealthBench scoring (tests/healthbench_reference.rs).

Usage: python healthbench_reference.py CASE.json

CASE.json: {"examples": [[[points, met], ...], ...], "resamples", "seed"}.
Prints {"scores": [...], "mean", "se"}: each example's score (met points over
positive points, clipped to [0, 1], as HealthBench defines it), their mean
with numpy, and the bootstrap standard error as numpy.std (population form)
of the means of resamples drawn with the seeded SplitMix64 stream and
Lemire's bounded draw CTS documents, re-implemented here from their
published definitions.
"""

import json
import sys

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        threshold = ((-n) & MASK) % n
        while True:
            m = self.next_u64() * n
            if (m & MASK) >= threshold:
                return m >> 64


def main():
    case = json.load(open(sys.argv[1]))
    scores = []
    for ex in case["examples"]:
        positive = sum(p for p, _ in ex if p > 0)
        achieved = sum(p for p, met in ex if met)
        scores.append(float(np.clip(achieved / positive, 0.0, 1.0)))
    values = np.array(scores)
    rng = SplitMix64(case["seed"])
    n = len(values)
    means = [float(np.mean(values[[rng.below(n) for _ in range(n)]])) for _ in range(case["resamples"])]
    print(json.dumps({"scores": scores, "mean": float(np.clip(np.mean(values), 0, 1)), "se": float(np.std(means))}))


if __name__ == "__main__":
    main()
