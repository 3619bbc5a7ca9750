"""The run's progress line: expected instructions from measured yields, the ETA before and after the first
batch, the live generation rate, and the periodic log line."""

from __future__ import annotations

import threading
from collections import Counter

from pipeline.run.ledger import Cell, Ledger, QuotaPlan
from pipeline.run.progress import (
    RunProgress,
    expected_instructions,
    format_duration,
    remaining_budget,
    report_every,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracker(kept: dict[str, int], attempts: dict[str, int]) -> Ledger:
    ledger = Ledger(QuotaPlan.of({Cell("Single"): 4, Cell("And_1"): 4}, 5, batch_size=8))
    ledger.kept.update(Counter(kept))
    ledger.attempts.update(Counter(attempts))
    return ledger


def test_expected_instructions_follow_each_categorys_yield_within_its_budget() -> None:
    t = tracker({"Single": 2, "And_1": 0}, {"Single": 4, "And_1": 6})
    # Single: yield 2/4 -> 2 more samples need 4 more instructions; And_1 kept nothing: its whole room (20 - 6)
    assert expected_instructions(t) == 4 + 14
    assert remaining_budget(t) == (20 - 4) + (20 - 6)
    t.kept["Single"] = 4  # a met category needs nothing more
    assert expected_instructions(t) == 14
    t.attempts["And_1"] = 20  # out of attempts: nothing more either
    assert expected_instructions(t) == 0 and t.done()


def test_eta_is_an_upper_bound_from_tokens_until_a_batch_is_saved_then_a_measured_estimate() -> None:
    clock = Clock()
    generated = [0]
    t = tracker({}, {"Single": 4, "And_1": 4})  # one batch of 8 planned, nothing saved yet
    live = RunProgress(t, worst_tokens_per_instruction=100, generated=lambda: generated[0], clock=clock)
    assert live.eta_s(None) is None and live.line().endswith("ETA -")
    live.tokens_per_s()
    clock.now += 10
    generated[0] = 500
    rate = live.tokens_per_s()
    assert rate == 50.0
    eta = live.eta_s(rate)
    assert eta == ((32 + 8) * 100 / 50.0, True)  # every remaining instruction at the worst case, at 50 tok/s
    assert "ETA <=" in live.line()

    t.kept.update({"Single": 2, "And_1": 1})
    live.batch_saved(8)
    clock.now += 10  # 8 instructions in 20 s since the start: 0.4 per second
    seconds, bound = live.eta_s(rate) or (0, True)
    assert not bound and seconds == (4 + 12) / 0.4  # Single needs 4 more by its yield (2 of 4), And_1 12 (1 of 4)
    assert "ETA ~" in live.line() and "kept 3/8" in live.line()


def test_a_finished_run_has_nothing_left_but_settled_quotas_still_wait_for_batches_in_flight() -> None:
    t = tracker({"Single": 4, "And_1": 4}, {"Single": 6, "And_1": 9})
    clock = Clock()
    live = RunProgress(t, worst_tokens_per_instruction=100, clock=clock)
    live.batch_saved(11)
    clock.now += 11  # one instruction a second; 4 of the 15 planned are still being answered
    assert t.done() and live.eta_s(None) == (4.0, False)
    live.batch_saved(4)
    assert live.eta_s(None) == (0.0, False) and "- tok/s" in live.line()


def test_durations_read_as_minutes_and_hours() -> None:
    assert [format_duration(s) for s in (0, 59.6, 61, 3725, -3)] == ["0m00s", "1m00s", "1m01s", "1h02m", "0m00s"]


def test_the_line_is_logged_periodically_from_the_start() -> None:
    lines: list[str] = []
    logged = threading.Event()

    def log(line: str) -> None:
        lines.append(line)
        if len(lines) >= 2:
            logged.set()

    live = RunProgress(tracker({}, {}), worst_tokens_per_instruction=10)
    with report_every(live, 0.01, log):
        assert logged.wait(10)
    assert all(line.startswith("progress: kept 0/8") for line in lines)
