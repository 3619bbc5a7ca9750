"""`complexify stats`: yield per category, constraint dimension and checker, from the catalog's statistics query."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.errors import UserInputError

if TYPE_CHECKING:
    from rich.table import Table

    from pipeline.store import RunStats, StatsRow

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "out"  # RunConfig's default output_dir

_LEVELS = {"category": "category", "dimension": "constraint dimension", "checker": "checker"}


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:5.1f}%" if den else "    -"


def stats_for(root: Path, run: str | None) -> RunStats:
    """The statistics of one run (a fingerprint or unique prefix) or of every run under `root`.

    Every shard of the selected runs is checked against its manifest (size and sha256) first: a damaged
    batch raises store.DamagedBatchError (exit 1: the arguments were fine, the files are not; resuming the
    run redoes the batch) with one line naming the batch and file, instead of numbers that are wrong.
    """
    # imported when the command runs, not when the CLI starts: `complexify --help` needs no DuckDB or Arrow
    from pipeline import store

    if not root.is_dir():
        raise UserInputError(f"output folder {root} does not exist; pass --root DIR (the run's output_dir)")
    runs = store.list_runs(root)
    if not runs:
        raise UserInputError(f"no runs under {root} (no runs/*/run.json); run `complexify run` first or pass --root")
    selected = [store.find_run(root, run)] if run else runs
    # a shard damaged after the catalog was built would otherwise show up as a DuckDB error or wrong numbers
    store.check_runs_intact(selected)
    with store.open_catalog(root) as con:
        return store.run_stats(con, [r.fingerprint for r in selected])


def stats_rows(root: Path, run: str | None) -> dict[str, list[StatsRow]]:
    """Per level shown (category, dimension, checker), its rows by key, summed over categories and runs."""
    stats = stats_for(root, run)
    return {level: list(stats.level(level).values()) for level in _LEVELS}


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


def register(app: typer.Typer) -> None:
    """Add `complexify stats` to the app."""

    @app.command("stats")
    def stats(
        root: Annotated[Path, typer.Option(help="Output folder of the runs (a config's output_dir).")] = DEFAULT_ROOT,
        run: Annotated[
            str | None, typer.Option(help="Only this run: its config fingerprint (or a unique prefix).")
        ] = None,
    ) -> None:
        """Print yield per category, per constraint dimension and per checker, from the DuckDB catalog."""
        from rich.console import Console

        root = root.resolve()
        rows = stats_rows(root, run)
        console = Console()
        console.print(f"catalog {root / 'catalog.duckdb'}" + (f"  run {run}" if run else "  (all runs)"))
        for level in _LEVELS:
            console.print(_table(level, rows[level]))
