"""Properties of the quota ledger's planning, on a simulated run (no model, no store): every cell ends met or out of
budget, a cell never gets more attempts than its budget, and a run stopped after any batch and rebuilt from its
batch manifests plans every later batch exactly as the run left alone, whatever the window, the yields and the
hardening requests."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.models import Instruction
from pipeline.run.driver import WAIT, Wait, drive
from pipeline.run.ledger import Cell, Draft, Ledger, QuotaPlan, Request
from pipeline.store.manifest import BatchManifest, SlotRecord

Outcome = Callable[[str], tuple[bool, bool]]  # instruction id -> (passes the gate, proves easy)


def instruction(ins_id: str, hardening_round: int = 0) -> Instruction:
    """A stand-in instruction: the ledger reads only its id, fingerprint and round."""
    return Instruction.model_construct(id=ins_id, fingerprint=f"fp-{ins_id}", hardening_round=hardening_round)


def outcomes(keep_rate: float, easy_rate: float, seed: int) -> Outcome:
    def outcome(ins_id: str) -> tuple[bool, bool]:
        a, b = (int(hashlib.sha256(f"{seed}|{ins_id}|{k}".encode()).hexdigest(), 16) % 1000 / 1000 for k in (0, 1))
        return a < keep_rate, b < easy_rate

    return outcome


@dataclass
class Done:
    """A batch that finished at once (the simulated model answers while it is submitted)."""

    draft: Draft

    def result(self) -> Draft:
        return self.draft


def simulate(ledger: Ledger, outcome: Outcome, done: set[int], stop_after: int | None = None) -> list[BatchManifest]:
    """Drive a run to its end (or until batch `stop_after` is saved) with the ledger; the manifests it saves."""
    manifests: list[BatchManifest] = []
    window = ledger.facts.window

    def harden(request: Request, taken: set[str]) -> Instruction | None:
        child = f"{request.parent_id}+"
        return None if f"fp-{child}" in taken else instruction(child, child.count("+"))

    def plan(index: int) -> Draft | Wait | None:
        draft = ledger.plan(index, harden)
        if isinstance(draft, Draft):
            ins = [child for _, child in draft.follow_ups] + [instruction(f"p{s.position}") for s in draft.fresh]
            ledger.composed(index, ins)
        return draft

    pending: Iterator[int] = (i for i in count() if i not in done)
    for finished in drive(pending, plan, Done, window=window):
        draft = finished.result
        kept = Counter(ledger.kept)
        records = []
        for slot, ins_id in zip(draft.slots, ledger.targets(draft.index), strict=True):
            passes, easy = outcome(ins_id)
            fits = passes and kept[slot.cell] < ledger.quotas[slot.cell]
            kept[slot.cell] += fits
            records.append(SlotRecord(
                position=slot.position, cell=slot.cell, instruction_id=ins_id, parent_id=slot.parent_id,
                hardening_round=slot.hardening_round, kept_in=slot.cell if fits else None,
                outcome="kept" if fits else "unresolved",
                harden=easy and slot.hardening_round < ledger.facts.hardening_rounds,
            ))  # fmt: skip
        ledger.saved(draft.index, records)
        done.add(draft.index)
        manifests.append(manifest(draft.index, records, ledger.dropped(draft.index)))
        if draft.index == stop_after:
            break
    return manifests


def manifest(index: int, slots: list[SlotRecord], dropped: object) -> BatchManifest:
    return BatchManifest.model_validate({
        "format_version": 1, "config_fingerprint": "fp", "run_id": "run", "batch": index, "files": {},
        "categories": {}, "written_at": "now", "writer": {"host": "h", "pid": 1}, "slots": slots, "dropped": dropped,
    })  # fmt: skip


def quota_plan(quotas: list[int], factor: float, batch_size: int, window: int, rounds: int) -> QuotaPlan:
    cells = {Cell("Single", f"d{i}"): q for i, q in enumerate(quotas)}
    return QuotaPlan.of(cells, factor, batch_size=batch_size, window=window, hardening_rounds=rounds)


RUNS = {
    "quotas": st.lists(st.integers(1, 4), min_size=1, max_size=5),
    "factor": st.sampled_from([1.0, 1.5, 3.0]),
    "batch_size": st.integers(1, 5),
    "window": st.integers(1, 4),
    "rounds": st.integers(0, 2),
    "keep_rate": st.floats(0, 1),
    "easy_rate": st.floats(0, 1),
    "seed": st.integers(0, 1000),
}


@settings(max_examples=150, deadline=None)
@given(**RUNS)
def test_the_planner_ends_with_every_cell_met_or_out_of_budget(
    quotas: list[int],
    factor: float,
    batch_size: int,
    window: int,
    rounds: int,
    keep_rate: float,
    easy_rate: float,
    seed: int,
) -> None:
    ledger = Ledger(quota_plan(quotas, factor, batch_size, window, rounds))
    saved = simulate(ledger, outcomes(keep_rate, easy_rate, seed), set())
    assert [m.batch for m in saved] == list(range(len(saved))) and len(saved) < 1000
    for m in saved:
        assert m.slots is not None and 1 <= len(m.slots) <= batch_size
    for key, q in ledger.quotas.items():
        assert ledger.attempts[key] <= ledger.limit(key)  # follow-ups are attempts too
        assert ledger.kept[key] >= q or ledger.attempts[key] == ledger.limit(key)
    children = [s for m in saved for s in m.slots or () if s.parent_id]
    assert all(0 < s.hardening_round <= rounds for s in children)
    assert len({s.parent_id for s in children}) == len(children)  # one follow-up per request at most


@settings(max_examples=150, deadline=None)
@given(**RUNS, stop=st.integers(0, 12))
def test_a_run_rebuilt_from_its_manifests_after_any_batch_plans_as_the_run_left_alone(
    quotas: list[int],
    factor: float,
    batch_size: int,
    window: int,
    rounds: int,
    keep_rate: float,
    easy_rate: float,
    seed: int,
    stop: int,
) -> None:
    plan, outcome = quota_plan(quotas, factor, batch_size, window, rounds), outcomes(keep_rate, easy_rate, seed)
    alone = simulate(Ledger(plan), outcome, set())
    stop = min(stop, len(alone) - 1)
    before = simulate(Ledger(plan), outcome, set(), stop_after=stop)
    assert before == alone[: stop + 1]
    resumed = Ledger.replay(plan, before)  # what a new process knows: the plan and the saved batches
    after = simulate(resumed, outcome, {m.batch for m in before})
    assert before + after == alone
    again = Ledger.replay(plan, alone)
    assert (again.kept, again.attempts, again.costs()) == (resumed.kept, resumed.attempts, resumed.costs())


def test_a_batch_waits_for_the_batch_window_places_before_it() -> None:
    ledger = Ledger(quota_plan([4], 2.0, batch_size=1, window=2, rounds=1))
    first, second = ledger.plan(0, lambda r, t: None), ledger.plan(1, lambda r, t: None)
    assert isinstance(first, Draft) and isinstance(second, Draft)
    assert ledger.plan(2, lambda r, t: None) is WAIT  # batch 0 is not saved: batch 2 cannot be planned yet
