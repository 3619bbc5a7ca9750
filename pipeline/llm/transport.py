"""The way to the model servers: endpoints, requests in flight, progress, retries.

`EndpointPool.call` sends one API call to the least-loaded live endpoint and retries elsewhere on transient
failures. Answers are streamed, so a request that is making progress is never cancelled: a try is given up
only when nothing has arrived for `request_timeout_s`, neither for it nor for any other request on its
endpoint (a request waiting in the server's queue while others are answered is not stuck). An endpoint that
stalls like that, or whose engine died, leaves the rotation. How many requests each endpoint gets at once is
found while running (`AdaptiveLimit`), up to `max_concurrency`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from pipeline.errors import InferenceError
from pipeline.llm.concurrency import AdaptiveLimit, Signal
from pipeline.llm.parsing import MalformedAnswer, StreamedChoices, json_body, queue_depth
from pipeline.llm.retry import Outcome, RetryPolicy, classify_exception, classify_status, rejection_reason

log = logging.getLogger(__name__)

# A try is given up when nothing has arrived for this long, neither for it nor for any request on its endpoint.
DEFAULT_REQUEST_TIMEOUT_S = 120.0
# How often a busy endpoint's own queue is read (vLLM's /metrics) to steer its concurrency limit.
QUEUE_READ_PERIOD_S = 2.0


# Tries beyond the first, counted for the caller that set a counter here (one request's task: see OpenAIEngine).
RESENT: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("complexify_resent", default=None)


class RequestRejected(InferenceError):
    """The server refused a request as invalid (HTTP 400/413/422); `reason`: `prompt_too_long` or `invalid_request`."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def normalize_endpoint(url: str) -> str:
    """'http://h:8000/v1/' -> 'http://h:8000'; the engine appends the API paths itself."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


class _StreamError(Exception):
    """The server reported an error inside an answer stream that had started well."""


class _Stalled(Exception):
    """Nothing arrived for this try, nor from its endpoint, for request_timeout_s."""


@dataclass(slots=True)
class _Endpoint:
    """Client-side view of one server: load, recent failures and progress, and whether it is out of rotation."""

    url: str
    gate: AdaptiveLimit
    inflight: int = 0  # assigned here, waiting or sent
    failures: int = 0
    cool_until: float = 0.0
    dead: str | None = None  # why it left the rotation: its engine died, or it stopped making progress
    served: int = 0  # successful calls
    failed: int = 0  # failed tries
    rejected: int = 0  # requests refused as invalid (the request's fault, not the endpoint's)
    resent: int = 0  # tries after the first, for any reason
    stalls: int = 0  # tries given up because nothing arrived for request_timeout_s
    peak_inflight: int = 0  # most requests sent and not yet answered at once
    last_progress: float = 0.0  # when a byte of any answer last arrived from it
    streamed: int = 0  # answer chunks received (about one token each): the live generation rate
    metrics: bool | None = None  # whether it reports vLLM's queue gauge (None: not asked yet)


@dataclass(slots=True, eq=False)
class _Live:
    """One try in flight, watched for progress."""

    task: asyncio.Task[Any]
    endpoint: _Endpoint
    last: float
    stalled: bool = False


class EndpointPool:
    """One model's endpoints as the engine sees them. Create and use it inside one event loop."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        max_concurrency: int = 64,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        connect_timeout_s: float = 5.0,
        adaptive_concurrency: bool = True,
        queue_read_period_s: float = QUEUE_READ_PERIOD_S,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not urls:
            raise InferenceError("no model endpoints given")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if not request_timeout_s > 0:
            raise ValueError(f"request_timeout_s must be > 0, got {request_timeout_s}")
        self.urls = [normalize_endpoint(u) for u in urls]
        self._max_concurrency = max_concurrency
        self._adaptive = adaptive_concurrency
        self._queue_read_period_s = queue_read_period_s
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._retry = retry or RetryPolicy()
        self._api_key = api_key
        self._transport = transport  # tests plug in a fake here; real use goes over the network
        self._rng = random.Random()
        self._client: httpx.AsyncClient | None = None
        self._endpoints: list[_Endpoint] = []
        self._live: set[_Live] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._queue_reads: dict[str, asyncio.Task[None]] = {}  # endpoint -> its queue read in progress

    def _ensure_client(self) -> httpx.AsyncClient:
        """Create loop-bound objects lazily, inside the loop that uses them."""
        if self._client is None:
            limit = self._max_concurrency * len(self.urls) + 8
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                # Reads have no timeout of their own: the watchdog gives up on a try only when nothing arrives
                # for it nor for its endpoint (a queued request may wait long while others are answered).
                timeout=httpx.Timeout(None, connect=self._connect_timeout_s, write=self._request_timeout_s),
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                headers=headers,
                transport=self._transport,
                trust_env=False,  # loopback workers must never be sent through an HTTP proxy from the environment
            )
            self._endpoints = [
                _Endpoint(u, AdaptiveLimit(self._max_concurrency, adaptive=self._adaptive)) for u in self.urls
            ]
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="complexify-llm-watchdog")
        return self._client

    async def aclose(self) -> None:
        watchers = [t for t in [self._watchdog, *self._queue_reads.values()] if t is not None]
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._watchdog = None
        self._queue_reads.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per endpoint: calls served, failed, rejected and resent, stalls, concurrency limit, why it left (if so)."""
        return {
            e.url: {
                "served": e.served,
                "failed": e.failed,
                "rejected": e.rejected,
                "resent": e.resent,
                "stalls": e.stalls,
                "active": e.gate.active,
                "limit": e.gate.limit,
                "peak_limit": e.gate.peak_limit,
                "peak_inflight": e.peak_inflight,
                "streamed": e.streamed,
                "dead": e.dead,
            }
            for e in self._endpoints
        }

    def streamed_pieces(self) -> int:
        """Answer chunks received so far over every endpoint (about one generated token each)."""
        return sum(e.streamed for e in self._endpoints)

    # ------------------------------------------------------------------ progress watch

    async def _watch(self) -> None:
        """Give up on tries with no progress, and read each busy endpoint's queue to steer its limit."""
        period = min(1.0, self._queue_read_period_s, max(0.05, self._request_timeout_s / 4))
        next_queue_read = 0.0
        reading = self._queue_reads
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for live in list(self._live):
                if live.stalled:
                    continue
                idle = now - max(live.last, live.endpoint.last_progress)
                if idle > self._request_timeout_s:
                    live.stalled = True
                    live.task.cancel()
            if self._adaptive and now >= next_queue_read:
                next_queue_read = now + self._queue_read_period_s
                for ep in self._endpoints:
                    busy = ep.dead is None and ep.gate.active and ep.metrics is not False
                    if busy and (ep.url not in reading or reading[ep.url].done()):
                        reading[ep.url] = asyncio.get_running_loop().create_task(self._read_queue(ep))

    async def _read_queue(self, ep: _Endpoint) -> None:
        client = self._ensure_client()
        try:
            resp = await asyncio.wait_for(client.get(ep.url + "/metrics"), timeout=max(1.0, self._queue_read_period_s))
        except (httpx.HTTPError, TimeoutError):
            return
        waiting = queue_depth(resp.text) if resp.status_code == 200 else None
        if waiting is None:
            ep.metrics = False  # not a vLLM server (or it hides its metrics): errors alone steer its limit
            return
        ep.metrics = True
        ep.gate.observe(Signal.QUEUEING if waiting > 0 else Signal.KEEPING_UP)

    def _progress(self, live: _Live) -> None:
        live.last = live.endpoint.last_progress = time.monotonic()

    # ------------------------------------------------------------------ transport

    def _pick(self) -> _Endpoint | None:
        """Least-loaded live endpoint, preferring ones not cooling down after a failure."""
        alive = [e for e in self._endpoints if e.dead is None]
        if not alive:
            return None
        now = time.monotonic()
        return min(alive, key=lambda e: (e.cool_until > now, e.inflight, e.failures))

    async def _try(self, ep: _Endpoint, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, str, Any]:
        """One HTTP try, watched for progress: (status, text for errors, parsed body when status is 2xx)."""
        client = self._ensure_client()
        task = asyncio.current_task()
        assert task is not None
        live = _Live(task, ep, time.monotonic())
        self._live.add(live)
        try:
            async with client.stream(method, ep.url + path, json=body) as resp:
                self._progress(live)
                if not 200 <= resp.status_code < 300:
                    return resp.status_code, (await resp.aread()).decode("utf-8", "replace"), None
                if resp.headers.get("content-type", "").startswith("text/event-stream"):
                    return resp.status_code, "", await self._read_events(resp, live)
                raw = await resp.aread()
                self._progress(live)
                return resp.status_code, "", json_body(raw, ep.url + path)
        except asyncio.CancelledError:
            if live.stalled and task.uncancel() == 0:  # the watchdog's cancel, and only it: a stall
                raise _Stalled() from None
            raise
        finally:
            self._live.discard(live)

    async def _read_events(self, resp: httpx.Response, live: _Live) -> dict[str, Any]:
        """Read a server-sent event stream of chat chunks to its end; every line counts as progress."""
        joined = StreamedChoices()
        # closed also when [DONE] ends the loop early (httpx's line iterator is an async generator)
        async with contextlib.aclosing(resp.aiter_lines()) as lines:  # type: ignore[type-var]
            async for line in lines:
                self._progress(live)
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    break
                chunk = json_body(payload.encode(), f"{live.endpoint.url} (stream)")
                if isinstance(chunk, dict) and "error" in chunk:  # vLLM reports a failure mid-answer in the stream
                    raise _StreamError(json.dumps(chunk["error"])[:500])
                live.endpoint.streamed += joined.add(chunk)
        return joined.body()

    async def call(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[dict[str, Any], str, float]:
        """One API call with retries; returns (json, endpoint url, seconds of the successful try)."""
        self._ensure_client()
        errors: list[str] = []
        for attempt in range(1, self._retry.max_attempts + 1):
            ep = self._pick()
            if ep is None:
                raise InferenceError(_dead_message(self._endpoints, self._request_timeout_s))
            if attempt > 1:
                ep.resent += 1
                counter = RESENT.get()
                if counter is not None:
                    counter[0] += 1
            ep.inflight += 1
            resp_status, text, data = 0, "", None
            try:
                await ep.gate.acquire()
                ep.peak_inflight = max(ep.peak_inflight, ep.gate.active)
                t0 = time.monotonic()
                try:
                    resp_status, text, data = await self._try(ep, method, path, body)
                    outcome = classify_status(resp_status, text)
                    detail = f"HTTP {resp_status}: {text[:500]}"
                except _Stalled:
                    outcome = Outcome.DEAD
                    ep.stalls += 1
                    detail = f"nothing arrived for {self._request_timeout_s:g} s (request timeout)"
                except _StreamError as exc:
                    outcome = classify_status(500, str(exc))
                    detail = f"error in the answer stream: {exc}"
                except MalformedAnswer as exc:
                    raise InferenceError(
                        f"{ep.url}{path} sent an answer stream with {exc}: is it an OpenAI-compatible server?"
                    ) from None
                except (httpx.HTTPError, TimeoutError) as exc:
                    outcome = classify_exception(exc)
                    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                finally:
                    ep.gate.release()
                latency = time.monotonic() - t0
            finally:
                ep.inflight -= 1
            if outcome is Outcome.OK:
                ep.failures = 0
                ep.served += 1
                ep.gate.observe(Signal.ANSWERED)
                if not isinstance(data, dict):
                    raise InferenceError(
                        f"{ep.url}{path} answered with JSON that is not an object: is it an OpenAI-compatible server?"
                    )
                return data, ep.url, latency
            if outcome is Outcome.INVALID:
                # The same request fails the same way everywhere: no retry, and the endpoint is fine.
                ep.rejected += 1
                raise RequestRejected(
                    f"{ep.url}{path} rejected the request: {detail}", rejection_reason(resp_status, text)
                )
            ep.failed += 1
            errors.append(f"{ep.url}: {detail}")
            if outcome is Outcome.FATAL:
                raise InferenceError(f"{ep.url}{path} rejected the request: {detail}")
            if outcome is Outcome.DEAD:
                if ep.dead is None:
                    ep.dead = detail
                    log.error("worker %s is out of rotation (%s)", ep.url, detail[:200])
            else:
                ep.failures += 1
                ep.cool_until = time.monotonic() + self._retry.delay_s(ep.failures, self._rng)
                ep.gate.observe(Signal.OVERLOADED)
            if not self._retry.should_retry(outcome, attempt):
                break
            if outcome is Outcome.RETRY:  # a dead worker needs no backoff: another endpoint may serve it now
                log.warning("retrying %s%s after try %d failed: %s", ep.url, path, attempt, errors[-1][:200])
                await asyncio.sleep(self._retry.delay_s(attempt, self._rng))
        if all(e.dead for e in self._endpoints):
            raise InferenceError(_dead_message(self._endpoints, self._request_timeout_s))
        tried = sorted({e.split(": ", 1)[0] for e in errors})
        raise InferenceError(
            f"{path} failed after {len(errors)} tries on {', '.join(tried)}; last error: {errors[-1]}"
        )


def _dead_message(endpoints: Sequence[_Endpoint], request_timeout_s: float) -> str:
    parts = [f"{e.url} ({(e.dead or '')[:200]})" for e in endpoints]
    hint = (
        f"; an endpoint that is only slow needs a longer request timeout than {request_timeout_s:g} s "
        "(workers.request_timeout_s, --request-timeout)"
        if any(e.stalls for e in endpoints)
        else ""
    )
    return (
        "every worker is dead, restart them (complexify workers down; complexify workers up): "
        f"{'; '.join(parts)}{hint}"
    )
