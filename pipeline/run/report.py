"""A finished run's report: per category from the catalog's statistics query (quota, kept, attempts, yield, reject
reasons and the generated tokens each kept sample cost), per grid cell from the run's ledger, and the typed run
summary. Shown at the end of a run and as Prefect artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from pipeline.run.config import DEFAULT_MODEL, ConfigError, RunConfig, parse_config
from pipeline.run.judge_report import judge_summary_lines
from pipeline.run.ledger import CategoryRow, CellCost, CellRow, Ledger
from pipeline.run.planning import quota_plan, stored_ledger
from pipeline.store import RunPaths, StatsRow, manifests, run_stats
from pipeline.store.usage import ModelPrice, UsageTable, money, usage_lines, usage_report


@dataclass(frozen=True)
class CategoryReport:
    """A category's quota row (quota, kept, attempts, met) with what the catalog holds of it: instructions,
    candidates, yield (kept per instruction), generated tokens in all and per kept sample, reject reasons."""

    category: str
    quota: int
    kept: int
    attempts: int
    met: bool
    instructions: int = 0
    candidates: int = 0
    yield_rate: float = 0.0
    tokens_per_kept: int | None = None
    completion_tokens: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)  # most frequent first

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["yield"] = row.pop("yield_rate")
        return row


@dataclass(frozen=True)
class GridRow:
    """A grid cell's quota row (quota, kept, attempts of its budget, met) and what its slots cost: hardened
    follow-ups, candidates, generated tokens (candidates and student rollouts) in all and per kept sample."""

    cell: str
    quota: int
    kept: int
    attempts: int
    budget: int
    met: bool
    hardened: int = 0
    candidates: int = 0
    completion_tokens: int = 0
    tokens_per_kept: int | None = None


@dataclass(frozen=True)
class RunSummary:
    """What a finished run reports: its quota rows, the catalog's numbers per category, this session's totals
    (drops and notes by reason), and the student, reasoning, judge calibration, hardening and grid reports (None
    or empty when the run has no such thing). `as_dict` is its JSON form (the flow's result)."""

    run_id: str
    config_hash: str  # the config's part of the run identity (pipeline/run/identity.py)
    run_fingerprint: str  # the folder under runs/: the config hash plus every other input
    output_dir: str
    target: int
    kept: int
    quota: list[CategoryRow]
    categories: list[CategoryReport]
    totals: dict[str, int]
    student: dict[str, Any] | None = None  # None without a student
    reasoning: dict[str, Any] | None = None  # None when the responder does not reason
    judge_calibration: list[dict[str, Any]] = field(default_factory=list)  # per dimension
    hardening: list[dict[str, Any]] = field(default_factory=list)  # per hardening round
    grid: list[GridRow] = field(default_factory=list)  # per grid cell
    usage: UsageTable = field(default_factory=UsageTable)  # the token ledger, every session (store/usage.py)
    prices: dict[str, ModelPrice] = field(default_factory=dict)  # the config's, per model
    stopped_by: str | None = None  # the budget the run met before its quotas (pipeline/run/budget.py)
    plan: list[dict[str, Any]] = field(default_factory=list)  # per cell, the plan made at its start and what it took

    def as_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "categories": [r.as_dict() for r in self.categories]}
        out["usage"] = usage_report(self.usage, self.prices)
        out["prices"] = {m: asdict(p) for m, p in self.prices.items()}
        return out


def category_report(
    con: duckdb.DuckDBPyConnection, fingerprint: str, quota: Sequence[CategoryRow]
) -> list[CategoryReport]:
    """One row per category of the run: its quota row plus what the catalog holds.

    Yield and tokens per kept sample are the stored numbers (`complexify stats` and the dataset card show
    the same): kept samples in the catalog per instruction, completion tokens of every candidate per kept sample.
    """
    stats = run_stats(con, fingerprint)
    stored = stats.level("category")
    rows = []
    for q in quota:
        s = stored.get(q.category) or StatsRow("category", q.category, q.category)  # nothing stored yet
        reasons = sorted(stats.level("reject_reason", q.category).values(), key=lambda r: (-r.candidates, r.key))
        rows.append(
            CategoryReport(
                **asdict(q),
                instructions=s.instructions,
                candidates=s.candidates,
                yield_rate=round(s.yield_rate, 4),
                tokens_per_kept=round(s.completion_tokens / s.kept) if s.kept else None,
                completion_tokens=s.completion_tokens,
                reject_reasons={r.key: r.candidates for r in reasons},
            )
        )
    return rows


