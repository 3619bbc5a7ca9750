"""Plan-first reasoning: a plan request, then the answer with the plan in view; the plan is the answer's reasoning."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import FAILED_PREFIX, Response, Seed, Verdict
from pipeline.run.config import RoleConfig, StudentConfig
from pipeline.run.difficulty import measure_student, plan_first_answers, reasoning_template


class Scripted:
    """Plans are "plan <prompt> <k>", answers "answer to <plan>"; prompts named "reject" fail at the plan request."""

    def __init__(self) -> None:
        self.calls: list[list[list[dict[str, str]]]] = []

    def __call__(self, conversations: Sequence[list[dict[str, str]]], role: object, n: int) -> list[list[Response]]:
        self.calls.append([list(c) for c in conversations])
        out = []
        for conv in conversations:
            system, user = conv[0]["content"], conv[-1]["content"]
            if user == "reject":
                out.append([Response(text="", finish_reason=f"{FAILED_PREFIX}prompt_too_long")])
            elif system == reasoning_template()["plan_system"]:
                out.append(
                    [Response(text=f" plan {user} {k} ", completion_tokens=3, prompt_tokens=10) for k in range(n)]
                )
            else:
                plan = system.split("\n\n")[1]
                out.append(
                    [Response(text=f"answer to {plan}", completion_tokens=5, prompt_tokens=20) for _ in range(n)]
                )
        return out


def test_every_answer_carries_its_own_plan_as_reasoning() -> None:
    chat = Scripted()
    [first, second] = plan_first_answers(chat, ["a", "b"], RoleConfig(), 2)
    assert [(r.reasoning, r.text, r.candidate) for r in first] == [
        ("plan a 0", "answer to plan a 0", 0),
        ("plan a 1", "answer to plan a 1", 1),
    ]
    assert [r.reasoning for r in second] == ["plan b 0", "plan b 1"]
    assert all((r.completion_tokens, r.prompt_tokens) == (8, 30) for r in [*first, *second])  # both requests count
    assert [len(c) for c in chat.calls] == [2, 4]  # one plan request per prompt (n plans each), one answer per plan
    assert all(conv[-1]["content"] in ("a", "b") for conv in chat.calls[1])  # the answer request keeps the user prompt


def test_a_rejected_plan_request_stands_and_costs_no_answer_request() -> None:
    chat = Scripted()
    [rejected, ok] = plan_first_answers(chat, ["reject", "b"], RoleConfig(), 2)
    assert [r.finish_reason for r in rejected] == [f"{FAILED_PREFIX}prompt_too_long"]
    assert [r.reasoning for r in ok] == ["plan b 0", "plan b 1"] and len(chat.calls[1]) == 2


def test_the_students_plan_first_rollouts_have_traces() -> None:
    ins = compose_instruction(Seed(id="s", text="Describe a lighthouse."), "Single", load_taxonomy(), random_seed=1)
    student = StudentConfig(enabled=True, rollouts=2, reasoning=True, reasoning_style="plan_first")
    empty = Verdict(checks=[], all_pass=False, drfr=0.0, raif=-2.0, n_checks=1, n_passed=0)
    ev, counts = measure_student(ins, student, Scripted(), lambda resp: empty)
    plain, reasoned = ev.rollouts[:2], ev.rollouts[2:]
    assert all(r.reasoning is None and not r.with_reasoning for r in plain)
    assert all(r.with_reasoning and r.reasoning and r.reasoning.startswith("plan ") for r in reasoned)
    assert counts["student_reasoning_traces"] == 2 and ev.outcome == "tied"


def test_a_repaired_plan_first_answer_is_revised_under_its_plan_and_keeps_it_as_reasoning() -> None:
    from pathlib import Path

    import tests.helpers.fixture_checkers  # noqa: F401
    from pipeline.run.config import parse_config
    from pipeline.run.stages import BatchSpec, Models
    from tests.helpers.batches import compose_spec, run_spec

    tax = load_taxonomy(Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy", check_checkers=False)
    cfg = parse_config({
        "samples": 1, "mix": {"Single": 1}, "repair_rounds": 1, "fidelity": {"enabled": False},
        "models": {"rewriter": {"enabled": False}, "responder": {"n": 1, "reasoning": "plan_first"}},
    })  # fmt: skip
    seeds = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(7)]
    specs = (BatchSpec(0, ((i, "Single"),)) for i in range(300))  # a Single whose one check is t:lower
    spec = next(
        s for s in specs if [c.spec_id for c in compose_spec(s, seeds, tax, cfg)[0].plan.checks] == ["t:lower"]
    )
    calls: list[list[dict[str, str]]] = []

    def chat(conversations: Sequence[list[dict[str, str]]], role: object, n: int) -> list[list[Response]]:
        calls.extend(list(c) for c in conversations)
        out = []
        for conv in conversations:
            if conv[0]["content"] == reasoning_template()["plan_system"]:
                out.append([Response(text="the plan", candidate=k) for k in range(n)])
            elif any(m["role"] == "assistant" for m in conv):  # the repair turn: a lowercase answer passes t:lower
                out.append([Response(text="a quiet lowercase answer") for _ in range(n)])
            else:
                out.append([Response(text="A SHOUTED ANSWER") for _ in range(n)])
        return out

    result = run_spec(spec, seeds, tax, cfg, Models(chat=chat, judge=None), run_id="r")
    [kept] = result.kept
    assert kept.response.round == 1 and kept.response.reasoning == "the plan"
    [repair] = [c for c in calls if any(m["role"] == "assistant" for m in c)]
    assert repair[0] == {"role": "system", "content": reasoning_template()["answer_system"].format(plan="the plan")}
