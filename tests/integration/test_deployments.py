"""prefect.yaml for real: a local Prefect server, a process work pool, `prefect deploy --all`, a worker,
and the `generate` deployment run with the smoke config against the shared vLLM worker.

Each run is bounded by the smoke config: one Single sample per part, at most quota x attempts_factor
instructions (see test_generate_e2e.worst_case): at most about a minute of generation per part."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from pipeline import store

ROOT = Path(__file__).resolve().parent.parent.parent
PREFECT = [sys.executable, "-m", "prefect"]
WATCH_TIMEOUT_S = 600  # a deployment run of the smoke config, flow-run process startup included


def only_run(out: Path) -> store.RunPaths:
    runs = store.list_runs(out)
    assert len(runs) == 1, f"expected one run under {out}, found {[r.fingerprint for r in runs]}"
    return runs[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `prefect server start` on loopback; yields the environment that points at it."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "COMPLEXIFY_PROJECT_DIR": str(ROOT),
    }
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield env
    finally:
        stop(server, grace_s=60)
        log.close()


def prefect(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"prefect {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def deployed(prefect_server: dict[str, str]) -> dict[str, str]:
    """The process pool and every deployment of prefect.yaml on the module's server."""
    env = prefect_server
    prefect(env, "work-pool", "create", "complexify", "--type", "process")
    deployed = prefect(env, "--no-prompt", "deploy", "--all")
    assert "generate/nightly" in deployed.stdout + deployed.stderr
    listed = prefect(env, "deployment", "ls").stdout
    assert "nightly" in listed and "publish" in listed
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A process worker; the flow runs it starts use a request cache of their test (real model calls)."""
    log = open(log_path, "w")
    env = {**env, "COMPLEXIFY_REQUEST_CACHE": str(log_path.parent / "requests.sqlite")}
    return subprocess.Popen(
        [*PREFECT, "worker", "start", "--pool", "complexify"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes], grace_s: float = 30) -> None:
    """SIGTERM the worker's process group; SIGKILL it if it is not gone after `grace_s` (a Prefect worker
    can take long to shut down on a busy machine), so no worker outlives the test either way."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.timeout(WATCH_TIMEOUT_S + 120, func_only=True)
def test_generate_deployment_runs_on_a_process_worker(vllm_endpoint, deployed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = deployed
    cfg_data = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    cfg_data.update({"workers": {"local": 0, "endpoints": [vllm_endpoint.url]}, "output_dir": str(tmp_path / "out")})
    cfg_data.update({"samples": 1, "mix": {"Single": 1}})
    cfg_path = tmp_path / "deploy.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg_data))

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        run = prefect(
            env, "deployment", "run", "generate/nightly", "--param", f"config_path={cfg_path}", "--watch", "--watch-timeout", str(WATCH_TIMEOUT_S),
            timeout=WATCH_TIMEOUT_S + 60,
        )  # fmt: skip
        assert "Completed" in run.stdout + run.stderr, run.stdout[-2000:]
    finally:
        stop(worker)

    stored = only_run(tmp_path / "out")
    assert store.done_batches(stored)
    instructions = store.load_instructions(stored)
    assert instructions and all(i.category == "Single" for i in instructions)
    assert len(store.load_samples(stored)) <= 1
    assert store.verify_run(stored) == []

    # the run's summary is visible in the Prefect UI: read the artifacts back through the API
    api = env["PREFECT_API_URL"]
    with httpx.Client(timeout=30, trust_env=False) as client:
        found = client.post(f"{api}/artifacts/filter", json={"artifacts": {"key": {"any_": ["generate-summary", "generate-categories"]}}})
        found.raise_for_status()
    artifacts = {a["key"]: a for a in found.json()}
    assert set(artifacts) == {"generate-summary", "generate-categories"}
    assert artifacts["generate-summary"]["type"] == "markdown"
    assert stored.fingerprint in artifacts["generate-summary"]["data"] and "| Single |" in artifacts["generate-summary"]["data"]
    table = artifacts["generate-categories"]["data"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert [r["category"] for r in rows] == ["Single"] and rows[0]["instructions"] == len(instructions)


@pytest.mark.timeout(WATCH_TIMEOUT_S + 120, func_only=True)
def test_two_workers_split_one_run_without_duplicates_or_gaps(vllm_endpoint, deployed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = deployed
    cfg_data = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    cfg_data.update({"workers": {"local": 0, "endpoints": [vllm_endpoint.url]}, "output_dir": str(tmp_path / "out")})
    cfg_data.update({"samples": 2, "mix": {"Single": 1}, "batch_size": 2})
    cfg_path = tmp_path / "split.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg_data))
    workers = [start_worker(env, tmp_path / f"worker-{k}.log") for k in range(2)]
    runs: list[subprocess.Popen[str]] = []
    try:
        runs += [
            subprocess.Popen(
                [*PREFECT, "deployment", "run", "generate/nightly", "--param", f"config_path={cfg_path}",
                 "--param", f"part={k}", "--param", "parts=2", "--watch", "--watch-timeout", str(WATCH_TIMEOUT_S)],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for k in range(2)
        ]
        outputs = [r.communicate(timeout=WATCH_TIMEOUT_S + 60)[0] for r in runs]
        for r, out in zip(runs, outputs, strict=True):
            assert r.returncode == 0 and "Completed" in out, out[-2000:]
    finally:
        for r in runs:  # the watching clients, should the test fail before they end
            if r.poll() is None:
                r.kill()
                r.wait()
        for w in workers:
            stop(w)

    stored = only_run(tmp_path / "out")
    batches = store.done_batches(stored)
    assert {b % 2 for b in batches} == {0, 1}, "both parts wrote batches"
    kept = store.load_samples(stored)
    ids = [s.id for s in kept]
    assert len(ids) == len(set(ids)) and len(ids) <= 2
    instructions = store.load_instructions(stored)
    assert len({i.id for i in instructions}) == len(instructions)
    kept_per_part = [0, 0]
    for m in store.manifests(stored):
        kept_per_part[m["batch"] % 2] += sum(c["kept"] for c in m["categories"].values())
    assert sum(kept_per_part) == len(kept) and max(kept_per_part) <= 1  # each part fills its own share only
    assert store.verify_run(stored) == []
    con = store.open_catalog(tmp_path / "out")
    assert con.execute("select count(*) from samples").fetchone()[0] == len(kept)
    con.close()
