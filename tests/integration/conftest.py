"""Integration fixtures: one real vLLM worker (CPU, bundled model), shared by every test that needs it.

Other integration modules reuse it:

    def test_something(vllm_endpoint):  # VLLMEndpoint(url="http://127.0.0.1:PORT", model="smollm2-135m-instruct")
        with open_engine([vllm_endpoint.url], vllm_endpoint.model) as eng: ...

    def test_other(make_engine):        # SyncEngine factory on that worker, closed after the test
        eng = make_engine(cache_path=tmp_path / "c.sqlite")

The tests that use `vllm_endpoint` (directly or through other fixtures) are run as one contiguous block
after all the others (tests/helpers/worker_order.py). The worker starts on first use (about a minute)
and stops as soon as the last of them is torn down, not at the end of the session. Set
COMPLEXIFY_TEST_VLLM_URL=http://127.0.0.1:PORT to reuse a worker that already runs (faster iteration);
that one is never stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.llm.engine import SyncEngine, open_engine
from pipeline.llm.model_prep import prepare_default_model
from pipeline.llm.retry import RetryPolicy
from pipeline.llm.workers import WorkerOptions, WorkerRecord, local_workers
from tests.helpers.worker_order import last_worker_test, order_for_shared_worker

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class VLLMEndpoint:
    """A running OpenAI-compatible vLLM server: base URL (no /v1) and the served model name."""

    url: str
    model: str
    record: WorkerRecord | None = None  # None when the server was given from outside


def _served_model(url: str) -> str:
    with httpx.Client(timeout=10, trust_env=False) as client:
        return str(client.get(f"{url}/v1/models").json()["data"][0]["id"])


class SharedWorker:
    """The session's one worker: started by the first test that asks, stopped after the last one."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self._endpoint: VLLMEndpoint | None = None
        self.starts = 0
        self.started_at: float | None = None
        self.up_s = 0.0

    def get(self, state_dir: Path) -> VLLMEndpoint:
        if self._endpoint is not None:
            return self._endpoint
        external = os.environ.get("COMPLEXIFY_TEST_VLLM_URL")
        if external:
            url = external.rstrip("/").removesuffix("/v1")
            self._endpoint = VLLMEndpoint(url, _served_model(url))
            return self._endpoint
        prepare_default_model()  # no-op once prepared; `make test` prepares it beforehand
        stack = ExitStack()
        opts = WorkerOptions(model="default", startup_timeout_s=600)
        (record,) = stack.enter_context(local_workers(1, opts, state_file=state_dir / "state.json"))
        self._stack, self._endpoint = stack, VLLMEndpoint(record.url, record.served_name, record)
        self.starts += 1
        self.started_at = time.monotonic()
        return self._endpoint

    def stop(self) -> None:
        """Stop the worker this session started (idempotent; an outside worker is left alone)."""
        stack, self._stack, self._endpoint = self._stack, None, None
        if stack is not None:
            stack.close()
            if self.started_at is not None:
                self.up_s += time.monotonic() - self.started_at
                self.started_at = None


SHARED = pytest.StashKey[SharedWorker]()
LAST_USER = pytest.StashKey[str | None]()


def _shared(config: pytest.Config) -> SharedWorker:
    if SHARED not in config.stash:
        config.stash[SHARED] = SharedWorker()
    return config.stash[SHARED]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
    items[:] = order_for_shared_worker(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    # After every plugin's reordering and deselection: the final list of tests this session runs.
    session.config.stash[LAST_USER] = last_worker_test(session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        if item.nodeid == item.config.stash.get(LAST_USER, None):
            _shared(item.config).stop()  # no test after this one needs the worker


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    shared = config.stash.get(SHARED, None)
    if shared is not None and shared.starts:
        terminalreporter.write_line(f"shared vLLM worker: started {shared.starts}x, up {shared.up_s:.0f} s in total")


@pytest.fixture(scope="session")
def vllm_endpoint(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMEndpoint]:
    """The shared worker with the bundled model (or COMPLEXIFY_TEST_VLLM_URL); see the module docstring."""
    shared = _shared(pytestconfig)
    try:
        yield shared.get(tmp_path_factory.mktemp("vllm-workers"))
    finally:
        shared.stop()


@pytest.fixture()
def make_engine(vllm_endpoint: VLLMEndpoint) -> Iterator[Callable[..., SyncEngine]]:
    """Factory of SyncEngines on the shared worker (extra endpoints may be prepended); all closed afterwards."""
    engines: list[SyncEngine] = []

    def make(*, endpoints: list[str] | None = None, **kwargs: Any) -> SyncEngine:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, base_delay_s=0.1, max_delay_s=1.0))
        eng = open_engine(endpoints or [vllm_endpoint.url], vllm_endpoint.model, **kwargs)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.close()


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real temporary Prefect server per test module (flows in the test and in its subprocesses use it)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield str(PREFECT_API_URL.value())
