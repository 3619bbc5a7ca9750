"""Local vLLM worker lifecycle: start N OpenAI-compatible servers, wait until healthy, stop them by process group.

Workers run in the worker environment (.venv-vllm) as separate processes, each in its own session: the
server, the engine process it spawns and that one's workers share one process group, and stopping a
worker stops the whole group, also when the server itself already died. What was started is recorded
in a JSON state file (default: ~/.cache/complexify/workers/state.json) so `complexify workers
status|down` in another shell, or a later run, finds them. Workers started for one run are tied to it
(a guard process stops their group when the run is gone), so even a SIGKILLed run leaves none behind;
`complexify workers up` starts untied ones that outlive the command. Remote workers need none of this:
they are just endpoint URLs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict

from pipeline.errors import InferenceError
from pipeline.llm.cpu_binding import (
    CPU_BINDINGS,
    DEFAULT_CPU_BINDING,
    CpuPlacement,
    allowed_cores,
    is_cpu_build,
    place_worker,
    share_cores,
)
from pipeline.llm.model_prep import ResolvedModel, require_vllm_python, resolve_model
from pipeline.llm.paths import workers_state_file
from pipeline.llm.proc import group_members, guard_group, start_ticks, stop_group

HOST = "127.0.0.1"

_guards: dict[int, subprocess.Popen[bytes]] = {}  # server pid -> guard of a tied worker started here
_prestarted: set[int] = set()  # server pids this process started ahead of the run that uses them


class WorkerStartError(InferenceError):
    """A worker died or did not become healthy in time; the message ends with its log tail."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How to start each worker. The defaults are the flags verified on CPU (ENVIRONMENT.md §2)."""

    model: str = "default"
    max_model_len: int = 2048
    dtype: str = "bfloat16"
    enforce_eager: bool = True
    access_log: bool = False  # one uvicorn line per request: noise in the worker log, and CPU the model could use
    kv_cache_gib: int = 2  # VLLM_CPU_KVCACHE_SPACE; ignored by GPU builds
    port: int | None = None  # first port (worker k gets port + k); None picks free ones
    extra_args: tuple[str, ...] = ()
    startup_timeout_s: float = 900.0
    env: dict[str, str] = field(default_factory=dict)
    cpu_binding: str = DEFAULT_CPU_BINDING  # one of CPU_BINDINGS; local workers on one machine share its cores

    def __post_init__(self) -> None:
        if self.cpu_binding not in CPU_BINDINGS:
            raise ValueError(f"unknown cpu_binding {self.cpu_binding!r}; choose one of {', '.join(CPU_BINDINGS)}")


class WorkerRecord(BaseModel):
    """One started worker, as written to the state file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    port: int
    url: str
    model_source: str
    served_name: str
    log_path: str
    started_at: float
    start_ticks: int | None = None  # /proc start time: tells our process from a later one reusing its PID
    pgid: int | None = None  # process group of the server and everything it spawned (None in old state files: the pid)
    # The process a run's worker dies with; None for one started by `workers up`, which any run may use.
    owner_pid: int | None = None

    @property
    def group(self) -> int:
        """The worker's process-group id (workers are started as session leaders, so it was the pid)."""
        return self.pgid if self.pgid is not None else self.pid


class WorkerState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: list[WorkerRecord] = []


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    record: WorkerRecord
    alive: bool
    healthy: bool
    leftovers: int = 0  # processes of a dead server's group that still run


# ---------------------------------------------------------------------- processes


