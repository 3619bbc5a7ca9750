"""The run's driver: plans batches and keeps several in flight, so the model never idles at a batch boundary.

Batches are planned and saved in index order, and batch k + window is planned right after batch k is
saved, so what each batch asks for depends only on the batches before it: the same inputs give the same
batches and the same kept samples however long each one takes (the ledger, pipeline/run/ledger.py, plans a
batch on exactly what such a run has seen, so a resumed run plans alike). Who runs a batch (a thread pool, Prefect
tasks with retries, runners on other machines) is the caller's business: `submit` returns anything with a
blocking `result()`. `Resubmitter` is such a `submit` for runners that may die: it hands a batch out again
when its runner is gone, and the first result wins.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Protocol, TypeVar

from pipeline.errors import ComplexifyError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Spec = TypeVar("Spec")


class Pending(Protocol[T_co]):
    """A submitted batch: concurrent.futures.Future and Prefect's futures both fit."""

    def result(self) -> T_co: ...


@dataclass(frozen=True)
class Finished(Generic[Spec, T]):
    """One batch, done: what was planned and what the worker returned."""

    spec: Spec
    result: T


class Wait(Enum):
    """What `plan` returns when nothing can be planned yet, but a batch in flight may still change that."""

    WAIT = "wait"


WAIT = Wait.WAIT


def drive(
    indices: Iterator[int],
    plan: Callable[[int], Spec | Wait | None],
    submit: Callable[[Spec], Pending[T]],
    *,
    window: int,
) -> Iterator[Finished[Spec, T]]:
    """Yield finished batches in index order, keeping up to `window` submitted.

    `plan(index)` returns the batch to run at `index`, WAIT when it cannot tell before the next batch in flight is
    saved (it is asked again then), or None once nothing is left to plan. The caller saves each yielded batch
    before asking for the next one, which is when the next batch is planned.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    in_flight: deque[tuple[Spec, Pending[T]]] = deque()
    exhausted = False
    index = next(indices, None)

    def fill() -> None:
        nonlocal exhausted, index
        while not exhausted and len(in_flight) < window:
            spec = plan(index) if index is not None else None
            if spec is WAIT:
                if not in_flight:
                    raise RuntimeError(f"the plan of batch {index} waits for a batch in flight, but none is")
                return  # asked again once the oldest batch in flight is saved
            if spec is None:
                exhausted = True
                return
            assert not isinstance(spec, Wait)
            in_flight.append((spec, submit(spec)))
            index = next(indices, None)

    fill()
    while in_flight:
        spec, pending = in_flight.popleft()
        yield Finished(spec, pending.result())
        fill()  # after the caller saved the batch: the next plan sees it


# --- batches handed to runners that may die ----------------------------------------------------------------

DEFAULT_BATCH_DEADLINE_S = 900.0  # a batch not finished this long after it was handed out is handed out again
DEFAULT_MAX_ATTEMPTS = 3  # hand-outs per batch before the run gives up on it (no runner alive, say)


class AttemptStatus(Enum):
    """Where one hand-out of a batch stands."""

    WAITING = "waiting"  # queued or running
    DONE = "done"  # finished with a result
    FAILED = "failed"  # finished with an error (its requests' retries were spent): the run fails
    LOST = "lost"  # its runner crashed: hand the batch out again at once


class Attempt(Protocol[T_co]):
    """One hand-out of a batch to the runners, e.g. a Prefect task run served by a task worker."""

    def status(self) -> AttemptStatus: ...

    def result(self) -> T_co:
        """The result of a DONE attempt; raises the error of a FAILED one."""
        ...


class BatchLostError(ComplexifyError):
    """No runner finished a batch within its attempts (every runner gone, say): the run stops, rerun to resume."""


@dataclass
class _Handout(Generic[Spec, T]):
    spec: Spec
    attempts: list[Attempt[T]] = field(default_factory=list)
    handed: int = 0  # hand-outs so far
    last_at: float = 0.0  # when the newest hand-out went out
    winner: Attempt[T] | None = None


class Resubmitter(Generic[Spec, T]):
    """Hands batches to runners and hands a batch out again when its runner is gone: when its newest attempt has not
    finished `deadline_s` after it went out, or an attempt was lost (crashed). Earlier attempts stay valid: the first
    one to finish wins and later results are ignored, so a slow runner never makes a batch count twice (a superseded
    attempt still runs if a runner takes it). The caller saves results, so nothing a runner does can duplicate data.

    `submit` returns a Pending for `drive`; waiting on one batch also watches every other batch in
    flight, so the batches of a dead runner are all handed out again at their deadline, not one by one.
    """

    def __init__(
        self,
        hand_out: Callable[[Spec], Attempt[T]],
        *,
        label: Callable[[Spec], str],
        log: Callable[[str], None],
        deadline_s: float = DEFAULT_BATCH_DEADLINE_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if deadline_s <= 0 or max_attempts < 1 or poll_s <= 0:
            raise ValueError(
                f"need deadline_s > 0, max_attempts >= 1, poll_s > 0; got {deadline_s}, {max_attempts}, {poll_s}"
            )
        self._hand_out, self._label, self._log = hand_out, label, log
        self.deadline_s, self.max_attempts, self._poll_s = deadline_s, max_attempts, poll_s
        self._clock, self._sleep = clock, sleep
        self._open: list[_Handout[Spec, T]] = []
        self.resubmitted = 0  # hand-outs beyond the first, over the whole run

    def submit(self, spec: Spec) -> Pending[T]:
        """Hand the batch out once and return what `drive` waits on."""
        handout: _Handout[Spec, T] = _Handout(spec)
        self._give(handout)
        self._open.append(handout)
        return _Waiting(self, handout)

    def _give(self, handout: _Handout[Spec, T]) -> None:
        handout.attempts.append(self._hand_out(handout.spec))
        handout.handed += 1
        handout.last_at = self._clock()

    def _again(self, handout: _Handout[Spec, T], why: str) -> None:
        if handout.handed >= self.max_attempts:
            raise BatchLostError(
                f"{self._label(handout.spec)}: no runner finished it in {handout.handed} attempt(s) ({why}); check "
                "that runners are up (complexify runner --config FILE) and rerun to resume"
            )
        self._give(handout)
        self.resubmitted += 1
        self._log(
            f"{self._label(handout.spec)}: {why}; handed out again (attempt {handout.handed} of {self.max_attempts})"
        )

    def _check(self, handout: _Handout[Spec, T]) -> None:
        """Settle the batch if an attempt finished; hand it out again if its runner is gone."""
        for attempt in list(handout.attempts):
            status = attempt.status()
            if status in (AttemptStatus.DONE, AttemptStatus.FAILED):
                handout.winner = attempt  # FAILED raises from result(): the run fails
                return
            if status is AttemptStatus.LOST:
                handout.attempts.remove(attempt)
        if not handout.attempts:
            self._again(handout, "its runner crashed")
        elif self._clock() - handout.last_at >= self.deadline_s:
            self._again(handout, f"not finished {self.deadline_s:g} s after it was handed out")

    def wait(self, handout: _Handout[Spec, T]) -> T:
        """Block until `handout` is settled, watching every open batch meanwhile; return its result."""
        while True:
            for other in list(self._open):
                if other.winner is None:
                    self._check(other)
            if handout.winner is not None:
                self._open.remove(handout)
                return handout.winner.result()
            self._sleep(self._poll_s)


@dataclass(frozen=True)
class _Waiting(Generic[Spec, T]):
    owner: Resubmitter[Spec, T]
    handout: _Handout[Spec, T]

    def result(self) -> T:
        return self.owner.wait(self.handout)
