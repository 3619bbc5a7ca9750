"""Hardening inside a run: a batch says which of its instructions proved easy, and the run plans each one's harder
child as a follow-up slot of a later batch, on the driving thread, through the duplicate check and charged to the
cell of its parent's slot; the child is answered and stored with its parent and round, and the statistics report
the pass rate by round (scripted model: pure logic)."""

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
from pipeline.run.generate import RunContext, run_locally
from pipeline.run.identity import role_models, template_hashes
from pipeline.run.ledger import RUN_INFO_KEY, Cell, Draft, Ledger, QuotaPlan
from pipeline.run.planning import hardener, open_ledger, quota_plan
from pipeline.run.stages import (
    BatchResult,
    BatchSpec,
    ChatFn,
    Judged,
    Models,
    Provenance,
    measured_pass_rate,
    process_instruction,
)
from tests.helpers.batches import compose_spec, run_spec

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(7)]
ANSWER = "all lowercase words here"


def answering(text: str) -> ChatFn:
    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        return [[Response(text=text, candidate=k, model="scripted") for k in range(n)] for _ in conversations]

    return chat


def config(hardening: dict[str, object] | None, **over: object) -> RunConfig:
    data: dict[str, object] = {
        "samples": 4, "mix": {"Single": 1, "And_1": 1},
        "models": {"responder": {"n": 2}, "rewriter": {"enabled": False}}, "fidelity": {"enabled": False},
    }  # fmt: skip
    if hardening is not None:
        data["hardening"] = hardening
    return parse_config({**data, **over})


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
    return run_spec(
        lowercase_single(tax, cfg), SEEDS, tax, cfg, Models(chat=answering(answer), judge=None), run_id="r"
    )


def test_a_batch_says_which_instructions_proved_easy_and_composes_no_child_itself(tax: Taxonomy) -> None:
    cfg = config({"enabled": True, "threshold": 0.5, "rounds": 1})
    result = run(tax, cfg)
    [parent] = result.instructions  # every first answer passed (rate 1.0 > 0.5): easy, and nothing more in the batch
    assert result.harden == (parent.id,) and "hardened" not in result.stats
    assert run(tax, config(None)).harden == ()  # hardening off
    assert run(tax, cfg, answer="ALL CAPITALS HERE").harden == ()  # rate 0: not above the threshold
    last = parent.model_copy(update={"hardening_round": 1})  # a child of the last round asks for nothing more
    assert process_instruction(last, cfg, Models(answering(ANSWER), None))[-1] is False


def test_the_ledger_plans_a_follow_up_charged_to_the_parents_cell_in_the_next_batch(tax: Taxonomy) -> None:
    cfg = config({"enabled": True, "threshold": 0.5, "rounds": 2})
    [parent] = compose_spec(lowercase_single(tax, cfg), SEEDS, tax, cfg)
    ledger = Ledger(QuotaPlan.of({Cell("Single"): 2, Cell("And_1"): 1}, 2, batch_size=2, hardening_rounds=2))
    harden = hardener(cfg, tax, SEEDS)
    children = {parent.id: parent}

    def child(request, taken):  # type: ignore[no-untyped-def]
        return harden(children[request.parent_id], taken)

    first = ledger.plan(0, child)
    assert isinstance(first, Draft) and not first.follow_ups and len(first.fresh) == 2
    single = next(i for i, s in enumerate(first.fresh) if s.cell == "Single")
    fresh = [parent if i == single else parent.model_copy(update={"id": "other"}) for i in range(2)]
    ledger.composed(0, fresh)
    slots = ledger.outcomes(0, [], [], {}, harden=[parent.id])
    assert [s.harden for s in slots] == [s.instruction_id == parent.id for s in slots]
    ledger.saved(0, slots)
    assert ledger.pending_parents() == {parent.id}
    second = ledger.plan(1, child)
    assert isinstance(second, Draft)
    [(slot, kid)] = second.follow_ups
    assert (slot.cell, slot.parent_id, slot.hardening_round) == ("Single", parent.id, 1)
    assert (kid.parent_id, kid.hardening_round, kid.category) == (parent.id, 1, tree_category(kid.tree))
    assert len(kid.plan.checks) > len(parent.plan.checks) and second.slots[0] == slot  # follow-ups come first
    assert ledger.attempts["Single"] == 1 + sum(s.cell == "Single" for s in second.slots)  # the child is an attempt
    assert ledger.pending_parents() == set()  # answered: a resumed run does not plan it again


def test_a_follow_up_goes_through_the_duplicate_check(tax: Taxonomy) -> None:
    cfg = config({"enabled": True, "threshold": 0.5, "rounds": 2})
    [parent] = compose_spec(lowercase_single(tax, cfg), SEEDS, tax, cfg)
    harden = hardener(cfg, tax, SEEDS)
    first = harden(parent, set())
    assert first is not None and harden(parent, set()) == first  # deterministic
    again = harden(parent, {first.fingerprint})
    assert again is None or again.fingerprint != first.fingerprint  # drawn again, never the same child twice


