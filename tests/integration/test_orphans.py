"""No process outlives what it belongs to: a killed worker server's engine processes, a SIGKILLed run's
temporary Prefect server, and the local vLLM worker a SIGKILLed run started (real processes throughout)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.llm.paths import models_dir
from pipeline.llm.proc import group_members
from pipeline.llm.workers import WorkerRecord, free_port, read_state, stop_process
from tests.helpers.cli import run_cli as cli
from tests.helpers.processes import descendants, is_zombie

ROOT = Path(__file__).resolve().parent.parent.parent


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not is_zombie(pid)


def wait_for(cond: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def kill_all(pids: list[int]) -> None:
    """Last resort, so a failing test leaves nothing behind."""
    for pid in pids:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------- a worker whose server was killed


@pytest.fixture()
def cli_worker(tmp_path: Path) -> Iterator[tuple[WorkerRecord, Path, int]]:
    """A worker started with `complexify workers up --port P`; its whole group is killed at the end."""
    state = tmp_path / "state.json"
    port = free_port()
    up = cli("workers", "up", "-n", "1", "--port", str(port), "--state-file", str(state), timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    (rec,) = read_state(state).workers
    yield rec, state, port
    stop_process(rec, grace_s=5)


def test_workers_down_stops_the_engine_of_a_killed_server(cli_worker: tuple[WorkerRecord, Path, int]) -> None:
    rec, state, port = cli_worker
    assert rec.port == port and rec.url == f"http://127.0.0.1:{port}"  # --port keeps a restarted worker's URL
    assert rec.pgid == rec.pid
    engine = [p for p in group_members(rec.group) if p != rec.pid]
    assert engine, "vLLM started no engine process in the worker's group"

    os.kill(rec.pid, signal.SIGKILL)  # the server alone dies, as in an OOM kill
    wait_for(lambda: not running(rec.pid), 10, "the server to die")
    assert any(running(p) for p in engine), "the engine processes died with the server (nothing to test)"

    status = cli("workers", "status", "--state-file", str(state))
    assert status.returncode == 1 and "dead" in status.stdout and "still run" in status.stdout, status.stdout
    down = cli("workers", "down", "--state-file", str(state), timeout=120)
    assert down.returncode == 0, down.stderr
    assert "stopped 1 worker(s)" in down.stdout
    assert group_members(rec.group) == []
    assert not any(running(p) for p in engine)
    assert read_state(state).workers == []


# ---------------------------------------------------------------------- a SIGKILLed run


def start_run(tmp_path: Path, workers: dict[str, Any]) -> subprocess.Popen[bytes]:
    """`complexify run` on the smoke config with its own Prefect home (so it starts its own temporary server)
    and its own worker state (so it starts its own worker rather than reusing a recorded one)."""
    data = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    data.update(samples=1, workers=workers, output_dir=str(tmp_path / "out"))
    cfg = tmp_path / "smoke.yaml"
    cfg.write_text(yaml.safe_dump(data))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(models_dir())  # the prepared model, without converting it again
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        COMPLEXIFY_CACHE=str(cache),
        COMPLEXIFY_REQUEST_CACHE=str(tmp_path / "requests.sqlite"),
    )
    log = (tmp_path / "run.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", "--config", str(cfg), "--no-progress"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def prefect_server(run: subprocess.Popen[bytes]) -> int | None:
    return next((p for p in descendants(run.pid) if "prefect.server.api.server:create_app" in cmdline(p)), None)


def test_killed_run_leaves_no_prefect_server(tmp_path: Path) -> None:
    # The endpoint listens nowhere: the run gets as far as its first batch (retrying), which is all we need.
    run = start_run(tmp_path, {"local": 0, "endpoints": [f"http://127.0.0.1:{free_port()}"]})
    children: list[int] = []
    try:
        server = wait_for(lambda: prefect_server(run) or run.poll() is not None, 120, "the temporary Prefect server")
        assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(1.0)
        children = descendants(run.pid)
        assert server in children
        run.kill()
        run.wait(10)
        wait_for(lambda: not any(running(p) for p in children), 15, "the run's processes to end")
    finally:
        run.kill()
        kill_all(children)


def vllm_server_with_engine(run: subprocess.Popen[bytes]) -> int | bool:
    """The run's vLLM server once it has spawned its engine process, or False."""
    for pid in descendants(run.pid):
        if "vllm.entrypoints.openai.api_server" in cmdline(pid) and len(group_members(pid)) >= 2:
            return pid
    return run.poll() is not None


def test_killed_run_leaves_no_local_worker(tmp_path: Path) -> None:
    run = start_run(tmp_path, {"local": 1, "startup_timeout_s": 600})
    children: list[int] = []
    groups: list[int] = []
    try:
        server = wait_for(lambda: vllm_server_with_engine(run), 300, "the run's vLLM worker to start its engine")
        assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        children = descendants(run.pid)
        groups = [server]
        assert prefect_server(run) in children
        run.kill()
        run.wait(10)
        wait_for(
            lambda: not any(running(p) for p in children), 60, "the run's processes (worker, engine, Prefect) to end"
        )
        assert group_members(server) == []
    finally:
        run.kill()
        kill_all(children)
        for g in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(g, signal.SIGKILL)
