"""Async engine over OpenAI-compatible servers (vLLM workers): streaming, spreading, adaptive concurrency,
progress-based timeouts, retries, caching."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from pipeline.errors import InferenceError
from pipeline.llm.cache import RequestCache, request_key
from pipeline.llm.concurrency import AdaptiveLimit, Signal
from pipeline.llm.parsing import parse_choice, yes_no_from_choice
from pipeline.llm.records import ChatRequest, ChatResult, Completion, YesNo
from pipeline.llm.retry import Outcome, RetryPolicy, classify_exception, classify_status, rejection_reason

log = logging.getLogger(__name__)
T = TypeVar("T")

# vLLM caps top_logprobs at its --max-logprobs (20 by default); 20 leaves room for every YES/NO spelling.
JUDGE_TOP_LOGPROBS = 20
_JUDGE_PARAMS: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": JUDGE_TOP_LOGPROBS}


class RequestRejected(InferenceError):
    """The server refused one request as invalid (HTTP 400/413/422); `reason` is `prompt_too_long` or `invalid_request`."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# A failed model-name lookup (after all its retries) is the answer for this long: callers queued behind it
# fail at once instead of each retrying the lookup again.
MODEL_LOOKUP_FAILURE_TTL_S = 30.0
# A try is given up when nothing has arrived for this long, neither for it nor for any request on its endpoint.
DEFAULT_REQUEST_TIMEOUT_S = 120.0
# How often a busy endpoint's own queue is read (vLLM's /metrics) to steer its concurrency limit.
QUEUE_READ_PERIOD_S = 2.0


class _StreamError(Exception):
    """The server reported an error inside an answer stream that had started well."""


def _json_body(raw: bytes, where: str) -> Any:
    """Parse a JSON answer; a non-JSON or absurdly nested one is the endpoint's failure, named."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InferenceError(
            f"{where} answered with something that is not JSON ({str(exc)[:100]}): is it an OpenAI-compatible server?"
        ) from None


def normalize_endpoint(url: str) -> str:
    """'http://h:8000/v1/' -> 'http://h:8000'; the engine appends the API paths itself."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


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


class _Stalled(Exception):
    """Nothing arrived for this try, nor from its endpoint, for request_timeout_s."""


def split_tokens(total: int, n: int) -> list[int]:
    """A request's generated tokens shared over its n answers (the server reports only the total), summing to it."""
    share, extra = divmod(total, n)
    return [share + (k < extra) for k in range(n)]


class _StreamedChoices:
    """Chat-completion chunks of one streamed request, joined into the body a non-streamed request returns."""

    def __init__(self) -> None:
        self.content: dict[int, list[str]] = {}
        self.reasoning: dict[int, list[str]] = {}
        self.finish: dict[int, str | None] = {}
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> int:
        """Take one chunk; returns how many answer pieces it carried."""
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        pieces = 0
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index", 0))
            delta = choice.get("delta") or {}
            self.content.setdefault(index, [])
            if delta.get("content"):
                self.content[index].append(delta["content"])
                pieces += 1
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if thought:
                self.reasoning.setdefault(index, []).append(thought)
                pieces += 1
            if choice.get("finish_reason") is not None:
                self.finish[index] = choice["finish_reason"]
        return pieces

    def body(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self.content):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content[index])}
            if index in self.reasoning:
                message["reasoning_content"] = "".join(self.reasoning[index])
            choices.append({"index": index, "message": message, "finish_reason": self.finish.get(index)})
        if self.usage is None:  # a server without usage in its stream: count the pieces it sent
            pieces = sum(len(c) for c in self.content.values()) + sum(len(r) for r in self.reasoning.values())
            self.usage = {"prompt_tokens": 0, "completion_tokens": pieces}
        return {"choices": choices, "usage": self.usage}


def queue_depth(metrics_text: str) -> int | None:
    """Requests waiting in a vLLM server's own queue, from its Prometheus text; None if it does not say."""
    total, seen = 0.0, False
    for line in metrics_text.splitlines():
        if line.startswith("vllm:num_requests_waiting"):
            try:
                total += float(line.rsplit(None, 1)[1])
            except (IndexError, ValueError):
                continue
            seen = True
    return int(total) if seen else None


