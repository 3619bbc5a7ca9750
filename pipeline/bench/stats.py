"""Uncertainty for benchmark rates: item-level (cluster) bootstrap intervals, paired differences, sign test.

Every rate here is a ratio of sums over items, `sum(num) / sum(den)`: all-pass rate (num = the item's pass@1
averaged over its samples, den = 1) and DRFR (num = satisfied checks averaged over samples, den = the
item's checks: ComplexBench's micro average). Items are resampled, not checks, because the checks of one
answer are not independent. Random draws are seeded from (seed, row key), so a report is the same on every
run and one row's interval does not depend on which other rows exist.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class Estimate:
    """A rate with its bootstrap interval over `n` items."""

    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class Difference:
    """A paired difference B - A with its bootstrap interval and an exact two-sided sign test over items."""

    value: float
    low: float
    high: float
    n: int
    wins: int  # items where B scores higher
    losses: int  # items where A scores higher
    p_value: float


def stable_seed(seed: int, key: str) -> int:
    """A 64-bit seed from the report seed and a row key (not Python's salted hash)."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:8], "big")


def _arrays(num: Sequence[float], den: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    n, d = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if n.shape != d.shape or n.ndim != 1 or len(n) == 0:
        raise ValueError(f"need two equally long, non-empty sequences, got {n.shape} and {d.shape}")
    if np.any(d <= 0):
        raise ValueError("every denominator must be > 0")
    return n, d


def _indices(n: int, key: str, seed: int, resamples: int) -> np.ndarray:
    return np.random.default_rng(stable_seed(seed, key)).integers(0, n, size=(resamples, n))


def _interval(draws: np.ndarray, point: float, level: float, lo: float, hi: float) -> tuple[float, float]:
    """Percentile interval, widened to hold the point estimate.

    With few, skewed items a finite bootstrap can leave the point estimate a hair outside its percentile
    interval; an interval that excludes the observed value would read as nonsense, so it is widened.
    """
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return max(lo, min(float(low), point)), min(hi, max(float(high), point))


def bootstrap_ratio(
    num: Sequence[float],
    den: Sequence[float],
    *,
    key: str,
    seed: int = 0,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> Estimate:
    """`sum(num) / sum(den)` with a percentile interval from resampling the items; num <= den keeps it in [0, 1]."""
    n, d = _arrays(num, den)
    point = min(1.0, max(0.0, float(n.sum() / d.sum())))
    idx = _indices(len(n), key, seed, resamples)
    draws = n[idx].sum(axis=1) / d[idx].sum(axis=1)
    low, high = _interval(draws, point, level, 0.0, 1.0)
    return Estimate(point, low, high, len(n))


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: P(a split at least this uneven | no difference); ties are left out."""
    trials = wins + losses
    if trials == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(trials, i) for i in range(k + 1)) / 2**trials
    return min(1.0, 2.0 * tail)


def paired_difference(
    a_num: Sequence[float],
    b_num: Sequence[float],
    den: Sequence[float],
    *,
    key: str,
    seed: int = 0,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> Difference:
    """B's rate minus A's on the same items (same denominators), resampling items jointly for both."""
    a, d = _arrays(a_num, den)
    b, _ = _arrays(b_num, den)
    total = d.sum()
    point = float((b.sum() - a.sum()) / total)
    idx = _indices(len(d), key, seed, resamples)
    draws = (b[idx].sum(axis=1) - a[idx].sum(axis=1)) / d[idx].sum(axis=1)
    low, high = _interval(draws, point, level, -1.0, 1.0)
    # Compare per-item rates, with a tolerance: averages over samples are floats.
    delta = b / d - a / d
    wins, losses = int(np.sum(delta > 1e-12)), int(np.sum(delta < -1e-12))
    return Difference(point, low, high, len(d), wins, losses, sign_test(wins, losses))
