"""split_reasoning: any reasoning and answer wrapped in any supported format come back apart, unchanged."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.reasoning import REASONING_STYLES, split_reasoning, strip_reasoning, wrap_reasoning

# Text with no reasoning marker: no "<" at all, so no tag or harmony token can form.
PLAIN = st.text(alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=500, deadline=None)
@given(reasoning=PLAIN, answer=PLAIN, style=st.sampled_from(REASONING_STYLES))
def test_any_text_in_any_format_round_trips(reasoning: str, answer: str, style: str) -> None:
    assume(reasoning.strip())
    got_reasoning, got_answer = split_reasoning(wrap_reasoning(reasoning, answer, style))
    assert (got_reasoning, got_answer) == (reasoning.strip(), answer.strip())
    assert strip_reasoning(wrap_reasoning(reasoning, answer, style)) == answer.strip()


@settings(max_examples=300, deadline=None)
@given(text=PLAIN)
def test_text_without_markers_has_no_reasoning_and_is_unchanged(text: str) -> None:
    assert split_reasoning(text) == (None, text)


@settings(max_examples=300, deadline=None)
@given(reasoning=PLAIN, style=st.sampled_from(("think", "thinking", "reasoning")))
def test_a_block_cut_by_max_tokens_is_all_reasoning(reasoning: str, style: str) -> None:
    reasoning_part, answer = split_reasoning(f"<{style}>{reasoning}")
    assert answer == ""
    assert reasoning_part == reasoning.strip()


@settings(max_examples=300, deadline=None)
@given(reasoning=PLAIN, answer=PLAIN, style=st.sampled_from(REASONING_STYLES))
def test_the_answer_part_splits_to_itself(reasoning: str, answer: str, style: str) -> None:
    _, got = split_reasoning(wrap_reasoning(reasoning, answer, style))
    assert split_reasoning(got) == (None, got)
