"""The one sum of a run's token ledger: what each stage's requests to each role's model cost, over its batches.

Every batch manifest holds the batch's ledger (`manifest.UsageRow`: one row per stage, role and model). `run_usage`
sums the rows of a run's manifests, and `stored_run_usage` adds the judge's calibration questions of run start
(`judge_calibration_usage.json`, outside any batch); `complexify stats`, the run summary, the Prefect report, the
dataset card and the run's token budget all read these, so they cannot disagree. A manifest written before ledgers
has none: its batch's usage is unknown, counted in `unknown_batches` and never guessed.

Money is tokens times the prices a config gives per model (`ModelPrice`, per million tokens); a model without a
price makes every total it enters unknown (None), never zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.store.judge import read_calibration_usage
from pipeline.store.manifest import BatchManifest, UsageRow
from pipeline.store.runs import RunPaths, manifests

# The stages in the order a candidate meets them; a stage not listed sorts after these, by name.
STAGE_ORDER = ("judge_calibration", "rewrite", "respond", "verify", "fidelity", "repair", "student")
COUNTS = ("requests", "prompt_tokens", "generated_tokens", "failures", "cached", "retries")
# What the same inputs always ask and get: equal for a resumed and an uninterrupted run. `cached` and `retries`
# say how the answers were obtained (a resumed run replays its interrupted batch from the request cache).
WORK_COUNTS = ("requests", "prompt_tokens", "generated_tokens", "failures")


@dataclass(frozen=True)
class ModelPrice:
    """What a model's tokens cost, per million: prompt (input) and generated (output) tokens."""

    prompt: float
    generated: float

    def of(self, row: UsageRow) -> float:
        return (row.prompt_tokens * self.prompt + row.generated_tokens * self.generated) / 1_000_000


def _key(row: UsageRow) -> tuple[int, str, str, str]:
    rank = STAGE_ORDER.index(row.stage) if row.stage in STAGE_ORDER else len(STAGE_ORDER)
    return rank, row.stage, row.role, row.model


