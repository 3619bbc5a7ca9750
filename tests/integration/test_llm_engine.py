"""The engine against a real vLLM worker (CPU, bundled SmolLM2-135M-Instruct)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pipeline.errors import InferenceError
from pipeline.llm.engine import SyncEngine, open_engine
from pipeline.llm.records import ChatRequest, SamplingParams
from pipeline.llm.retry import RetryPolicy
from pipeline.llm.workers import free_port
from pipeline.verify.judge import LLMJudge
from pipeline.verify.plan import JudgeQuery

if TYPE_CHECKING:
    from tests.integration.conftest import VLLMEndpoint

SHORT = SamplingParams(temperature=0.8, max_tokens=16)
EngineFactory = Callable[..., SyncEngine]


def ask(text: str, **kw: object) -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


def test_generation_returns_text_usage_and_latency(make_engine: EngineFactory, vllm_endpoint: VLLMEndpoint) -> None:
    eng = make_engine()
    results = eng.generate([ask("Name a fruit.", sampling=SHORT), ask("Name a colour.", sampling=SHORT)])
    assert len(results) == 2
    for res in results:
        assert res.text.strip()
        assert res.completions[0].finish_reason in ("stop", "length")
        assert 0 < res.completion_tokens <= 16
        assert res.prompt_tokens > 5
        assert res.latency_s > 0
        assert res.endpoint == vllm_endpoint.url and not res.cached
    assert eng.model == vllm_endpoint.model


def test_max_tokens_is_respected_with_ignore_eos(make_engine: EngineFactory) -> None:
    res = make_engine().generate([ask("Count to ten.", sampling=SamplingParams(max_tokens=12, ignore_eos=True))])[0]
    assert res.completion_tokens == 12
    assert res.completions[0].finish_reason == "length"


def test_n_samples(make_engine: EngineFactory) -> None:
    eng = make_engine()
    sampled = eng.generate(
        [ask("Write a two-word name for a cat.", sampling=SamplingParams(temperature=1.0, max_tokens=12), n=3)]
    )[0]
    assert len(sampled.completions) == 3 and all(c.text for c in sampled.completions)
    assert 3 <= sampled.completion_tokens <= 36
    greedy = eng.generate([ask("Say hello.", sampling=SamplingParams(temperature=0, max_tokens=8), n=2)])[0]
    assert len(greedy.texts) == 2 and greedy.texts[0] == greedy.texts[1]


def test_yes_no_scoring_agrees_with_raw_logprobs(make_engine: EngineFactory, vllm_endpoint: VLLMEndpoint) -> None:
    conv = [{"role": "user", "content": "Is the sky blue on a clear day? Answer YES or NO."}]
    ((lp_yes, lp_no),) = make_engine().yes_no_logprobs([conv])
    assert math.isfinite(lp_yes) and math.isfinite(lp_no)
    assert math.exp(lp_yes) + math.exp(lp_no) <= 1.0 + 1e-6  # probabilities of disjoint answers
    body = {
        "model": vllm_endpoint.model,
        "messages": conv,
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 20,
    }
    raw = httpx.post(f"{vllm_endpoint.url}/v1/chat/completions", json=body, timeout=60).json()
    top = raw["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    best_yes = max(t["logprob"] for t in top if t["token"].strip().lower() == "yes")
    best_no = max(t["logprob"] for t in top if t["token"].strip().lower() == "no")
    # Summing spellings can only add probability to the best single spelling.
    assert lp_yes >= best_yes - 1e-4 and lp_no >= best_no - 1e-4
    assert lp_yes - best_yes < math.log(3) and lp_no - best_no < math.log(3)


def test_judge_runs_on_the_engine(make_engine: EngineFactory) -> None:
    queries = [
        JudgeQuery(
            check_id="c1",
            instruction="Write about cats.",
            response="Cats purr.",
            question="Is the response about cats?",
        ),
        JudgeQuery(
            check_id="c2", instruction="Write a haiku.", response="Dogs bark.", question="Is the response a haiku?"
        ),
    ]
    verdicts = LLMJudge(make_engine())(queries)
    assert len(verdicts) == 2
    assert all(v.evidence.startswith("judge P(yes)=") for v in verdicts)


def test_concurrent_batch_keeps_order_and_bounds(make_engine: EngineFactory, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    eng = make_engine(max_concurrency=8, cache_path=cache)
    requests = [ask(f"Write one sentence about the number {i}.", sampling=SHORT) for i in range(24)]
    batch = eng.generate(requests)
    stats = next(iter(eng.engine.endpoint_stats().values()))
    assert 1 < stats["peak_inflight"] <= 8 and stats["served"] == 24
    # Asked one at a time, each request is a cache hit holding exactly the answer the batch put at its position.
    for request, res in zip(requests, batch, strict=True):
        alone = eng.generate([request])[0]
        assert alone.cached and alone.texts == res.texts


def test_rerun_is_served_from_the_cache(make_engine: EngineFactory, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    requests = [ask(f"Give a word that rhymes with {w}.", sampling=SHORT, n=2) for w in ("cat", "tree", "sun")]
    judge = [[{"role": "user", "content": "Is water wet? Answer YES or NO."}]]
    first = make_engine(cache_path=cache)
    before, before_judge = first.generate(requests), first.yes_no(judge)
    first.close()
    second = make_engine(cache_path=cache)
    after, after_judge = second.generate(requests), second.yes_no(judge)
    assert [r.texts for r in after] == [r.texts for r in before]
    # the same verdict, now marked as replayed from the cache
    assert [j.model_copy(update={"cached": False}) for j in after_judge] == before_judge
    assert all(r.cached for r in after) and all(j.cached for j in after_judge)
    assert not any(j.cached for j in before_judge)
    assert all(s["served"] == 0 for s in second.engine.endpoint_stats().values())  # nothing was sent
    stats = second.cache_stats()
    assert stats is not None and stats.hits == 7 and stats.misses == 0


@pytest.fixture()
def engine_without_worker() -> Iterator[EngineFactory]:
    """SyncEngines on endpoints only (no worker needed, so these tests run while the shared worker is down)."""
    engines: list[SyncEngine] = []

    def make(endpoints: list[str]) -> SyncEngine:
        eng = open_engine(
            endpoints, "smollm2-135m-instruct", retry=RetryPolicy(max_attempts=4, base_delay_s=0.1, max_delay_s=1.0)
        )
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.close()


def test_unreachable_endpoint_fails_fast_and_names_it(engine_without_worker: EngineFactory) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    eng = engine_without_worker([url])
    t0 = time.monotonic()
    with pytest.raises(InferenceError, match=url):
        eng.generate([ask("hi", sampling=SHORT)])
    assert time.monotonic() - t0 < 10


def test_malformed_endpoint_url_is_a_clear_error(engine_without_worker: EngineFactory) -> None:
    eng = engine_without_worker(["127.0.0.1:8000"])  # no scheme
    with pytest.raises(InferenceError, match=r"127\.0\.0\.1:8000"):
        eng.generate([ask("hi", sampling=SHORT)])
