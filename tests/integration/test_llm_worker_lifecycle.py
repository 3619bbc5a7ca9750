"""Worker lifecycle through the CLI, and a worker killed in the middle of a batch (real vLLM processes)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.errors import InferenceError
from pipeline.llm.engine import SyncEngine
from pipeline.llm.records import ChatRequest, ChatResult, SamplingParams
from pipeline.llm.workers import WorkerRecord, is_alive, read_state
from tests.helpers.cli import run_cli as cli

if TYPE_CHECKING:
    from tests.integration.conftest import VLLMEndpoint

EngineFactory = Callable[..., SyncEngine]


@pytest.fixture()
def victim(tmp_path: Path) -> tuple[WorkerRecord, Path]:
    """A second worker started with `complexify workers up`; always brought down again."""
    state = tmp_path / "state.json"
    up = cli("workers", "up", "-n", "1", "--state-file", str(state), timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    rec = read_state(state).workers[0]
    assert rec.url in up.stdout
    yield rec, state
    cli("workers", "down", "--state-file", str(state))
    if is_alive(rec):  # last resort, so a failed test never leaves a server behind
        os.killpg(rec.pid, signal.SIGKILL)


def test_cli_lifecycle_and_worker_killed_mid_batch(
    victim: tuple[WorkerRecord, Path], vllm_endpoint: VLLMEndpoint, make_engine: EngineFactory
) -> None:
    rec, state = victim
    status = cli("workers", "status", "--json", "--state-file", str(state))
    assert status.returncode == 0, status.stderr
    (entry,) = json.loads(status.stdout)
    assert entry["healthy"] and entry["pid"] == rec.pid

    # A batch over the victim and the session worker; the victim is killed while it holds requests.
    eng = make_engine(endpoints=[rec.url, vllm_endpoint.url], max_concurrency=8)
    requests = [
        ChatRequest.of(
            [{"role": "user", "content": f"Tell a short story about robot {i}."}],
            sampling=SamplingParams(max_tokens=48, ignore_eos=True),
        )
        for i in range(24)
    ]
    out: dict[str, list[ChatResult] | BaseException] = {}

    def run() -> None:
        try:
            out["results"] = eng.generate(requests)
        except BaseException as exc:  # handed to the test thread below
            out["results"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while eng.engine.endpoint_stats().get(rec.url, {}).get("active", 0) < 2:
        assert time.monotonic() < deadline, "the victim never received requests"
        time.sleep(0.05)
    os.killpg(rec.pid, signal.SIGKILL)
    thread.join(300)
    results = out["results"]
    assert not isinstance(results, BaseException), results
    assert len(results) == 24 and all(r.text for r in results)
    stats = eng.engine.endpoint_stats()
    assert stats[rec.url]["failed"] >= 2  # the requests in flight on the victim failed ...
    assert stats[vllm_endpoint.url]["served"] >= 14  # ... and were retried on the surviving worker

    # With only the dead worker left: retries, then a clear error naming it, quickly.
    alone = make_engine(endpoints=[rec.url])
    t0 = time.monotonic()
    with pytest.raises(InferenceError, match=rec.url):
        alone.generate(requests[:2])
    assert time.monotonic() - t0 < 15

    dead = cli("workers", "status", "--state-file", str(state))
    assert dead.returncode == 1 and "dead" in dead.stdout, dead.stdout + dead.stderr
    down = cli("workers", "down", "--state-file", str(state))
    assert down.returncode == 0
    assert read_state(state).workers == []
    assert not is_alive(rec)


def test_cli_model_commands_and_bad_input() -> None:
    path = cli("model", "path")
    assert path.returncode == 0 and (Path(path.stdout.strip()) / "config.json").is_file()
    bad = cli("model", "path", "no such model")
    assert bad.returncode == 2 and "unknown model" in bad.stderr
    assert cli("workers", "up", "-n", "0").returncode == 2
