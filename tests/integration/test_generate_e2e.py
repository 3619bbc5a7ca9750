"""The generation run end to end on the real CPU vLLM worker: a Prefect flow, Parquet shards, the DuckDB
catalog, re-verification of every stored sample, and resume after `kill -9` at random moments.

The work is bounded by the smoke config, not by luck: a category gets at most quota x attempts_factor
instructions, each costing at most one rewrite, `n` answers and `repair_rounds` repairs of at most
`max_tokens` tokens. `worst_case` below computes that bound; each test's timeout is derived from it.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import store
from pipeline.run.config import RunConfig, parse_config
from pipeline.store.files import TMP_SUFFIX
from pipeline.store.runs import DONE_DIR, shard_files
from pipeline.store.schema import KINDS
from pipeline.verify.plan import verify_response
from tests.helpers.cli import run_cli
from tests.helpers.http_stub import serve_http
from tests.helpers.stored_run import verify_run

ROOT = Path(__file__).resolve().parent.parent.parent
SMOKE = ROOT / "configs" / "smoke.yaml"
SLOW_TOKENS_PER_S = 60.0  # a single stream on a busy 2-core machine; batches run several times faster
OVERHEAD_S = 120.0  # Prefect server, imports, seeds, catalog and publishing around the model calls


@pytest.fixture(autouse=True)
def fresh_request_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty request cache, so its model calls are real, not replays."""
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))


def smoke_config(endpoint: str, out: Path, **overrides: Any) -> dict[str, Any]:
    data = yaml.safe_load(SMOKE.read_text())
    data["workers"] = {"local": 0, "endpoints": [endpoint]}
    data["output_dir"] = str(out)
    data.update(overrides)
    return data


def attempt_limit(quota: int, cfg: RunConfig) -> int:
    """Most instructions a category with this quota may get: quota x attempts_factor, rounded up."""
    return max(1, math.ceil(quota * cfg.attempts_factor - 1e-9))


def worst_case(cfg: RunConfig) -> tuple[int, int, float]:
    """(instructions, generated tokens, seconds at SLOW_TOKENS_PER_S) the config can cost at most.

    The category quotas add up to `samples`; rounding up each category's limit adds less than one each.
    """
    m = cfg.models
    rewrite = m.rewriter.sampling.max_tokens if m.rewriter.enabled else 0
    per_instruction = rewrite + m.responder.sampling.max_tokens * (m.responder.n + cfg.repair_rounds)
    instructions = attempt_limit(cfg.samples, cfg) + sum(1 for w in cfg.mix.values() if w > 0) - 1
    tokens = instructions * per_instruction
    return instructions, tokens, tokens / SLOW_TOKENS_PER_S


def budget_s(**overrides: Any) -> float:
    """Timeout of a test running the smoke config once (with overrides): worst case plus overhead, doubled."""
    data = yaml.safe_load(SMOKE.read_text())
    data.update(overrides)
    return 2 * (worst_case(parse_config(data, str(SMOKE)))[2] + OVERHEAD_S)


def only_run(out: Path) -> store.RunPaths:
    runs = store.list_runs(out)
    assert len(runs) == 1, f"expected one run under {out}, found {[r.fingerprint for r in runs]}"
    return runs[0]


def test_smoke_config_is_bounded() -> None:
    """The smoke run's worst case (every instruction used, every answer at max_tokens) stays small."""
    cfg = parse_config(yaml.safe_load(SMOKE.read_text()), str(SMOKE))
    instructions, tokens, seconds = worst_case(cfg)
    assert instructions <= 24 and tokens <= 20_000 and seconds <= 330, (instructions, tokens, seconds)
    assert cfg.compose.checkers == "code" and not cfg.models.judge.enabled  # every check runs without a model


