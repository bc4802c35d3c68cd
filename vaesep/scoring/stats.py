"""Statistics of results: Student-t intervals, per-mixture and per-seed means, claim verdicts.

Pure functions over numpy arrays. The unit of an interval is the mixture: each mixture's
value is the mean over its sources (per seed), then over the seeds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from vaesep.errors import optional

CONFIDENCE = 0.95
# "A = B" holds when the interval of A - B lies within this margin of 0 (two one-sided tests).
EQUIVALENCE_MARGIN = 0.5
RELATIONS = (">", "<", "=")
SUPPORTED, CONTRADICTED, NOT_RESOLVED = "supported", "contradicted", "not resolved"


def mean_ci(values: ArrayLike, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Mean of the finite values and the half-width of its Student-t interval.

    The half-width is NaN for fewer than 2 values, the mean NaN for none.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size < 2:
        return float(x.mean()), float("nan")
    t = optional("scipy.stats", "eval", "vaesep report").t.ppf(0.5 + confidence / 2, df=x.size - 1)
    return float(x.mean()), float(t * x.std(ddof=1) / np.sqrt(x.size))


def group_means(keys: ArrayLike, values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct keys and the mean of each one's finite values (NaN where none)."""
    values = np.asarray(values, dtype=np.float64)
    distinct, index = np.unique(np.asarray(keys), return_inverse=True)
    finite = np.isfinite(values)
    sums = np.bincount(index[finite], weights=values[finite], minlength=distinct.size)
    counts = np.bincount(index[finite], minlength=distinct.size)
    with np.errstate(invalid="ignore"):
        return distinct, sums / counts


def nested_means(
    outer: ArrayLike, inner: ArrayLike, values: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct ``outer`` key (sorted): the mean over its ``inner`` keys of their means."""
    outer_keys, outer_index = np.unique(np.asarray(outer), return_inverse=True)
    _, inner_index = np.unique(np.asarray(inner), return_inverse=True)
    width = int(inner_index.max()) + 1 if inner_index.size else 1
    pairs, pair_means = group_means(outer_index * width + inner_index, values)
    _, means = group_means(pairs // width, pair_means)
    return outer_keys, means


def mixture_means(
    utt_ids: ArrayLike, seeds: ArrayLike, values: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Per mixture (sorted utt ids): the mean over its sources per seed, then over the seeds."""
    return nested_means(utt_ids, seeds, values)


def seed_spread(
    utt_ids: ArrayLike, seeds: ArrayLike, values: ArrayLike
) -> tuple[int, float, float]:
    """The number of seeds, the SD (ddof=1) of their means over mixtures and the half-width of
    the 95 % Student-t interval over those seed means (both NaN with one seed)."""
    _, means = nested_means(seeds, utt_ids, values)
    means = means[np.isfinite(means)]
    spread = float(means.std(ddof=1)) if means.size > 1 else float("nan")
    return int(np.unique(np.asarray(seeds)).size), spread, mean_ci(means)[1]


def paired_differences(
    ids_a: ArrayLike, values_a: ArrayLike, ids_b: ArrayLike, values_b: ArrayLike
) -> np.ndarray:
    """A - B for the ids both have (each id once, sorted); pairs with a non-finite side dropped."""
    _, at_a, at_b = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    diff = np.asarray(values_a, dtype=np.float64)[at_a] - np.asarray(values_b, np.float64)[at_b]
    return diff[np.isfinite(diff)]


def verdict(relation: str, low: float, high: float, margin: float = EQUIVALENCE_MARGIN) -> str:
    """The verdict on "A relation B" from the interval [low, high] of A - B.

    ``>``/``<``: supported when the interval lies above/below 0, contradicted when on the other
    side. ``=``: supported when it lies within ±``margin``, else contradicted when it excludes 0.
    Otherwise (or without an interval) not resolved.
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, not {relation!r}")
    if not (np.isfinite(low) and np.isfinite(high)):
        return NOT_RESOLVED
    if relation == "=":
        if -margin <= low and high <= margin:
            return SUPPORTED
        return CONTRADICTED if low > 0 or high < 0 else NOT_RESOLVED
    holds, fails = (low > 0, high < 0) if relation == ">" else (high < 0, low > 0)
    return SUPPORTED if holds else CONTRADICTED if fails else NOT_RESOLVED


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or None where it is NaN or infinite (for tables and CSV)."""
    return float(value) if np.isfinite(value) else None
