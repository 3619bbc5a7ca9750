"""Dependency-gated scoring, the LLM judge's decision logic, and the RL reward functions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline.checks.registry import CheckResult
from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import Check, Seed, VerificationPlan
from pipeline.verify.judge import LLMJudge, build_judge_messages, decide
from pipeline.verify.plan import JudgeQuery, raif_reward, score, verify_response
from pipeline.verify.reward import (
    compute_score,
    ground_truth_for,
    make_trl_reward,
    parse_ground_truth,
    reward,
    strip_reasoning,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"


def plan_of(*checks: tuple[str, list[str]]) -> VerificationPlan:
    return VerificationPlan(checks=[Check(id=i, kind="code", checker="t:lower", depends_on=d) for i, d in checks])


def test_gating_zeroes_dependents_of_failed_checks() -> None:
    plan = plan_of(("c1", []), ("c2", ["c1"]), ("c3", ["c1", "c2"]), ("c4", []))
    raw = {"c1": CheckResult(False), "c2": CheckResult(True), "c3": CheckResult(True), "c4": CheckResult(True)}
    v = score(plan, raw)
    assert [c.gated for c in v.checks] == [False, False, False, True]
    assert [c.passed for c in v.checks] == [False, True, True, True]
    assert "prerequisite c1 failed" in v.checks[1].evidence
    assert v.drfr == pytest.approx(0.25) and v.raif == pytest.approx(0.25) and not v.all_pass


def test_a_prerequisite_that_is_not_an_earlier_check_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"check 'c1' depends on 'c9', which is not an earlier check"):
        score(plan_of(("c1", ["c9"])), {"c1": CheckResult(True)})
    with pytest.raises(ValueError, match=r"check 'c1' depends on 'c2', which is not an earlier check"):
        verify_response("hello", plan_of(("c1", ["c2"]), ("c2", [])))


@pytest.mark.parametrize(("passed", "n", "expected"), [(3, 3, 2.0), (0, 3, -2.0), (1, 4, 0.25), (0, 0, 0.0)])
def test_raif_reward(passed: int, n: int, expected: float) -> None:
    assert raif_reward(passed, n) == expected


def chain_instruction():  # type: ignore[no-untyped-def]
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seed = Seed(id="s", text="Describe a lighthouse.")
    for i in range(500):
        ins = compose_instruction(seed, "Chain_1", tax, random_seed=i)
        specs = [c.spec_id for c in ins.plan.checks]
        if specs[:2] == ["t:lower", "t:upper"] and len(specs) == 2:
            return ins
    raise AssertionError("no matching instruction found")


def test_chain_parts_are_checked_on_their_own_spans_and_gated() -> None:
    ins = chain_instruction()
    good = "### Part 1\nall lowercase here\n\n### Part 2\nALL CAPS HERE"
    v = verify_response(good, ins.plan)
    assert v.all_pass and v.raif == 2.0
    bad_first = "### Part 1\nNot lowercase\n\n### Part 2\nALL CAPS HERE"
    v = verify_response(bad_first, ins.plan)
    assert [c.passed for c in v.checks] == [False, True]
    assert [c.gated for c in v.checks] == [False, False] and v.raif == -2.0
    missing = verify_response("### Part 1\nall lowercase", ins.plan)
    assert "part 2 not found" in missing.checks[1].evidence


def test_judge_checks_are_skipped_without_a_judge_and_used_with_one() -> None:
    plan = VerificationPlan(
        checks=[
            Check(id="c1", kind="code", checker="t:lower"),
            Check(id="c2", kind="judge", question="Is it formal?", depends_on=["c1"]),
        ]
    )
    v = verify_response("hello", plan)
    # The undecided judge check is reported and counts as unsatisfied: never all-pass, never full reward.
    assert v.skipped == ["c2"] and v.n_checks == 2 and v.n_passed == 1 and not v.all_pass
    assert v.drfr == 0.5 and v.raif == 0.5 and v.checks[1].skipped and not v.checks[1].gated
    asked: list[JudgeQuery] = []

    def judge(queries):  # type: ignore[no-untyped-def]
        asked.extend(queries)
        return [CheckResult(False, "no")]

    v = verify_response("hello", plan, instruction="Say hello formally.", judge=judge)
    assert asked[0].question == "Is it formal?" and asked[0].instruction == "Say hello formally."
    assert not v.all_pass and v.drfr == 0.5 and v.skipped == []


class RecordedScorer:
    """Replays recorded (log P(YES), log P(NO)) pairs in order."""

    def __init__(self, recorded: list[tuple[float, float]]) -> None:
        self.recorded = list(recorded)
        self.calls: list[int] = []

    def yes_no_logprobs(self, conversations):  # type: ignore[no-untyped-def]
        self.calls.append(len(conversations))
        out, self.recorded = self.recorded[: len(conversations)], self.recorded[len(conversations) :]
        return out


def test_llm_judge_decides_by_logprobs_in_batches() -> None:
    scorer = RecordedScorer([(-0.1, -2.5), (-3.0, -0.05), (-0.7, -0.69), (-math.inf, -0.1), (-0.2, -math.inf)])
    judge = LLMJudge(scorer, batch_size=2)
    qs = [JudgeQuery(f"c{i}", "instr", "resp", "Is it good?") for i in range(5)]
    got = [r.passed for r in judge(qs)]
    assert got == [True, False, False, False, True]
    assert scorer.calls == [2, 2, 1]


def test_judge_margin_and_nan() -> None:
    assert decide(-0.5, -0.6).passed and not decide(-0.5, -0.6, margin=0.5).passed
    assert not decide(float("nan"), -1.0).passed


def test_judge_messages_hold_instruction_response_and_question() -> None:
    msgs = build_judge_messages(JudgeQuery("c1", "Write a poem.", "roses are red", "Does it rhyme?"))
    assert msgs[0]["role"] == "system" and "YES or NO" in msgs[0]["content"]
    assert (
        "Write a poem." in msgs[1]["content"]
        and "roses are red" in msgs[1]["content"]
        and "Does it rhyme?" in msgs[1]["content"]
    )


def test_reward_functions_from_published_ground_truth() -> None:
    ins = chain_instruction()
    gt = ground_truth_for(ins)
    assert parse_ground_truth(gt).plan == ins.plan
    good = "<think>lower then upper</think>### Part 1\nall lowercase here\n\n### Part 2\nALL CAPS HERE"
    bad = "### Part 1\nNope\n\n### Part 2\nnope"
    assert reward([ins.prompt] * 2, [good, bad], [gt, gt]) == [2.0, -2.0]
    chat = [[{"role": "user", "content": "x"}, {"role": "assistant", "content": good}]]
    assert reward([ins.prompt], chat, [gt]) == [2.0]
    assert make_trl_reward(score="all_pass")([""], [bad], [gt]) == [0.0]
    assert compute_score("complexify", good, gt) == 2.0
    assert compute_score("complexify", good, gt, {"strip_think": False}) < 2.0  # the think text breaks Part 1
    assert compute_score("complexify", bad, gt, {"score": "drfr"}) == 0.0


@pytest.mark.parametrize(
    "bad",
    ["not json", json.dumps({"plan": {}}), json.dumps({"format": "complexify.plan/v1", "plan": {"checks": "x"}})],
)
def test_bad_ground_truth_is_a_clear_error(bad: str) -> None:
    with pytest.raises(UserInputError, match="ground_truth"):
        compute_score("complexify", "answer", bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>a</think>answer", "answer"),
        ("<THINK>a\nb</THINK>\n answer ", "answer"),
        ("<think>never closed", ""),
        ("plain", "plain"),
    ],
)
def test_strip_reasoning(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected
