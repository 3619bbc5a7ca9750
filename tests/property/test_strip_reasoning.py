"""strip_reasoning on arbitrary and adversarial text: idempotent, leaves plain text alone, linear time."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline.verify.reward import GROUND_TRUTH_FORMAT, compute_score, strip_reasoning

# Pieces that make up every format strip_reasoning knows, plus near-misses and plain text around them.
FRAGMENTS = [
    "<think>",
    "</think>",
    "<THINK>",
    "</Think>",
    "<thinking>",
    "</thinking>",
    "<reasoning>",
    "</REASONING>",
    "<|channel|>",
    "<|message|>",
    "<|end|>",
    "<|return|>",
    "<|start|>",
    "<|call|>",
    "<|constrain|>",
    "<think >",
    "</ think>",
    "<seed:think>",
    "</seed:think>",
    "[THINK]",
    "[/THINK]",
    "[think]",
    "\u25c1think\u25b7",
    "\u25c1/think\u25b7",
    "<|begin_of_thought|>",
    "<|end_of_thought|>",
    "<|begin_of_solution|>",
    "<|end_of_solution|>",
    "analysis",
    "final",
    "Final ",
    "assistant",
    "<",
    ">",
    "/",
    "|",
    "think",
    "<thi",
    "nk>",
    " ",
    "\n",
    "a",
    "river",
]
TEXT = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join) | st.text(max_size=200)
MARKER_RE = re.compile(
    r"<\s*/?\s*(?:seed:)?(?:think|thinking|reasoning)\s*>|<\|channel\|>|(?-i:\[/?THINK\])|\u25c1/?think\u25b7"
    r"|<\|(?:begin|end)_of_(?:thought|solution)\|>",
    re.IGNORECASE | re.ASCII,
)
# Near-misses only (they can still join into a marker, which the test then skips).
NEAR_MISSES = [
    "<thi", "nk>", "<", ">", "/", "|", "think", "channel", "<|message|>", "<|end|>", "<think ", "<think/>", " ", "a",
    "[think]", "[Think]", "[THINK", "THINK]", "\u25c1", "\u25b7", "seed:", "<|begin_of_", "_thought|>", "_solution|>",
]  # fmt: skip
UNMARKED = st.lists(st.sampled_from(NEAR_MISSES), max_size=30).map("".join) | st.text(max_size=200)
# Answers and reasoning without markers, so the expected answer is known exactly.
PLAIN = st.text(alphabet=st.characters(blacklist_characters="<[\u25c1"), max_size=60)


@settings(max_examples=400, deadline=None)
@given(text=TEXT)
def test_stripping_is_idempotent_and_leaves_no_marker(text: str) -> None:
    once = strip_reasoning(text)
    assert strip_reasoning(once) == once
    assert MARKER_RE.search(once) is None


@settings(max_examples=200, deadline=None)
@given(text=UNMARKED)
def test_text_without_markers_is_unchanged(text: str) -> None:
    assume(MARKER_RE.search(text) is None)
    assert strip_reasoning(text) == text


WRAPPERS = [
    "<think>{r}</think>{a}",
    "<thinking>{r}</thinking>{a}",
    "<REASONING>{r}</reasoning>{a}",
    "{r}</think>{a}",
    "<think>{r}<think>{r}</think>{r}</think>{a}",
    "{a}<think>{r}",
    "<think >{r}</think >{a}",
    "<seed:think>{r}</seed:think>{a}",
    "{r}</seed:think>{a}",
    "[THINK]{r}[/THINK]{a}",
    "{r}[/THINK]{a}",
    "{a}[THINK]{r}",
    "\u25c1think\u25b7{r}\u25c1/think\u25b7{a}",
    "<|begin_of_thought|>{r}<|end_of_thought|><|begin_of_solution|>{a}<|end_of_solution|>",
    "{r}<|end_of_thought|>\n<|begin_of_solution|>{a}",
    "[THINK]{r}[/THINK]<|begin_of_solution|>{a}<|end_of_solution|>{r}",
    "<|channel|>analysis<|message|>{r}<|end|><|start|>assistant<|channel|>final<|message|>{a}<|return|>",
]


@settings(max_examples=200, deadline=None)
@given(wrapper=st.sampled_from(WRAPPERS), reasoning=PLAIN, answer=PLAIN)
def test_any_format_gives_back_exactly_the_answer(wrapper: str, reasoning: str, answer: str) -> None:
    assert strip_reasoning(wrapper.format(r=reasoning, a=answer)) == answer.strip()


def seconds_per_call(fn: Callable[[str], object], text: str) -> float:
    """Best of three timings, each over enough calls to last 20 ms, so a busy machine adds noise, not bias."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn(text)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.02:
            break
        number *= 2
    best = elapsed
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(number):
            fn(text)
        best = min(best, time.perf_counter() - start)
    return best / number


GT = json.dumps(
    {
        "format": GROUND_TRUTH_FORMAT,
        "instruction": "Mention the river.",
        "plan": {"checks": [{"id": "c1", "kind": "code", "checker": "t:kw", "kwargs": {"keywords": ["river"]}}]},
    }
)


def score(text: str) -> float:
    return compute_score("complexify", text, GT)


@pytest.mark.parametrize(
    ("fn", "unit"),
    [
        (strip_reasoning, "<think>"),
        (strip_reasoning, "<think>a"),
        (strip_reasoning, "</think>"),
        (strip_reasoning, "<think><thinking></think>"),
        (strip_reasoning, "<|channel|>"),
        (strip_reasoning, "<|channel|>final<|message|>"),
        (strip_reasoning, "<|channel|>final<|constrain|>"),
        (strip_reasoning, "<|channel|>analysis<|message|>x<|end|>"),
        (strip_reasoning, "<"),
        (strip_reasoning, "< " + " " * 20),
        (strip_reasoning, "[THINK]"),
        (strip_reasoning, "[/THINK]a"),
        (strip_reasoning, "\u25c1think\u25b7"),
        (strip_reasoning, "<seed:think>"),
        (strip_reasoning, "<|begin_of_solution|>"),
        (strip_reasoning, "<|end_of_solution|>a"),
        (strip_reasoning, "<|begin_of_thought|>a<|end_of_thought|>"),
        (score, "<think>"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_time_grows_linearly_with_the_input(fn: Callable[[str], object], unit: str) -> None:
    # Eight times the input may take about eight times as long; a quadratic scan takes 64 times as long.
    small, large = seconds_per_call(fn, unit * 1000), seconds_per_call(fn, unit * 8000)
    assert large / small < 24, f"{unit!r} x 8000 took {large / small:.0f}x as long as x 1000"


def count_tag_starts(text: str) -> int:
    """A plain linear pass over the same text, as the yardstick for the reward's own time."""
    return sum(1 for _ in re.finditer("<", text))


def test_a_degenerate_rollout_is_scored_in_linear_time() -> None:
    rollout = "<think>" * 80_000  # 0.56 MB of opening tags: the answer is empty
    assert score(rollout) == -2.0
    assert seconds_per_call(score, rollout) < 20 * seconds_per_call(count_tag_starts, rollout)
    assert score("</think>" * 80_000 + "the river") == 2.0
