"""Engine logic against a fake transport: retries, failover, dead workers, timeouts, n and cache bookkeeping.

These use httpx.MockTransport in place of a server; the same behaviours against a real vLLM worker are
in tests/integration/test_llm_engine.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.errors import InferenceError
from pipeline.llm.cache import RequestCache
from pipeline.llm.engine import SyncEngine
from pipeline.llm.openai_engine import OpenAIEngine, normalize_endpoint
from pipeline.llm.records import ChatRequest, SamplingParams
from pipeline.llm.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
A, B = "http://a.test:1", "http://b.test:2"


def completion(body: dict[str, Any]) -> httpx.Response:
    n = body.get("n", 1)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"}
        for i in range(n)
    ]
    return httpx.Response(200, json={"choices": choices, "usage": {"prompt_tokens": 5, "completion_tokens": 3 * n}})


class FakeServers:
    """Routes by host; `behaviour[host]` returns a Response or raises; records every request body."""

    def __init__(self, behaviour: dict[str, Callable[[dict[str, Any]], httpx.Response]]) -> None:
        self.behaviour = behaviour
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content) if request.content else {}
            self.calls.append((request.url.host, body))
            return self.behaviour[request.url.host](body)

        return httpx.MockTransport(handle)


def engine(fake: FakeServers, urls: list[str], **kw: Any) -> SyncEngine:
    kw.setdefault("retry", FAST)
    return SyncEngine(OpenAIEngine(urls, "m", transport=fake.transport(), **kw))


def req(text: str = "hi", **kw: Any) -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": text}], **kw)


def test_normalize_endpoint() -> None:
    assert normalize_endpoint("http://h:8000/v1/") == "http://h:8000"
    assert normalize_endpoint(" http://h:8000 ") == "http://h:8000"


def test_retries_5xx_then_succeeds() -> None:
    failures = iter([503, 500])

    def flaky(body: dict[str, Any]) -> httpx.Response:
        status = next(failures, None)
        return httpx.Response(status, text="busy") if status else completion(body)

    fake = FakeServers({"a.test": flaky})
    with engine(fake, [A]) as eng:
        res = eng.generate([req()])[0]
        assert res.text == "answer 0" and res.endpoint == A
        assert eng.engine.endpoint_stats()[A]["failed"] == 2
    assert len(fake.calls) == 3


def test_connection_errors_fail_over_to_another_endpoint() -> None:
    def refuse(body: dict[str, Any]) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    fake = FakeServers({"a.test": refuse, "b.test": completion})
    with engine(fake, [A, B]) as eng:
        results = eng.generate([req(str(i)) for i in range(10)])
    assert all(r.endpoint == B for r in results)
    assert sum(1 for host, _ in fake.calls if host == "b.test") == 10


def test_dead_worker_leaves_rotation_and_all_dead_is_a_clear_error() -> None:
    def dead(body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(
            500, json={"error": {"type": "EngineDeadError", "message": "EngineCore encountered an issue."}}
        )

    fake = FakeServers({"a.test": dead, "b.test": completion})
    with engine(fake, [A, B]) as eng:
        assert all(r.endpoint == B for r in eng.generate([req(str(i)) for i in range(6)]))
        assert eng.engine.endpoint_stats()[A]["dead"]
        # After A died, nothing more is sent to it.
        assert sum(1 for host, _ in fake.calls if host == "a.test") == 1
    fake = FakeServers({"a.test": dead})
    with engine(fake, [A]) as eng, pytest.raises(InferenceError, match=r"every worker is dead.*http://a.test:1"):
        eng.generate([req()])


def test_bad_request_fails_only_that_item_and_is_not_retried() -> None:
    fake = FakeServers(
        {"a.test": lambda body: httpx.Response(400, json={"error": {"message": "temperature must be >= 0"}})}
    )
    with engine(fake, [A]) as eng:
        (res,) = eng.generate([req()])
        stats = eng.engine.endpoint_stats()[A]
    assert len(fake.calls) == 1
    assert not res.ok and res.failure == "invalid_request" and res.completions == ()
    assert res.error is not None and "http://a.test:1" in res.error and "temperature must be >= 0" in res.error
    assert (stats["rejected"], stats["failed"], stats["dead"]) == (1, 0, None)  # the endpoint is not to blame
    with pytest.raises(ValueError, match="invalid_request"):
        _ = res.text


TOO_LONG = (
    "This model's maximum context length is 2048 tokens. However, your prompt contains 5210 input tokens, "
    "which exceeds this limit even without any output tokens. Please reduce the length of the input prompt."
)


def context_limit(body: dict[str, Any]) -> httpx.Response:
    """A server with a small context: long prompts get vLLM's HTTP 400, the rest an answer."""
    if len(body["messages"][0]["content"]) > 1000:
        return httpx.Response(400, json={"error": {"message": TOO_LONG, "type": "BadRequestError", "code": 400}})
    return completion(body)


