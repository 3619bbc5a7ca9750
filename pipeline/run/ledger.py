"""The run's one quota ledger: per quota cell its quota and attempt budget, every planned slot and its outcome.

A run's quotas are kept per cell (a category, or a grid cell: category x dimension x band x rendering). Each batch
is a list of slots: a slot is one instruction the run composes and answers, charged as one attempt to the cell it
was planned for. A slot's outcome is the cell its kept sample counts in (a sample counts where it fits, so a
hardened child that changed category fills a cell of its new category), or why nothing was kept; and whether its
instruction proved easy, which asks for a follow-up slot holding its harder child, charged to the same cell (planned
while that cell has attempts left and some quota is open; dropped otherwise, with the reason in the manifest).

Planning is a pure function of the ledger, so the same inputs give the same batches however the run is
interrupted: batch j is planned on the outcomes of batches <= j - window (those saved when a run with `window`
batches in flight plans it) and the slots of every batch planned before it. When nothing can be planned yet but
a batch in flight may still ask for follow-ups, the planner waits for the next batch and looks again. A resumed
run rebuilds the ledger from the run record (quotas, budgets, batch size, window) and the batch manifests (slots
and outcomes), and plans its next batches exactly as the run did before it was stopped; `complexify stats` and
`publish` read the same facts. The config is never parsed again for any of this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.construct.tree import split_by_weight
from pipeline.models import Instruction, Sample
from pipeline.run.difficulty import rollout_tokens
from pipeline.run.driver import WAIT, Wait
from pipeline.store.errors import StoreError
from pipeline.store.manifest import BatchManifest, DroppedRequest, SlotRecord, UsageRow
from pipeline.store.usage import UsageTable

RUN_INFO_KEY = "quota_plan"  # where run.json keeps the run's QuotaPlan


@dataclass(frozen=True, order=True)
class Cell:
    """A quota cell, the ledger's key: a category, with the grid axes when the run has a grid (None: no such axis)."""

    category: str
    dimension: str | None = None
    band: str | None = None
    rendering: str | None = None

    @property
    def key(self) -> str:
        """The cell's name in records and reports: "category/dimension/band/rendering", only the axes it has."""
        return "/".join(x for x in (self.category, self.dimension, self.band, self.rendering) if x is not None)


def budget_of(quota: int, attempts_factor: float) -> int:
    """Instructions a cell may get at most: quota x attempts_factor, rounded up (at least one)."""
    return max(1, int(quota * attempts_factor + 0.999))


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CellQuota(_Fact):
    cell: Cell
    quota: int
    budget: int  # attempts at most


class QuotaPlan(_Fact):
    """The facts a run's planning rests on, written into its run record when it starts: every cell (in planning
    order) with its quota and attempt budget, the batch size, the batches in flight (`window`) and the hardening
    rounds (0: no hardening)."""

    cells: tuple[CellQuota, ...]
    batch_size: int
    window: int
    hardening_rounds: int = 0

    @classmethod
    def of(
        cls,
        quotas: Mapping[Cell, int],
        attempts_factor: float,
        *,
        batch_size: int,
        window: int = 1,
        hardening_rounds: int = 0,
    ) -> QuotaPlan:
        cells = tuple(
            CellQuota(cell=c, quota=q, budget=budget_of(q, attempts_factor)) for c, q in quotas.items() if q > 0
        )
        return cls(cells=cells, batch_size=batch_size, window=window, hardening_rounds=hardening_rounds)

    @classmethod
    def from_run_info(cls, info: Mapping[str, Any], where: str) -> QuotaPlan | None:
        """The plan a run record holds; None for a run recorded before plans were (a StoreError when malformed)."""
        data = info.get(RUN_INFO_KEY)
        if data is None:
            return None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise StoreError(f"{where}: {RUN_INFO_KEY} is not a quota plan ({exc.errors()[0]['msg']})") from exc

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class CellRow:
    """A cell's quota state: quota, kept (at most the quota), attempts, the attempt budget, met."""

    cell: str
    quota: int
    kept: int
    attempts: int
    budget: int
    met: bool


