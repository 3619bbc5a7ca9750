"""Batch planning, quota capping and the per-batch steps, with a scripted model (pure logic only)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Seed
from pipeline.run.config import RoleConfig, parse_config
from pipeline.run.identity import config_hash
from pipeline.run.ledger import Cell, Draft, Ledger, QuotaPlan
from pipeline.run.planning import quotas_for, seed_order
from pipeline.run.quota import cap_to_quota
from pipeline.run.stages import BatchResult, Models, seed_for
from tests.helpers.batches import planned_spec, run_spec
from tests.helpers.instructions import instruction_with, run_instructions

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(7)]


def test_planning_follows_deficits_and_attempt_limits() -> None:
    # a window of 8 batches: each of these is planned before any is saved, as a run with 8 batches in flight does
    ledger = Ledger(QuotaPlan.of({Cell("Single"): 3, Cell("And_1"): 1}, attempts_factor=2, batch_size=4, window=8))
    drafts = []
    while isinstance(draft := ledger.plan(len(drafts), lambda request, taken: None), Draft):
        drafts.append(draft)
    assert draft is None  # nothing kept, nothing asks to be hardened: done once the budgets are spent
    planned = [slot.cell for d in drafts for slot in d.fresh]
    assert planned.count("Single") == 6 and planned.count("And_1") == 2  # quota x factor, nothing kept
    positions = [slot.position for d in drafts for slot in d.fresh]
    assert len(positions) == len(set(positions))


def test_cap_to_quota_moves_surplus_to_rejects() -> None:
    cfg = parse_config(
        {
            "samples": 2,
            "mix": {"Single": 1},
            "compose": {"checkers": "code"},
            "models": {"rewriter": {"enabled": False}},
        }
    )
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    spec = planned_spec(cfg.model_copy(update={"batch_size": 3}))
    result = run_spec(spec, SEEDS, tax, cfg, Models(chat=scripted("ok"), judge=None), run_id="r")
    forced = BatchResult(
        result.index, result.instructions, [s.model_copy(update={"kept": True}) for s in result.rejects[:3]], []
    )
    filled: Counter[str] = Counter()
    capped, cells = cap_to_quota(forced, quotas_for(cfg), filled)
    assert len(capped.kept) == 2 and all(r.reject_reasons == ["quota_full"] for r in capped.rejects)
    assert filled["Single"] == 2 and set(cells.values()) == {"Single"} and set(cells) == {s.id for s in capped.kept}


def test_seed_order_is_fixed_and_cycles() -> None:
    a = [seed_for(i, seed_order(len(SEEDS), 3), SEEDS).id for i in range(14)]
    assert a == [seed_for(i, seed_order(len(SEEDS), 3), SEEDS).id for i in range(14)]
    assert sorted(a[:7]) == sorted(s.id for s in SEEDS) and a[:7] == a[7:]


def scripted(text: str, finish: str = "stop"):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        calls.append(len(conversations))
        return [[Response(text=text, finish_reason=finish, candidate=k) for k in range(n)] for _ in conversations]

    chat.calls = calls  # type: ignore[attr-defined]
    return chat


@pytest.mark.parametrize(("text", "finish"), [("", "stop"), ("some answer", "length")])
def test_bad_answers_are_rejected_with_reasons_and_repaired(text: str, finish: str) -> None:
    cfg = parse_config({"samples": 2, "mix": {"Chain_1": 1}, "repair_rounds": 2, "models": {"responder": {"n": 3}}})
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    spec = planned_spec(cfg.model_copy(update={"batch_size": 2}))
    chat = scripted(text, finish)
    result = run_spec(spec, SEEDS, tax, cfg, Models(chat=chat, judge=None), run_id="r")
    assert result.kept == []
    # 2 instructions x (3 candidates + 2 repair rounds)
    assert len(result.rejects) == 2 * (3 + 2)
    expected = "empty" if text == "" else "truncated"
    assert all(expected in r.reject_reasons for r in result.rejects)
    assert chat.calls == [1] * 8  # per instruction, on its own: rewrite, answer, repair 1, repair 2
    assert {r.response.round for r in result.rejects} == {0, 1, 2}
    ids = [r.id for r in result.rejects]
    assert len(ids) == len(set(ids))
    # a truncated rewrite keeps the template and says why
    assert len(result.instructions) == 2
    if finish == "length":
        assert all(i.rewrite_note == "rewrite truncated" for i in result.instructions)


def test_a_passing_answer_is_kept_once_per_instruction() -> None:
    # the scripted answer does not describe the object: the task-fidelity gate is not what this test is about
    cfg = parse_config(
        {
            "samples": 1,
            "mix": {"Single": 1},
            "models": {"responder": {"n": 3}, "rewriter": {"enabled": False}},
            "fidelity": {"enabled": False},
        }
    )
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    ins = instruction_with(SEEDS[0], ["t:lower"], tax)  # one check, which a lowercase answer passes
    assert ins.category == "Single" and [c.spec_id for c in ins.plan.checks] == ["t:lower"]
    result = run_instructions([ins], cfg, Models(chat=scripted("all lowercase words here"), judge=None), run_id="r")
    assert result.instructions == [ins] and len(result.kept) == 1 and result.kept[0].verdict.all_pass
    assert sorted(r.reject_reasons[0] for r in result.rejects) == ["surplus_candidate", "surplus_candidate"]
    assert result.kept[0].template_hashes and result.kept[0].run_fingerprint == config_hash(cfg)
    assert quotas_for(cfg) == {"Single": 1}


def test_quotas_add_up_to_the_samples_and_leave_out_empty_categories() -> None:
    cfg = parse_config({"samples": 3, "mix": {"Single": 2, "And_1": 1, "Chain_1": 1, "Selection_1": 1}})
    quotas = quotas_for(cfg)
    assert sum(quotas.values()) == 3 and all(k > 0 for k in quotas.values())
    assert quotas["Single"] == max(quotas.values()) and len(quotas) < 4