def test_over_long_prompt_fails_alone_with_its_reason(tmp_path: Path) -> None:
    fake = FakeServers({"a.test": context_limit, "b.test": context_limit})
    requests = [req("short one"), req("word " * 2000, n=2, sampling=SamplingParams(temperature=0.9)), req("short two")]
    with engine(fake, [A, B], cache=RequestCache(tmp_path / "c.sqlite")) as eng:
        results = eng.generate(requests)
        again = eng.generate(requests[1:2])[0]
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].text == "answer 0" and results[2].text == "answer 0"
    assert results[1].failure == "prompt_too_long" and "maximum context length" in (results[1].error or "")
    # Not retried on the other endpoint (it would refuse it the same way), and not cached as an answer.
    assert sum(1 for _, body in fake.calls if len(body["messages"][0]["content"]) > 1000) == 2
    assert again.failure == "prompt_too_long" and not again.cached


def test_413_is_prompt_too_long() -> None:
    fake = FakeServers({"a.test": lambda body: httpx.Response(413, text="Request Entity Too Large")})
    with engine(fake, [A]) as eng:
        assert eng.generate([req()])[0].failure == "prompt_too_long"


def test_wrong_model_still_fails_the_batch() -> None:
    fake = FakeServers(
        {"a.test": lambda body: httpx.Response(404, json={"error": {"message": "The model `m` does not exist."}})}
    )
    with engine(fake, [A]) as eng, pytest.raises(InferenceError, match=r"http://a.test:1.*rejected.*does not exist"):
        eng.generate([req()])
    assert len(fake.calls) == 1


def test_rejected_yes_no_question_is_no_answer() -> None:
    def judge(body: dict[str, Any]) -> httpx.Response:
        if len(body["messages"][0]["content"]) > 1000:
            return httpx.Response(400, json={"error": {"message": TOO_LONG}})
        top = [{"token": "YES", "logprob": -0.1}, {"token": "NO", "logprob": -2.5}]
        return httpx.Response(
            200,
            json={
                "choices": [
                    {"index": 0, "logprobs": {"content": [{"token": "YES", "logprob": -0.1, "top_logprobs": top}]}}
                ]
            },
        )

    fake = FakeServers({"a.test": judge})
    with engine(fake, [A]) as eng:
        ok, long = eng.yes_no([[{"role": "user", "content": "fine?"}], [{"role": "user", "content": "x" * 2000}]])
    assert ok.failure is None and ok.logprob_yes == -0.1
    assert long.failure == "prompt_too_long" and long.logprob_yes == long.logprob_no == float("-inf")


def test_exhausted_retries_name_the_endpoint() -> None:
    def refuse(body: dict[str, Any]) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    fake = FakeServers({"a.test": refuse})
    with (
        engine(fake, [A]) as eng,
        pytest.raises(InferenceError, match=r"failed after 4 tries on http://a.test:1.*Connection refused"),
    ):
        eng.generate([req()])


