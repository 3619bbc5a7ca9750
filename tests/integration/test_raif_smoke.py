"""configs/raif-smoke.yaml end to end through the CLI on the shared real worker: student rollouts with and
without reasoning, the pass-rate band, plan-first reasoning and its shallow-reasoning measures, all stored, then
published: `rl` with its baseline columns, and `sft_reasoning` / `contrast` when the run produced rows for them.

Bounded by the config, not by luck: `worst_case` below adds the student's rollouts to the generation
test's bound (at most quota x attempts_factor instructions, each with its answers, repairs and, when one
is kept, 2k student rollouts); the timeout is derived from it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
import pytest
import yaml

from pipeline import store
from pipeline.models import Sample
from pipeline.run.config import RunConfig, load_config
from pipeline.run.difficulty import compare
from pipeline.run.planning import quota_plan

if TYPE_CHECKING:
    from tests.integration.conftest import VLLMEndpoint

ROOT = Path(__file__).resolve().parent.parent.parent
RAIF_SMOKE = ROOT / "configs" / "raif-smoke.yaml"
SLOW_TOKENS_PER_S = 60.0  # a single stream on a busy 2-core machine; batches run several times faster
OVERHEAD_S = 120.0  # Prefect server, imports, seeds, the embedding model and the catalog around the model calls


def worst_case(cfg: RunConfig) -> tuple[int, int]:
    """(instructions, generated tokens) the config can cost at most, student rollouts included."""
    m = cfg.models
    limits = [c.budget for c in quota_plan(cfg).cells]  # every instruction is an attempt of a cell, hardened ones too
    rewrite = m.rewriter.sampling.max_tokens if m.rewriter.enabled else 0
    per_answer = 2 if m.responder.reasoning == "plan_first" else 1  # a plan request, then the answer
    answers = m.responder.sampling.max_tokens * (m.responder.n * per_answer + cfg.repair_rounds)
    per_reasoning_rollout = 2 if m.student.reasoning_style == "plan_first" else 1
    kinds = 1 + (per_reasoning_rollout if m.student.reasoning else 0)
    student = m.student.sampling.max_tokens * m.student.rollouts * kinds if m.student.enabled else 0
    instructions = sum(limits)
    return instructions, instructions * (rewrite + answers + student)


def budget_s() -> float:
    return 2 * (worst_case(load_config(RAIF_SMOKE))[1] / SLOW_TOKENS_PER_S + OVERHEAD_S)


def test_raif_smoke_config_is_bounded_and_exercises_every_part() -> None:
    cfg = load_config(RAIF_SMOKE)
    instructions, tokens = worst_case(cfg)
    assert instructions <= 12 and tokens <= 13_000, (instructions, tokens)
    assert set(cfg.mix) <= {"Single", "And_1"} and cfg.compose.checkers == "code" and not cfg.models.judge.enabled
    student, responder = cfg.models.student, cfg.models.responder
    assert student.enabled and student.reasoning and student.rollouts == 2 and student.model == responder.model
    assert responder.reasoning == "plan_first" and student.reasoning_style == "plan_first"
    assert cfg.difficulty.filters() and not cfg.gate.reject_shallow_reasoning  # see the config's header


def totals_line(output: str) -> dict[str, int]:
    """The counters of the run summary's `totals:` line (logged through Prefect, so after a log prefix)."""
    [line] = [x.split("totals: ", 1)[1] for x in output.splitlines() if "totals: " in x]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


# The 135M model keeps an answer for roughly a third of the instructions, so a run of at most 9 leaves the
# student nothing to measure a few times in a hundred; a second and third run with other seeds make that
# about one in a million, and cost nothing when the first run measured something.
RANDOM_SEEDS = (1, 2, 3)


def run_raif_smoke(
    endpoint: str, prefect_api: str, tmp_path: Path, random_seed: int
) -> tuple[RunConfig, Path, int, str, str]:
    """One run of the config on `endpoint` through the CLI: (config, output root, exit code, stdout, stderr)."""
    out = tmp_path / f"out-{random_seed}"
    data = yaml.safe_load(RAIF_SMOKE.read_text())
    data["workers"] = {"local": 0, "endpoints": [endpoint]}
    data["output_dir"] = str(out)
    data["random_seed"] = random_seed
    cfg_path = tmp_path / f"raif-smoke-{random_seed}.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "COMPLEXIFY_REQUEST_CACHE": str(tmp_path / "requests.sqlite")}
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(cfg_path), "--no-progress"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=budget_s() - 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the run did not finish within its bound:\n{stderr[-3000:]}")
    return load_config(cfg_path), out, proc.returncode, stdout, stderr


