"""`complexify stats`: yield per category, constraint dimension and checker, and the student's difficulty and
reasoning outcome when the run measured them, from the catalog's statistics query; a grid run's cells and their
cost, and every run's token ledger, from its batch manifests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.errors import UserInputError
from pipeline.project import ROOT as PROJECT_ROOT

if TYPE_CHECKING:
    from rich.table import Table

    from pipeline.store import RunStats, StatsRow

DEFAULT_ROOT = PROJECT_ROOT / "out"  # RunConfig's default output_dir

_LEVELS = {"category": "category", "dimension": "constraint dimension", "checker": "checker"}


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:5.1f}%" if den else "    -"


def unreadable_runs(root: Path) -> list[Path]:
    """Run folders under `root/runs` without a run.json: nothing says which run they hold; no statistic counts them."""
    from pipeline.store.runs import RUN_FILE

    runs_dir = root / "runs"
    if not runs_dir.is_dir():
        return []
    return sorted(
        p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and not (p / RUN_FILE).is_file()
    )


def _left_out(folder: Path) -> str:
    done = folder / "_done"
    batches = sum(1 for p in done.glob("batch-*.json")) if done.is_dir() else 0
    return f"run folder {folder} has no run.json, so its {batches} finished batch(es) are left out"


_FIX = "rerun the config that made it (the run resumes and writes run.json again), or remove the folder"


def stats_for(root: Path, run: str | None, warn: Callable[[str], None] | None = None) -> RunStats:
    """The statistics of one run (a fingerprint or unique prefix) or of every run under `root`.

    Every shard of the selected runs is checked against its manifest (size and sha256) first: a damaged
    batch raises store.DamagedBatchError (exit 1: the arguments were fine, the files are not; resuming the
    run redoes the batch) with one line naming the batch and file, instead of numbers that are wrong. A run
    folder without run.json is left out with a warning through `warn`; when it is all there is (or the run
    asked for), a StoreError says so (exit 1). A root this user cannot write gets its catalog built in memory.
    """
    # imported when the command runs, not when the CLI starts: `complexify --help` needs no DuckDB or Arrow
    from pipeline import store
    from pipeline.store.catalog import catalog_is_current, catalog_writable

    if not root.is_dir():
        raise UserInputError(f"output folder {root} does not exist; pass --root DIR (the run's output_dir)")
    unreadable = unreadable_runs(root)
    asked = [p for p in unreadable if run and p.name.startswith(run)]
    if run and asked and not any(r.fingerprint.startswith(run) for r in store.list_runs(root)):
        raise store.StoreError(f"{_left_out(asked[0])}; {_FIX}")
    runs = store.list_runs(root)
    if not runs and unreadable:
        more = f" (and {len(unreadable) - 1} more run folder(s) without run.json)" if len(unreadable) > 1 else ""
        raise store.StoreError(f"no readable run under {root}: {_left_out(unreadable[0])}{more}; {_FIX}")
    if not runs:
        raise UserInputError(f"no runs under {root} (no runs/*/run.json); run `complexify run` first or pass --root")
    if warn is not None:
        for folder in [] if run else unreadable:
            warn(f"warning: {_left_out(folder)}; {_FIX}")
        if not catalog_writable(root) and not catalog_is_current(root):
            warn(f"note: {root} is not writable by this user: its catalog was built in memory for this command")
    selected = [store.find_run(root, run)] if run else runs
    # a shard damaged after the catalog was built would otherwise show up as a DuckDB error or wrong numbers
    store.check_runs_intact(selected)
    with store.open_catalog(root) as con:
        return store.run_stats(con, [r.fingerprint for r in selected])


def _table(level: str, rows: list[StatsRow]) -> Table:
    """A rich table: categories show instruction yield; dimensions and checkers show check pass rates."""
    from rich.table import Table

    title = _LEVELS[level]
    table = Table(title=f"yield per {title}", title_justify="left")
    table.add_column(title)
    if level == "category":
        for name in ("instructions", "candidates", "kept", "yield (kept / instructions)"):
            table.add_column(name, justify="right")
        for r in rows:
            table.add_row(r.key, str(r.instructions), str(r.candidates), str(r.kept), _pct(r.kept, r.instructions))
        ins, cand, kept = (sum(getattr(r, k) for r in rows) for k in ("instructions", "candidates", "kept"))
        table.add_row("total", str(ins), str(cand), str(kept), _pct(kept, ins))
        return table
    for name in ("candidates", "kept", "kept share", "checks", "passed", "pass rate", "after gating", "skipped"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            r.key, str(r.candidates), str(r.kept), _pct(r.kept, r.candidates), str(r.checks), str(r.passed),
            _pct(r.passed, r.checks), _pct(r.gated, r.checks), str(r.skipped),
        )  # fmt: skip
    return table


def student_tables(stats: RunStats) -> list[Table]:
    """Difficulty distribution (baseline pass-rate bands) and the reasoning outcome per category; [] if unmeasured."""
    from rich.table import Table

    from pipeline.store.stats import OUTCOMES

    bands = stats.difficulty()
    if not bands:
        return []
    n = sum(r.instructions for r in bands.values())
    difficulty = Table(title="student difficulty (baseline pass rate without reasoning)", title_justify="left")
    for name in ("baseline pass rate", "instructions", "share", "candidates", "kept"):
        difficulty.add_column(name, justify="left" if name == "baseline pass rate" else "right")
    for band, r in bands.items():
        difficulty.add_row(band, str(r.instructions), _pct(r.instructions, n), str(r.candidates), str(r.kept))
    difficulty.add_row(
        "total", str(n), _pct(n, n), *(str(sum(getattr(r, k) for r in bands.values())) for k in ("candidates", "kept"))
    )
    tables = [difficulty]
    categories = [*stats.level("category"), None]
    per_category = {cat: stats.reasoning_outcomes(cat) for cat in categories}
    if any(per_category.values()):
        outcome = Table(title="reasoning outcome per category (measured instructions)", title_justify="left")
        outcome.add_column("category")
        for name in ("measured", *OUTCOMES):
            outcome.add_column(name, justify="right")
        for cat, rows in per_category.items():
            if rows:
                m = sum(r.instructions for r in rows.values())
                cells = [f"{rows[o].instructions} ({_pct(rows[o].instructions, m).strip()})" for o in OUTCOMES]
                outcome.add_row(cat or "total", str(m), *cells)
        tables.append(outcome)
    return tables


def hardening_table(stats: RunStats) -> Table | None:
    """Instructions, first-answer pass rate and kept samples per hardening round; None when nothing was hardened."""
    from rich.table import Table

    rounds = stats.hardening_rounds()
    if not rounds:
        return None
    table = Table(title="pass rate by hardening round (responder's first answers)", title_justify="left")
    for name in ("round", "instructions", "first answers", "pass rate", "kept"):
        table.add_column(name, justify="right")
    for k, r in rounds.items():
        table.add_row(str(k), str(r.instructions), str(r.checks), _pct(r.passed, r.checks), str(r.kept))
    return table


def judge_calibration_table(root: Path, run: str | None, stats: RunStats) -> Table | None:
    """Per dimension, the judge's precision, recall and 95%-precision margin, and the route the thresholds suggest."""
    from pipeline import store
    from pipeline.run.judge_report import rich_table, rule_of

    runs = [store.find_run(root, run)] if run else store.list_runs(root)
    return rich_table(stats.calibration, rule_of(r.info for r in runs))