@dataclass(frozen=True)
class CategoryRow:
    """A category's quota state, its cells summed: quota, kept, attempts, met (every cell met)."""

    category: str
    quota: int
    kept: int
    attempts: int
    met: bool


@dataclass(frozen=True)
class CellCost:
    """What a cell's slots cost: instructions composed for it, hardened follow-ups charged to it, their candidates
    and generated tokens (student rollouts included); and the samples kept in the cell."""

    instructions: int = 0
    hardened: int = 0
    candidates: int = 0
    completion_tokens: int = 0
    kept: int = 0


@dataclass(frozen=True)
class Slot:
    """A planned slot: its place in the run, the cell it is charged to, and for a follow-up the instruction it
    hardens and the round of its child."""

    position: int
    cell: str
    parent_id: str | None = None
    hardening_round: int = 0


@dataclass(frozen=True)
class Request:
    """A request to harden the instruction of a saved slot that proved easy: its follow-up is charged to `cell`."""

    parent_id: str
    cell: str


@dataclass(frozen=True)
class Draft:
    """One batch as planned: follow-up slots with their composed children first, then fresh slots to compose, and
    the requests planning dropped (no_fit, no_budget, settled)."""

    index: int
    follow_ups: tuple[tuple[Slot, Instruction], ...]
    fresh: tuple[Slot, ...]
    dropped: tuple[DroppedRequest, ...]

    @property
    def slots(self) -> tuple[Slot, ...]:
        return (*(s for s, _ in self.follow_ups), *self.fresh)


Harden = Callable[[Request, set[str]], Instruction | None]  # the child, given the children already in the batch


@dataclass
class _Batch:
    """What the ledger knows of one batch: planned (attempts, the requests it answered) and, once saved, outcomes."""

    index: int
    slots: list[Slot]
    attempts: Counter[str]
    resolved: set[str]  # parents whose requests this batch answered (a follow-up) or dropped
    dropped: tuple[DroppedRequest, ...] = ()
    instruction_ids: list[str] = field(default_factory=list)  # one per slot once composed
    saved: bool = False
    kept: Counter[str] = field(default_factory=Counter)
    records: tuple[SlotRecord, ...] | None = None
    costs: dict[str, dict[str, int]] | None = None  # legacy manifests: a grid run's costs per cell


