"""Loose mode checks each distinct variant once: its verdict is the reference's any-of-8-variants verdict."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.checks.registry import run_check
from pipeline.verify.ifeval import check_instruction, loose_variants

CHECKS: list[tuple[str, dict[str, Any]]] = [
    ("detectable_format:title", {}),
    ("punctuation:no_comma", {}),
    ("startend:quotation", {}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}),
    ("length_constraints:number_words", {"num_words": 4, "relation": "less than"}),
    ("change_case:english_lowercase", {}),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}),
]
PIECES = st.sampled_from(["*", "**", "\n", " ", "* a", "<<T>>", '"', ",", "Word", "word", "x", "-", "  \n"])


def _reference_loose(iid: str, kwargs: dict[str, Any], response: str) -> bool:
    """The reference's loop: all 8 variants, in order, blank ones skipped."""
    return any(v.strip() and run_check(iid, v, kwargs).passed for v in loose_variants(response))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CHECKS), st.lists(PIECES, max_size=14).map("".join))
def test_loose_checks_distinct_variants_once_with_the_same_verdict(check: tuple[str, dict], text: str) -> None:
    iid, kwargs = check
    assert check_instruction(iid, kwargs, text, loose=True).passed == _reference_loose(iid, kwargs, text)
