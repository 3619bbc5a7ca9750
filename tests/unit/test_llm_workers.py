"""Worker lifecycle pieces that need no vLLM: command line, liveness by PID, stopping a process group, state file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.llm.model_prep import ResolvedModel
from pipeline.llm.proc import group_members, start_ticks
from pipeline.llm.workers import (
    WorkerOptions,
    WorkerRecord,
    WorkerStartError,
    build_command,
    describe,
    is_alive,
    leftover_processes,
    read_state,
    stop_process,
    stop_workers,
    wait_healthy,
    worker_status,
)


def record_for(proc: subprocess.Popen[bytes], log: Path, port: int = 1) -> WorkerRecord:
    return WorkerRecord(
        pid=proc.pid, port=port, url=f"http://127.0.0.1:{port}", model_source="m", served_name="m",
        log_path=str(log), started_at=time.time(), start_ticks=start_ticks(proc.pid), pgid=proc.pid,
    )  # fmt: skip


def test_command_has_the_cpu_flags() -> None:
    cmd = build_command(
        Path("/py"), ResolvedModel("/models/x", "x", True), 8123, WorkerOptions(extra_args=("--seed", "1"))
    )
    assert cmd[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(cmd)
    for part in ("--model /models/x", "--served-model-name x", "--host 127.0.0.1", "--port 8123",
                 "--max-model-len 2048", "--dtype bfloat16", "--enforce-eager",
                 "--disable-uvicorn-access-log"):  # fmt: skip
        assert part in joined
    assert cmd[-2:] == ["--seed", "1"]


def test_stop_process_kills_the_whole_group(tmp_path: Path) -> None:
    # A parent with a child in its group, like the vLLM server and the engine process it spawns.
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    rec = record_for(proc, tmp_path / "log")
    assert is_alive(rec)
    assert stop_process(rec, grace_s=5)
    proc.wait(5)
    assert not is_alive(rec)
    assert not stop_process(rec)  # already gone: nothing to do


def test_a_reused_pid_is_not_our_worker(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        rec = record_for(proc, tmp_path / "log").model_copy(update={"start_ticks": 1})
        assert not is_alive(rec)
    finally:
        proc.kill()
        proc.wait()


def test_wait_healthy_reports_a_crash_with_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("loading\nValueError: no such model\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    proc.wait()
    with pytest.raises(WorkerStartError, match=r"exited during startup(.|\n)*no such model"):
        wait_healthy([record_for(proc, log)], timeout_s=30)


def test_wait_healthy_times_out(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        with pytest.raises(WorkerStartError, match="not healthy after"):
            wait_healthy([record_for(proc, tmp_path / "log", port=9)], timeout_s=0.5)
    finally:
        proc.kill()
        proc.wait()


def test_stop_workers_clears_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    rec = record_for(proc, tmp_path / "log")
    state.write_text(f'{{"workers": [{rec.model_dump_json()}]}}')
    assert read_state(state).workers == [rec]
    assert stop_workers(state_file=state) == [rec]
    assert read_state(state).workers == []
    proc.wait(5)


def orphaned_group(tmp_path: Path) -> tuple[subprocess.Popen[bytes], WorkerRecord]:
    """A session leader with a child, like a vLLM server and its engine; the leader is then SIGKILLed."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    rec = record_for(proc, tmp_path / "log")
    deadline = time.monotonic() + 10
    while len(group_members(proc.pid)) < 2:  # the child exists
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    return proc, rec


def test_stop_workers_stops_what_a_killed_server_left_behind(tmp_path: Path) -> None:
    proc, rec = orphaned_group(tmp_path)
    state = tmp_path / "state.json"
    state.write_text(f'{{"workers": [{rec.model_dump_json()}]}}')
    assert not is_alive(rec)
    left = leftover_processes(rec)
    assert len(left) == 1 and proc.pid not in left
    (status,) = worker_status(state_file=state)
    assert not status.alive and status.leftovers == 1 and "still run" in describe([status])
    assert stop_workers(state_file=state) == [rec]  # reported as stopped, not forgotten
    assert group_members(rec.group) == []
    assert read_state(state).workers == []


def test_old_records_without_pgid_use_the_pid(tmp_path: Path) -> None:
    proc, rec = orphaned_group(tmp_path)
    old = rec.model_copy(update={"pgid": None})
    assert old.group == proc.pid
    assert stop_process(old, grace_s=5)
    assert group_members(proc.pid) == []


