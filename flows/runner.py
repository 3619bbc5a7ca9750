"""Scale-out with Prefect task workers: runners serve one run's batch task, the coordinator hands batches out.

Runners (`complexify runner --config C`) are Prefect task workers (`prefect.task_worker.serve`) serving the
run's batch task; the coordinator (`complexify run --config C --runners`) hands each composed batch out
with `.delay()` and waits on the task runs through `pipeline.driver.Resubmitter`, which hands a batch out
again when its runner is gone. Parameters and results of the task runs live in the run folder on the
shared output root (`tasks/`), so every runner and the coordinator can read them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.futures import PrefectDistributedFuture
from prefect.settings import get_current_settings
from prefect.task_worker import serve

from pipeline.config import RunConfig
from pipeline.driver import DEFAULT_BATCH_DEADLINE_S, AttemptStatus, Pending, Resubmitter
from pipeline.errors import UserInputError
from pipeline.runners import RunAddress, process_served, serve_run
from pipeline.stages import BatchResult, ComposedBatch, Provenance

DEFAULT_RUNNER_LIMIT = 2  # batches one runner processes at once: the next is ready when one ends


def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Configuration and input errors fail the same way every time: retry only what may be transient."""
    exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    return not isinstance(exc, UserInputError)


def require_api_server(what: str) -> None:
    """Task workers meet their coordinator on a Prefect server, never on a temporary one."""
    if get_current_settings().api.url is None:
        raise UserInputError(
            f"{what} needs a Prefect server shared by the coordinator and its runners: set "
            "PREFECT_API_URL=http://HOST:4200/api (start one with `prefect server start`)"
        )


def batch_task(address: RunAddress) -> Task[[ComposedBatch, Provenance], BatchResult]:
    """The task that processes one batch of the run at `address`, the same in the coordinator and its runners."""

    def process(batch: ComposedBatch, provenance: Provenance) -> BatchResult:
        return process_served(batch, provenance)

    # Prefect queues background task runs by task key (the function's name and code): naming the function
    # after the run gives each run its own queue, so a runner only ever takes batches of the run it serves.
    process.__name__ = process.__qualname__ = address.queue
    return task(
        name="process-batch",
        task_run_name="batch-{batch.index}",
        retries=2,
        retry_delay_seconds=[2, 10],
        retry_condition_fn=retry_unless_bad_input,
        cache_policy=NO_CACHE,
        persist_result=True,
        result_storage=address.tasks_dir,  # a path: local storage every process with the output root can read
        log_prints=True,
    )(process)


def serve_batches(cfg: RunConfig, *, limit: int = DEFAULT_RUNNER_LIMIT, log: Callable[[str], None] = print) -> None:
    """Serve the batches of the run of `cfg` (at most `limit` at once) until stopped: one runner."""
    require_api_server("complexify runner")
    with serve_run(cfg, log) as address:
        log(f"runner of run {address.fingerprint}: waiting for batches (at most {limit} at once); Ctrl-C stops it")
        serve(batch_task(address), limit=limit)


@dataclass
class TaskRunAttempt:
    """One hand-out of a batch: a background task run, read back from the Prefect API."""

    future: PrefectDistributedFuture[BatchResult]
    client: SyncPrefectClient

    def status(self) -> AttemptStatus:
        state = self.client.read_task_run(self.future.task_run_id).state
        if state is None or not state.is_final():
            return AttemptStatus.WAITING
        if state.is_completed():
            return AttemptStatus.DONE
        if state.is_crashed() or state.is_cancelled():
            return AttemptStatus.LOST
        return AttemptStatus.FAILED

    def result(self) -> BatchResult:
        return self.future.result()


@contextmanager
def hand_out_to_runners(
    address: RunAddress, provenance: Provenance, *, deadline_s: float = DEFAULT_BATCH_DEADLINE_S, log: Callable[[str], None]
) -> Iterator[Callable[[ComposedBatch], Pending[BatchResult]]]:
    """A `submit` for `drive` that hands each batch to the run's runners, again if its runner is gone."""
    require_api_server("run --runners")
    if deadline_s <= 0:
        raise UserInputError(f"batch_deadline_s must be a positive number of seconds, got {deadline_s}")
    remote = batch_task(address)
    with get_client(sync_client=True) as client:
        handed: Resubmitter[ComposedBatch, BatchResult] = Resubmitter(
            lambda batch: TaskRunAttempt(remote.delay(batch, provenance), client),
            label=lambda batch: f"batch {batch.index}",
            log=log,
            deadline_s=deadline_s,
        )
        log(f"handing batches to the runners of run {address.fingerprint} (deadline {deadline_s:g} s per batch)")
        yield handed.submit
        log(f"{handed.resubmitted} batch hand-out(s) repeated (runner gone or past the deadline)")
    # every batch is saved in the run's shards: what was handed out and handed back is no longer needed
    shutil.rmtree(address.tasks_dir, ignore_errors=True)
