"""Process helpers: tied children die with a SIGKILLed parent; Prefect's temporary server is tied when registered."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

from flows.prefect_server import tie_prefect_temporary_server
from pipeline.llm.proc import group_members, guard_group, spawn_tied, start_ticks, stop_group
from tests.helpers.processes import descendants, is_zombie

PARENT = textwrap.dedent(
    """
    import subprocess, sys, threading, time
    from pipeline.llm.proc import spawn_tied

    out = {}
    def start():  # from a thread that ends at once: the tie must outlive the thread, not only the process
        out["tied"] = spawn_tied(["sleep", "60"])
        out["plain"] = subprocess.Popen(["sleep", "60"])
    t = threading.Thread(target=start)
    t.start()
    t.join()
    time.sleep(0.5)
    print(out["tied"].pid, out["plain"].pid, flush=True)
    time.sleep(60)
    """
)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return is_zombie(pid)


def wait_until(cond: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_tied_child_dies_with_a_killed_parent_and_a_plain_one_does_not() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        tied, plain = map(int, parent.stdout.readline().split())
        assert not gone(tied), "the tied child died with the thread that started it"
        assert set(descendants(parent.pid)) >= {tied, plain}
        parent.kill()
        parent.wait(5)
        assert wait_until(lambda: gone(tied), 5), "the tied child outlived its parent"
        assert not gone(plain)
    finally:
        parent.kill()
        os.kill(plain, signal.SIGKILL)


def test_spawn_tied_passes_popen_arguments() -> None:
    proc = spawn_tied(
        [sys.executable, "-c", "import os; print(os.environ['X'])"],
        env={**os.environ, "X": "42"},
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "42"


def test_stop_group_terminates_then_kills() -> None:
    # The leader ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60 & sleep 60"], start_new_session=True)
    assert wait_until(lambda: len(group_members(proc.pid)) == 3, 10)
    t0 = time.monotonic()
    assert stop_group(proc.pid, grace_s=0.5)
    assert time.monotonic() - t0 < 5
    assert group_members(proc.pid) == []
    assert not stop_group(proc.pid)  # nothing left: nothing to do
    proc.wait(5)


GUARDED = textwrap.dedent(
    """
    import subprocess, time
    from pipeline.llm.proc import guard_group, start_ticks

    # A group like a vLLM server's: the leader ignores SIGTERM (as vLLM may while it starts) and has a child.
    group = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60 & sleep 60"], start_new_session=True)
    time.sleep(0.3)
    guard = guard_group(group.pid, start_ticks(group.pid), grace_s=1.0)
    print(group.pid, guard.pid, flush=True)
    time.sleep(60)
    """
)


def test_guarded_group_is_stopped_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", GUARDED], stdout=subprocess.PIPE, text=True)
    group = guard = 0
    try:
        assert parent.stdout is not None
        group, guard = map(int, parent.stdout.readline().split())
        assert len(group_members(group)) == 3
        time.sleep(1.0)
        assert len(group_members(group)) == 3 and not gone(guard)  # nothing happens while the parent lives
        parent.kill()
        parent.wait(5)
        assert wait_until(lambda: group_members(group) == [], 10), "the group outlived its parent"
        assert wait_until(lambda: gone(guard), 5)
    finally:
        parent.kill()
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def test_guard_leaves_when_the_group_ends_first() -> None:
    group = subprocess.Popen(["sleep", "1"], start_new_session=True)
    guard = guard_group(group.pid, start_ticks(group.pid))
    group.wait(5)
    assert guard.wait(5) == 0


def test_prefect_temporary_server_is_the_tied_one() -> None:
    from prefect.server.api.server import SubprocessASGIServer

    before = SubprocessASGIServer._instances.get(None)
    try:
        SubprocessASGIServer._instances.pop(None, None)
        tie_prefect_temporary_server()
        server = SubprocessASGIServer()  # what Prefect's clients call when no API URL is configured
        assert type(server).__name__ == "TiedASGIServer" and not server.running
        tie_prefect_temporary_server()  # idempotent
        assert SubprocessASGIServer() is server
    finally:
        SubprocessASGIServer._instances.pop(None, None)
        if before is not None:
            SubprocessASGIServer._instances[None] = before
