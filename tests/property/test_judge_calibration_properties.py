"""Properties of the 95%-precision margin on any (score, label) pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.verify.judge_calibration import margin_for_precision, precision_at

SCORES = st.floats(min_value=-20, max_value=20, allow_nan=False) | st.just(float("nan"))
PAIRS = st.lists(st.tuples(SCORES, st.booleans()), max_size=40)
TARGETS = st.floats(min_value=0.05, max_value=1.0)


@given(PAIRS, TARGETS)
def test_the_margin_reaches_the_target_and_no_smaller_one_does(pairs: list[tuple[float, bool]], target: float) -> None:
    m = margin_for_precision(pairs, target)
    # every margin where precision can change: 0 and the positive scores
    candidates = sorted({0.0, *(s for s, _ in pairs if s > 0)})
    reaching = [c for c in candidates if (p := precision_at(pairs, c)) is not None and p >= target]
    if m is None:
        assert reaching == []
    else:
        p = precision_at(pairs, m)
        assert p is not None and p >= target
        assert m >= 0 and m == reaching[0]


@given(PAIRS, TARGETS, TARGETS)
def test_a_stricter_target_never_needs_a_smaller_margin(pairs: list[tuple[float, bool]], a: float, b: float) -> None:
    low, high = sorted((a, b))
    m_low, m_high = margin_for_precision(pairs, low), margin_for_precision(pairs, high)
    if m_high is not None:
        assert m_low is not None and m_low <= m_high
