"""The repair turn names what the gate found: failed checks, and task-fidelity and reasoning reasons too."""

from __future__ import annotations

import pytest

from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Seed, Verdict
from pipeline.run.gate import repair_messages, repair_template

TASK = "Explain how a bicycle gear works."


@pytest.fixture(scope="module")
def parts() -> tuple[object, Response, Verdict]:
    ins = compose_instruction(Seed(id="s", text=TASK), "Single", load_taxonomy(), random_seed=3)
    n = len(ins.plan.checks)
    verdict = Verdict(checks=[], all_pass=True, drfr=1.0, raif=2.0, n_checks=n, n_passed=n)
    return ins, Response(text="It must include the words."), verdict


@pytest.mark.parametrize("reason", ["off_task:embedding", "off_task:judge"])
def test_an_off_task_answer_is_told_the_task(parts, reason: str) -> None:  # type: ignore[no-untyped-def]
    ins, response, verdict = parts
    feedback = repair_messages(ins, response, verdict, [reason])[-1]["content"]
    assert f"do this: {TASK}" in feedback
    assert feedback.count("- ") == 1  # one line per problem: every check passed


@pytest.mark.parametrize("reason", ["wrong_answer", "shallow_reasoning", "empty", "truncated"])
def test_other_reasons_have_their_line(parts, reason: str) -> None:  # type: ignore[no-untyped-def]
    ins, response, verdict = parts
    feedback = repair_messages(ins, response, verdict, [reason])[-1]["content"]
    assert repair_template()[reason].format(task=TASK) in feedback


def test_unknown_reasons_add_nothing_and_the_feedback_template_is_never_a_reason(parts) -> None:  # type: ignore[no-untyped-def]
    ins, response, verdict = parts
    feedback = repair_messages(ins, response, verdict, ["quota_full", "feedback"])[-1]["content"]
    assert "the answer did not meet the instruction" in feedback