def format_summary(summary: RunSummary) -> str:
    """A plain-text table: per category quota, kept, attempts, yield, tokens per kept sample and the top
    reject reason, then totals."""
    lines = [
        f"run {summary.run_id} ({summary.output_dir}/runs/{summary.run_fingerprint})",
        f"{'category':<24}{'quota':>7}{'kept':>7}{'attempts':>10}{'yield':>8}{'tok/kept':>10}  met  top reject reason",
    ]
    for r in summary.categories or [CategoryReport(**asdict(q)) for q in summary.quota]:
        top = next(iter(r.reject_reasons.items()), None)
        per_kept = "-" if r.tokens_per_kept is None else r.tokens_per_kept
        lines.append(
            f"{r.category:<24}{r.quota:>7}{r.kept:>7}{r.attempts:>10}{r.yield_rate:>8.1%}"
            f"{per_kept:>10}  {'yes' if r.met else 'NO ':<3}  {f'{top[0]} ({top[1]})' if top else '-'}"
        )
    lines.append(f"{'total':<24}{summary.target:>7}{summary.kept:>7}")
    lines.append("totals: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.totals.items())))
    lines.extend(student_lines(summary.student) + reasoning_lines(summary.reasoning))
    lines.extend(judge_summary_lines(summary.judge_calibration))
    lines.extend(hardening_lines(summary.hardening) + grid_lines(summary.grid))
    if summary.usage.batches or summary.usage.unknown_batches:
        lines.extend(["tokens by stage, role and model (the whole run):", *usage_lines(summary.usage, summary.prices)])
    lines.extend(plan_lines(summary.plan))
    if summary.stopped_by:
        lines.append(f"stopped: {summary.stopped_by}")
    return "\n".join(lines)


def plan_report(planned: Any, ledger: Ledger) -> list[dict[str, Any]]:
    """Per cell the plan made when the run started (run.json, `complexify plan`'s numbers) beside what the run took:
    instructions (attempts) and whether they fell in the plan's interval; [] for a run recorded without a plan."""
    if not isinstance(planned, dict):
        return []
    rows = []
    for cell in ledger.cells():
        plan = planned.get(cell.cell)
        if not isinstance(plan, dict):
            continue
        interval = plan.get("interval")
        low, high = interval if isinstance(interval, list) and len(interval) == 2 else (None, None)
        within = low is not None and low <= cell.attempts and (high is None or cell.attempts <= high)
        rows.append({"cell": cell.cell, "planned": plan.get("instructions"), "interval": [low, high],
                     "yield_source": plan.get("yield_source"), "attempts": cell.attempts, "met": cell.met,
                     "within": within})  # fmt: skip
    return rows


def plan_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The plain-text summary's plan-vs-actual lines (none for a run without a plan)."""
    if not rows:
        return []
    lines = [f"{'plan vs actual':<24}{'planned':>9}{'interval':>12}{'took':>7}  within  yield from"]
    for r in rows:
        low, high = r["interval"]
        span = f"{low}-{'budget+' if high is None else high}"
        within = "yes" if r["within"] else "NO"
        lines.append(f"{r['cell']:<24}{r['planned']:>9}{span:>12}{r['attempts']:>7}  {within:<6}  {r['yield_source']}")
    return lines


def report_markdown(summary: RunSummary) -> str:
    """The run summary as Markdown: headline, per-category table, where the shards are."""
    lines = [
        f"# complexify run `{summary.run_id}`",
        "",
        f"Kept **{summary.kept} of {summary.target}** samples; run folder "
        f"`{summary.output_dir}/runs/{summary.run_fingerprint}` (Parquet shards under "
        "`instructions/`, `samples/`, `rejects/`; catalog `catalog.duckdb` in the output folder).",
        "",
        "| category | quota | kept | met | instructions | yield | tokens per kept | top reject reasons |",
        "|---|---:|---:|:---:|---:|---:|---:|---|",
    ]
    for r in summary.categories:
        top = ", ".join(f"{k} {v}" for k, v in list(r.reject_reasons.items())[:3]) or "-"
        per_kept = "-" if r.tokens_per_kept is None else str(r.tokens_per_kept)
        lines.append(
            f"| {r.category} | {r.quota} | {r.kept} | {'yes' if r.met else 'no'} | {r.instructions} "
            f"| {r.yield_rate:.1%} | {per_kept} | {top} |"
        )
    if summary.stopped_by:
        lines += ["", f"Stopped before the quotas were met: {summary.stopped_by}."]
    return "\n".join(lines) + "\n" + grid_markdown(summary.grid) + usage_markdown(summary)


def usage_markdown(summary: RunSummary) -> str:
    """The token ledger of the Markdown run report ("" for a run without one)."""
    if not summary.usage.batches:
        return ""
    cost = money(summary.usage.cost(summary.prices))
    head = ["", f"Tokens by stage, role and model (the whole run; cost {cost}):", ""]
    return "\n".join(head + usage_lines(summary.usage, summary.prices, markdown=True)) + "\n"


# Below this many rollouts per instruction a pass rate moves in coarse steps (1/k) and says little on its own.
FEW_ROLLOUTS = 8


def student_report(cfg: RunConfig, totals: Mapping[str, int]) -> dict[str, Any] | None:
    """What the student's rollouts cost and found in this session (None without a student): instructions
    measured, generated tokens (in all and per kept sample), reasoning outcomes, band drops, and a plain
    note when the numbers come from the bundled tiny model or from few rollouts."""
    student = cfg.models.student
    if not student.enabled:
        return None
    kept = int(totals.get("kept", 0))
    tokens = int(totals.get("student_completion_tokens", 0))
    notes = []
    if student.model == DEFAULT_MODEL:
        notes.append(
            "the student is the bundled 135M model: its pass rates describe that tiny model, not a real policy"
        )
    if student.rollouts < FEW_ROLLOUTS:
        notes.append(
            f"k={student.rollouts} rollouts per instruction: pass rates move in steps of 1/{student.rollouts}, "
            "too coarse to rank instructions by difficulty"
        )
    return {
        "model": student.model,
        "rollouts": student.rollouts,
        "reasoning": student.reasoning,
        "instructions": int(totals.get("student_instructions", 0)),
        "completion_tokens": tokens,
        "tokens_per_kept": round(tokens / kept) if kept else None,
        "outcomes": {o: int(totals.get(f"reasoning_{o}", 0)) for o in ("helped", "tied", "hurt")},
        "reasoning_traces": int(totals.get("student_reasoning_traces", 0)),
        "band": [cfg.difficulty.min_pass_rate, cfg.difficulty.max_pass_rate],
        "band_drops": {r: int(totals.get(r, 0)) for r in ("too_easy", "too_hard")},
        "notes": notes,
    }


def student_lines(report: Mapping[str, Any] | None) -> list[str]:
    """The student's lines of the plain-text run summary (none without a student)."""
    if report is None:
        return []
    per_kept = "-" if report["tokens_per_kept"] is None else report["tokens_per_kept"]
    kinds = (
        f"{report['rollouts']} plain + {report['rollouts']} reasoning"
        if report["reasoning"]
        else f"{report['rollouts']}"
    )
    lines = [
        f"student {report['model']}: {kinds} rollouts on each of {report['instructions']} kept instructions, "
        f"{report['completion_tokens']} generated tokens = {per_kept} per kept sample on top of tok/kept above",
        f"difficulty band {report['band'][0]}..{report['band'][1]} (inclusive): "
        + ", ".join(f"{r} {n}" for r, n in report["band_drops"].items()),
    ]
    if report["reasoning"]:
        lines.append(
            f"reasoning vs baseline: {', '.join(f'{o} {n}' for o, n in report['outcomes'].items())}; "
            f"{report['reasoning_traces']} of the reasoning rollouts wrote a reasoning trace"
        )
    lines.extend(f"note: {n}" for n in report["notes"])
    return lines


def reasoning_report(cfg: RunConfig, totals: Mapping[str, int]) -> dict[str, Any] | None:
    """The responder's reasoning traces in this session (None when reasoning is off): how many kept answers
    carried one, how many were shallow, how many the gate rejected, and a note when there were none."""
    mode = cfg.models.responder.reasoning
    if mode == "off":
        return None
    measured = int(totals.get("reasoning_measured", 0))
    notes = []
    if measured == 0:
        notes.append(
            f"no kept answer carried a reasoning trace ({mode} reasoning): nothing was measured or gated; "
            "small instruct models (such as the bundled 135M one) ignore the think-first prompt"
        )
    return {
        "mode": mode,
        "measured": measured,
        "shallow": int(totals.get("reasoning_shallow", 0)),
        "rejected_shallow": int(totals.get("shallow_reasoning", 0)),
        "gate": cfg.gate.reject_shallow_reasoning,
        "notes": notes,
    }


def reasoning_lines(report: Mapping[str, Any] | None) -> list[str]:
    """The responder reasoning's lines of the plain-text run summary (none when reasoning is off)."""
    if report is None:
        return []
    gate = (
        f"rejected {report['rejected_shallow']}" if report["gate"] else "kept (gate.reject_shallow_reasoning is off)"
    )
    lines = [
        f"reasoning ({report['mode']}): {report['measured']} kept answers carried a trace, "
        f"{report['shallow']} shallow, {gate}"
    ]
    return lines + [f"note: {n}" for n in report["notes"]]


def hardening_report(con: duckdb.DuckDBPyConnection, fingerprint: str) -> list[dict[str, Any]]:
    """Per hardening round (0 = composed): instructions, the responder's first answers and how many passed every
    check, and kept samples, from the statistics query; [] when the run hardened nothing."""
    return [
        {"round": k, "instructions": r.instructions, "first_answers": r.checks, "passed": r.passed,
         "pass_rate": round(r.pass_rate, 4), "kept": r.kept}
        for k, r in run_stats(con, fingerprint).hardening_rounds().items()
    ]  # fmt: skip


def hardening_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The plain-text summary's line on hardening (none when the run hardened nothing)."""
    if not rows:
        return []
    per_round = "; ".join(
        f"round {r['round']}: {r['pass_rate']:.0%} of {r['first_answers']} first answers passed "
        f"({r['instructions']} instructions, {r['kept']} kept)"
        for r in rows
    )
    return [f"pass rate by hardening round: {per_round}"]


def grid_report(cells: Sequence[CellRow], costs: Mapping[str, CellCost]) -> list[GridRow]:
    """One row per grid cell: its quota row plus what its slots cost (the ledger's CellCost)."""
    rows = []
    for cell in cells:
        cost = costs.get(cell.cell) or CellCost()
        per_kept = round(cost.completion_tokens / cell.kept) if cell.kept else None
        rows.append(
            GridRow(
                **asdict(cell),
                hardened=cost.hardened,
                candidates=cost.candidates,
                completion_tokens=cost.completion_tokens,
                tokens_per_kept=per_kept,
            )
        )
    return rows


def ledger_grid_report(ledger: Ledger) -> list[GridRow]:
    """grid_report of the cells a ledger holds; [] for a run without a grid (its cells are its categories)."""
    if all("/" not in key for key in ledger.quotas):
        return []
    return grid_report(ledger.cells(), ledger.costs())


def stored_grid_report(run: RunPaths) -> list[GridRow]:
    """grid_report of a stored run, from the quota plan in its run record and its batch manifests (the config is
    not read again); [] for a run without a grid. A run recorded before quota plans were is replayed from its
    recorded config, when today's config schema still reads it (else [])."""
    ledger = stored_ledger(run)
    if ledger is None:
        if not any(((run.info.get("config") or {}).get("grid") or {}).values()):  # no axis: no grid
            return []
        try:
            cfg = parse_config(run.info["config"], f"{run.dir / 'run.json'} config")
        except ConfigError:
            return []
        ledger = Ledger.replay(quota_plan(cfg), manifests(run))
    return ledger_grid_report(ledger)


def grid_lines(rows: Sequence[GridRow]) -> list[str]:
    """The plain-text summary's grid table (none without a grid): per cell quota, kept, attempts of its budget,
    candidates, generated tokens and tokens per kept sample."""
    if not rows:
        return []
    width = max(24, *(len(r.cell) + 2 for r in rows))
    lines = [
        f"{'grid cell':<{width}}{'quota':>7}{'kept':>7}{'attempts':>14}{'candidates':>12}{'tokens':>10}"
        f"{'tok/kept':>10}  met"
    ]
    for r in rows:
        per_kept = "-" if r.tokens_per_kept is None else r.tokens_per_kept
        attempts = f"{r.attempts}/{r.budget}"
        lines.append(
            f"{r.cell:<{width}}{r.quota:>7}{r.kept:>7}{attempts:>14}{r.candidates:>12}"
            f"{r.completion_tokens:>10}{per_kept:>10}  {'yes' if r.met else 'NO'}"
        )
    return lines


def grid_markdown(rows: Sequence[GridRow]) -> str:
    """The grid table of the Markdown run report ("" without a grid)."""
    if not rows:
        return ""
    lines = [
        "",
        "| grid cell | quota | kept | met | attempts (budget) | candidates | tokens | tokens per kept |",
        "|---|---:|---:|:---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per_kept = "-" if r.tokens_per_kept is None else str(r.tokens_per_kept)
        lines.append(
            f"| {r.cell} | {r.quota} | {r.kept} | {'yes' if r.met else 'no'} | {r.attempts} ({r.budget}) "
            f"| {r.candidates} | {r.completion_tokens} | {per_kept} |"
        )
    return "\n".join(lines) + "\n"
