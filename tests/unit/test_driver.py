"""The run driver: several batches in flight, planned and yielded in index order, deterministic under any timing."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.run.driver import AttemptStatus, BatchLostError, Resubmitter, drive


def simulate(window: int, delays: list[float], quota: int) -> tuple[list[tuple[int, int]], int]:
    """A toy run: each batch 'keeps' index % 3 samples; planning stops once `quota` are kept or 12 batches ran."""
    kept = 0
    planned: list[tuple[int, int]] = []
    lock = threading.Lock()
    in_flight = 0
    peak = 0

    def plan(index: int) -> int | None:
        if kept >= quota or index >= 12:
            return None
        planned.append((index, kept))  # what the plan saw: must not depend on timing
        return index

    def work(index: int) -> int:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(delays[index % len(delays)])
        with lock:
            in_flight -= 1
        return index % 3

    with ThreadPoolExecutor(max_workers=8) as pool:
        for done in drive(count(), plan, lambda i: pool.submit(work, i), window=window):
            kept += done.result
    return planned, peak


@settings(max_examples=15, deadline=None)
@given(window=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_plans_are_the_same_whatever_the_timing(window: int, seed: int) -> None:
    rng = random.Random(seed)
    slow = [rng.choice([0.0, 0.002, 0.01]) for _ in range(12)]
    fast = [0.0] * 12
    a, peak = simulate(window, slow, quota=9)
    b, _ = simulate(window, fast, quota=9)
    assert a == b
    assert peak <= window
    assert [i for i, _ in a] == list(range(len(a)))  # planned in index order, no gaps


def test_window_keeps_batches_overlapping_and_yields_in_order() -> None:
    order: list[int] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        # batch 0 is slow: later batches finish first but are still yielded after it
        delays = {0: 0.2, 1: 0.0, 2: 0.0}
        t0 = time.monotonic()
        for done in drive(iter(range(3)), lambda i: i, lambda i: pool.submit(time.sleep, delays[i]), window=3):
            order.append(done.spec)
        elapsed = time.monotonic() - t0
    assert order == [0, 1, 2]
    assert elapsed < 0.35  # the three ran together, not one after another


def test_a_failed_batch_raises_to_the_caller() -> None:
    def boom(i: int) -> int:
        raise RuntimeError(f"batch {i} failed")

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(RuntimeError, match="batch 0 failed"):
        list(drive(iter(range(3)), lambda i: i, lambda i: pool.submit(boom, i), window=2))


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        list(drive(iter(range(3)), lambda i: i, lambda i: None, window=0))  # type: ignore[arg-type,return-value]


# --- handing batches to runners that may die ---------------------------------------------------------------


class Clock:
    """Fake time: `sleep` advances it, so deadlines pass without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeAttempt:
    """A hand-out that finishes (or fails, or is lost) at a given fake time, or never (a killed runner)."""

    def __init__(
        self, clock: Clock, value: int, *, at: float | None, outcome: AttemptStatus = AttemptStatus.DONE
    ) -> None:
        self.clock, self.value, self.at, self.outcome = clock, value, at, outcome

    def status(self) -> AttemptStatus:
        return AttemptStatus.WAITING if self.at is None or self.clock() < self.at else self.outcome

    def result(self) -> int:
        if self.outcome is AttemptStatus.FAILED:
            raise RuntimeError(f"hand-out {self.value} failed")
        return self.value


class Runners:
    """Scripted runners: hand-out k of batch i goes as `script[(i, k)]` says (finish after some seconds by default)."""

    def __init__(self, clock: Clock, script: dict[tuple[int, int], tuple[float | None, AttemptStatus]]) -> None:
        self.clock, self.script = clock, script
        self.handed: list[tuple[int, float]] = []  # (batch, when)

    def hand_out(self, batch: int) -> FakeAttempt:
        k = sum(1 for b, _ in self.handed if b == batch)
        self.handed.append((batch, self.clock()))
        after, outcome = self.script.get((batch, k), (5.0, AttemptStatus.DONE))
        return FakeAttempt(
            self.clock, batch * 10 + k, at=None if after is None else self.clock() + after, outcome=outcome
        )