def test_a_silent_endpoint_fails_after_the_request_timeout_naming_it() -> None:
    async def silent(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return completion({})

    eng = SyncEngine(
        OpenAIEngine(
            [A],
            "m",
            request_timeout_s=0.2,
            retry=RetryPolicy(max_attempts=2, base_delay_s=0.01),
            transport=httpx.MockTransport(silent),
        )
    )
    t0 = time.monotonic()
    with eng, pytest.raises(InferenceError, match=r"http://a.test:1 \(nothing arrived for 0.2 s.*request timeout"):
        eng.generate([req()])
    assert time.monotonic() - t0 < 20  # given up after the timeout, not after the server's 30 s


def test_concurrency_per_endpoint_is_bounded() -> None:
    active = 0
    peak = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1
        return completion(json.loads(request.content))

    with SyncEngine(OpenAIEngine([A], "m", max_concurrency=3, transport=httpx.MockTransport(handle))) as eng:
        results = eng.generate([req(str(i)) for i in range(12)])
        assert eng.engine.endpoint_stats()[A]["peak_inflight"] == 3
    assert len(results) == 12 and peak == 3


def test_requests_spread_over_endpoints() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        return completion(json.loads(request.content))

    with SyncEngine(OpenAIEngine([A, B], "m", max_concurrency=4, transport=httpx.MockTransport(handle))) as eng:
        eng.generate([req(str(i)) for i in range(16)])
        served = {u: s["served"] for u, s in eng.engine.endpoint_stats().items()}
    assert served[A] >= 4 and served[B] >= 4 and served[A] + served[B] == 16


def test_only_missing_samples_are_requested(tmp_path: Path) -> None:
    fake = FakeServers({"a.test": completion})
    cache_path = tmp_path / "c.sqlite"
    sampling = SamplingParams(temperature=0.9, max_tokens=8)
    with engine(fake, [A], cache=RequestCache(cache_path)) as eng:
        first = eng.generate([req(sampling=sampling, n=2)])[0]
    with engine(fake, [A], cache=RequestCache(cache_path)) as eng:
        again = eng.generate([req(sampling=sampling, n=2)])[0]
        more = eng.generate([req(sampling=sampling, n=4)])[0]
        stats = eng.cache_stats()
    assert again.cached and again.texts == first.texts and again.completion_tokens == 0
    # each answer records its share of the generated tokens (3 apiece here), and a replay keeps it
    assert (
        [c.completion_tokens for c in first.completions] == [3, 3] == [c.completion_tokens for c in again.completions]
    )
    assert first.completion_tokens == 6
    assert [body["n"] for _, body in fake.calls] == [2, 2]  # nothing sent for the rerun; 2 new samples for n=4
    assert more.texts[:2] == first.texts and not more.cached and more.completion_tokens == 6
    assert stats is not None and (stats.hits, stats.misses) == (4, 2)


def test_greedy_n_asks_once_and_copies() -> None:
    fake = FakeServers({"a.test": completion})
    with engine(fake, [A]) as eng:
        res = eng.generate([req(sampling=SamplingParams(temperature=0), n=3)])[0]
    assert res.texts == ["answer 0"] * 3
    assert [body["n"] for _, body in fake.calls] == [1]


def test_seed_is_opt_in() -> None:
    fake = FakeServers({"a.test": completion})
    with engine(fake, [A]) as eng:
        eng.generate([req("a"), req("b", seed=7)])
    seeds = sorted((body["messages"][0]["content"], body.get("seed")) for _, body in fake.calls)
    assert seeds == [("a", None), ("b", 7)]
    assert "seed" not in next(body for _, body in fake.calls if body["messages"][0]["content"] == "a")


def test_yes_no_request_shape_and_cache(tmp_path: Path) -> None:
    def judge(body: dict[str, Any]) -> httpx.Response:
        top = [{"token": "Yes", "logprob": -0.5}, {"token": " no", "logprob": -1.5}]
        return httpx.Response(
            200,
            json={
                "choices": [
                    {"index": 0, "logprobs": {"content": [{"token": "Yes", "logprob": -0.5, "top_logprobs": top}]}}
                ]
            },
        )

    fake = FakeServers({"a.test": judge})
    with engine(fake, [A], cache=RequestCache(tmp_path / "c.sqlite")) as eng:
        convs = [[{"role": "user", "content": "ok?"}]]
        assert eng.yes_no_logprobs(convs) == [(-0.5, -1.5)]
        assert eng.yes_no_logprobs(convs) == [(-0.5, -1.5)]
    assert len(fake.calls) == 1
    body = fake.calls[0][1]
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] >= 5


def test_sync_engine_works_inside_a_running_loop() -> None:
    fake = FakeServers({"a.test": completion})

    async def caller() -> str:
        with engine(fake, [A]) as eng:
            return eng.generate([req()])[0].text

    assert asyncio.run(caller()) == "answer 0"


def test_model_discovery_and_no_endpoints() -> None:
    fake = FakeServers({"a.test": lambda body: httpx.Response(200, json={"data": [{"id": "served-name"}]})})
    with SyncEngine(OpenAIEngine([A], None, transport=fake.transport())) as eng:
        assert eng.model == "served-name"
    with pytest.raises(InferenceError, match="no model endpoints"):
        OpenAIEngine([], "m")


