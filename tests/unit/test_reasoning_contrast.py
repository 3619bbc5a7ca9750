"""Reasoning hygiene on real output formats, fail-closed empty answers, and RAIF's sample-wise contrast rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline.llm.parsing import parse_choice
from pipeline.models import VerificationPlan
from pipeline.reasoning import split_reasoning
from pipeline.verify.plan import NO_ANSWER, verify_response
from pipeline.verify.reward import (
    GROUND_TRUTH_FORMAT,
    GroundTruthError,
    apply_contrast,
    compute_score,
    make_trl_reward,
    score_response,
)

# Outputs in the shapes real models produce them (wording shortened).
QWEN3 = "<think>\nThe user wants a short note about the river. Lowercase only.\n</think>\n\nthe river is calm today."
R1_TEMPLATE_OPENED = "Okay, so I need to write about the river in lowercase.\n</think>\n\nthe river is calm today."
GPT_OSS = (
    "<|channel|>analysis<|message|>Need lowercase text mentioning the river.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>the river is calm today.<|return|>"
)
CLAUDE_STYLE = "<thinking>Lowercase, mention the river.</thinking>\nthe river is calm today."
REASONING_TAG = "<reasoning>lowercase; river</reasoning>the river is calm today."
TRUNCATED = "<think>\nFirst I will think about rivers in general, then"
HARMONY_NO_FINAL = "<|channel|>analysis<|message|>Thinking about the river and never answering"


@pytest.mark.parametrize(
    ("output", "answer"),
    [
        (QWEN3, "the river is calm today."),
        (R1_TEMPLATE_OPENED, "the river is calm today."),
        (GPT_OSS, "the river is calm today."),
        (CLAUDE_STYLE, "the river is calm today."),
        (REASONING_TAG, "the river is calm today."),
        (TRUNCATED, ""),
        (HARMONY_NO_FINAL, ""),
    ],
    ids=["qwen3", "r1-template-opened", "gpt-oss-harmony", "thinking", "reasoning", "truncated", "harmony-no-final"],
)
def test_every_format_splits_into_reasoning_and_answer(output: str, answer: str) -> None:
    reasoning, got = split_reasoning(output)
    assert got == answer
    assert reasoning is not None and "river" in reasoning.casefold()  # every trace above talks about the river
    assert "<" not in got


def test_the_servers_reasoning_field_wins_and_content_formats_are_split_otherwise() -> None:
    served = parse_choice({"message": {"content": "the river.", "reasoning_content": "plan it"}})
    assert (served.reasoning, served.text) == ("plan it", "the river.")
    for output in (QWEN3, R1_TEMPLATE_OPENED, GPT_OSS):
        parsed = parse_choice({"message": {"content": output}, "finish_reason": "stop"})
        assert parsed.text == "the river is calm today."
        assert parsed.reasoning


LOWER = {"id": "c1", "kind": "code", "checker": "t:lower"}
SHORT = {"id": "c2", "kind": "code", "checker": "t:words", "kwargs": {"relation": "less than", "num_words": 50}}
NO_RIVER = {"id": "c3", "kind": "code", "checker": "t:forbid", "kwargs": {"forbidden_words": ["river"]}}
PLAN = VerificationPlan.model_validate({"checks": [LOWER, SHORT, NO_RIVER]})


@pytest.mark.parametrize("output", [TRUNCATED, HARMONY_NO_FINAL, "", "   \n"])
def test_no_final_answer_fails_every_check_even_the_ones_nothing_satisfies(output: str) -> None:
    # lowercase, short and "no river" all hold for the empty string: they must still fail.
    verdict = verify_response(split_reasoning(output)[1], PLAN)
    assert [c.passed for c in verdict.checks] == [False, False, False]
    assert {c.evidence for c in verdict.checks} == {NO_ANSWER}


def gt(*checks: dict[str, Any], baseline: float | None = None) -> str:
    data: dict[str, Any] = {
        "format": GROUND_TRUTH_FORMAT,
        "instruction": "Write about water.",
        "plan": {"checks": list(checks)},
    }
    if baseline is not None:
        data["baseline_mean_satisfied"] = baseline
    return json.dumps(data)


RIVER = {"id": "k1", "kind": "code", "checker": "t:kw", "kwargs": {"keywords": ["river"]}}
CALM = {"id": "k2", "kind": "code", "checker": "t:kw", "kwargs": {"keywords": ["calm"]}}
# three checks; the student's no-reasoning baseline satisfied 2 of them on average
GT2 = gt(RIVER, CALM, LOWER, baseline=2.0)
THINK = "<think>\nplan the answer\n</think>\n\n{}"
FORCED_NO_COT = "<think>\n\n</think>\n{}"  # RAIF's empty think block that forces a direct answer


@pytest.mark.parametrize(
    ("completion", "satisfied", "masked"),
    [
        (THINK.format("the river is calm."), 3, False),  # beats the baseline: counts
        (THINK.format("The river is calm."), 2, False),  # ties the baseline (>=): counts
        (THINK.format("The river."), 1, True),  # below the baseline: does not count
        ("The river.", 1, False),  # no reasoning: the rule does not apply
        (FORCED_NO_COT.format("The river."), 1, False),  # empty think block = no reasoning
        ("<think>plan the answer, then", 0, False),  # reasoning and no answer: keeps its penalty (RAIF)
    ],
    ids=["beats", "ties", "below", "no-reasoning", "forced-no-cot", "no-answer"],
)
def test_contrast_rule_worked_examples(completion: str, satisfied: int, masked: bool) -> None:
    plain = score_response(completion, GT2)
    result = score_response(completion, GT2, contrast=True)
    assert result.verdict.n_passed == satisfied
    assert result.contrast_masked is masked
    assert result.score == (0.0 if masked else plain.score)
    trl = make_trl_reward(contrast=True)(["p"], [completion], [GT2])
    assert trl == [result.score]
    assert compute_score("complexify", completion, GT2, {"contrast": True}) == result.score


def test_a_fractional_baseline_and_a_custom_masked_score() -> None:
    below = THINK.format("The river.")  # 1 satisfied
    assert score_response(below, gt(RIVER, CALM, LOWER, baseline=1.5), contrast=True).contrast_masked
    assert not score_response(
        THINK.format("The river is calm."), gt(RIVER, CALM, LOWER, baseline=1.5), contrast=True
    ).contrast_masked
    assert compute_score("x", below, GT2, {"contrast": True, "masked_score": -1.0}) == -1.0
    assert make_trl_reward(score="drfr", contrast=True, masked_score=-0.5)(["p"], [below], [GT2]) == [-0.5]


def test_contrast_without_a_baseline_is_a_clear_error() -> None:
    with pytest.raises(GroundTruthError, match="baseline_mean_satisfied"):
        score_response(THINK.format("the river"), gt(RIVER), contrast=True)
    # without the option, a ground truth without a baseline is fine
    assert score_response(THINK.format("the river"), gt(RIVER)).score == 2.0


@pytest.mark.parametrize("bad", [-1, "2", True, float("inf")])
def test_a_malformed_baseline_is_rejected(bad: Any) -> None:
    text = json.dumps({"format": GROUND_TRUTH_FORMAT, "plan": {"checks": [RIVER]}, "baseline_mean_satisfied": bad})
    with pytest.raises(GroundTruthError, match="baseline_mean_satisfied"):
        score_response("the river", text)


def test_apply_contrast_is_the_rule_itself() -> None:
    assert apply_contrast(1.5, 2, 2.0, reasoned=True) == (1.5, False)
    assert apply_contrast(1.5, 1, 2.0, reasoned=True) == (0.0, True)
    assert apply_contrast(1.5, 1, 2.0, reasoned=False) == (1.5, False)
    assert apply_contrast(-2.0, 0, 2.0, reasoned=True, answered=False) == (-2.0, False)
    with pytest.raises(GroundTruthError):
        apply_contrast(1.0, 1, None, reasoned=True)