def grid_tables(root: Path, run: str | None) -> list[Table]:
    """Per run with grid quotas, a table of its cells: quota, kept, attempts of the budget, and what each cost."""
    from rich.table import Table

    from pipeline import store
    from pipeline.run.report import stored_grid_report

    tables = []
    for r in [store.find_run(root, run)] if run else store.list_runs(root):
        rows = stored_grid_report(r)
        if not rows:
            continue
        table = Table(title=f"grid cells of run {r.fingerprint}", title_justify="left")
        for col in ("cell", "quota", "kept", "attempts / budget", "candidates", "tokens", "tokens per kept", "met"):
            table.add_column(col, justify="left" if col == "cell" else "right")
        for row in rows:
            per_kept = "-" if row.tokens_per_kept is None else str(row.tokens_per_kept)
            table.add_row(
                row.cell, str(row.quota), str(row.kept), f"{row.attempts} / {row.budget}",
                str(row.candidates), str(row.completion_tokens), per_kept, "yes" if row.met else "no",
            )  # fmt: skip
        tables.append(table)
    return tables


def usage_tables(root: Path, run: str | None) -> list[Table]:
    """Per run, its token ledger summed over its batches (pipeline/store/usage.py): requests, prompt and generated
    tokens, refusals, cache hits and retries per stage, role and model, and their cost at the run's prices."""
    from rich.table import Table

    from pipeline import store
    from pipeline.store.usage import COUNTS, money, prices_of, stored_run_usage, usage_notes

    tables = []
    for r in [store.find_run(root, run)] if run else store.list_runs(root):
        usage, prices = stored_run_usage(r), prices_of(r.info.get("config"))
        if not usage.batches and not usage.unknown_batches:
            continue
        table = Table(title=f"tokens of run {r.fingerprint}", title_justify="left", caption="; ".join(
            usage_notes(usage, prices)) or None, caption_justify="left")  # fmt: skip
        for col in ("stage", "role", "model", *COUNTS, "cost"):
            table.add_column(col, justify="left" if col in ("stage", "role", "model") else "right")
        for row in [*usage.rows, usage.total()]:
            cost = usage.cost(prices) if row.stage == "all" else usage.cost(prices, row)
            table.add_row(row.stage, row.role, row.model, *(str(getattr(row, c)) for c in COUNTS), money(cost))
        tables.append(table)
    return tables


def register(app: typer.Typer) -> None:
    """Add `complexify stats` to the app."""

    @app.command("stats")
    def stats(
        root: Annotated[Path, typer.Option(help="Output folder of the runs (a config's output_dir).")] = DEFAULT_ROOT,
        run: Annotated[
            str | None, typer.Option(help="Only this run: its run fingerprint (or a unique prefix).")
        ] = None,
    ) -> None:
        """Print yield per category, constraint dimension and checker, and the student's difficulty (catalog)."""
        from rich.console import Console

        root = root.resolve()
        stats = stats_for(root, run, warn=lambda message: typer.echo(message, err=True))
        rows = {level: list(stats.level(level).values()) for level in _LEVELS}
        console = Console()
        console.print(f"catalog {root / 'catalog.duckdb'}" + (f"  run {run}" if run else "  (all runs)"))
        for level in _LEVELS:
            console.print(_table(level, rows[level]))
        judge = judge_calibration_table(root, run, stats)
        console.print(
            judge if judge is not None else "judge calibration: no calibration questions stored for these runs"
        )
        extra = student_tables(stats)
        for table in extra:
            console.print(table)
        if not extra:
            console.print("student difficulty: not measured (no student rollouts stored for these runs)")
        hardening = hardening_table(stats)
        if hardening is not None:
            console.print(hardening)
        for table in grid_tables(root, run):
            console.print(table)
        for table in usage_tables(root, run):
            console.print(table)