class Ledger:
    """Quotas, budgets, planned slots and their outcomes of one run (see the module docstring).

    `kept` (over saved batches) and `attempts` (over planned ones) are the run's live totals per cell; planning
    uses the totals as of the batches it may see. Only the driving thread changes the ledger.
    """

    def __init__(self, plan: QuotaPlan) -> None:
        self.facts = plan
        self.quotas = {c.cell.key: c.quota for c in plan.cells}
        self.budgets = {c.cell.key: c.budget for c in plan.cells}
        self._category = {c.cell.key: c.cell.category for c in plan.cells}
        self.kept: Counter[str] = Counter(dict.fromkeys(self.quotas, 0))
        self.attempts: Counter[str] = Counter(dict.fromkeys(self.quotas, 0))
        self._batches: dict[int, _Batch] = {}
        self._last_saved = -1  # the highest index of a saved batch
        self._unsaved: set[int] = set()  # planned, not saved yet
        self._resolved: set[str] = set()  # parents whose requests a planned batch answered or dropped
        self._requests: list[tuple[int, Request]] = []  # requests not answered yet, with the batch that raised them
        self.usage = UsageTable()  # the token ledger of the saved batches (pipeline/store/usage.py)

    @classmethod
    def replay(cls, plan: QuotaPlan, manifests: Iterable[BatchManifest]) -> Ledger:
        """The ledger of a stored run: its plan and its saved batches."""
        ledger = cls(plan)
        for m in manifests:
            ledger._load(m)
        return ledger

    def _load(self, m: BatchManifest) -> None:
        self.usage = self.usage.plus(m.usage)
        if m.slots is None:  # written before slots were recorded: counts per cell (grid) or per category
            counts = m.cells or {c: n.model_dump() for c, n in m.categories.items()}
            batch = _Batch(m.batch, [], Counter({c: n.get("instructions", 0) for c, n in counts.items()}), set())
            batch.saved, batch.kept = True, Counter({c: n.get("kept", 0) for c, n in counts.items()})
            batch.costs = m.cells
        else:
            slots = [Slot(r.position, r.cell, r.parent_id, r.hardening_round) for r in m.slots]
            resolved = {r.parent_id for r in m.slots if r.parent_id} | {d.parent_id for d in m.dropped}
            batch = _Batch(m.batch, slots, Counter(s.cell for s in slots), resolved, m.dropped)
            batch.instruction_ids = [r.instruction_id for r in m.slots]
        self._add(batch)
        if m.slots is not None:
            self._settle(batch, m.slots)
        self.kept.update({c: n for c, n in batch.kept.items() if c in self.quotas})

    def _add(self, batch: _Batch) -> None:
        """A planned (or stored) batch: its attempts count, and the requests it answered are no longer pending."""
        self._batches[batch.index] = batch
        self.attempts.update({c: n for c, n in batch.attempts.items() if c in self.quotas})
        self._resolved |= batch.resolved
        self._requests = [(i, r) for i, r in self._requests if r.parent_id not in batch.resolved]
        if batch.saved:
            self._last_saved = max(self._last_saved, batch.index)
        else:
            self._unsaved.add(batch.index)

    def _settle(self, batch: _Batch, records: Sequence[SlotRecord]) -> None:
        batch.saved, batch.records = True, tuple(records)
        batch.kept = Counter(r.kept_in for r in records if r.kept_in is not None)
        raised = (Request(r.instruction_id, r.cell) for r in records if r.harden)
        self._requests += [(batch.index, r) for r in raised if r.parent_id not in self._resolved]
        self._unsaved.discard(batch.index)
        self._last_saved = max(self._last_saved, batch.index)

    # --- the live totals ----------------------------------------------------------------------------------

    def limit(self, key: str) -> int:
        return self.budgets[key]

    def open_cells(self) -> list[str]:
        """Cells still short of their quota and not out of attempts."""
        return [c for c, q in self.quotas.items() if self.kept[c] < q and self.attempts[c] < self.budgets[c]]

    def done(self) -> bool:
        return not self.open_cells()

    def cells(self) -> list[CellRow]:
        return [
            CellRow(k, q, min(self.kept[k], q), self.attempts[k], self.budgets[k], self.kept[k] >= q)
            for k, q in self.quotas.items()
        ]

    def summary(self) -> list[CategoryRow]:
        """One row per category, its cells summed."""
        rows: dict[str, CategoryRow] = {}
        for r in self.cells():
            cat = self._category[r.cell]
            was = rows.get(cat) or CategoryRow(cat, 0, 0, 0, True)
            rows[cat] = CategoryRow(
                cat, was.quota + r.quota, was.kept + r.kept, was.attempts + r.attempts, was.met and r.met
            )
        return list(rows.values())

    def costs(self) -> dict[str, CellCost]:
        """What each cell's slots cost over the saved batches (see CellCost)."""
        sums: dict[str, Counter[str]] = {k: Counter() for k in self.quotas}
        for batch in self._batches.values():
            if batch.costs is not None:
                for key, counts in batch.costs.items():
                    sums.setdefault(key, Counter()).update(counts)
            for r in batch.records or ():
                row = sums.setdefault(r.cell, Counter())
                row["instructions" if r.parent_id is None else "hardened"] += 1
                row.update(candidates=r.candidates, completion_tokens=r.completion_tokens)
                if r.kept_in is not None:
                    sums.setdefault(r.kept_in, Counter())["kept"] += 1
        return {k: CellCost(**{f: int(row[f]) for f in CellCost.__dataclass_fields__}) for k, row in sums.items()}

    # --- planning -----------------------------------------------------------------------------------------

    def plan(self, index: int, harden: Harden) -> Draft | Wait | None:
        """Plan batch `index` (see the module docstring): a Draft, WAIT, or None once nothing is left to do.

        `harden(request, taken)` composes the harder child of a request's instruction, or None when no child fits
        or each one repeats an instruction of the run (`taken`: the fingerprints of the children already planned
        into this batch). The planned batch counts its attempts at once.
        """
        if index in self._batches:
            raise ValueError(f"batch {index} is planned already")
        first = index - self.facts.window  # the batch saved right before this one is planned
        if first >= 0 and not (first in self._batches and self._batches[first].saved):
            return WAIT
        for seen_through in range(first, max(first, self._last_saved) + 1):
            draft = self._plan_at(index, seen_through, harden)
            if draft is not WAIT:
                return draft
        return WAIT

    def _unseen(self, seen_through: int) -> list[_Batch]:
        """Planned batches whose outcomes a plan made on the batches up to `seen_through` does not see."""
        later = (self._batches.get(i) for i in range(seen_through + 1, self._last_saved + 1))
        return [b for b in later if b is not None and b.saved] + [self._batches[i] for i in sorted(self._unsaved)]

    def _plan_at(self, index: int, seen_through: int, harden: Harden) -> Draft | Wait | None:
        unseen = self._unseen(seen_through)
        kept = Counter(self.kept)  # the live totals less what the batches saved after `seen_through` kept
        kept.subtract(sum((b.kept for b in unseen if b.saved), Counter()))
        attempts = Counter(self.attempts)
        settled = not any(kept[c] < q and attempts[c] < self.budgets[c] for c, q in self.quotas.items())
        follow_ups: list[tuple[Slot, Instruction]] = []
        dropped: list[DroppedRequest] = []
        start = index * self.facts.batch_size
        for request in (r for i, r in self._requests if i <= seen_through):
            if len(follow_ups) == self.facts.batch_size:
                break  # the rest waits for the next batch
            if settled or attempts[request.cell] >= self.budgets.get(request.cell, 0):
                dropped.append(
                    DroppedRequest(parent_id=request.parent_id, reason="settled" if settled else "no_budget")
                )
                continue
            child = harden(request, {c.fingerprint for _, c in follow_ups})
            if child is None:
                dropped.append(DroppedRequest(parent_id=request.parent_id, reason="no_fit"))
                continue
            slot = Slot(start + len(follow_ups), request.cell, request.parent_id, child.hardening_round)
            follow_ups.append((slot, child))
            attempts[request.cell] += 1
        fresh = self._fresh(start + len(follow_ups), self.facts.batch_size - len(follow_ups), kept, attempts)
        if not follow_ups and not fresh:
            return WAIT if any(self._may_request(b) for b in unseen) else None
        draft = Draft(index, tuple(follow_ups), tuple(fresh), tuple(dropped))
        resolved = {s.parent_id for s in draft.slots if s.parent_id} | {d.parent_id for d in dropped}
        self._add(_Batch(index, list(draft.slots), Counter(s.cell for s in draft.slots), resolved, draft.dropped))
        return draft

    def _may_request(self, batch: _Batch) -> bool:
        """Whether the batch may still ask for follow-ups once its outcomes are seen."""
        return any(s.hardening_round < self.facts.hardening_rounds for s in batch.slots)

    def _fresh(self, start: int, capacity: int, kept: Counter[str], attempts: Counter[str]) -> list[Slot]:
        """Fresh slots for the open cells, in proportion to what they still lack, within their budgets."""
        open_cells = [c for c, q in self.quotas.items() if kept[c] < q and attempts[c] < self.budgets[c]]
        if capacity <= 0 or not open_cells:
            return []
        deficit = {c: self.quotas[c] - kept[c] for c in open_cells}
        room = {c: self.budgets[c] - attempts[c] for c in open_cells}
        counts = split_by_weight(min(capacity, sum(room.values())), deficit)
        counts = {c: min(k, room[c]) for c, k in counts.items()}
        if sum(counts.values()) == 0:  # tiny batches: give the slot to the neediest open cell
            counts = {max(open_cells, key=lambda c: (deficit[c], c)): 1}
        cells = [c for c in sorted(counts) for _ in range(counts[c])]
        return [Slot(start + j, c) for j, c in enumerate(cells)]

    def composed(self, index: int, instructions: Sequence[Instruction]) -> None:
        """The instructions composed for batch `index`, one per slot in slot order."""
        batch = self._batches[index]
        if len(instructions) != len(batch.slots):
            raise ValueError(f"batch {index} has {len(batch.slots)} slots but {len(instructions)} instructions")
        batch.instruction_ids = [i.id for i in instructions]

    def targets(self, index: int) -> dict[str, str]:
        """Instruction id -> the cell its slot in batch `index` was planned for."""
        batch = self._batches[index]
        return {i: s.cell for i, s in zip(batch.instruction_ids, batch.slots, strict=True)}

    def dropped(self, index: int) -> tuple[DroppedRequest, ...]:
        return self._batches[index].dropped

    def follow_ups(self, index: int) -> int:
        return sum(1 for s in self._batches[index].slots if s.parent_id is not None)

    def pending_parents(self) -> set[str]:
        """Instructions whose requests for a follow-up no planned batch has answered yet."""
        return {r.parent_id for _, r in self._requests}

    def outcomes(
        self,
        index: int,
        kept: Sequence[Sample],
        rejects: Sequence[Sample],
        kept_cells: Mapping[str, str],
        harden: Iterable[str],
    ) -> list[SlotRecord]:
        """The slot records of batch `index` from its capped samples: each slot's kept cell or why it kept nothing,
        whether it asked to be hardened, and what its instruction's candidates cost."""
        batch = self._batches[index]
        easy = set(harden)
        kept_in = {s.instruction.id: kept_cells[s.id] for s in kept}
        why: dict[str, str] = {}
        for s in rejects:  # a sample turned away by the cap or the difficulty band says why the slot kept nothing
            reason = s.reject_reasons[0] if s.reject_reasons else ""
            if reason in TURNED_AWAY:
                why.setdefault(s.instruction.id, reason)
        cost = slot_costs([*kept, *rejects])
        return [
            SlotRecord(
                position=slot.position,
                cell=slot.cell,
                instruction_id=ins_id,
                parent_id=slot.parent_id,
                hardening_round=slot.hardening_round,
                kept_in=kept_in.get(ins_id),
                outcome="kept" if ins_id in kept_in else why.get(ins_id, "unresolved"),
                harden=ins_id in easy,
                candidates=cost.get(ins_id, (0, 0))[0],
                completion_tokens=cost.get(ins_id, (0, 0))[1],
            )
            for slot, ins_id in zip(batch.slots, batch.instruction_ids, strict=True)
        ]

    def saved(self, index: int, records: Sequence[SlotRecord], usage: Sequence[UsageRow] | None = None) -> None:
        """Batch `index` is saved with these outcomes and this token ledger: its kept samples count, its requests
        can be planned."""
        self.usage = self.usage.plus(usage)
        batch = self._batches[index]
        self._settle(batch, records)
        self.kept.update({c: n for c, n in batch.kept.items() if c in self.quotas})


TURNED_AWAY = ("quota_full", "outside_grid", "too_easy", "too_hard")


def slot_costs(samples: Iterable[Sample]) -> dict[str, tuple[int, int]]:
    """Instruction id -> (candidates, generated tokens): every candidate's completion tokens, and the student's
    rollouts on the instruction once (every candidate of an instruction carries the same measurement)."""
    candidates: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    measured: set[str] = set()
    for s in samples:
        key = s.instruction.id
        candidates[key] += 1
        tokens[key] += s.response.completion_tokens
        if s.student is not None and key not in measured:
            measured.add(key)
            tokens[key] += rollout_tokens(s.student)
    return {k: (candidates[k], tokens[k]) for k in candidates}
