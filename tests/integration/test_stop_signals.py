"""Stopping `complexify run` mid-batch with SIGINT or SIGTERM on the real worker: the process ends within
seconds with a non-zero exit and one line, leaves no process of its own behind, and a rerun resumes.

The signal is sent once the run has a request running on the worker (read from the worker's own request
gauge), not after a guessed delay. Work is bounded: one Single sample, short answers, no rewrites or repairs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from pipeline import store
from pipeline.run.config import load_config
from pipeline.run.identity import run_fingerprint
from tests.helpers.stored_run import verify_run

ROOT = Path(__file__).resolve().parent.parent.parent


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (read from /proc, so grandchildren are found too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in found]
        found.update(children)
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def requests_running(url: str) -> float:
    """Requests the vLLM worker is generating right now (its `num_requests_running` gauge)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(None, 1)[1]) for line in text.splitlines() if line.startswith("vllm:num_requests_running")
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_run_within_seconds_and_a_rerun_resumes(
    vllm_endpoint, tmp_path: Path, sig: signal.Signals
) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    data.update(
        samples=1, mix={"Single": 1}, batch_size=4, attempts_factor=8, repair_rounds=0,
        output_dir=str(tmp_path / "out"), workers={"local": 0, "endpoints": [vllm_endpoint.url]},
    )  # fmt: skip
    data["models"]["rewriter"]["enabled"] = False
    data["models"]["responder"].update(n=2, sampling={"temperature": 0.9, "max_tokens": 96})
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    # no PREFECT_API_URL: the run starts Prefect's temporary server as its own child, which must not outlive it
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(COMPLEXIFY_REQUEST_CACHE=str(tmp_path / "requests.sqlite"), PREFECT_HOME=str(tmp_path / "prefect"))
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(cfg_path), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_dir = tmp_path / "out" / "runs" / run_fingerprint(load_config(cfg_path))
    deadline = time.monotonic() + 300  # a backstop: the run's start (Prefect, imports) on a loaded machine
    while not (run_dir / "run.lock").exists() or requests_running(vllm_endpoint.url) < 1:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before the signal: nothing was stopped"
    children = descendants(proc.pid)
    assert children, "expected the run's Prefect server among its children"

    t0 = time.monotonic()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=15)
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 128 + sig, out[-2000:]
    assert f"stopped ({sig.name})" in out and "rerun to resume" in out
    gone_by = time.monotonic() + 30  # its children get the signal too; a loaded machine may take a moment
    while [p for p in children if alive(p)] and time.monotonic() < gone_by:
        time.sleep(0.2)
    assert [p for p in children if alive(p)] == [], "processes of the stopped run are still running"
    assert not list(run_dir.rglob("*.tmp"))

    if sig is signal.SIGINT:
        return  # resuming does not depend on which signal stopped the run: the SIGTERM case reruns
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode in (0, 3), again.stderr[-3000:]
    run = store.load_run(tmp_path / "out", run_dir.name)
    kept = store.load_samples(run)
    assert len({s.id for s in kept}) == len(kept)
    assert verify_run(run) == []
    if again.returncode == 0:
        assert len(kept) == 1 and "kept 1 of 1" in again.stdout
    else:  # the 135M model may miss the quota within attempts_factor; the run must say so
        assert len(kept) < 1 and "not met" in again.stderr