def open_context(cfg: RunConfig, tax: Taxonomy, chat: ChatFn) -> RunContext:
    root = cfg.resolve(cfg.output_dir)
    run = store.open_run(root, "fp-hard", {"name": "hardening", RUN_INFO_KEY: quota_plan(cfg).to_json()})
    provenance = Provenance(run.run_id, run.fingerprint, role_models(cfg), template_hashes())
    return RunContext(
        cfg, SEEDS, tax, Models(chat=chat, judge=None), run, provenance, open_ledger(cfg, run), set(), print
    )


def test_a_whole_run_answers_and_stores_each_child_after_its_parent(tax: Taxonomy, tmp_path: Path) -> None:
    cfg = config(
        {"enabled": True, "threshold": 0.5, "rounds": 2}, samples=3, mix={"Single": 1}, attempts_factor=4,
        batch_size=2, batches_in_flight=2, repair_rounds=0, output_dir=str(tmp_path / "out"),
    )  # fmt: skip
    ctx = open_context(cfg, tax, answering(ANSWER))
    summary = run_locally(ctx)
    batch_of = {}
    for m in store.manifests(ctx.run):
        assert m.slots is not None
        for slot in m.slots:
            batch_of[slot.instruction_id] = m.batch
    instructions = {i.id: i for i in store.load_instructions(ctx.run)}
    children = [i for i in instructions.values() if i.parent_id is not None]
    assert children, "nothing was hardened"
    slots = {s.instruction_id: s for m in store.manifests(ctx.run) for s in m.slots or ()}
    for kid in children:
        parent = instructions[kid.parent_id]
        assert batch_of[parent.id] + cfg.batches_in_flight <= batch_of[kid.id]  # planned after the parent was saved
        assert kid.hardening_round == parent.hardening_round + 1 and slots[parent.id].harden
        assert slots[kid.id].parent_id == parent.id and slots[kid.id].cell == slots[parent.id].cell
    assert summary.totals["hardened"] == len(children)
    assert sum(s.attempts for s in summary.quota) == len(instructions) <= 12  # children are attempts too
    fingerprints = [i.fingerprint for i in instructions.values()]
    assert len(fingerprints) == len(set(fingerprints))
    resumed = open_ledger(cfg, ctx.run)  # the run's record and manifests give back the same ledger
    assert (resumed.kept, resumed.attempts, resumed.costs()) == (
        ctx.ledger.kept,
        ctx.ledger.attempts,
        ctx.ledger.costs(),
    )
    assert resumed.pending_parents() == ctx.ledger.pending_parents()


def test_the_statistics_report_pass_rate_by_round(tax: Taxonomy, tmp_path: Path) -> None:
    cfg = config(
        {"enabled": True, "threshold": 0.5, "rounds": 1}, samples=2, mix={"Single": 1}, attempts_factor=4,
        batch_size=2, batches_in_flight=1, repair_rounds=0, output_dir=str(tmp_path / "out"),
    )  # fmt: skip
    ctx = open_context(cfg, tax, answering(ANSWER))
    run_locally(ctx)
    with store.open_catalog(tmp_path / "out", refresh=False) as con:
        rounds = store.run_stats(con, "fp-hard").hardening_rounds()
    assert sorted(rounds) == [0, 1]
    candidates = [*store.load_samples(ctx.run), *store.load_samples(ctx.run, kept=False)]
    for k, row in rounds.items():
        mine = [s for s in candidates if s.instruction.hardening_round == k]
        first = [s for s in mine if s.response.round == 0]
        assert (row.instructions, row.candidates, row.kept) == (
            len({s.instruction.id for s in mine}),
            len(mine),
            sum(s.kept for s in mine),
        )
        assert (row.checks, row.passed) == (len(first), sum(s.verdict.all_pass for s in first))
    assert rounds[1].instructions >= 1


def test_the_pass_rate_is_the_students_when_measured_else_the_first_answers(tax: Taxonomy) -> None:
    assert measured_pass_rate([], None) is None
    result = run(tax, config(None))
    judged = [
        Judged(s.instruction, s.response, s.verdict, s.kept, s.reject_reasons) for s in [*result.kept, *result.rejects]
    ]
    first = [j for j in judged if j.response.round == 0]
    assert measured_pass_rate(judged, None) == sum(j.verdict.all_pass for j in first) / len(first)


@pytest.mark.parametrize(("moves", "category"), [(["chain_step"], "Chain_1"), (["selection_level"], "Selection_1")])
def test_the_configured_moves_shape_the_harder_child(tax: Taxonomy, moves: list[str], category: str) -> None:
    cfg = config({"enabled": True, "threshold": 0.5, "rounds": 1, "moves": moves})
    [parent] = compose_spec(lowercase_single(tax, cfg), SEEDS, tax, cfg)
    child = hardener(cfg, tax, SEEDS)(parent, set())
    assert child is not None and (child.category, child.parent_id, child.hardening_round) == (category, parent.id, 1)
    assert parent.plan.checks[0].kwargs == next(c for c in child.plan.checks if c.spec_id == "t:lower").kwargs
