"""Reward functions on real model output: reasoning formats, None completions, malformed ground truths."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline.errors import UserInputError
from pipeline.verify.plan import NO_ANSWER
from pipeline.verify.reward import (
    GROUND_TRUTH_FORMAT,
    GroundTruthError,
    compute_score,
    make_trl_reward,
    reward,
    score_response,
    strip_reasoning,
)


def ground_truth(*checks: dict[str, Any]) -> str:
    return json.dumps(
        {"format": GROUND_TRUTH_FORMAT, "instruction": "Write about water.", "plan": {"checks": list(checks)}}
    )


RIVER = {"id": "c1", "kind": "code", "checker": "t:kw", "kwargs": {"keywords": ["river"]}}
GT = ground_truth(RIVER)

HARMONY_FINAL = "<|channel|>analysis<|message|>{r}<|end|><|start|>assistant<|channel|>final<|message|>{a}<|return|>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>plan it</think>The answer.", "The answer."),
        ("<thinking>plan it</thinking>\n\nThe answer.\n", "The answer."),
        ("<reasoning>plan it</reasoning>The answer.", "The answer."),
        ("<THINK>plan</Think> The answer.", "The answer."),
        ("<ThInKiNg>plan</THINKING>The answer.", "The answer."),
        ("the template opened the block, so this is reasoning</think>The answer.", "The answer."),
        ("reasoning</think>more reasoning mentioning </think> a tag</think>The answer.", "The answer."),
        ("<think>outer <think>inner</think> outer again</think>The answer.", "The answer."),
        ("<think>a <reasoning>b</reasoning> c</think>The answer.", "The answer."),
        ("<think>never closed, the model ran out of tokens", ""),
        ("<think>a <think>b</think> still inside the outer block", ""),
        ("The answer.<think>a second thought that never ends", "The answer."),
        ("<think>plan</think>The answer.<think>afterthought", "The answer."),
        (HARMONY_FINAL.format(r="plan it", a="The answer."), "The answer."),
        ("<|channel|>analysis<|message|>plan<|end|><|channel|>final<|message|>The answer.", "The answer."),
        ("<|CHANNEL|>analysis<|MESSAGE|>plan<|END|><|Channel|>Final<|Message|>The answer.<|Return|>", "The answer."),
        ('<|channel|>final <|constrain|>json<|message|>{"a": 1}<|return|>', '{"a": 1}'),
        ("<|channel|>analysis<|message|>only analysis, cut off before the final channel", ""),
        (
            "<|channel|>analysis<|message|>a<|end|><|channel|>final<|message|>draft<|end|>"
            "<|channel|>final<|message|>The answer.<|return|>",
            "The answer.",
        ),
        (HARMONY_FINAL.format(r="plan", a="<think>more</think>The answer."), "The answer."),
    ],
    ids=[
        "think",
        "thinking",
        "reasoning",
        "upper-case",
        "mixed-case",
        "close-only",
        "close-only-last-close-wins",
        "nested",
        "nested-mixed-names",
        "unclosed",
        "unclosed-nested",
        "answer-then-unclosed",
        "block-answer-unclosed",
        "harmony",
        "harmony-no-start-token",
        "harmony-any-case",
        "harmony-constrain",
        "harmony-no-final",
        "harmony-last-final-wins",
        "harmony-final-with-think",
    ],
)
def test_strip_reasoning_formats(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected


@pytest.mark.parametrize(
    "text", ["plain answer", "  spaced answer \n", "a < b and c > d", "<b>bold</b> <thinker>", ""]
)
def test_text_without_reasoning_markers_is_unchanged(text: str) -> None:
    assert strip_reasoning(text) == text


@pytest.mark.parametrize(
    "output",
    [
        "<think>I must mention the river</think>The sea is calm.",
        "<thinking>the river!</thinking>The sea is calm.",
        "<reasoning>river river</reasoning>The sea is calm.",
        "The template opened the block: river</think>The sea is calm.",
        "<think>river <think>river</think> river</think>The sea is calm.",
        "<think>river, and I never close this block",
        HARMONY_FINAL.format(r="remember the river", a="The sea is calm."),
        "<|channel|>analysis<|message|>the river, then the output is cut off",
        "[THINK]the river[/THINK]The sea is calm.",
        "the river[/THINK]The sea is calm.",
        "<seed:think>the river</seed:think>The sea is calm.",
        "\u25c1think\u25b7the river\u25c1/think\u25b7The sea is calm.",
        "<|begin_of_thought|>the river<|end_of_thought|>\n\n<|begin_of_solution|>The sea is calm.<|end_of_solution|>",
        "<|begin_of_thought|>plan<|end_of_thought|><|begin_of_solution|>The sea is calm.<|end_of_solution|>river",
        "<think >the river</think >The sea is calm.",
        "< think>the river</ think>The sea is calm.",
    ],
    ids=[
        "think", "thinking", "reasoning", "close-only", "nested", "unclosed", "harmony", "harmony-no-final",
        "mistral", "mistral-close-only", "seed-oss", "kimi", "thought-solution", "after-the-solution", "think-space",
        "think-spaces",
    ],
)  # fmt: skip
def test_reasoning_that_mentions_the_keyword_earns_nothing(output: str) -> None:
    assert compute_score("complexify", output, GT) == -2.0
    assert make_trl_reward()(["p"], [output], [GT]) == [-2.0]


@pytest.mark.parametrize(
    "output",
    [
        "<think>plan</think>The river is calm.",
        "plan</think>The river is calm.",
        HARMONY_FINAL.format(r="plan", a="The river is calm."),
        "[THINK]plan[/THINK]The river is calm.",
        "<seed:think>plan</seed:think>The river is calm.",
        "\u25c1think\u25b7plan\u25c1/think\u25b7The river is calm.",
        "<|begin_of_thought|>plan<|end_of_thought|><|begin_of_solution|>The river is calm.<|end_of_solution|>",
        "<think >plan</think >The river is calm.",
        "[think] is a placeholder: The river is calm.",
    ],
    ids=[
        "think",
        "close-only",
        "harmony",
        "mistral",
        "seed-oss",
        "kimi",
        "thought-solution",
        "think-space",
        "placeholder",
    ],
)
def test_the_answer_after_the_reasoning_earns_the_reward(output: str) -> None:
    assert compute_score("complexify", output, GT) == 2.0
    assert reward(["p"], [output], [GT]) == [2.0]


def test_none_completion_scores_as_the_empty_answer() -> None:
    assert compute_score("complexify", None, GT) == -2.0
    assert compute_score("complexify", None, GT, {"score": "drfr"}) == 0.0
    assert compute_score("complexify", None, GT, {"strip_think": False}) == -2.0
    assert make_trl_reward(score="all_pass")(["p", "p"], [None, "The river."], [GT, GT]) == [0.0, 1.0]
    assert reward(["p"], [None], [GT]) == [-2.0]
    chat_without_content = [[{"role": "user", "content": "x"}, {"role": "assistant", "content": None}]]
    assert reward(["p"], chat_without_content, [GT]) == [-2.0]
    result = score_response(None, GT)
    assert result.verdict.checks[0].evidence == NO_ANSWER


DANGLING = ground_truth(RIVER, {"id": "c2", "kind": "code", "checker": "t:lower", "depends_on": ["c9"]})
FORWARD = ground_truth({**RIVER, "depends_on": ["c2"]}, {"id": "c2", "kind": "code", "checker": "t:lower"})


@pytest.mark.parametrize(
    ("gt", "message"),
    [
        (DANGLING, r"check 'c2' depends on 'c9', which is not a check of the plan"),
        (FORWARD, r"check 'c1' depends on 'c2', which is not listed before it"),
        (ground_truth(RIVER, RIVER), r"check id 'c1' is used twice"),
        (ground_truth({"id": "c1", "kind": "code"}), r"check 'c1' is a code check without a 'checker'"),
        (ground_truth({"id": "c1", "kind": "judge"}), r"check 'c1' is a judge check without a 'question'"),
    ],
    ids=["dangling", "forward", "duplicate-id", "code-without-checker", "judge-without-question"],
)
def test_malformed_plan_is_a_clear_error_in_both_signatures(gt: str, message: str) -> None:
    with pytest.raises(GroundTruthError, match=message) as err:
        compute_score("complexify", "The river.", gt)
    assert isinstance(err.value, UserInputError) and "ground_truth plan is invalid" in str(err.value)
    with pytest.raises(GroundTruthError, match=message):
        make_trl_reward()(["p"], ["The river."], [gt])
    with pytest.raises(GroundTruthError, match=message):
        make_trl_reward()(["p"], [None], [gt])