def is_alive(rec: WorkerRecord) -> bool:
    """True while the recorded process (not merely its PID) still runs."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(rec.pid, os.WNOHANG)  # reap it if it is our own exited child, else it lingers as a zombie
    try:
        os.kill(rec.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now holds this PID
    ticks = start_ticks(rec.pid)
    if ticks is not None and rec.start_ticks is not None and ticks != rec.start_ticks:
        return False
    try:
        return Path(f"/proc/{rec.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def leftover_processes(rec: WorkerRecord) -> list[int]:
    """Live processes of the worker's process group: the server and what it spawned (engine, workers)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(rec.pid, os.WNOHANG)  # our own exited child would otherwise count as a member
    return group_members(rec.group, rec.start_ticks)


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def build_command(python: Path, model: ResolvedModel, port: int, opts: WorkerOptions) -> list[str]:
    cmd = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", model.source,
        "--served-model-name", model.served_name,
        "--host", HOST,
        "--port", str(port),
        "--max-model-len", str(opts.max_model_len),
        "--dtype", opts.dtype,
    ]  # fmt: skip
    if opts.enforce_eager:
        cmd.append("--enforce-eager")
    if not opts.access_log:
        cmd.append("--disable-uvicorn-access-log")
    return [*cmd, *opts.extra_args]


def _worker_env(model: ResolvedModel, opts: WorkerOptions, placement: CpuPlacement | None) -> dict[str, str]:
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": str(opts.kv_cache_gib),
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if model.local:
        env["HF_HUB_OFFLINE"] = "1"  # a local folder needs no hub; without it lookups retry for ~20 s
    if placement is not None:
        env.update(placement.env(opts.cpu_binding))
    env.update(opts.env)
    return env


def log_tail(path: Path | str, lines: int = 30) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def check_health(url: str, served_name: str | None = None, timeout_s: float = 3.0) -> bool:
    """Healthy = /health answers 200 and /v1/models lists the model."""
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            if client.get(f"{url}/health").status_code != 200:
                return False
            models = client.get(f"{url}/v1/models")
            if models.status_code != 200:
                return False
            names = {m.get("id") for m in models.json().get("data", [])}
            return served_name is None or served_name in names
    except (httpx.HTTPError, ValueError):
        return False


def _spawn(
    model: ResolvedModel,
    opts: WorkerOptions,
    log_dir: Path,
    port: int | None,
    tied: bool,
    cores: Sequence[int] | None = None,
) -> WorkerRecord:
    """Start one server on `cores` (default: all this process may use); the group of a `tied` one is stopped
    by a guard when this process is gone."""
    python = require_vllm_python()
    share = list(cores or allowed_cores())
    placement = None
    # vLLM's own binding is left alone where it has the whole machine; a worker with a share of the cores is
    # told which (vLLM would otherwise put every worker's compute threads on the same first core)
    if is_cpu_build(python) and (opts.cpu_binding != "vllm" or share != allowed_cores()):
        placement = place_worker(share, opts.cpu_binding)
    pin_server = placement.server if placement is not None and opts.cpu_binding == "split" else ()
    if port is None:
        port = free_port()
    elif not port_is_free(port):
        raise WorkerStartError(f"port {port} on {HOST} is in use; pick another --port or stop what listens there")
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            build_command(python, model, port, opts),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_worker_env(model, opts, placement),
            start_new_session=True,  # own process group: stopping it also stops vLLM's engine processes
            # the server and the scheduler it spawns inherit this; the compute threads bind themselves
            preexec_fn=(lambda: os.sched_setaffinity(0, pin_server)) if pin_server else None,
        )
    ticks = start_ticks(proc.pid)
    if tied:
        _guards[proc.pid] = guard_group(proc.pid, ticks)
    return WorkerRecord(
        pid=proc.pid,
        port=port,
        url=f"http://{HOST}:{port}",
        model_source=model.source,
        served_name=model.served_name,
        log_path=str(log_path),
        started_at=time.time(),
        start_ticks=ticks,
        pgid=proc.pid,
        owner_pid=os.getpid() if tied else None,
    )


def wait_healthy(records: Sequence[WorkerRecord], timeout_s: float) -> None:
    """Block until every worker is healthy; raise with the log tail as soon as one dies or time runs out."""
    pending = list(records)
    deadline = time.monotonic() + timeout_s
    while pending:
        for rec in list(pending):
            if not is_alive(rec):
                raise WorkerStartError(
                    f"worker {rec.url} (pid {rec.pid}) exited during startup; "
                    f"log {rec.log_path}:\n{log_tail(rec.log_path)}"
                )
            if check_health(rec.url, rec.served_name):
                pending.remove(rec)
        if not pending:
            return
        if time.monotonic() > deadline:
            rec = pending[0]
            raise WorkerStartError(
                f"worker {rec.url} (pid {rec.pid}) not healthy after {timeout_s:.0f} s; log {rec.log_path}:\n"
                f"{log_tail(rec.log_path)}"
            )
        time.sleep(1.0)


