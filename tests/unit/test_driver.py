"""The run driver: several batches in flight, planned and yielded in index order, deterministic under any timing."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.driver import drive


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
