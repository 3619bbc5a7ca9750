"""The generation flow under Prefect keeps exactly `batches_in_flight` batches answering at once, however many
that is (up to the config's limit of 64): no task runner of the flow's own caps it below.

A scripted model (no vLLM): each batch holds one instruction whose one answer waits until as many answers are
being asked at once as the config allows batches in flight, so the run can only go on if they all are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.models import Response
from pipeline.run.config import RoleConfig, RunConfig
from pipeline.run.stages import Models

IN_FLIGHT = 32
WAIT_S = 60.0  # how long the answers wait for the others: only a run that never gets there waits this long, once


class Gathering:
    """A scripted responder that answers only once `target` requests are waiting together."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.waiting = 0
        self.peak = 0
        self.reached = threading.Event()
        self.released = threading.Event()  # set when `target` was reached, or when waiting for it timed out

    def chat(self, conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        with self.lock:
            self.waiting += 1
            self.peak = max(self.peak, self.waiting)
            if self.waiting >= self.target:
                self.reached.set()
                self.released.set()
        try:
            if not self.released.wait(WAIT_S):
                self.released.set()  # never reached: let the run end instead of timing out every request
        finally:
            with self.lock:
                self.waiting -= 1
        return [
            [Response(text="Some Answer With Capitals.", candidate=k, model="scripted") for k in range(n)]
            for _ in conversations
        ]


def config(out: Path) -> dict[str, Any]:
    return {
        "name": "in-flight",
        "samples": 8,
        "mix": {"Single": 1},
        "compose": {"checkers": "code"},
        "models": {"rewriter": {"enabled": False}, "responder": {"n": 1}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False},
        "repair_rounds": 0,
        "attempts_factor": 5,  # 40 instructions: more than the batches in flight
        "batch_size": 1,  # one instruction, one request per batch: requests waiting = batches in flight
        "batches_in_flight": IN_FLIGHT,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(out),
    }


@pytest.mark.timeout(300)
def test_the_flow_keeps_every_configured_batch_in_flight(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.run.services as services
    from flows.generate import generate

    model = Gathering(IN_FLIGHT)

    @contextmanager
    def scripted_models(cfg: RunConfig, log: Any) -> Iterator[Models]:
        yield Models(chat=model.chat, judge=None)

    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    monkeypatch.setattr(services, "serve_models", scripted_models)
    summary = generate(config=config(tmp_path / "out"))
    assert model.reached.is_set(), f"at most {model.peak} batches were in flight at once, not {IN_FLIGHT}"
    assert model.peak == IN_FLIGHT
    assert summary["totals"]["instructions"] == 40


class FailingOnce:
    """A scripted responder whose first answer fails with an error that is not ours (a bug, say)."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def chat(self, conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            raise RuntimeError("scripted failure")
        return [
            [Response(text="Some Answer.", candidate=k, model="scripted") for k in range(n)] for _ in conversations
        ]


@pytest.mark.timeout(300)
def test_a_failed_batch_is_not_retried_by_prefect(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One retry policy: the engine retries a request's transient failures; a batch that fails anyway fails the run
    (rerun to resume) instead of being run again by Prefect, which would repeat a bug and stack retries."""
    import pipeline.run.services as services
    from flows.generate import generate

    model = FailingOnce()

    @contextmanager
    def scripted_models(cfg: RunConfig, log: Any) -> Iterator[Models]:
        yield Models(chat=model.chat, judge=None)

    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    monkeypatch.setattr(services, "serve_models", scripted_models)
    data = {**config(tmp_path / "out"), "batches_in_flight": 1, "samples": 1, "attempts_factor": 1}
    with pytest.raises(RuntimeError, match="scripted failure"):
        generate(config=data)
    assert model.calls == 1