def test_a_failed_model_lookup_fails_every_queued_caller_at_once() -> None:
    lookups = []

    def refuse(request: httpx.Request) -> httpx.Response:
        lookups.append(request.url.path)
        raise httpx.ConnectError("refused")

    # no model name given: every caller needs the lookup; each failed lookup costs the whole retry policy
    eng = SyncEngine(
        OpenAIEngine(
            [A],
            None,
            retry=RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.05),
            transport=httpx.MockTransport(refuse),
        )
    )
    with eng, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(eng.generate, [req()]) for _ in range(8)]
        for fut in futures:
            with pytest.raises(InferenceError, match=r"a\.test"):
                fut.result(timeout=30)
    assert lookups.count("/v1/models") == 3  # one lookup with its retries, not one per caller


def test_a_requests_tokens_are_shared_over_its_answers_summing_to_the_total() -> None:
    from pipeline.llm.openai_engine import split_tokens

    assert split_tokens(7, 2) == [4, 3] and split_tokens(6, 3) == [2, 2, 2] and split_tokens(0, 2) == [0, 0]


def test_closing_the_engine_ends_a_request_another_thread_is_waiting_on() -> None:
    # A run that fails closes its engines while other batches may still wait on requests (retrying a dead
    # endpoint, say); their threads must get an error, not wait forever on a stopped event loop.
    import concurrent.futures
    import threading

    started = threading.Event()

    async def never(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        return completion({})

    eng = SyncEngine(OpenAIEngine([A], "m", request_timeout_s=3600, transport=httpx.MockTransport(never)))
    outcome: list[BaseException | object] = []

    def wait_for_answer() -> None:
        try:
            outcome.append(eng.generate([req()]))
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_answer, daemon=True)  # daemon: a hang fails the test, not the suite
    waiter.start()
    assert started.wait(5)
    eng.close()
    waiter.join(5)
    assert not waiter.is_alive(), "the waiting thread still hangs after close"
    assert len(outcome) == 1 and isinstance(outcome[0], concurrent.futures.CancelledError | RuntimeError)
    with pytest.raises(RuntimeError, match="engine is closed"):  # and nothing new is taken after close
        eng.generate([req()])


@pytest.mark.parametrize(
    "body",
    [
        {"choices": ["not an object"]},
        {"choices": [{"index": 0, "message": {"content": ["not", "text"]}}]},
        {"choices": [{"index": 0, "message": "not an object"}]},
        {"choices": [{"index": 0, "message": {"content": "ok"}}], "usage": {"completion_tokens": "many"}},
        {"choices": [{"index": 0, "message": {"content": "ok"}}], "usage": ["not", "an", "object"]},
        {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": {"why": 1}}]},
        {"choices": "nope"},
        ["a", "list"],
    ],
    ids=["choice", "content", "message", "usage-value", "usage", "finish", "choices", "list"],
)
def test_an_answer_of_the_wrong_shape_is_an_error_naming_the_endpoint(body: Any) -> None:
    fake = FakeServers({"a.test": lambda _: httpx.Response(200, json=body)})
    with (
        engine(fake, [A]) as eng,
        pytest.raises(InferenceError, match=r"http://a.test:1/v1/chat/completions .*OpenAI-compatible"),
    ):
        eng.generate([req()])


@pytest.mark.parametrize(
    "body",
    [
        {"choices": ["x"]},
        {"choices": [{"logprobs": {"content": ["x"]}}]},
        {"choices": [{"logprobs": {"content": [{"token": "YES", "logprob": "high", "top_logprobs": []}]}}]},
        {"choices": [{"logprobs": {"content": [{"token": "YES", "logprob": -0.1, "top_logprobs": "all"}]}}]},
        {"choices": []},
    ],
    ids=["choice", "content", "logprob", "top", "empty"],
)
def test_a_judge_answer_of_the_wrong_shape_is_an_error_naming_the_endpoint(body: Any) -> None:
    fake = FakeServers({"a.test": lambda _: httpx.Response(200, json=body)})
    with (
        engine(fake, [A]) as eng,
        pytest.raises(InferenceError, match=r"http://a.test:1/v1/chat/completions .*OpenAI-compatible"),
    ):
        eng.yes_no([[{"role": "user", "content": "ok?"}]])
