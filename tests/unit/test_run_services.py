"""A run's services (models, judge, embedder, judge routes, hardener) are opened by one function, once: the
coordinator and a runner of the same run get the same, and a whole run builds its judge one time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pipeline.llm.records import ChatRequest, ChatResult, Completion
from pipeline.run import runners, serving
from pipeline.run.config import RunConfig, parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.verify import judge as judge_module
from pipeline.verify.fidelity import default_relevance


class FakeEngine:
    """Stands in for a SyncEngine on one endpoint: every answer is the same text, every judge question a YES."""

    def __init__(self, endpoints: Sequence[str], model: str | None, **kwargs: Any) -> None:
        self.model = model or "fake"
        self.engine = self  # the run reads engine.engine.streamed_pieces() for its progress line

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        return [ChatResult(completions=tuple(Completion(text="a short answer") for _ in range(r.n))) for r in requests]

    def yes_no_logprobs(self, conversations: Sequence[Any]) -> list[tuple[float, float]]:
        return [(-0.1, -3.0) for _ in conversations]

    def streamed_pieces(self) -> int:
        return 0

    def cache_stats(self) -> None:
        return None

    def close(self) -> None:
        pass


def config(out: Path, **extra: Any) -> RunConfig:
    return parse_config(
        {
            "samples": 4,
            "mix": {"Single": 1, "And_1": 1},
            "compose": {"checkers": "any"},
            "models": {
                "rewriter": {"enabled": False},
                "responder": {"n": 2},
                "judge": {"enabled": True, "margin": 0.5},
            },
            "fidelity": {"enabled": True, "embedding": True, "judge": True},
            "hardening": {"enabled": True},
            "batch_size": 4,
            "attempts_factor": 2,
            "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
            "output_dir": str(out),
            **extra,
        }
    )


@pytest.fixture()
def fake_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    monkeypatch.setattr(serving, "open_engine", FakeEngine)


@pytest.mark.usefixtures("fake_engines")
def test_a_whole_run_builds_its_judge_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[judge_module.LLMJudge] = []
    init = judge_module.LLMJudge.__init__

    def counting_init(self: judge_module.LLMJudge, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(judge_module.LLMJudge, "__init__", counting_init)
    monkeypatch.setattr(default_relevance(), "similarities", lambda task, texts: [0.9 for _ in texts])
    with open_run_context(config(tmp_path / "out"), log=lambda line: None) as ctx:
        summary = run_locally(ctx)
        models = ctx.models
    assert summary.totals["instructions"] >= 4  # several instructions verified, each with the judge's help
    assert models is not None and models.judge is not None
    assert built == [models.judge] and models.judge.margin == 0.5


@pytest.mark.usefixtures("fake_engines")
def test_the_coordinator_and_a_runner_open_the_same_services(tmp_path: Path) -> None:
    cfg = config(tmp_path / "out")
    with open_run_context(cfg, log=lambda line: None) as ctx:
        coordinator = ctx.models
        fingerprint = ctx.run.fingerprint
    with runners.serve_run(cfg, lambda line: None) as address:
        runner = runners._SERVED[address.fingerprint].models
    assert address.fingerprint == fingerprint and coordinator is not None
    for models in (coordinator, runner):
        assert models.judge is not None and models.judge.margin == 0.5  # built from the config's judge
        assert models.relevance is default_relevance()  # the task-fidelity embedder, one per process
    assert dict(runner.routes) == dict(coordinator.routes) and runner.routes
