"""Paired tests for comparing two runs on the same samples (no scipy)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def mcnemar_exact(right_to_wrong: int, wrong_to_right: int) -> float:
    """Two-sided exact McNemar test: a binomial test of the discordant pairs against p = 1/2.

    p = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2). Computed with exact integers,
    so it stays right for many thousands of discordant pairs (where 0.5 ** n underflows a float).
    """
    if right_to_wrong < 0 or wrong_to_right < 0:
        raise ValueError("flip counts cannot be negative")
    n = right_to_wrong + wrong_to_right
    if n == 0:
        return 1.0
    k = min(right_to_wrong, wrong_to_right)
    tail = 0
    term = 1  # C(n, 0)
    for i in range(k + 1):
        tail += term
        term = term * (n - i) // (i + 1)
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def paired_bootstrap_interval(
    first: list[float], second: list[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of mean(second - first), resampling the pairs."""
    if len(first) != len(second):
        raise ValueError("paired samples must have the same length")
    if len(first) < 2:
        return None
    differences = np.asarray(second, dtype=float) - np.asarray(first, dtype=float)
    generator = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // len(differences))  # bounds memory for large runs
    means = np.concatenate(
        [
            differences[
                generator.integers(
                    0, len(differences), size=(min(chunk, resamples - start), len(differences))
                )
            ].mean(axis=1)
            for start in range(0, resamples, chunk)
        ]
    )
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
