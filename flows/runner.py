"""Scale-out with Prefect task workers: runners serve one run's batch task, the coordinator hands batches out.

Runners (`complexify runner --config C`) are Prefect task workers (`prefect.task_worker.serve`) serving the
run's batch task; the coordinator (`complexify run --config C --runners`) hands each composed batch out
with `.delay()` and waits on the task runs through `pipeline.run.driver.Resubmitter`, which hands a batch out
again when its runner is gone. Parameters and results of the task runs live in the run folder on the
shared output root (`tasks/`), so every runner and the coordinator can read them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.futures import PrefectDistributedFuture
from prefect.settings import get_current_settings
from prefect.task_worker import serve

from flows.logs import one_line_for_known_errors
from pipeline.errors import ComplexifyError, UserInputError
from pipeline.run.config import RunConfig
from pipeline.run.driver import DEFAULT_BATCH_DEADLINE_S, AttemptStatus, Pending, Resubmitter
from pipeline.run.runners import RunAddress, process_served, serve_run
from pipeline.run.stages import BatchResult, ComposedBatch, Provenance

DEFAULT_RUNNER_LIMIT = 2  # batches one runner processes at once: the next is ready when one ends
one_line_for_known_errors()  # a runner logs failed batches too
DEFAULT_API_TIMEOUT_S = 30.0  # how long a command waits for the Prefect API of PREFECT_API_URL to answer


def require_api_server(what: str) -> None:
    """Task workers meet their coordinator on a Prefect server, never on a temporary one."""
    if get_current_settings().api.url is None:
        raise UserInputError(
            f"{what} needs a Prefect server shared by the coordinator and its runners: set "
            "PREFECT_API_URL=http://HOST:4200/api (start one with `prefect server start`)"
        )


def check_api_server(timeout_s: float = DEFAULT_API_TIMEOUT_S) -> None:
    """The Prefect API that PREFECT_API_URL names (if set) answers as a Prefect server does, within `timeout_s`.

    Unreachable (or answering 5xx) for `timeout_s`: ComplexifyError (exit 1) naming the URL; a task worker would
    otherwise wait for batches forever. Something else answering there (404, a web page): UserInputError (exit 2).
    """
    settings = get_current_settings()
    url = settings.api.url
    if url is None:
        return  # a temporary local server
    health = url.rstrip("/") + "/health"
    key = settings.api.key.get_secret_value() if settings.api.key is not None else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    verify: bool | str = False if settings.api.tls_insecure_skip_verify else (settings.api.ssl_cert_file or True)
    cloud = url.startswith(settings.cloud.api_url)
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            answer = httpx.get(health, headers=headers, verify=verify, timeout=min(10.0, max(left, 1.0)))
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if answer.status_code < 500:
                if answer.is_success and (cloud or _body(answer) is True):
                    return
                raise UserInputError(
                    f"PREFECT_API_URL={url} is not the API of a Prefect server (GET {health} answered "
                    f"{answer.status_code}, not true); set it to a Prefect server's API, e.g. http://HOST:4200/api"
                )
            problem = f"HTTP {answer.status_code}"
        if time.monotonic() >= deadline:
            raise ComplexifyError(
                f"the Prefect API at PREFECT_API_URL={url} did not answer within {timeout_s:g} s ({problem}); start "
                "the server (`prefect server start`), fix PREFECT_API_URL, or unset it for a temporary local server"
            )
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))


def _body(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


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
        cache_policy=NO_CACHE,  # and no retries: one retry policy, the engine's (README, "Talking to the models")
        persist_result=True,
        result_storage=address.tasks_dir,  # a path: local storage every process with the output root can read
        log_prints=True,
    )(process)


def serve_batches(
    cfg: RunConfig,
    *,
    limit: int = DEFAULT_RUNNER_LIMIT,
    log: Callable[[str], None] = print,
    api_timeout_s: float = DEFAULT_API_TIMEOUT_S,
) -> None:
    """Serve the batches of the run of `cfg` (at most `limit` at once) until stopped: one runner. Fails when the
    Prefect API does not answer within `api_timeout_s`, before any worker starts."""
    require_api_server("complexify runner")
    check_api_server(api_timeout_s)
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
    address: RunAddress,
    provenance: Provenance,
    *,
    deadline_s: float = DEFAULT_BATCH_DEADLINE_S,
    log: Callable[[str], None],
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