def sum_rows(rows: Iterable[UsageRow]) -> tuple[UsageRow, ...]:
    """Rows of the same stage, role and model added up, in stage order."""
    sums: dict[tuple[str, str, str], dict[str, int]] = {}
    for r in rows:
        into = sums.setdefault((r.stage, r.role, r.model), dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            into[name] += getattr(r, name)
    out = (UsageRow(stage=s, role=role, model=m, **counts) for (s, role, m), counts in sums.items())
    return tuple(sorted(out, key=_key))


@dataclass(frozen=True)
class UsageTable:
    """A run's ledger summed over its batches: `rows` per stage, role and model; `batches` with a ledger and
    `unknown_batches` without one (written before ledgers: their usage is not in the rows)."""

    rows: tuple[UsageRow, ...] = ()
    batches: int = 0
    unknown_batches: int = 0

    def plus(self, usage: Iterable[UsageRow] | None) -> UsageTable:
        """This table with one more batch's ledger (None: a batch without one, its usage unknown)."""
        if usage is None:
            return UsageTable(self.rows, self.batches, self.unknown_batches + 1)
        return UsageTable(sum_rows([*self.rows, *usage]), self.batches + 1, self.unknown_batches)

    def with_rows(self, rows: Iterable[UsageRow]) -> UsageTable:
        """This table with rows spent outside any batch added (the judge's calibration questions at run start)."""
        return UsageTable(sum_rows([*self.rows, *rows]), self.batches, self.unknown_batches)

    def total(self) -> UsageRow:
        """Every row added up."""
        sums = {name: sum(getattr(r, name) for r in self.rows) for name in COUNTS}
        return UsageRow(stage="all", role="all", model="all", **sums)

    def work(self) -> tuple[tuple[str, str, str, tuple[int, ...]], ...]:
        """The rows without how their answers were obtained (WORK_COUNTS only), for comparing two runs' ledgers."""
        kept = ((r.stage, r.role, r.model, tuple(getattr(r, n) for n in WORK_COUNTS)) for r in self.rows)
        return tuple(k for k in kept if any(k[3]))

    def cost(self, prices: Mapping[str, ModelPrice], row: UsageRow | None = None) -> float | None:
        """Money for one row, or for the whole table; None (unknown) when a model has no price or a batch no ledger."""
        if row is not None:
            price = prices.get(row.model)
            return None if price is None else price.of(row)
        if self.unknown_batches:
            return None
        costs = [self.cost(prices, r) for r in self.rows]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def as_dicts(self, prices: Mapping[str, ModelPrice]) -> list[dict[str, Any]]:
        """One JSON-ready dict per row, with its cost (None: unknown)."""
        return [{**r.model_dump(), "cost": self.cost(prices, r)} for r in self.rows]


def run_usage(manifests: Iterable[BatchManifest]) -> UsageTable:
    """The ledger of a run (or of several runs' manifests together), summed over its batches."""
    table = UsageTable()
    for m in manifests:
        table = table.plus(m.usage)
    return table


def stored_run_usage(run: RunPaths) -> UsageTable:
    """A stored run's whole ledger: its batches' and its judge calibration questions' (asked at run start)."""
    return run_usage(manifests(run)).with_rows(read_calibration_usage(run))


def prices_of(config: Any) -> dict[str, ModelPrice]:
    """The prices a recorded run config gives (its `prices` section: model -> prompt and generated per million
    tokens); {} when it has none or they do not read, so a run recorded by another version still reports."""
    section = config.get("prices") if isinstance(config, Mapping) else None
    out: dict[str, ModelPrice] = {}
    for model, price in (section or {}).items() if isinstance(section, Mapping) else ():
        try:
            out[str(model)] = ModelPrice(float(price["prompt"]), float(price["generated"]))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def money(value: float | None) -> str:
    """A cost as shown: `unknown` without prices, never a guess."""
    return "unknown" if value is None else f"{value:.4f}"


def usage_lines(
    table: UsageTable, prices: Mapping[str, ModelPrice], *, markdown: bool = False, notes: bool = True
) -> list[str]:
    """The ledger as table lines (plain text, or a Markdown table): one line per stage, role and model, then the
    total, and (`notes`) a line on batches whose usage is unknown and on models without a price."""
    head = ("stage", "role", "model", "requests", "prompt tok", "generated tok", "failed", "cached", "retries", "cost")
    lines = []
    body = [*table.rows, table.total()]
    for r in body:
        cost = table.cost(prices) if r.stage == "all" else table.cost(prices, r)
        cells = (r.stage, r.role, r.model, *(str(getattr(r, n)) for n in COUNTS), money(cost))
        if markdown:
            lines.append("| " + " | ".join(cells) + " |")
        else:
            lines.append(f"{cells[0]:<10}{cells[1]:<11}{cells[2][-28:]:<29}" + "".join(f"{c:>12}" for c in cells[3:]))
    if markdown:
        lines[:0] = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    else:
        lines.insert(0, f"{head[0]:<10}{head[1]:<11}{head[2]:<29}" + "".join(f"{c:>12}" for c in head[3:]))
    said = usage_notes(table, prices) if notes else []
    return lines + ([""] if markdown and said else []) + [f"- {n}" if markdown else n for n in said]


def usage_notes(table: UsageTable, prices: Mapping[str, ModelPrice]) -> list[str]:
    """What the ledger cannot say: batches without one, models without a price."""
    notes = []
    if table.unknown_batches:
        notes.append(f"usage unknown for {table.unknown_batches} batch(es) written before token ledgers")
    unpriced = sorted({r.model for r in table.rows if r.model not in prices})
    if unpriced:
        notes.append(f"cost unknown: no price for {', '.join(unpriced)} (config `prices`)")
    return notes


def usage_card_lines(table: UsageTable | None, prices: Mapping[str, ModelPrice]) -> list[str]:
    """The dataset card's section on what the run's requests cost (none for a run without any ledger)."""
    if table is None or not table.batches:
        return []
    total = table.total()
    head = [
        "",
        "## What it cost",
        "",
        f"{total.requests} model requests, {total.prompt_tokens} prompt and {total.generated_tokens} generated tokens "
        f"(answers replayed from the request cache count what they cost to generate); cost: "
        f"{money(table.cost(prices))}.",
        "",
    ]
    return head + usage_lines(table, prices, markdown=True)


def usage_report(table: UsageTable, prices: Mapping[str, ModelPrice]) -> dict[str, Any]:
    """The ledger in JSON form (the run summary's): rows with their cost, the total, the run's cost (None: unknown),
    batches with and without a ledger."""
    return {
        "rows": table.as_dicts(prices),
        "total": table.total().model_dump(),
        "cost": table.cost(prices),
        "batches": table.batches,
        "unknown_batches": table.unknown_batches,
    }
