"""`complexify plan`: per quota cell what a run will take, from earlier runs with the same models or from priors,
with the source of every number; a scripted model's measured yield predicts a new run within the stated interval."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pipeline import store
from pipeline.cli import app
from pipeline.project import ROOT
from pipeline.run.config import load_config, parse_config
from pipeline.run.estimate import estimate, instructions_needed
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.report import format_summary
from pipeline.run.stages import Models
from tests.helpers.scripted_chat import answering_from

chat = answering_from(
    (
        "here is a short answer in lowercase words only",
        "HERE IS AN ANSWER IN CAPITAL LETTERS",
        "Here Is A Short Answer In Title Case\nP.S. That Is All",
    )
)


def config(out: Path, seed: int, samples: int) -> dict[str, Any]:
    return {
        "name": "plan",
        "samples": samples,
        "mix": {"Single": 1},
        "compose": {"checkers": "code"},
        "models": {"rewriter": {"enabled": False}, "responder": {"n": 1}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False},
        "repair_rounds": 0,
        "attempts_factor": 20,
        "batch_size": 4,
        "batches_in_flight": 1,
        "random_seed": seed,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(out),
    }


def run(cfg: dict[str, Any]) -> Any:
    with open_run_context(parse_config(cfg), log=lambda line: None, models=Models(chat=chat, judge=None)) as ctx:
        return run_locally(ctx)


def test_a_measured_yield_predicts_a_new_run_within_its_interval(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run(config(out, seed=1, samples=12))  # measures the scripted model's yield on Single
    [row] = first.quota
    assert row.met and row.attempts > row.kept, "the scripted model passes every time: nothing to estimate"
    cfg = parse_config(config(out, seed=2, samples=6))  # another run (another seed), same models, same cell
    [cell] = estimate(cfg).cells
    assert cell.yield_source.startswith("measured: ") and f"/{row.attempts} over 1 run" in cell.yield_source
    assert cell.tokens_source.startswith("measured")
    low, high = cell.interval
    second = run(config(out, seed=2, samples=6))
    [actual] = second.quota
    assert actual.met
    assert low <= actual.attempts <= (high if high is not None else cell.budget), (cell, actual)
    assert abs(cell.yield_mean - row.kept / row.attempts) < 0.15
    # the run summary compares the plan made when each run started with what it took
    [planned] = first.plan
    assert planned["yield_source"].startswith("prior") and planned["attempts"] == row.attempts
    [planned] = second.plan
    assert planned["yield_source"] == cell.yield_source and planned["interval"] == [low, high]
    assert planned["attempts"] == actual.attempts and planned["within"]
    assert "plan vs actual" in format_summary(second)


def test_the_budget_running_out_is_a_beta_binomial_tail() -> None:
    # a yield known to be near 0.5 (many measurements): 10 kept need about 20 instructions
    expected, (low, high), out = instructions_needed(10, 100, 500.0, 500.0)
    assert 18 <= expected <= 22 and low < 20 < (high or 0) and out < 1e-6
    # a budget just at the mean runs out about half the time
    _, _, out = instructions_needed(10, 20, 500.0, 500.0)
    assert 0.35 < out < 0.65
    # nothing ever kept: the budget runs out almost surely
    _, (_, high), out = instructions_needed(5, 30, 0.4, 40.0)
    assert out > 0.9 and high is None


def test_a_cell_measured_at_zero_yield_is_flagged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    never = answering_from(("",))  # empty answers fail every instruction

    with open_run_context(
        parse_config({**config(out, seed=1, samples=2), "attempts_factor": 3}), log=lambda line: None,
        models=Models(chat=never, judge=None),
    ) as ctx:  # fmt: skip
        run_locally(ctx)
    [cell] = estimate(parse_config(config(out, seed=5, samples=2))).cells
    assert cell.yield_source == "measured: 0/6 over 1 run(s)"
    assert any(f.startswith("cannot fill") for f in cell.flags)
    assert any(f.startswith("may run out") for f in cell.flags)


def test_plan_prints_every_cell_from_priors_quickly_without_a_model(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "configs" / "default.yaml").model_copy(update={"output_dir": str(tmp_path / "none")})
    started = time.perf_counter()
    est = estimate(cfg)
    assert time.perf_counter() - started < 2.0
    assert [c.cell for c in est.cells] == ["Single", "And_1", "Chain_1", "Selection_1"]
    assert all(c.yield_source.startswith("prior") and c.tokens_source == "prior" for c in est.cells)
    assert all(c.seconds is not None for c in est.cells)  # the default config runs a local worker: a prior rate
    shown = CliRunner().invoke(
        app, ["plan", "--config", str(ROOT / "configs" / "default.yaml"), "--output-dir", str(tmp_path / "none")]
    )
    assert shown.exit_code == 0, shown.output
    assert "Selection_1" in shown.output and "every number is a prior" in shown.output
    assert not store.list_runs(tmp_path) if (tmp_path / "runs").exists() else True  # nothing written


def test_plan_of_a_bad_config_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("samples: 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "plan", "--config", str(bad)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2 and "samples" in done.stderr and "Traceback" not in done.stderr


def test_token_counts_read_in_their_unit() -> None:
    from pipeline.cli.plan import _tokens

    assert [_tokens(v) for v in (0, 9999, 13666, 2_500_000, 3.2e9)] == ["0", "9999", "13.7k", "2.5M", "3.2G"]
