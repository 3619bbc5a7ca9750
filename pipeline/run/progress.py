"""What a running generation shows while it works: kept samples against the quota, instructions against their
budget, the models' live generation rate, the elapsed time and an estimate of the time left.

The estimate comes from what the run measured so far: instructions finished per second, and each open
category's yield (kept per instruction) deciding how many more instructions it will likely take, never more
than its attempt budget. Before the first batch is saved there is no yield yet; the estimate is then an upper
bound: every remaining instruction of every open category at the config's worst-case tokens, at the measured
generation rate (shown as `ETA <= ...`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipeline.run.config import RunConfig
from pipeline.run.ledger import Ledger

RATE_WINDOW_S = 20.0  # the generation rate is measured over this much of the recent past


def expected_instructions(ledger: Ledger) -> int:
    """Instructions the run will likely still plan: per open quota cell, what its yield so far says it needs,
    within its remaining attempt budget (all of it while it has kept nothing)."""
    total = 0
    for key in ledger.open_cells():
        quota, kept, attempts, budget = ledger.quotas[key], ledger.kept[key], ledger.attempts[key], ledger.limit(key)
        room = budget - attempts
        if kept > 0:
            room = min(room, math.ceil((quota - kept) * attempts / kept))
        total += max(0, room)
    return total


def remaining_budget(ledger: Ledger) -> int:
    """Instructions the open quota cells may still get at most."""
    return sum(max(0, ledger.limit(k) - ledger.attempts[k]) for k in ledger.open_cells())


def worst_tokens_per_instruction(cfg: RunConfig) -> int:
    """Most tokens one instruction can make the models generate: its rewrite, every answer and repair (a plan
    request too when the responder plans first), the student's rollouts, one token per judge question."""
    m = cfg.models
    rewrite = m.rewriter.sampling.max_tokens if m.rewriter.enabled else 0
    per_answer = 2 if m.responder.reasoning == "plan_first" else 1
    answers = m.responder.sampling.max_tokens * (m.responder.n * per_answer + cfg.repair_rounds)
    student = 0
    if m.student.enabled:
        reasoning = (2 if m.student.reasoning_style == "plan_first" else 1) if m.student.reasoning else 0
        student = m.student.sampling.max_tokens * m.student.rollouts * (1 + reasoning)
    return rewrite + answers + student


def format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@dataclass
class RunProgress:
    """The run's live numbers. The driving thread reports saved batches; a reader renders `line()` any time."""

    ledger: Ledger
    worst_tokens_per_instruction: int
    generated: Callable[[], int] | None = None  # tokens received so far from the models (None: not known)
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    instructions_done: int = 0
    first_saved_at: float | None = None
    _rates: deque[tuple[float, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.started = self.started or self.clock()

    def batch_saved(self, instructions: int) -> None:
        with self._lock:
            self.instructions_done += instructions
            if self.first_saved_at is None:
                self.first_saved_at = self.clock()

    def tokens_per_s(self) -> float | None:
        """Generation rate over the recent window; None before two readings or without a token counter."""
        if self.generated is None:
            return None
        now, tokens = self.clock(), self.generated()
        with self._lock:
            self._rates.append((now, tokens))
            while len(self._rates) > 2 and now - self._rates[1][0] >= RATE_WINDOW_S:
                self._rates.popleft()
            (t0, k0) = self._rates[0]
        return (tokens - k0) / (now - t0) if now > t0 else None

    def eta_s(self, tokens_per_s: float | None) -> tuple[float, bool] | None:
        """(seconds left, whether that is only an upper bound), or None when nothing says yet."""
        ledger = self.ledger
        with self._lock:
            done, first = self.instructions_done, self.first_saved_at
        planned = sum(ledger.attempts.values())
        # planned, not yet saved: the run waits for these even when quotas are settled
        in_flight = max(0, planned - done)
        if ledger.done() and not in_flight:
            return 0.0, False
        if first is not None and done > 0:
            rate = done / max(self.clock() - self.started, 1e-9)
            return (expected_instructions(ledger) + in_flight) / rate, False
        if tokens_per_s:
            left = remaining_budget(ledger) + planned
            return left * self.worst_tokens_per_instruction / tokens_per_s, True
        return None

    def line(self) -> str:
        """`kept 3/8 | instructions 12 (budget 48) | 215 tok/s | 1m20s | ETA ~2m10s`."""
        ledger = self.ledger
        kept = sum(min(ledger.kept[k], q) for k, q in ledger.quotas.items())
        target = sum(ledger.quotas.values())
        budget = sum(ledger.limit(k) for k in ledger.quotas)
        rate = self.tokens_per_s()
        eta = self.eta_s(rate)
        parts = [
            f"kept {kept}/{target}",
            f"instructions {self.instructions_done} done, {sum(ledger.attempts.values()) - self.instructions_done} "
            f"in flight (budget {budget})",
            f"{rate:.0f} tok/s" if rate is not None else "- tok/s",
            format_duration(self.clock() - self.started),
            "ETA -" if eta is None else f"ETA {'<=' if eta[1] else '~'}{format_duration(eta[0])}",
        ]
        return " | ".join(parts)


@contextmanager
def report_every(progress: RunProgress, every_s: float, log: Callable[[str], None]) -> Iterator[None]:
    """Log `progress.line()` every `every_s` seconds from a background thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            log(f"progress: {progress.line()}")

    thread = threading.Thread(target=loop, name="complexify-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
