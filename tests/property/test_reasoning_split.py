"""split_reasoning: any reasoning and answer wrapped in any supported format come back apart, unchanged."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.checks import views
from pipeline.reasoning import split_reasoning, strip_reasoning

# style -> (opening tag, closing tag) of the reasoning blocks split_reasoning reads (pipeline/reasoning.py)
BLOCKS = {
    "think": ("<think>", "</think>"),
    "thinking": ("<thinking>", "</thinking>"),
    "reasoning": ("<reasoning>", "</reasoning>"),
    "think_spaced": ("<think >", "</think >"),
    "seed": ("<seed:think>", "</seed:think>"),
    "mistral": ("[THINK]", "[/THINK]"),
    "kimi": ("\u25c1think\u25b7", "\u25c1/think\u25b7"),
}
BLOCK_STYLES = tuple(BLOCKS)  # the styles with an opening and a closing tag (close-only and unclosed variants apply)
REASONING_STYLES = (*BLOCKS, "template_opened", "thought_solution", "harmony")


def block_tags(style: str) -> tuple[str, str]:
    return BLOCKS[style]


def wrap_reasoning(reasoning: str, answer: str, style: str) -> str:
    """Model output in one of the formats split_reasoning reads: its inverse."""
    if style in BLOCKS:
        opening, closing = BLOCKS[style]
        return f"{opening}\n{reasoning}\n{closing}\n\n{answer}"
    if style == "template_opened":  # the chat template printed the opening tag, the model wrote the rest
        return f"{reasoning}\n</think>\n\n{answer}"
    if style == "thought_solution":
        return (
            f"<|begin_of_thought|>\n\n{reasoning}\n\n<|end_of_thought|>\n\n"
            f"<|begin_of_solution|>\n\n{answer}\n\n<|end_of_solution|>"
        )
    assert style == "harmony", style
    return (
        f"<|channel|>analysis<|message|>{reasoning}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{answer}<|return|>"
    )


# Text with no reasoning marker: no "<", "[" or "\u25c1" at all, so no tag or harmony token can form.
PLAIN = st.text(alphabet=st.characters(blacklist_characters="<[\u25c1", blacklist_categories=("Cs",)), max_size=80)


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
@given(reasoning=PLAIN, style=st.sampled_from(BLOCK_STYLES))
def test_a_block_cut_by_max_tokens_is_all_reasoning(reasoning: str, style: str) -> None:
    opening, _ = block_tags(style)
    reasoning_part, answer = split_reasoning(f"{opening}{reasoning}")
    assert answer == ""
    assert reasoning_part == reasoning.strip()


@settings(max_examples=300, deadline=None)
@given(reasoning=PLAIN, answer=PLAIN, style=st.sampled_from(BLOCK_STYLES))
def test_a_block_the_template_opened_ends_at_its_closing_tag(reasoning: str, answer: str, style: str) -> None:
    _, closing = block_tags(style)
    assert split_reasoning(f"{reasoning}{closing}{answer}") == (reasoning.strip(), answer.strip())


@settings(max_examples=300, deadline=None)
@given(reasoning=PLAIN, answer=PLAIN, tail=PLAIN)
def test_the_answer_of_thought_and_solution_blocks_is_the_solution(reasoning: str, answer: str, tail: str) -> None:
    solution = f"<|begin_of_solution|>{answer}<|end_of_solution|>"
    assume(reasoning.strip())
    assert split_reasoning(f"<|begin_of_thought|>{reasoning}<|end_of_thought|>{solution}")[1] == answer.strip()
    # the template opened the thought block; the solution was cut by max_tokens; text after it is no answer
    assert split_reasoning(f"{reasoning}<|end_of_thought|><|begin_of_solution|>{answer}") == (
        reasoning.strip(),
        answer.strip(),
    )
    assert split_reasoning(f"<|begin_of_thought|>{reasoning}<|end_of_thought|>{solution}{tail}")[1] == answer.strip()
    assert split_reasoning(f"<|begin_of_thought|>{reasoning}") == (reasoning.strip(), "")


@settings(max_examples=300, deadline=None)
@given(reasoning=PLAIN, answer=PLAIN, style=st.sampled_from(BLOCK_STYLES))
def test_the_views_of_the_hardened_checkers_split_the_same_way(reasoning: str, answer: str, style: str) -> None:
    for text in (wrap_reasoning(reasoning, answer, style), f"{reasoning}{block_tags(style)[1]}{answer}"):
        assert views.strip_reasoning_blocks(text) == strip_reasoning(text)


@settings(max_examples=300, deadline=None)
@given(reasoning=PLAIN, answer=PLAIN, style=st.sampled_from(REASONING_STYLES))
def test_the_answer_part_splits_to_itself(reasoning: str, answer: str, style: str) -> None:
    _, got = split_reasoning(wrap_reasoning(reasoning, answer, style))
    assert split_reasoning(got) == (None, got)
