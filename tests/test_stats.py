"""Tests of vaesep.scoring.stats: t intervals, per-mixture and per-seed means, paired claims'
verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from vaesep.scoring.stats import (
    CONTRADICTED,
    NOT_RESOLVED,
    SUPPORTED,
    finite_or_none,
    group_means,
    mean_ci,
    mixture_means,
    paired_differences,
    seed_spread,
    verdict,
)


def test_mean_ci_is_the_student_t_interval() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    mean, half = mean_ci(values)
    sd = math.sqrt(sum((v - 4.0) ** 2 for v in values) / 4)
    assert mean == pytest.approx(4.0)
    assert half == pytest.approx(scipy_stats.t.ppf(0.975, 4) * sd / math.sqrt(5))
    assert half == pytest.approx(2.776445 * sd / math.sqrt(5), rel=1e-6)
    _, half90 = mean_ci(values, confidence=0.9)
    assert half90 == pytest.approx(scipy_stats.t.ppf(0.95, 4) * sd / math.sqrt(5))
    assert mean_ci([*values, np.nan, np.inf]) == pytest.approx((mean, half)), "non-finite left out"


def test_mean_ci_needs_two_values() -> None:
    mean, half = mean_ci([3.0])
    assert mean == 3.0 and math.isnan(half)
    assert all(math.isnan(x) for x in mean_ci([]))
    assert mean_ci([2.0, 2.0]) == (2.0, 0.0)


def test_group_means_skip_non_finite_values() -> None:
    keys, means = group_means(["b", "a", "b", "c"], [1.0, 2.0, 3.0, np.nan])
    assert list(keys) == ["a", "b", "c"]
    assert means[:2] == pytest.approx([2.0, 2.0]) and math.isnan(means[2])


def test_mixture_means_average_sources_then_seeds() -> None:
    utts = ["u1", "u1", "u1", "u1", "u0", "u0"]
    seeds = [0, 0, 1, 1, 0, 0]
    values = [1.0, 3.0, 5.0, np.nan, 4.0, 6.0]  # u1: seed 0 -> 2, seed 1 -> 5
    ids, means = mixture_means(utts, seeds, values)
    assert list(ids) == ["u0", "u1"]
    assert means == pytest.approx([5.0, 3.5]), "each seed weighs alike, not each row"


def test_seed_spread_is_the_sd_of_the_seeds_means_over_mixtures() -> None:
    utts = ["u0", "u0", "u1", "u1"] * 3
    seeds = [0] * 4 + [1] * 4 + [2] * 4
    values = [1, 3, 5, 7] + [2, 4, 6, 8] + [0, 0, 0, 0]  # seed means 4, 5, 0
    num_seeds, spread, half = seed_spread(utts, seeds, np.array(values, dtype=float))
    assert num_seeds == 3
    assert spread == pytest.approx(np.std([4.0, 5.0, 0.0], ddof=1))
    assert half == pytest.approx(scipy_stats.t.ppf(0.975, 2) * spread / math.sqrt(3)), "over seeds"
    one_seed, none, no_half = seed_spread(utts[:4], seeds[:4], values[:4])
    assert one_seed == 1 and math.isnan(none) and math.isnan(no_half)


def test_paired_differences_match_by_id() -> None:
    diff = paired_differences(
        np.array(["a", "b", "c", "d"]),
        np.array([1.0, 2.0, np.nan, 4.0]),
        np.array(["b", "c", "d", "e"]),
        np.array([0.5, 1.0, 1.0, 9.0]),
    )
    assert diff == pytest.approx([1.5, 3.0]), "b and d: c has no value in A, a and e no pair"


@pytest.mark.parametrize(
    ("relation", "low", "high", "expected"),
    [
        (">", 0.2, 1.0, SUPPORTED),
        (">", -1.0, -0.2, CONTRADICTED),
        (">", -0.2, 1.0, NOT_RESOLVED),
        ("<", -1.0, -0.2, SUPPORTED),
        ("<", 0.2, 1.0, CONTRADICTED),
        ("<", -0.2, 0.2, NOT_RESOLVED),
        ("=", -0.3, 0.4, SUPPORTED),
        ("=", 0.1, 0.4, SUPPORTED),  # different, but by less than the margin
        ("=", 0.2, 1.0, CONTRADICTED),
        ("=", -2.0, -0.1, CONTRADICTED),
        ("=", -0.2, 0.9, NOT_RESOLVED),
        (">", math.nan, math.nan, NOT_RESOLVED),
        ("=", math.nan, math.nan, NOT_RESOLVED),
    ],
)
def test_verdicts(relation: str, low: float, high: float, expected: str) -> None:
    assert verdict(relation, low, high) == expected


def test_verdict_margin_and_relation() -> None:
    assert verdict("=", -0.3, 0.4, margin=0.2) == NOT_RESOLVED
    with pytest.raises(ValueError, match="relation"):
        verdict(">=", 0.0, 1.0)


def test_finite_or_none() -> None:
    assert finite_or_none(np.float64(1.5)) == 1.5 and finite_or_none(math.nan) is None