class OpenAIEngine:
    """Chat generation and YES/NO scoring over one model served by one or more OpenAI-compatible endpoints.

    Requests are spread over the endpoints (least loaded first). How many each endpoint gets at once is found
    while running (`AdaptiveLimit`: it grows while the server keeps up and shrinks when the server queues or
    refuses), up to `max_concurrency`. Answers are streamed, so a request that is making progress is never
    cancelled: a try is given up only when nothing has arrived for `request_timeout_s`, neither for it nor for
    any other request on its endpoint (a request waiting in the server's queue while others are answered is
    not stuck). An endpoint that stalls like that, or whose engine died, leaves the rotation; transient
    failures are retried with backoff, preferably on another endpoint. Answers go to the request cache as
    each request finishes, so a crash loses nothing done. Create and use it inside one event loop (see
    SyncEngine for blocking callers).
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        model: str | None = None,
        *,
        max_concurrency: int = 64,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        connect_timeout_s: float = 5.0,
        adaptive_concurrency: bool = True,
        queue_read_period_s: float = QUEUE_READ_PERIOD_S,
        retry: RetryPolicy | None = None,
        cache: RequestCache | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not endpoints:
            raise InferenceError("no model endpoints given")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if not request_timeout_s > 0:
            raise ValueError(f"request_timeout_s must be > 0, got {request_timeout_s}")
        self._urls = [normalize_endpoint(u) for u in endpoints]
        self._model = model
        self._max_concurrency = max_concurrency
        self._adaptive = adaptive_concurrency
        self._queue_read_period_s = queue_read_period_s
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._retry = retry or RetryPolicy()
        self.cache = cache
        self._api_key = api_key
        self._transport = transport  # tests plug in a fake here; real use goes over the network
        self._rng = random.Random()
        self._client: httpx.AsyncClient | None = None
        self._endpoints: list[_Endpoint] = []
        self._live: set[_Live] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._queue_reads: dict[str, asyncio.Task[None]] = {}  # endpoint -> its queue read in progress
        self._model_lock: asyncio.Lock | None = None
        self._model_failure: tuple[float, InferenceError] | None = None  # when the lookup last failed, and how
        self.started = time.monotonic()

    # ------------------------------------------------------------------ setup

    def _ensure_client(self) -> httpx.AsyncClient:
        """Create loop-bound objects lazily, inside the loop that uses them."""
        if self._client is None:
            limit = self._max_concurrency * len(self._urls) + 8
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
                _Endpoint(u, AdaptiveLimit(self._max_concurrency, adaptive=self._adaptive)) for u in self._urls
            ]
            self._model_lock = asyncio.Lock()
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

    async def model_name(self) -> str:
        """The served model name: as given, or the first model the first answering endpoint lists."""
        self._ensure_client()
        assert self._model_lock is not None
        async with self._model_lock:
            if self._model is None:
                failed = self._model_failure
                if failed is not None and time.monotonic() - failed[0] < MODEL_LOOKUP_FAILURE_TTL_S:
                    # Every caller waiting here would otherwise retry the whole lookup in turn, one after the
                    # other: with many requests queued that turns a dead endpoint into minutes of silence.
                    raise InferenceError(str(failed[1]))
                try:
                    data, url, _ = await self._call("GET", "/v1/models", None)
                except InferenceError as exc:
                    self._model_failure = (time.monotonic(), exc)
                    raise
                listed = data.get("data") if isinstance(data, dict) else None
                models = [m.get("id") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
                if not models or not models[0]:
                    raise InferenceError(f"{url}/v1/models lists no model: is it an OpenAI-compatible server?")
                self._model = str(models[0])
            return self._model

    @property
    def endpoints(self) -> list[str]:
        return list(self._urls)

    def endpoint_stats(self) -> dict[str, dict[str, Any]]:
        """Per endpoint: calls served, failed, rejected and resent, stalls, the concurrency limit, why it left (if it did)."""
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
                return resp.status_code, "", _json_body(raw, ep.url + path)
        except asyncio.CancelledError:
            if live.stalled and task.uncancel() == 0:  # the watchdog's cancel, and only it: a stall
                raise _Stalled() from None
            raise
        finally:
            self._live.discard(live)

    async def _read_events(self, resp: httpx.Response, live: _Live) -> dict[str, Any]:
        """Read a server-sent event stream of chat chunks to its end; every line counts as progress."""
        joined = _StreamedChoices()
        async for line in resp.aiter_lines():
            self._progress(live)
            if not line.startswith("data:"):
                continue
            payload = line[len("data:") :].strip()
            if payload == "[DONE]":
                break
            chunk = _json_body(payload.encode(), f"{live.endpoint.url} (stream)")
            if "error" in chunk:  # vLLM reports a failure that happens mid-answer inside the stream
                raise _StreamError(json.dumps(chunk["error"])[:500])
            live.endpoint.streamed += joined.add(chunk)
        return joined.body()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[dict[str, Any], str, float]:
        """One API call with retries; returns (json, endpoint url, seconds of the successful try)."""
        errors: list[str] = []
        for attempt in range(1, self._retry.max_attempts + 1):
            ep = self._pick()
            if ep is None:
                raise InferenceError(_dead_message(self._endpoints, self._request_timeout_s))
            if attempt > 1:
                ep.resent += 1
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
                if not isinstance(data, dict):
                    raise InferenceError(f"{ep.url}{path} answered with JSON that is not an object: is it an OpenAI-compatible server?")
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

    # ------------------------------------------------------------------ generation

    def _sample_keys(self, model: str, req: ChatRequest) -> list[str]:
        messages = [m.model_dump() for m in req.messages]
        params = req.sampling.model_dump(mode="json")
        return [
            request_key(kind="chat", model=model, messages=messages, params=params, seed=req.seed, index=i)
            for i in range(req.n)
        ]

    async def _generate_one(self, model: str, req: ChatRequest) -> ChatResult:
        keys = self._sample_keys(model, req)
        cached = self.cache.get_many(keys) if self.cache is not None else {}
        missing = [k for k in keys if k not in cached]
        if not missing:
            return ChatResult(completions=tuple(Completion(**cached[k]) for k in keys), cached=True)
        # vLLM rejects n>1 with greedy sampling; greedy samples are identical anyway, so ask once and copy.
        greedy = req.sampling.temperature == 0
        wire_n = 1 if greedy else len(missing)
        body: dict[str, Any] = {
            "model": model,
            "messages": [m.model_dump() for m in req.messages],
            "n": wire_n,
            **req.sampling.to_body(),
            # Streamed, so progress is visible while the answer is generated; usage comes in the last chunk.
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if req.seed is not None:
            body["seed"] = req.seed
        try:
            data, url, latency = await self._call("POST", "/v1/chat/completions", body)
        except RequestRejected as exc:
            log.warning("request rejected (%s): %s", exc.reason, str(exc)[:300])
            return ChatResult(completions=(), failure=exc.reason, error=str(exc))  # never cached: cheap to ask again
        choices = sorted(data.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != wire_n:
            raise InferenceError(f"{url} returned {len(choices)} choices for n={wire_n}")
        usage = data.get("usage") or {}
        shares = split_tokens(int(usage.get("completion_tokens") or 0), wire_n)
        parsed = [
            parse_choice(c).model_copy(update={"completion_tokens": t}) for c, t in zip(choices, shares, strict=True)
        ] * (len(missing) if greedy else 1)
        fresh = dict(zip(missing, parsed, strict=True))
        if self.cache is not None:
            self.cache.put_many((k, c.model_dump()) for k, c in fresh.items())
        completions = tuple(fresh[k] if k in fresh else Completion(**cached[k]) for k in keys)
        return ChatResult(
            completions=completions,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            endpoint=url,
            cached=False,
        )

    async def agenerate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """Answer every request (in order); all run concurrently within the per-endpoint limits.

        A request the server rejects as invalid comes back as a failed ChatResult (see `ChatResult.failure`);
        anything else that fails after retries (dead workers, timeouts) raises for the whole batch.
        """
        if not requests:
            return []
        model = await self.model_name()
        return await _gather_or_cancel([self._generate_one(model, r) for r in requests])

    # ------------------------------------------------------------------ judging

    async def _yes_no_one(self, model: str, messages: list[dict[str, str]]) -> YesNo:
        key = request_key(kind="yes_no", model=model, messages=messages, params=_JUDGE_PARAMS, seed=None, index=0)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return YesNo(**hit)
        body = {"model": model, "messages": messages, **_JUDGE_PARAMS}
        try:
            data, url, _ = await self._call("POST", "/v1/chat/completions", body)
        except RequestRejected as exc:
            log.warning("YES/NO question rejected (%s): %s", exc.reason, str(exc)[:300])
            return YesNo(logprob_yes=-math.inf, logprob_no=-math.inf, failure=exc.reason)
        choices = data.get("choices") or []
        if not choices:
            raise InferenceError(f"{url} returned no choices for a YES/NO question")
        answer = yes_no_from_choice(choices[0])
        if self.cache is not None:
            self.cache.put(key, answer.model_dump())
        return answer

    async def ayes_no(self, conversations: Sequence[Sequence[dict[str, str]]]) -> list[YesNo]:
        """log P(YES) and log P(NO) as the next answer token, per conversation (summed over spellings)."""
        if not conversations:
            return []
        model = await self.model_name()
        return await _gather_or_cancel([self._yes_no_one(model, [dict(m) for m in c]) for c in conversations])


async def _gather_or_cancel(coros: Sequence[Awaitable[T]]) -> list[T]:
    """Like gather, but on the first failure cancel the rest instead of leaving them running."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _dead_message(endpoints: Sequence[_Endpoint], request_timeout_s: float) -> str:
    parts = [f"{e.url} ({(e.dead or '')[:200]})" for e in endpoints]
    hint = (
        f"; an endpoint that is only slow needs a longer request timeout than {request_timeout_s:g} s "
        "(workers.request_timeout_s, --request-timeout)"
        if any(e.stalls for e in endpoints)
        else ""
    )
    return (
        f"every worker is dead, restart them (complexify workers down; complexify workers up): {'; '.join(parts)}{hint}"
    )
