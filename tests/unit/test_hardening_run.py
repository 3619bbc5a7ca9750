"""Hardening inside a run: an easy instruction's harder child is answered and stored with its parent and round,
and the statistics report the pass rate by round (scripted model: pure logic)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline import store
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import tree_category
from pipeline.models import Response, Seed
from pipeline.run.config import RoleConfig, RunConfig, parse_config
from pipeline.run.serving import with_hardening
from pipeline.run.stages import BatchResult, BatchSpec, ChatFn, Judged, Models, measured_pass_rate
from tests.helpers.batches import compose_spec, run_spec

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(7)]
ANSWER = "all lowercase words here"


def answering(text: str) -> ChatFn:
    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        return [[Response(text=text, candidate=k, model="scripted") for k in range(n)] for _ in conversations]

    return chat


def config(hardening: dict[str, object] | None) -> RunConfig:
    data: dict[str, object] = {
        "samples": 4, "mix": {"Single": 1, "And_1": 1},
        "models": {"responder": {"n": 2}, "rewriter": {"enabled": False}}, "fidelity": {"enabled": False},
    }  # fmt: skip
    if hardening is not None:
        data["hardening"] = hardening
    return parse_config(data)


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy(FIXTURE, check_checkers=False)


def lowercase_single(tax: Taxonomy, cfg: RunConfig) -> BatchSpec:
    """A one-instruction batch whose Single instruction's only check is t:lower, which ANSWER passes."""
    for i in range(300):
        spec = BatchSpec(index=0, items=((i, "Single"),))
        if [c.spec_id for c in compose_spec(spec, SEEDS, tax, cfg)[0].plan.checks] == ["t:lower"]:
            return spec
    raise AssertionError("no t:lower instruction in 300 draws")


def run(tax: Taxonomy, cfg: RunConfig, answer: str = ANSWER) -> BatchResult:
    models = with_hardening(Models(chat=answering(answer), judge=None), cfg, tax)
    return run_spec(lowercase_single(tax, cfg), SEEDS, tax, cfg, models, run_id="r", run_fingerprint="fp-hard")


def test_an_easy_instruction_gets_one_harder_child_per_round(tax: Taxonomy) -> None:
    result = run(tax, config({"enabled": True, "threshold": 0.5, "rounds": 1}))
    parent, child = result.instructions  # every first answer passed (rate 1.0 > 0.5); one round only
    assert (parent.hardening_round, child.hardening_round, child.parent_id) == (0, 1, parent.id)
    assert len(child.plan.checks) == len(parent.plan.checks) + 1 and child.category == tree_category(child.tree)
    assert result.stats["hardened"] == 1
    answered = {s.instruction.id for s in [*result.kept, *result.rejects]}
    assert answered == {parent.id, child.id}  # the child was answered and verified like any instruction


def test_nothing_is_hardened_when_off_or_when_the_instruction_is_hard_enough(tax: Taxonomy) -> None:
    assert len(run(tax, config(None)).instructions) == 1
    # an answer in capitals fails t:lower: pass rate 0, not above the threshold, nothing to harden
    failing = run(tax, config({"enabled": True, "threshold": 0.5, "rounds": 3}), answer="ALL CAPITALS HERE")
    assert len(failing.instructions) == 1 and failing.stats["hardened"] == 0
    hard = run(tax, config({"enabled": True, "threshold": 0.5, "rounds": 3}))
    rounds = [i.hardening_round for i in hard.instructions]
    assert rounds == list(range(len(rounds))) and 2 <= len(rounds) <= 4  # each round hardens the one before
    for before, after in zip(hard.instructions, hard.instructions[1:], strict=False):
        assert after.parent_id == before.id


def test_the_pass_rate_is_the_students_when_measured_else_the_first_answers() -> None:
    assert measured_pass_rate([], None) is None
    cfg = config(None)
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    result = run(tax, cfg)
    judged = [
        Judged(s.instruction, s.response, s.verdict, s.kept, s.reject_reasons) for s in [*result.kept, *result.rejects]
    ]
    first = [j for j in judged if j.response.round == 0]
    assert measured_pass_rate(judged, None) == sum(j.verdict.all_pass for j in first) / len(first)


def test_the_statistics_report_pass_rate_by_round(tax: Taxonomy, tmp_path: Path) -> None:
    cfg = config({"enabled": True, "threshold": 0.5, "rounds": 1})
    result = run(tax, cfg)
    root = tmp_path / "out"
    paths = store.open_run(root, "fp-hard", {"name": "hardening"})
    store.write_batch(paths, 0, result.instructions, result.kept, result.rejects)
    store.refresh_catalog(root)
    with store.open_catalog(root, refresh=False) as con:
        rounds = store.run_stats(con, "fp-hard").hardening_rounds()
    assert sorted(rounds) == [0, 1]
    for k, row in rounds.items():
        mine = [s for s in [*result.kept, *result.rejects] if s.instruction.hardening_round == k]
        first = [s for s in mine if s.response.round == 0]
        assert (row.instructions, row.candidates, row.kept) == (1, len(mine), sum(s.kept for s in mine))
        assert (row.checks, row.passed) == (len(first), sum(s.verdict.all_pass for s in first))
    assert rounds[0].pass_rate == 1.0  # the parent was easy: that is why it was hardened


@pytest.mark.parametrize(("moves", "category"), [(["chain_step"], "Chain_1"), (["selection_level"], "Selection_1")])
def test_the_configured_moves_shape_the_harder_child(tax: Taxonomy, moves: list[str], category: str) -> None:
    result = run(tax, config({"enabled": True, "threshold": 0.5, "rounds": 1, "moves": moves}))
    parent, child = result.instructions  # the Single t:lower parent, hardened by the only move allowed
    assert (child.category, child.parent_id, child.hardening_round) == (category, parent.id, 1)
    assert parent.plan.checks[0].kwargs == next(c for c in child.plan.checks if c.spec_id == "t:lower").kwargs
    answered = {s.instruction.id for s in [*result.kept, *result.rejects]}
    assert answered == {parent.id, child.id}