def test_a_reused_group_id_is_not_our_worker(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        rec = record_for(proc, tmp_path / "log").model_copy(update={"start_ticks": 1})  # "our" leader started long ago
        assert leftover_processes(rec) == []
        assert not stop_process(rec, grace_s=1)
        assert proc.poll() is None  # left alone
    finally:
        proc.kill()
        proc.wait()


def test_a_worker_tied_to_another_run_is_not_reused() -> None:
    from pipeline.llm.workers import reusable

    base = WorkerRecord(
        pid=1, port=8000, url="http://127.0.0.1:8000", model_source="m", served_name="m", log_path="x", started_at=0.0
    )
    assert reusable(base, "m", None) and reusable(base, "m", [8000])  # started by `workers up`: anyone's
    assert not reusable(base, "other", None) and not reusable(base, "m", [8001])
    assert reusable(base.model_copy(update={"owner_pid": os.getpid()}), "m", None)  # this process's own
    # another run's worker stops when that run ends, so using it would fail this run halfway
    assert not reusable(base.model_copy(update={"owner_pid": os.getpid() + 1}), "m", None)


# ---------------------------------------------------------------------- CPU placement


def test_workers_started_together_share_the_cores_instead_of_taking_the_same_ones() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from pipeline.llm.cpu_binding import share_cores

    @given(cores=st.integers(1, 64), workers=st.integers(1, 16))
    def prop(cores: int, workers: int) -> None:
        shares = share_cores(list(range(cores)), workers)
        assert len(shares) == workers and all(shares)
        if cores >= workers:  # every core used exactly once, shares differ in size by at most one
            assert sorted(c for s in shares for c in s) == list(range(cores))
            assert max(map(len, shares)) - min(map(len, shares)) <= 1
        else:  # more workers than cores: one core each, spread round-robin
            assert [s[0] for s in shares] == [k % cores for k in range(workers)]

    prop()
    assert share_cores([0, 1], 2) == [[0], [1]] and share_cores([0, 1], 1) == [[0, 1]]


def test_each_binding_tells_vllm_where_to_compute() -> None:
    from pipeline.llm.cpu_binding import CPU_BINDINGS, place_worker
    from pipeline.llm.workers import WorkerOptions

    envs = {b: place_worker([0, 1], b).env(b) for b in CPU_BINDINGS}
    assert envs["all"] == {"VLLM_CPU_OMP_THREADS_BIND": "0,1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    assert envs["split"] == {"VLLM_CPU_OMP_THREADS_BIND": "0", "VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}
    assert envs["none"] == {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": "2"}
    assert place_worker([0, 1], "split").server == (1,) and place_worker([0, 1], "vllm").server == ()
    assert place_worker([3], "split").compute == (3,)  # a one-core share keeps its core for the model
    with pytest.raises(ValueError, match="unknown cpu_binding 'fast'"):
        WorkerOptions(cpu_binding="fast")


def test_the_config_and_the_worker_default_to_the_same_binding() -> None:
    from pipeline.llm.cpu_binding import CPU_BINDINGS, DEFAULT_CPU_BINDING
    from pipeline.run.config_models import WorkersConfig

    field = WorkersConfig.model_fields["cpu_binding"]
    assert field.default == DEFAULT_CPU_BINDING
    assert set(field.annotation.__args__) == set(CPU_BINDINGS)  # type: ignore[union-attr]


FAKE_SERVER = """#!{python}
# Stands in for `python -m vllm.entrypoints.openai.api_server ...`: after a start-up delay, answers /health
# and /v1/models on --port with --served-model-name, like a vLLM server.
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
args = sys.argv[1:]
port, name = int(args[args.index("--port") + 1]), args[args.index("--served-model-name") + 1]
time.sleep(1.0)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"data": [{{"id": name}}]}}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def test_a_prestarted_worker_is_waited_for_reused_and_stopped_with_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.llm.workers import local_workers, prestart_workers

    fake = tmp_path / "python"
    fake.write_text(FAKE_SERVER.format(python=sys.executable))
    fake.chmod(0o755)
    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setenv("COMPLEXIFY_VLLM_PYTHON", str(fake))
    state = tmp_path / "state.json"
    opts = WorkerOptions(model=str(model), startup_timeout_s=60)

    (early,) = prestart_workers(1, opts, state_file=state)  # returns at once: the server is still starting
    assert is_alive(early) and read_state(state).workers == [early]
    with local_workers(1, opts, state_file=state) as records:
        assert [r.pid for r in records] == [early.pid]  # waited for and reused, not started twice
        assert worker_status(state_file=state)[0].healthy
    assert not is_alive(early) and read_state(state).workers == []  # stopped like a worker the run started
