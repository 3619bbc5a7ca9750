"""`complexify plan`: what a config's run will likely take, per quota cell, before any model is started
(pipeline/run/estimate.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def _tokens(value: float) -> str:
    """A token count for the table: exact below 10,000, else in k, M or G with one decimal."""
    if value >= 1e9:
        return f"{value / 1e9:.1f}G"
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    from pipeline.run.progress import format_duration

    return format_duration(seconds)


def register(app: typer.Typer) -> None:
    """Add `complexify plan` to the app."""

    @app.command("plan")
    def plan(
        config: Annotated[
            Path, typer.Option("--config", "-c", help="Run configuration (YAML), e.g. configs/default.yaml.")
        ],
        output_dir: Annotated[
            str | None, typer.Option(help="Measure from the runs here instead of the config's output_dir.")
        ] = None,
    ) -> None:
        """Estimate per quota cell the instructions, candidates, tokens and wall time the run will take, from earlier
        runs with the same models (else documented priors), and which cells may not fill. Starts no model."""
        from rich.console import Console
        from rich.table import Table

        from pipeline.run.config import load_config
        from pipeline.run.estimate import INTERVAL, RISK_FLAG, estimate

        cfg = load_config(config)
        if output_dir is not None:
            cfg = cfg.model_copy(update={"output_dir": str(Path(output_dir).absolute())})
        est = estimate(cfg)
        low, high = INTERVAL
        table = Table(title=f"plan of {config}", title_justify="left")
        columns = (
            "cell", "quota", "budget", "yield", "yield from", f"instructions ({low:.0%}-{high:.0%})",
            "P(budget out)", "candidates", "generated tok", "prompt tok", "tokens from", "wall time", "flags",
        )  # fmt: skip
        for col in columns:
            table.add_column(col, justify="left" if col in ("cell", "yield from", "tokens from", "flags") else "right")
        for c in est.cells:
            upper = f"{c.budget}+" if c.interval[1] is None else str(c.interval[1])  # +: past the budget
            table.add_row(
                c.cell, str(c.quota), str(c.budget), f"{c.yield_mean:.2f}", c.yield_source,
                f"{c.instructions:.1f} ({c.interval[0]}-{upper})", f"{c.run_out:.0%}", f"{c.candidates:.0f}",
                _tokens(c.generated), _tokens(c.prompt), c.tokens_source, _duration(c.seconds), ", ".join(c.flags),
            )  # fmt: skip
        t = est.totals()
        table.add_row(
            "total", str(t["quota"]), "", "", "", f"{t['instructions']:.1f}", "", f"{t['candidates']:.0f}",
            _tokens(t["generated"] or 0), _tokens(t["prompt"] or 0), "", _duration(t["seconds"]), "",
        )  # fmt: skip
        console = Console() if sys.stdout.isatty() else Console(width=200)  # a log gets the whole table
        console.print(table)
        root = cfg.resolve(cfg.output_dir)
        notes = [
            f"wall time from {est.cells[0].time_source if est.cells else '-'}",
            f"instructions: the mean and the central {high - low:.0%} of runs, at most the budget (quota x "
            f"attempts_factor); flagged when the budget runs out with more than {RISK_FLAG:.0%} probability",
            f"measured from {len(est.matched_runs)} earlier run(s) with the same models under {root}: "
            + ", ".join(est.matched_runs)
            if est.matched_runs
            else f"no earlier run with the same models under {root}: every number is a prior "
            "(pipeline/run/estimate.py); run once and plan again for measured ones",
        ]
        for note in notes:
            console.print(note, highlight=False)
