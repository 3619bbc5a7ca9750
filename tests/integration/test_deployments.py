"""prefect.yaml for real: a local Prefect server, a process work pool, `prefect deploy --all`, a worker,
and the `generate` deployment run with the smoke config against the shared vLLM worker.

The run is bounded by the smoke config: one Single sample, at most quota x attempts_factor instructions
(see test_generate_e2e.worst_case): at most about a minute of generation. Scale-out over several runners
is tested in test_scale_out.py, which reuses this module's Prefect server fixture."""

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
from tests.helpers.stored_run import verify_run

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
            env, "deployment", "run", "generate/nightly", "--param", f"config_path={cfg_path}",
            "--watch", "--watch-timeout", str(WATCH_TIMEOUT_S),
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
    assert verify_run(stored) == []

    # the run's summary is visible in the Prefect UI: read the artifacts back through the API
    api = env["PREFECT_API_URL"]
    with httpx.Client(timeout=30, trust_env=False) as client:
        found = client.post(
            f"{api}/artifacts/filter",
            json={"artifacts": {"key": {"any_": ["generate-summary", "generate-categories"]}}},
        )
        found.raise_for_status()
    artifacts = {a["key"]: a for a in found.json()}
    assert set(artifacts) == {"generate-summary", "generate-categories"}
    assert artifacts["generate-summary"]["type"] == "markdown"
    assert (
        stored.fingerprint in artifacts["generate-summary"]["data"]
        and "| Single |" in artifacts["generate-summary"]["data"]
    )
    table = artifacts["generate-categories"]["data"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert [r["category"] for r in rows] == ["Single"] and rows[0]["instructions"] == len(instructions)