def run_with(
    script: dict[tuple[int, int], tuple[float | None, AttemptStatus]], **kwargs: Any
) -> tuple[list[tuple[int, int]], Runners, list[str]]:
    clock, log = Clock(), list[str]()
    runners = Runners(clock, script)
    handed = Resubmitter(
        runners.hand_out, label=lambda b: f"batch {b}", log=log.append, clock=clock, sleep=clock.sleep, **kwargs
    )
    finished = [(d.spec, d.result) for d in drive(iter(range(4)), lambda i: i, handed.submit, window=2)]
    return finished, runners, log


def test_a_batch_whose_runner_died_is_handed_out_again_at_its_deadline_and_counts_once() -> None:
    # batch 1's first runner never answers (SIGKILLed); its second hand-out finishes
    finished, runners, log = run_with({(1, 0): (None, AttemptStatus.WAITING)}, deadline_s=30)
    assert [b for b, _ in finished] == [0, 1, 2, 3]  # each batch once, in order
    assert dict(finished)[1] == 11  # the result of the second hand-out
    again = [when for b, when in runners.handed if b == 1]
    assert len(again) == 2 and again[1] - again[0] == pytest.approx(30, abs=1.01)
    assert len(runners.handed) == 5 and any("batch 1: not finished 30 s" in m for m in log)


def test_the_first_result_wins_and_a_late_one_is_ignored() -> None:
    # batch 0's first runner is slow (40 s): handed out again at 30 s, but the slow one still finishes first
    finished, runners, _ = run_with(
        {(0, 0): (40.0, AttemptStatus.DONE), (0, 1): (60.0, AttemptStatus.DONE)}, deadline_s=30
    )
    assert dict(finished)[0] == 0 and [b for b, _ in finished] == [0, 1, 2, 3]
    assert [b for b, _ in runners.handed].count(0) == 2


def test_a_crashed_attempt_is_handed_out_again_at_once() -> None:
    finished, runners, log = run_with({(2, 0): (1.0, AttemptStatus.LOST)}, deadline_s=1000)
    assert dict(finished)[2] == 21
    first, second = (when for b, when in runners.handed if b == 2)
    assert second - first < 3  # not after the deadline
    assert any("batch 2: its runner crashed" in m for m in log)


def test_every_batch_of_a_dead_runner_is_handed_out_again_while_waiting_for_the_first() -> None:
    # batches 0 and 1 went to the same runner, which died: both are handed out again at the same deadline
    dead = (None, AttemptStatus.WAITING)
    _, runners, _ = run_with({(0, 0): dead, (1, 0): dead}, deadline_s=30)
    again = {b: when for b, when in runners.handed if when > 0}
    assert again[0] == pytest.approx(30, abs=1.01) and again[1] == pytest.approx(30, abs=1.01)


def test_a_failed_batch_fails_the_run_with_its_error() -> None:
    with pytest.raises(RuntimeError, match="hand-out 10 failed"):  # batch 1, first hand-out
        run_with({(1, 0): (2.0, AttemptStatus.FAILED)}, deadline_s=30)


def test_a_batch_no_runner_finishes_stops_the_run_after_its_attempts() -> None:
    never = (None, AttemptStatus.WAITING)
    with pytest.raises(BatchLostError, match=r"batch 0: no runner finished it in 3 attempt\(s\).*complexify runner"):
        run_with({(0, k): never for k in range(3)}, deadline_s=10, max_attempts=3)


def test_resubmitter_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="deadline_s > 0"):
        Resubmitter(lambda b: FakeAttempt(Clock(), 0, at=0), label=str, log=print, deadline_s=0)
