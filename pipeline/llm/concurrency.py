"""How many requests one endpoint gets at once: found while running, not fixed in advance.

A server that is handed more requests than it can run only queues them: every request then takes longer,
none finishes sooner. A server handed too few idles part of its batch. `AdaptiveLimit` looks for the point in
between the way TCP does (additive increase, multiplicative decrease):

- it starts small and grows while the server keeps up: by one per answer (so it doubles per round of
  answers, TCP's slow start) and, on a vLLM server reporting an empty queue, doubles at once; after the first
  shrink it grows by one per round of answers (or per empty-queue report);
- it halves when the server says it is overloaded (HTTP 429/503, connection errors), and shrinks by a
  quarter while the server reports requests waiting in its own queue (vLLM's `num_requests_waiting`);
- it never goes below 1 or above the configured ceiling (`workers.max_concurrency`).

Shrinking never cancels a request: requests already sent finish; new ones wait until fewer are in flight.
`next_limit` is the whole policy as a pure function; `AdaptiveLimit` applies it to an asyncio gate.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

INITIAL_LIMIT = 8


class Signal(StrEnum):
    """What the engine learnt about the server since the last adjustment."""

    KEEPING_UP = "keeping_up"  # requests were waiting on our side and the server queues none of its own
    ANSWERED = "answered"  # a request was answered while requests were waiting on our side
    QUEUEING = "queueing"  # the server holds requests it cannot run yet
    OVERLOADED = "overloaded"  # the server refused or dropped requests because of load


@dataclass(frozen=True, slots=True)
class LimitState:
    limit: int
    slow_start: bool = True
    answered: int = 0  # answers since the limit last grew by one (after slow start)


def next_limit(state: LimitState, signal: Signal, ceiling: int) -> LimitState:
    """The AIMD step: grow while the server keeps up, shrink when it queues or refuses."""
    if signal is Signal.OVERLOADED:
        return LimitState(max(1, state.limit // 2), slow_start=False)
    if signal is Signal.QUEUEING:
        return LimitState(max(1, math.floor(state.limit * 0.75)), slow_start=False)
    if signal is Signal.ANSWERED:
        answered = state.answered + 1
        if state.slow_start or answered >= state.limit:
            grown = min(ceiling, state.limit + 1)
            return LimitState(grown, slow_start=state.slow_start and grown < ceiling)
        return LimitState(state.limit, slow_start=False, answered=answered)
    grown = min(ceiling, state.limit * 2 if state.slow_start else state.limit + 1)
    return LimitState(grown, slow_start=state.slow_start and grown < ceiling)


class AdaptiveLimit:
    """An asyncio gate whose width follows `next_limit`; waiters are admitted first come, first served."""

    def __init__(self, ceiling: int, *, initial: int = INITIAL_LIMIT, adaptive: bool = True) -> None:
        if ceiling < 1:
            raise ValueError(f"the concurrency ceiling must be >= 1, got {ceiling}")
        self.ceiling = ceiling
        self.adaptive = adaptive
        self._state = LimitState(min(ceiling, max(1, initial)) if adaptive else ceiling, slow_start=adaptive)
        self.active = 0
        self.peak_limit = self._state.limit
        self.adjustments = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._state.limit

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def saturated(self) -> bool:
        """Requests are waiting for a slot on our side: the limit, not demand, decides what is sent."""
        return self.waiting > 0 and self.active >= self.limit

    async def acquire(self) -> None:
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # admitted, then cancelled before it ran: give it back
                self.release()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        self.active -= 1
        self._admit()

    def observe(self, signal: Signal) -> None:
        """Adjust the limit after a signal; growth only counts while the limit is what holds requests back."""
        growth = signal in (Signal.KEEPING_UP, Signal.ANSWERED)
        if not self.adaptive or (growth and not self.saturated()):
            return
        new = next_limit(self._state, signal, self.ceiling)
        if new.limit != self._state.limit:
            self.adjustments += 1
        self._state = new
        self.peak_limit = max(self.peak_limit, new.limit)
        self._admit()

    def _admit(self) -> None:
        while self._waiters and self.active < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self.active += 1