@pytest.mark.timeout(budget_s(), func_only=True)
def test_smoke_run_writes_shards_catalog_and_verifiable_samples(vllm_endpoint, prefect_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from flows.generate import generate

    out = tmp_path / "out"
    cfg_data = smoke_config(vllm_endpoint.url, out)
    cfg = parse_config(cfg_data)
    summary = generate(config=cfg_data)
    run = only_run(out)

    # shards and catalog exist; every batch has its manifest
    assert store.done_batches(run) and all(shard_files(run, k) for k in KINDS)
    assert (out / "catalog.duckdb").is_file()

    # DuckDB counts agree with the run's own summary; the summary reports every quota honestly
    con = store.open_catalog(out)
    n_kept = con.execute("select count(*) from samples").fetchone()[0]
    n_ins = con.execute("select count(*) from instructions").fetchone()[0]
    kept_per_cat = dict(con.execute("select category, count(*) from samples group by category").fetchall())
    ins_per_cat = dict(con.execute("select category, count(*) from instructions group by category").fetchall())
    n_dupes = con.execute("select count(*) - count(distinct sample_id) from samples").fetchone()[0]
    con.close()
    assert n_kept == summary["kept"] >= 1, summary
    assert n_ins == summary["totals"]["instructions"] <= worst_case(cfg)[0]
    assert n_dupes == 0
    assert {r["category"] for r in summary["quota"]} == {c for c, w in cfg.mix.items() if w > 0}
    assert sum(r["quota"] for r in summary["quota"]) == cfg.samples
    for r in summary["quota"]:
        cat, limit = r["category"], attempt_limit(r["quota"], cfg)
        assert r["kept"] == kept_per_cat.get(cat, 0) <= r["quota"], r
        assert r["attempts"] == ins_per_cat.get(cat, 0) <= limit, r
        assert r["met"] == (r["kept"] == r["quota"]), r
        if not r["met"]:  # a category is given up only when it is out of attempts
            assert r["attempts"] == limit, r

    # every kept sample passes its plan when re-verified from the stored row; rejects say why
    kept = store.load_samples(run)
    assert len(kept) == n_kept
    for s in kept:
        verdict = verify_response(s.response.text, s.instruction.plan, instruction=s.instruction.prompt)
        assert verdict.all_pass, (s.id, verdict)
    rejects = store.load_samples(run, kept=False)
    assert rejects and all(r.reject_reasons for r in rejects)
    responder = cfg.models.responder.sampling.max_tokens
    assert all(s.response.completion_tokens <= responder for s in [*kept, *rejects])

    # a second run of the same config resumes: nothing new is composed
    again = generate(config=cfg_data)
    assert again["kept"] == summary["kept"] and again["totals"].get("instructions", 0) == 0
    assert store.done_batches(only_run(out)) == store.done_batches(run)

    # publishing (dry run) builds a folder `datasets` loads, and the rl ground truth scores the kept answers
    import datasets

    from pipeline.publish.dataset import publish_run
    from pipeline.verify.reward import compute_score

    result = publish_run(out, run.fingerprint, "org/complexify-smoke", out=tmp_path / "hub", dry_run=True)
    assert result.pushed is None
    sft = datasets.load_dataset(str(result.built.folder), "sft", split="train", cache_dir=str(tmp_path / "hf-cache"))
    rl = datasets.load_dataset(str(result.built.folder), "rl", split="train", cache_dir=str(tmp_path / "hf-cache"))
    # the hack screen may drop a kept answer of the model (each with its reasons); every other kept one is a row
    screen = result.built.screen
    assert screen is not None and all(d.reasons for d in screen.dropped)
    assert len(sft) == n_kept - screen.dropped_in("sft") and len(rl) == n_kept - screen.dropped_in("rl")
    assert len(rl) > 0
    for row in rl:
        assert compute_score(row["data_source"], row["reference_response"], row["ground_truth"]) == 2.0


def test_unreachable_worker_is_a_clear_error(prefect_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`complexify run` against an endpoint where nothing listens fails soon, exit 1, naming the endpoint.

    Run as a process with a deadline: a run that hangs instead fails this test (and is killed) rather
    than holding up the rest of the suite.
    """
    cfg_path = tmp_path / "unreachable.yaml"
    cfg_path.write_text(yaml.safe_dump(smoke_config("http://127.0.0.1:9", tmp_path / "out", repair_rounds=0)))
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(cfg_path), "--no-progress"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"the run did not fail within 120 s on an unreachable endpoint:\n{err[-3000:]}")
    assert proc.returncode == 1, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors and "127.0.0.1:9" in errors[-1], err[-3000:]  # the CLI's error line names the endpoint


class _NotAnLLM(BaseHTTPRequestHandler):
    """Answers every request with a web page, as a wrong URL in the config would."""

    def _page(self) -> None:
        body = b"<html>this is a wiki</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._page()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._page()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_endpoint_that_is_not_an_llm_is_one_line_naming_it(prefect_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No traceback from Prefect, no batch retried on top of the engine's own retries: one error line, exit 1."""
    with serve_http(_NotAnLLM) as url:
        cfg_path = tmp_path / "junk.yaml"
        cfg_path.write_text(yaml.safe_dump(smoke_config(url, tmp_path / "out")))
        env = {"PREFECT_API_URL": prefect_api, "COMPLEXIFY_REQUEST_CACHE": str(tmp_path / "requests.sqlite")}
        done = run_cli("run", "--config", str(cfg_path), "--no-progress", env=env, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and url in errors[0] and "OpenAI-compatible" in errors[0], done.stderr[-3000:]
    # not retried by Prefect: each batch in flight fails once, and no retry is announced
    lines = done.stderr.splitlines()
    failed = [line.split("Task run '")[1].split("'")[0] for line in lines if "Task run failed" in line]
    assert len(failed) == len(set(failed)) and "Retry" not in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) < 20, done.stderr


KILL_OVERRIDES: dict[str, Any] = {"samples": 3, "mix": {"Single": 1}, "batch_size": 3, "repair_rounds": 0}


def kill_test_config(endpoint: str, out: Path) -> dict[str, Any]:
    """The smoke config made small per batch (no rewrites, two short answers), so each killed run reaches a
    saved batch soon and the whole test stays bounded."""
    data = smoke_config(endpoint, out, **KILL_OVERRIDES)
    data["models"]["rewriter"]["enabled"] = False
    data["models"]["responder"].update(n=2, sampling={"temperature": 0.9, "max_tokens": 96})
    return data


def _manifests(out: Path) -> int:
    return sum(1 for _ in out.glob(f"runs/*/{DONE_DIR}/*.json"))


@pytest.mark.timeout(budget_s(**KILL_OVERRIDES) + 300, func_only=True)  # plus the killed runs' startups
def test_kill_9_at_random_moments_then_resume(vllm_endpoint, prefect_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pipeline.cli import EXIT_QUOTAS_NOT_MET

    out = tmp_path / "out"
    cfg_data = kill_test_config(vllm_endpoint.url, out)
    cfg_path = tmp_path / "crash.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg_data))
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(cfg_path), "--no-progress"]
    rng = random.Random(7)
    kills = kills_after_progress = 0
    for round_ in range(3):
        log = tmp_path / f"killed-run-{round_}.log"
        with open(log, "wb") as sink:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        # Round 0: a random moment from startup into the first batch. Later rounds: a random moment of the
        # batch after the next one is written, so the run has done batches to resume from.
        wait_for_batch = round_ > 0
        done_before = _manifests(out)
        deadline = time.monotonic() + (180 if wait_for_batch else rng.uniform(4, 20))
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if wait_for_batch and _manifests(out) > done_before:
                    time.sleep(rng.uniform(0, 1.5))
                    break
                time.sleep(0.1)
        finally:  # also when the test fails or times out here: no run outlives it
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if finished:  # the run ended by itself: it must have finished, not failed
            assert proc.returncode in (0, EXIT_QUOTAS_NOT_MET), log.read_text(errors="replace")[-3000:]
            break  # nothing left to interrupt
        kills += 1
        kills_after_progress += _manifests(out) > 0
    assert kills >= 1, "every run finished before it could be killed; the test did not test resume"
    assert kills_after_progress >= 1, "no kill landed after a batch was written: resume never had work to skip"
    final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)

    cfg = parse_config(cfg_data)
    run = only_run(out)
    kept = store.load_samples(run)
    ids = [s.id for s in kept]
    assert len(ids) == len(set(ids)), "duplicate samples after resume"
    instructions = store.load_instructions(run)
    assert len({i.id for i in instructions}) == len(instructions)
    assert len(instructions) <= worst_case(cfg)[0]  # kills do not buy extra attempts
    if len(kept) == 3:
        assert final.returncode == 0 and "kept 3 of 3" in final.stdout, final.stdout[-2000:] + final.stderr[-3000:]
    else:  # quota not met within attempts_factor: the run must say so, and never overshoot
        assert final.returncode == EXIT_QUOTAS_NOT_MET, final.stderr[-3000:]
        assert len(kept) < 3 and "not met" in final.stderr and len(instructions) == attempt_limit(3, cfg)
    assert verify_run(run) == []
    leftovers = [p for p in out.rglob("*") if p.name.endswith(TMP_SUFFIX)]
    assert leftovers == []