@pytest.mark.timeout(len(RANDOM_SEEDS) * budget_s(), func_only=True)
def test_raif_smoke_run_stores_student_evals_band_drops_and_reasoning(
    vllm_endpoint: VLLMEndpoint, prefect_api: str, tmp_path: Path
) -> None:
    from pipeline.cli import EXIT_QUOTAS_NOT_MET

    for random_seed in RANDOM_SEEDS:
        cfg, out, returncode, stdout, stderr = run_raif_smoke(vllm_endpoint.url, prefect_api, tmp_path, random_seed)
        assert returncode in (0, EXIT_QUOTAS_NOT_MET), stderr[-3000:]
        [run] = store.list_runs(out)
        kept, rejects = store.load_samples(run), store.load_samples(run, kept=False)
        if returncode == EXIT_QUOTAS_NOT_MET:
            assert len(kept) < cfg.samples and "not met" in stdout + stderr
        else:
            assert len(kept) == cfg.samples
        # every instruction with a kept answer was measured; every sample of it carries the same StudentEval
        by_ins: dict[str, list[Sample]] = {}
        for s in [*kept, *rejects]:
            by_ins.setdefault(s.instruction.id, []).append(s)
        measured = {i: group for i, group in by_ins.items() if any(s.student is not None for s in group)}
        if measured:
            break
    assert measured, f"no instruction kept an answer in {len(RANDOM_SEEDS)} runs, so the student never ran"
    k = cfg.models.student.rollouts
    for group in measured.values():
        ev = group[0].student
        assert ev is not None and all(s.student == ev for s in group)
        n_checks = group[0].verdict.n_checks
        assert ev.model == cfg.models.student.model and ev.reasoning is not None and len(ev.rollouts) == 2 * k
        for summary, rollouts in ((ev.baseline, ev.rollouts[:k]), (ev.reasoning, ev.rollouts[k:])):
            assert summary.k == k and 0 <= summary.pass_rate <= 1 and 0 <= summary.mean_satisfied <= n_checks
            assert summary.pass_rate == sum(r.passed for r in rollouts) / k
            assert all(r.total == n_checks and r.satisfied <= n_checks for r in rollouts)
        assert ev.outcome == compare(ev.rollouts[:k], ev.rollouts[k:])
    for s in kept:
        assert s.student is not None and s.instruction.id in measured
        assert cfg.difficulty.min_pass_rate <= s.student.baseline.pass_rate <= cfg.difficulty.max_pass_rate
    band_drops = [s for s in rejects if s.reject_reasons in (["too_easy"], ["too_hard"])]
    for s in band_drops:
        assert s.student is not None and s.verdict.all_pass
        assert (s.student.baseline.pass_rate < cfg.difficulty.min_pass_rate) == (s.reject_reasons == ["too_hard"])

    # the summary counts what the store holds, and says how little a 135M student with k=2 shows
    output = stdout + stderr
    totals = totals_line(output)
    assert totals["student_instructions"] == len(measured) and totals["student_rollouts"] == 2 * k * len(measured)
    assert totals.get("too_hard", 0) + totals.get("too_easy", 0) == len(band_drops)
    evals = [ev for group in measured.values() if (ev := group[0].student) is not None]
    assert totals["student_completion_tokens"] == sum(r.completion_tokens for ev in evals for r in ev.rollouts)
    assert "note: the student is the bundled 135M model" in output and "steps of 1/2" in output
    traces = [s for s in [*kept, *rejects] if s.reasoning_quality is not None]
    assert totals.get("reasoning_measured", 0) == len(traces)
    if not traces:  # no kept answer, so no trace was measured: the summary must say so
        assert "no kept answer carried a reasoning trace" in output
    # plan-first: every kept answer carries a trace, measured (the gate is off here, so shallow ones stay)
    assert all(s.response.reasoning and s.reasoning_quality is not None for s in kept)

    # the flat columns the publish side reads agree with the records
    con = store.open_catalog(out)
    try:
        rows = con.execute(
            "select sample_id, student_model, baseline_rollouts, baseline_pass_rate, reasoning_outcome from samples"
        ).fetchall()
    finally:
        con.close()
    assert sorted(r[0] for r in rows) == sorted(s.id for s in kept)
    by_id = {s.id: s for s in kept}
    for sample_id, model, rollouts, rate, outcome in rows:
        ev = by_id[sample_id].student
        assert ev is not None and (model, rollouts, rate, outcome) == (ev.model, k, ev.baseline.pass_rate, ev.outcome)

    # published: rl carries the four baseline columns; sft_reasoning and contrast load when the run made rows
    if not kept:
        return
    folder, cache = tmp_path / "hub", tmp_path / "datasets-cache"
    cmd = [sys.executable, "-m", "pipeline.cli", "publish", "--root", str(out), "--run", run.fingerprint,
           "--repo-id", "org/raif-smoke", "--out", str(folder), "--dry-run"]  # fmt: skip
    published = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert published.returncode == 0, published.stderr[-3000:]
    # the hack screen may drop a kept answer of the model (each with its reasons); every other kept one is a row
    screening = json.loads((folder / "screening.json").read_text(encoding="utf-8"))
    assert all(d["reasons"] for d in screening["dropped"])
    dropped = {d["id"] for d in screening["dropped"] if d["config"] == "rl"}
    in_rl = [s for s in kept if s.instruction.id not in dropped]
    if not in_rl:  # a config with no rows is not written
        assert not (folder / "data" / "rl").exists()
        return
    rl = datasets.load_dataset(str(folder), "rl", split="train", cache_dir=str(cache))
    assert len(rl) == len(in_rl)
    assert set(rl["baseline_model"]) == {cfg.models.student.model} and set(rl["baseline_rollouts"]) == {k}
    assert all(0 <= rate <= 1 for rate in rl["baseline_pass_rate"])
    assert sorted(rl["baseline_pass_rate"]) == sorted(s.student.baseline.pass_rate for s in in_rl if s.student)
    if (folder / "data" / "sft_reasoning").exists():
        sft = datasets.load_dataset(str(folder), "sft_reasoning", split="train", cache_dir=str(cache))
        assert all(row["messages"][-1]["content"].startswith("<think>") for row in sft)
    if (folder / "data" / "contrast").exists():
        contrast = datasets.load_dataset(str(folder), "contrast", split="train", cache_dir=str(cache))
        assert all(c > r for c, r in zip(contrast["chosen_score"], contrast["rejected_score"], strict=True))