def stop_process(rec: WorkerRecord, grace_s: float = 30.0) -> bool:
    """SIGTERM the worker's process group, SIGKILL after `grace_s`; False if nothing of it was running.

    Works when the server is gone but its engine processes are not: they are still in its group.
    """
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(rec.pid, os.WNOHANG)
    stopped = stop_group(rec.group, rec.start_ticks, grace_s=grace_s)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(rec.pid, os.WNOHANG)  # reap our own child once it is gone
    guard = _guards.pop(rec.pid, None)
    if guard is not None:  # it leaves once the group is gone; collect it
        with contextlib.suppress(subprocess.TimeoutExpired):
            guard.wait(timeout=5)
    return stopped


# ---------------------------------------------------------------------- state file


@contextlib.contextmanager
def _locked_state(path: Path) -> Iterator[WorkerState]:
    """Read-modify-write the state file under an exclusive lock; written atomically on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = WorkerState.model_validate_json(path.read_text()) if path.exists() else WorkerState()
        yield state
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(state.model_dump_json(indent=2))
        os.replace(tmp, path)


def read_state(path: Path | None = None) -> WorkerState:
    path = path or workers_state_file()
    return WorkerState.model_validate_json(path.read_text()) if path.exists() else WorkerState()


# ---------------------------------------------------------------------- public API


def reusable(w: WorkerRecord, model_source: str, wanted_ports: Sequence[int] | None) -> bool:
    """A recorded worker this process may use: same model, a wanted port, and not tied to another process (a run's
    worker stops when that run ends, whoever else is using it)."""
    return (
        w.model_source == model_source
        and (wanted_ports is None or w.port in wanted_ports)
        and w.owner_pid in (None, os.getpid())
    )


def _launch(
    n: int, opts: WorkerOptions, state_path: Path, tied: bool
) -> tuple[list[WorkerRecord], list[WorkerRecord]]:
    """Under the state lock: the recorded workers to reuse, and the ones started now to make `n` (not waited for).

    Reused: healthy recorded workers of the same model, plus any this process started ahead of time
    (`prestart_workers`) that are still starting.
    """
    model = resolve_model(opts.model)
    wanted_ports = [opts.port + k for k in range(n)] if opts.port is not None else None
    with _locked_state(state_path) as state:
        for w in state.workers:
            if not is_alive(w):  # the server died; its engine processes may still hold gigabytes
                stop_process(w, grace_s=5)
        state.workers = [w for w in state.workers if is_alive(w)]  # forget the dead
        reuse = [
            w for w in state.workers
            if reusable(w, model.source, wanted_ports) and (w.pid in _prestarted or check_health(w.url, w.served_name))
        ][:n]  # fmt: skip
        if wanted_ports is None:
            ports: list[int | None] = [None] * (n - len(reuse))
        else:
            ports = [p for p in wanted_ports if p not in {w.port for w in reuse}]
        fresh: list[WorkerRecord] = []
        # workers started together share the cores instead of each taking the same ones
        shares = share_cores(allowed_cores(), len(ports)) if ports else []
        try:
            for port, cores in zip(ports, shares, strict=True):
                fresh.append(_spawn(model, opts, state_path.parent / "logs", port, tied, cores))
        except BaseException:
            for rec in fresh:
                stop_process(rec, grace_s=5)
            raise
        state.workers.extend(fresh)
    return reuse, fresh


def prestart_workers(
    n: int, opts: WorkerOptions | None = None, *, state_file: Path | None = None
) -> list[WorkerRecord]:
    """Start what `start_workers(n, opts, tied=True)` would start, without waiting for it: a run that needs the
    workers a little later (after Prefect has started, say) then finds them starting instead of cold.

    The workers are tied to this process, and `local_workers` stops them with the ones it starts itself.
    """
    _, fresh = _launch(n, opts or WorkerOptions(), state_file or workers_state_file(), tied=True)
    _prestarted.update(rec.pid for rec in fresh)
    return fresh


def start_workers(
    n: int, opts: WorkerOptions | None = None, *, state_file: Path | None = None, tied: bool = False
) -> list[WorkerRecord]:
    """Make `n` healthy workers serve `opts.model`, reusing healthy recorded ones; returns all of them.

    With `opts.port` the workers listen on port, port + 1, ...; only recorded workers on those ports are
    reused. `tied` workers die with this process (for a run); untied ones outlive it (`workers up`).
    Workers that fail to start are stopped again before the error propagates.
    """
    if n < 1:
        raise ValueError(f"need at least one worker, got {n}")
    opts = opts or WorkerOptions()
    state_path = state_file or workers_state_file()
    reuse, fresh = _launch(n, opts, state_path, tied)
    starting = [*fresh, *(w for w in reuse if w.pid in _prestarted)]
    try:
        wait_healthy(starting, opts.startup_timeout_s)
    except BaseException:
        for rec in starting:
            stop_process(rec, grace_s=5)
        with _locked_state(state_path) as state:
            state.workers = [w for w in state.workers if w not in starting]
        raise
    return [*reuse, *fresh]


def worker_status(*, state_file: Path | None = None) -> list[WorkerStatus]:
    out = []
    for rec in read_state(state_file).workers:
        alive = is_alive(rec)
        leftovers = 0 if alive else len(leftover_processes(rec))
        out.append(WorkerStatus(rec, alive, alive and check_health(rec.url, rec.served_name), leftovers))
    return out


def stop_workers(
    records: Sequence[WorkerRecord] | None = None, *, state_file: Path | None = None
) -> list[WorkerRecord]:
    """Stop the given workers (default: every recorded one) and drop them from the state file.

    Returns those that had something running: a live server, or only processes left in its group.
    """
    state_path = state_file or workers_state_file()
    targets = list(records) if records is not None else read_state(state_path).workers
    stopped = [rec for rec in targets if stop_process(rec)]
    with _locked_state(state_path) as state:
        pids = {r.pid for r in targets}
        state.workers = [w for w in state.workers if w.pid not in pids]
    return stopped


@contextlib.contextmanager
def local_workers(
    n: int, opts: WorkerOptions | None = None, *, state_file: Path | None = None
) -> Iterator[list[WorkerRecord]]:
    """Workers for the duration of a block: reuses healthy recorded ones, stops only those it started.

    The ones it starts are tied to this process, so they do not outlive it even if it is killed.
    """
    state_path = state_file or workers_state_file()
    before = {w.pid for w in read_state(state_path).workers} - _prestarted  # prestarted ones count as started here
    records = start_workers(n, opts, state_file=state_path, tied=True)
    try:
        yield records
    finally:
        stop_workers([r for r in records if r.pid not in before], state_file=state_path)


def describe(statuses: Sequence[WorkerStatus]) -> str:
    """Human-readable table for `complexify workers status`."""
    if not statuses:
        return "no workers recorded"
    rows = []
    for s in statuses:
        state = "healthy" if s.healthy else "alive" if s.alive else "dead"
        left = f"  ({s.leftovers} of its processes still run: complexify workers down)" if s.leftovers else ""
        rows.append(
            f"{s.record.url:<24} pid {s.record.pid:<8} {state:<8} {s.record.served_name}  "
            f"log {s.record.log_path}{left}"
        )
    return "\n".join(rows)


def to_json(statuses: Sequence[WorkerStatus]) -> str:
    return json.dumps(
        [
            {**s.record.model_dump(), "alive": s.alive, "healthy": s.healthy, "leftovers": s.leftovers}
            for s in statuses
        ],
        indent=2,
    )
