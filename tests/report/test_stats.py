"""The paired tests, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from mmlens.report.stats import mcnemar_exact, paired_bootstrap_interval


@pytest.mark.parametrize(
    ("right_to_wrong", "wrong_to_right", "expected"),
    [
        (0, 0, 1.0),  # no discordant pairs: no evidence at all
        (0, 5, 2 / 32),  # 2 * P(X <= 0), X ~ Bin(5, 1/2) = 2 * 1/32
        (5, 0, 2 / 32),  # symmetric
        (1, 9, 2 * (1 + 10) / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10 = 0.021484375
        (3, 7, 2 * (1 + 10 + 45 + 120) / 1024),  # = 0.34375
        (2, 2, 1.0),  # 2 * P(X <= 2), X ~ Bin(4, 1/2) = 2 * 11/16 > 1, capped
        (4, 5, 1.0),  # 2 * 256/512 = 1
        (0, 1, 1.0),  # 2 * 1/2
    ],
)
def test_mcnemar_exact_matches_hand_computed_values(
    right_to_wrong: int, wrong_to_right: int, expected: float
) -> None:
    assert mcnemar_exact(right_to_wrong, wrong_to_right) == pytest.approx(expected, rel=1e-12)


def _log_binomial_tail(n: int, k: int) -> float:
    """log(2 * P(X <= k)), X ~ Bin(n, 1/2), summed in log space (an independent computation)."""
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
        for i in range(k + 1)
    ]
    top = max(terms)
    return math.log(2) + top + math.log(sum(math.exp(t - top) for t in terms))


def test_mcnemar_exact_stays_exact_for_thousands_of_discordant_pairs() -> None:
    # 0.5 ** 1200 underflows a float, so a naive sum would say p = 0; the exact computation must not.
    p = mcnemar_exact(100, 1100)
    assert p > 0
    assert math.log(p) == pytest.approx(_log_binomial_tail(1200, 100), rel=1e-9)
    assert mcnemar_exact(2500, 2500) == 1.0
    # A large, nearly balanced case agrees with the normal approximation z = (b - c) / sqrt(b + c).
    b, c = 4800, 5200
    normal = math.erfc(abs(b - c) / math.sqrt(b + c) / math.sqrt(2))
    assert mcnemar_exact(b, c) == pytest.approx(normal, rel=0.05)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_paired_bootstrap_interval_covers_the_mean_difference() -> None:
    first = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] * 10
    second = [value + 0.1 for value in first]
    interval = paired_bootstrap_interval(first, second)
    assert interval is not None
    low, high = interval
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)  # every pair differs by exactly 0.1
    noisy = [value + (0.3 if i % 2 else -0.1) for i, value in enumerate(first)]
    interval = paired_bootstrap_interval(first, noisy)
    assert interval is not None
    low, high = interval
    assert low < 0.1 < high and high - low < 0.2
    assert paired_bootstrap_interval([1.0], [0.0]) is None
