"""Process helpers: children that die with this process, and process groups that are stopped as a whole.

Linux only (it reads /proc and uses prctl), like the rest of the local worker machinery.

Three problems these solve:

- A server that was started in its own session (process group) may die alone and leave the processes
  it spawned running. `group_members` / `stop_group` find and stop them by process-group id, which
  keeps working after the leader is gone: the kernel never hands out a PID that is still some living
  group's id.
- A single-process child tied to this process with `spawn_tied` gets a parent-death signal
  (PR_SET_PDEATHSIG), so even a SIGKILLed `complexify run` leaves it not running. The kernel sends that
  signal when the *thread* that forked the child ends, not the process; so every tied child is forked by
  one daemon thread that lives as long as the process does, whichever thread asked for it.
- A parent-death signal reaches only the direct child, and a vLLM server may not act on SIGTERM while it
  starts (it then waits forever for an engine that stopped). So a whole process group is tied with
  `guard_group` instead: a small guard process, out of reach of signals meant for this process's group,
  notices this process is gone (its parent changes) and stops the group: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


# ---------------------------------------------------------------------- /proc


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state), None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return stat.rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks since boot (field 22 of /proc/PID/stat), None where unavailable."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def group_members(pgid: int, leader_ticks: int | None = None) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`.

    With `leader_ticks` (the start time of the process that created the group) a group that merely
    reuses the id is not reported: its leader started at another time, or its members before ours.
    """
    members = []
    for pid in _all_pids():
        fields = stat_fields(pid)
        if fields is None or int(fields[2]) != pgid or fields[0] == "Z":
            continue
        ticks = int(fields[19])
        if leader_ticks is not None:
            if pid == pgid and ticks != leader_ticks:
                return []  # the id belongs to a newer group
            if ticks < leader_ticks:
                continue
        members.append(pid)
    return members


def _reap(pid: int) -> None:
    """Collect `pid` if it is our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_group(pgid: int, leader_ticks: int | None = None, grace_s: float = 30.0, kill_wait_s: float = 10.0) -> bool:
    """SIGTERM every process of the group, SIGKILL what is left after `grace_s`.

    Returns False when nothing of the group was running; True once it is gone.
    """
    _reap(pgid)
    if not group_members(pgid, leader_ticks):
        return False
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        if not group_members(pgid, leader_ticks):
            return True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            _reap(pgid)
            if not group_members(pgid, leader_ticks):
                return True
            time.sleep(0.2)
    return not group_members(pgid, leader_ticks)


# ---------------------------------------------------------------------- children tied to this process


def _load_prctl() -> Callable[..., int]:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


class _Spawner:
    """Forks tied children from one daemon thread that ends only when the process does."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[Any]], Future[subprocess.Popen[Any]]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _loop(self) -> None:
        while True:
            start, fut = self._jobs.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(start())
            except BaseException as exc:  # handed to the caller's thread
                fut.set_exception(exc)

    def submit(self, start: Callable[[], subprocess.Popen[Any]]) -> subprocess.Popen[Any]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                # after a fork only the forking thread exists: start a fresh spawner thread in the child
                self._jobs, self._pid = queue.SimpleQueue(), os.getpid()
                self._thread = threading.Thread(target=self._loop, name="complexify-spawner", daemon=True)
                self._thread.start()
        fut: Future[subprocess.Popen[Any]] = Future()
        self._jobs.put((start, fut))
        return fut.result()


_spawner = _Spawner()


def spawn_tied(args: list[str], *, death_signal: int = signal.SIGTERM, **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """`subprocess.Popen(args, **popen_kwargs)` for a child that gets `death_signal` when this process dies."""
    if not sys.platform.startswith("linux"):
        return subprocess.Popen(args, **popen_kwargs)
    if "preexec_fn" in popen_kwargs:
        raise ValueError("spawn_tied sets preexec_fn itself")
    prctl = _load_prctl()  # resolved before the fork: the child only makes the call
    me = os.getpid()

    def tie() -> None:
        # Runs in the forked child before exec (and survives exec). It takes no locks and imports nothing,
        # which is what keeps preexec_fn safe in a process with other threads.
        prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
        if os.getppid() != me:  # we died between fork and prctl: nobody will send the signal now
            os.kill(os.getpid(), int(death_signal))

    return _spawner.submit(lambda: subprocess.Popen(args, preexec_fn=tie, **popen_kwargs))


# ---------------------------------------------------------------------- process groups tied to this process

_GUARD_POLL_S = 0.5


def guard_group(pgid: int, leader_ticks: int | None = None, grace_s: float = 5.0) -> subprocess.Popen[bytes]:
    """Start a guard that stops process group `pgid` (SIGTERM, SIGKILL after `grace_s`) once this process is
    gone, however it ended; the guard exits by itself when the group ends first."""
    args = [
        sys.executable,
        "-m",
        "pipeline.llm.proc",
        "guard",
        str(os.getpid()),
        str(pgid),
        str(leader_ticks or 0),
        str(grace_s),
    ]
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a kill aimed at our process group (Ctrl-C, kill -9 -PGID) must not take it too
    )


def _guard(parent: int, pgid: int, leader_ticks: int | None, grace_s: float) -> None:
    """The guard's loop: poll the parent (a dead parent's children are re-parented) and the group."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the parent's end, or the group's, ends the guard
    while group_members(pgid, leader_ticks):
        if os.getppid() != parent:
            stop_group(pgid, leader_ticks, grace_s=grace_s)
            return
        time.sleep(_GUARD_POLL_S)


if __name__ == "__main__":
    # `python -m pipeline.llm.proc guard PARENT PGID LEADER_TICKS GRACE_S`, as started by guard_group.
    if len(sys.argv) != 6 or sys.argv[1] != "guard":
        sys.exit("usage: python -m pipeline.llm.proc guard PARENT_PID PGID LEADER_TICKS GRACE_S")
    _guard(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) or None, float(sys.argv[5]))
