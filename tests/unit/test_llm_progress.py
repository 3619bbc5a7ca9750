"""Progress-based timeouts and adaptive concurrency, against a scripted streaming server on a real socket.

The claims are about our client: a request that is making progress (or waiting in the server's queue while
the server answers others) is never cancelled and sent again; a server that sends nothing at all for the
request timeout is given up once, by name; the concurrency limit shrinks to what the server runs.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import InferenceError
from pipeline.llm.concurrency import AdaptiveLimit, LimitState, Signal, next_limit
from pipeline.llm.engine import SyncEngine
from pipeline.llm.openai_engine import OpenAIEngine
from pipeline.llm.parsing import queue_depth
from pipeline.llm.records import ChatRequest, SamplingParams
from pipeline.llm.retry import RetryPolicy
from tests.helpers.scripted_llm_server import Script, scripted_server

RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


def requests(k: int, n: int = 1) -> list[ChatRequest]:
    params = SamplingParams(temperature=0.7, max_tokens=64)
    return [ChatRequest.of([{"role": "user", "content": f"prompt {i}"}], sampling=params, n=n) for i in range(k)]


def test_a_slow_server_that_keeps_answering_is_never_sent_a_request_twice() -> None:
    # Each answer takes ~3 s, three times the request timeout, and the server runs 2 at a time: the others wait
    # in its queue for seconds with nothing of their own arriving. None of that is a stall.
    script = Script(tokens=30, interval_s=0.1, capacity=2)
    with scripted_server(script) as server:
        engine = OpenAIEngine([server.url], "scripted", request_timeout_s=1.0, retry=RETRY, queue_read_period_s=0.1)
        t0 = time.monotonic()
        with SyncEngine(engine) as eng:
            results = eng.generate(requests(6, n=2))
            stats = eng.engine.endpoint_stats()[server.url]
        elapsed = time.monotonic() - t0
    assert elapsed > 3 * 1.0  # far longer than the timeout: a whole-request timeout would have fired
    assert set(server.received.values()) == {1} and len(server.received) == 6, server.received
    assert (stats["resent"], stats["stalls"], stats["failed"], stats["dead"]) == (0, 0, 0, None)
    for res in results:
        assert [c.text.split() for c in res.completions] == [[f"w{k}" for k in range(30)]] * 2
        assert res.completion_tokens == 60 and [c.completion_tokens for c in res.completions] == [30, 30]
        assert [c.finish_reason for c in res.completions] == ["length", "length"]
    assert stats["streamed"] == 6 * 2 * 30


def test_a_silent_server_is_given_up_once_after_the_timeout_naming_it() -> None:
    with scripted_server(Script(silent=True)) as server:
        engine = OpenAIEngine([server.url], "scripted", request_timeout_s=0.5, retry=RETRY)
        t0 = time.monotonic()
        with SyncEngine(engine) as eng, pytest.raises(InferenceError) as caught:
            eng.generate(requests(3))
        elapsed = time.monotonic() - t0
    message = str(caught.value)
    assert server.url in message and "nothing arrived for 0.5 s" in message and "request timeout" in message
    assert elapsed < 30  # the timeout and a retry's backoff, not the server's silence (it never ends)
    assert set(server.received.values()) == {1}  # a stalled server is not sent the same request again


def test_an_engine_failure_inside_the_stream_takes_the_worker_out() -> None:
    with scripted_server(Script(tokens=10, interval_s=0.01, error_after=3)) as server:
        with (
            SyncEngine(OpenAIEngine([server.url], "scripted", retry=RETRY)) as eng,
            pytest.raises(InferenceError) as caught,
        ):
            eng.generate(requests(2))
    assert "every worker is dead" in str(caught.value) and server.url in str(caught.value)


def test_the_limit_shrinks_to_what_the_server_runs() -> None:
    script = Script(tokens=8, interval_s=0.05, capacity=3)
    with scripted_server(script) as server:
        engine = OpenAIEngine([server.url], "scripted", max_concurrency=32, retry=RETRY, queue_read_period_s=0.1)
        with SyncEngine(engine) as eng:
            results = eng.generate(requests(60))
            stats = eng.engine.endpoint_stats()[server.url]
    assert all(r.ok for r in results) and set(server.received.values()) == {1}
    assert stats["peak_limit"] < 32  # slow start stopped when the server began to queue
    assert stats["limit"] <= 6, stats  # and it settled near the 3 the server runs at once


@pytest.mark.parametrize("reads_queue", [True, False], ids=["vllm-metrics", "answers-only"])
def test_the_limit_grows_to_the_ceiling_when_the_server_keeps_up(reads_queue: bool) -> None:
    # without a queue gauge (not a vLLM server), the answers themselves let the limit grow
    script = Script(tokens=8, interval_s=0.05, capacity=1_000, metrics=reads_queue)
    with scripted_server(script) as server:
        engine = OpenAIEngine([server.url], "scripted", max_concurrency=16, retry=RETRY, queue_read_period_s=0.05)
        with SyncEngine(engine) as eng:
            eng.generate(requests(120))
            stats = eng.engine.endpoint_stats()[server.url]
    # the client never has more than the ceiling in flight; the server may see one more for a moment, since a
    # handler thread finishes after its client has read the end of the stream and sent the next request
    assert stats["limit"] == 16 and stats["peak_inflight"] == 16 and server.peak_running >= 16


def test_queue_depth_reads_vllm_gauges() -> None:
    text = (
        "# HELP vllm:num_requests_waiting Number of requests waiting.\n"
        'vllm:num_requests_waiting{engine="0",model_name="m"} 3.0\n'
        'vllm:num_requests_waiting{engine="1",model_name="m"} 2.0\n'
        'vllm:num_requests_running{engine="0",model_name="m"} 64.0\n'
    )
    assert queue_depth(text) == 5
    assert queue_depth("# nothing here\nprocess_cpu_seconds_total 1.0\n") is None


# ---------------------------------------------------------------------- the policy


@given(
    ceiling=st.integers(1, 512),
    start=st.integers(1, 512),
    signals=st.lists(st.sampled_from(list(Signal)), max_size=60),
)
def test_the_limit_stays_between_one_and_the_ceiling(ceiling: int, start: int, signals: list[Signal]) -> None:
    state = LimitState(min(start, ceiling))
    for signal in signals:
        new = next_limit(state, signal, ceiling)
        assert 1 <= new.limit <= ceiling
        if signal in (Signal.KEEPING_UP, Signal.ANSWERED):
            assert new.limit >= state.limit
        else:
            assert new.limit <= state.limit and not new.slow_start
            assert new.limit < state.limit or state.limit == 1
        state = new


@given(ceiling=st.integers(1, 4096))
def test_slow_start_reaches_the_ceiling_in_logarithmic_steps(ceiling: int) -> None:
    state, steps = LimitState(1), 0
    while state.limit < ceiling:
        state = next_limit(state, Signal.KEEPING_UP, ceiling)
        steps += 1
    assert steps <= ceiling.bit_length()


@given(start=st.integers(1, 256), rounds=st.integers(1, 4))
def test_answers_double_the_limit_per_round_in_slow_start_and_add_one_after(start: int, rounds: int) -> None:
    ceiling = 1 << 20
    state = LimitState(start)
    for _ in range(rounds):  # one answer per request in flight: one round trip
        for _ in range(state.limit):
            state = next_limit(state, Signal.ANSWERED, ceiling)
        assert state.slow_start
    assert state.limit == start * 2**rounds
    state = next_limit(state, Signal.QUEUEING, ceiling)
    before = state.limit
    for _ in range(before):
        state = next_limit(state, Signal.ANSWERED, ceiling)
    assert state.limit == before + 1 and not state.slow_start


def test_the_gate_never_admits_more_than_the_limit_and_a_cancelled_waiter_leaks_nothing() -> None:
    async def scenario() -> tuple[int, int]:
        gate = AdaptiveLimit(8, initial=2)
        running = peak = 0

        async def work() -> None:
            nonlocal running, peak
            await gate.acquire()
            try:
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.01)
            finally:
                running -= 1
                gate.release()

        waiter = asyncio.ensure_future(work())
        tasks = [asyncio.ensure_future(work()) for _ in range(10)]
        waiter.cancel()
        await asyncio.gather(waiter, *tasks, return_exceptions=True)
        return peak, gate.active

    peak, active = asyncio.run(scenario())
    assert peak == 2 and active == 0
