"""Retry decisions for HTTP calls to model servers: what to retry, what is fatal, how long to wait.

The run's only retry policy (README, "Talking to the models"): the engine tries a request again on transient
failures; nothing above it (a batch, a Prefect task) retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

import httpx


class Outcome(StrEnum):
    """What one failed (or successful) call means for the request and for the endpoint."""

    OK = "ok"
    RETRY = "retry"  # transient: connection refused/reset, 5xx, timeouts, overload
    DEAD = "dead"  # the worker's engine died: it answers, but never usefully again until restarted
    INVALID = "invalid"  # the server rejected this one request (400/413/422): a failure of that item only
    FATAL = "fatal"  # the call cannot work at all (other 4xx, bad URL): retrying cannot help


# vLLM answers every request with HTTP 500 naming this error once its engine process has died.
_DEAD_MARKERS = ("EngineDeadError", "Engine loop is not running", "EngineCore encountered an issue")
# Statuses for "this request is wrong" (bad or too large input), as opposed to a wrong endpoint or key.
_INVALID_STATUSES = (400, 413, 422)

# Reasons a rejected request is recorded with.
PROMPT_TOO_LONG = "prompt_too_long"
INVALID_REQUEST = "invalid_request"
# How vLLM (and OpenAI-compatible servers) word "the prompt does not fit the context", lower-cased.
_TOO_LONG_MARKERS = (
    "maximum context length",
    "maximum model length",
    "context length",
    "context window",
    "prompt is too long",
    "too many tokens",
    "input tokens",
)


def classify_status(status: int, body: str) -> Outcome:
    """Classify an HTTP answer by status and body."""
    if 200 <= status < 300:
        return Outcome.OK
    if any(marker in body for marker in _DEAD_MARKERS):
        return Outcome.DEAD
    if status >= 500 or status in (408, 409, 429):
        return Outcome.RETRY
    if status in _INVALID_STATUSES:
        return Outcome.INVALID
    return Outcome.FATAL


def rejection_reason(status: int, body: str) -> str:
    """Why the server rejected a request: `prompt_too_long` when the context is exceeded, else `invalid_request`."""
    text = body.lower()
    if status == 413 or any(marker in text for marker in _TOO_LONG_MARKERS):
        return PROMPT_TOO_LONG
    return INVALID_REQUEST


def classify_exception(exc: BaseException) -> Outcome:
    """Transport problems and timeouts are transient; a malformed URL is not."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return Outcome.FATAL
    if isinstance(exc, httpx.TransportError | TimeoutError):
        return Outcome.RETRY
    return Outcome.FATAL


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; `max_attempts` counts the first try."""

    max_attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")

    def should_retry(self, outcome: Outcome, attempt: int) -> bool:
        """`attempt` is 1 for the first try; dead workers are retried only elsewhere (the caller decides)."""
        return outcome in (Outcome.RETRY, Outcome.DEAD) and attempt < self.max_attempts

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based), with +-jitter so clients do not sync up."""
        base = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))
