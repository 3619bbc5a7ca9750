"""The run's driver: plans batches and keeps several in flight, so the model never idles at a batch boundary.

Batches are planned and saved in index order, and batch k + window is planned right after batch k is
saved, so what each batch asks for depends only on the batches before it: the same inputs give the same
batches and the same kept samples however long each one takes. Who runs a batch (a thread pool, Prefect
tasks with retries) is the caller's business: `submit` returns anything with a blocking `result()`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

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


def drive(
    indices: Iterator[int],
    plan: Callable[[int], Spec | None],
    submit: Callable[[Spec], Pending[T]],
    *,
    window: int,
) -> Iterator[Finished[Spec, T]]:
    """Yield finished batches in index order, keeping up to `window` submitted.

    `plan(index)` returns the batch to run at `index`, or None once nothing is left to plan. The caller
    saves each yielded batch before asking for the next one, which is when the next batch is planned.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    in_flight: deque[tuple[Spec, Pending[T]]] = deque()
    exhausted = False

    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(in_flight) < window:
            index = next(indices, None)
            spec = plan(index) if index is not None else None
            if spec is None:
                exhausted = True
                return
            in_flight.append((spec, submit(spec)))

    fill()
    while in_flight:
        spec, pending = in_flight.popleft()
        yield Finished(spec, pending.result())
        fill()  # after the caller saved the batch: the next plan sees it
