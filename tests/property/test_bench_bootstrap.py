"""Bootstrap intervals and the sign test of the benchmark report: properties over random data."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bench.stats import bootstrap_ratio, paired_difference, sign_test

# Items: (satisfied checks averaged over samples, checks), satisfied <= checks.
item = st.integers(min_value=1, max_value=12).flatmap(
    lambda checks: st.tuples(st.floats(min_value=0, max_value=checks, allow_nan=False), st.just(float(checks)))
)
items = st.lists(item, min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(items, st.integers(min_value=0, max_value=2**31))
def test_interval_holds_the_estimate_and_rates_stay_in_0_1(data: list[tuple[float, float]], seed: int) -> None:
    num, den = [x for x, _ in data], [d for _, d in data]
    est = bootstrap_ratio(num, den, key="row", seed=seed, resamples=300)
    assert 0.0 <= est.low <= est.value <= est.high <= 1.0
    assert math.isclose(est.value, min(1.0, sum(num) / sum(den)), abs_tol=1e-12)
    assert est.n == len(data)
    assert bootstrap_ratio(num, den, key="row", seed=seed, resamples=300) == est  # seeded: the same every time


@settings(max_examples=150, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_all_pass_rate_interval(passes: list[bool]) -> None:
    est = bootstrap_ratio([float(p) for p in passes], [1.0] * len(passes), key="all_pass", resamples=300)
    assert 0.0 <= est.low <= est.value <= est.high <= 1.0
    if all(passes) or not any(passes):  # no variation: the interval is the point
        assert est.low == est.value == est.high


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60), st.integers(min_value=0, max_value=99)
)
def test_paired_difference_interval_and_sign_test(pairs: list[tuple[bool, bool]], seed: int) -> None:
    a, b = [float(x) for x, _ in pairs], [float(y) for _, y in pairs]
    diff = paired_difference(a, b, [1.0] * len(pairs), key="cat", seed=seed, resamples=300)
    assert -1.0 <= diff.low <= diff.value <= diff.high <= 1.0
    assert math.isclose(diff.value, (sum(b) - sum(a)) / len(pairs), abs_tol=1e-12)
    assert diff.wins == sum(y > x for x, y in pairs) and diff.losses == sum(x > y for x, y in pairs)
    assert 0.0 <= diff.p_value <= 1.0
    swapped = paired_difference(b, a, [1.0] * len(pairs), key="cat", seed=seed, resamples=300)
    assert math.isclose(swapped.value, -diff.value, abs_tol=1e-12) and swapped.p_value == diff.p_value


def test_sign_test_known_values() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 5) == 1.0
    assert math.isclose(sign_test(10, 0), 2 / 2**10)  # all ten items favour B
    assert math.isclose(sign_test(8, 2), 2 * (1 + 10 + 45) / 2**10)


def test_intervals_shrink_with_more_items() -> None:
    small = bootstrap_ratio([1.0, 0.0] * 5, [1.0] * 10, key="k")
    large = bootstrap_ratio([1.0, 0.0] * 200, [1.0] * 400, key="k")
    assert small.value == large.value == 0.5
    assert (large.high - large.low) < (small.high - small.low) / 3
