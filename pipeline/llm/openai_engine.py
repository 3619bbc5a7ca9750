"""Async engine over OpenAI-compatible servers (vLLM workers): batching, spreading, retries, caching."""

from __future__ import annotations

import asyncio
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


def normalize_endpoint(url: str) -> str:
    """'http://h:8000/v1/' -> 'http://h:8000'; the engine appends the API paths itself."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


@dataclass(slots=True)
class _Endpoint:
    """Client-side view of one server: load, recent failures, and whether its engine died."""

    url: str
    sem: asyncio.Semaphore
    inflight: int = 0  # assigned here, waiting or sent
    active: int = 0  # sent and not yet answered (bounded by the semaphore)
    failures: int = 0
    cool_until: float = 0.0
    dead: str | None = None
    served: int = 0  # successful calls
    failed: int = 0  # failed tries
    rejected: int = 0  # requests refused as invalid (the request's fault, not the endpoint's)
    peak_inflight: int = 0


def split_tokens(total: int, n: int) -> list[int]:
    """A request's generated tokens shared over its n answers (the server reports only the total), summing to it."""
    share, extra = divmod(total, n)
    return [share + (k < extra) for k in range(n)]


class OpenAIEngine:
    """Chat generation and YES/NO scoring over one model served by one or more OpenAI-compatible endpoints.

    Requests are spread over the endpoints (least loaded first) with at most `max_concurrency` in flight
    per endpoint, so vLLM's continuous batching stays full without queueing unboundedly. Transient failures
    are retried with backoff, preferably on another endpoint; a worker whose engine died is taken out of
    rotation. Answers go to the request cache as each request finishes, so a crash loses nothing done.
    Create and use it inside one event loop (see SyncEngine for blocking callers).
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        model: str | None = None,
        *,
        max_concurrency: int = 64,
        request_timeout_s: float = 300.0,
        connect_timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
        cache: RequestCache | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not endpoints:
            raise InferenceError("no model endpoints given")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self._urls = [normalize_endpoint(u) for u in endpoints]
        self._model = model
        self._max_concurrency = max_concurrency
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._retry = retry or RetryPolicy()
        self.cache = cache
        self._api_key = api_key
        self._transport = transport  # tests plug in a fake here; real use goes over the network
        self._rng = random.Random()
        self._client: httpx.AsyncClient | None = None
        self._endpoints: list[_Endpoint] = []
        self._model_lock: asyncio.Lock | None = None
        self._model_failure: tuple[float, InferenceError] | None = None  # when the lookup last failed, and how

    # ------------------------------------------------------------------ setup

    def _ensure_client(self) -> httpx.AsyncClient:
        """Create loop-bound objects lazily, inside the loop that uses them."""
        if self._client is None:
            limit = self._max_concurrency * len(self._urls) + 8
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._request_timeout_s, connect=self._connect_timeout_s),
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                headers=headers,
                transport=self._transport,
                trust_env=False,  # loopback workers must never be sent through an HTTP proxy from the environment
            )
            self._endpoints = [_Endpoint(u, asyncio.Semaphore(self._max_concurrency)) for u in self._urls]
            self._model_lock = asyncio.Lock()
        return self._client

    async def aclose(self) -> None:
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
                    data, _, _ = await self._call("GET", "/v1/models", None)
                except InferenceError as exc:
                    self._model_failure = (time.monotonic(), exc)
                    raise
                models = [m.get("id") for m in data.get("data", [])]
                if not models or not models[0]:
                    raise InferenceError(f"endpoints {', '.join(self._urls)} serve no model")
                self._model = str(models[0])
            return self._model

    @property
    def endpoints(self) -> list[str]:
        return list(self._urls)

    def endpoint_stats(self) -> dict[str, dict[str, Any]]:
        """Per endpoint: successful calls, failed tries, rejected requests, peak in flight, why it is dead (if it is)."""
        return {
            e.url: {
                "served": e.served,
                "failed": e.failed,
                "rejected": e.rejected,
                "active": e.active,
                "peak_inflight": e.peak_inflight,
                "dead": e.dead,
            }
            for e in self._endpoints
        }

    # ------------------------------------------------------------------ transport

    def _pick(self) -> _Endpoint | None:
        """Least-loaded live endpoint, preferring ones not cooling down after a failure."""
        alive = [e for e in self._endpoints if e.dead is None]
        if not alive:
            return None
        now = time.monotonic()
        return min(alive, key=lambda e: (e.cool_until > now, e.inflight, e.failures))

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[dict[str, Any], str, float]:
        """One API call with retries; returns (json, endpoint url, seconds of the successful try)."""
        client = self._ensure_client()
        errors: list[str] = []
        for attempt in range(1, self._retry.max_attempts + 1):
            ep = self._pick()
            if ep is None:
                raise InferenceError(_dead_message(self._endpoints))
            ep.inflight += 1
            try:
                async with ep.sem:
                    ep.active += 1
                    ep.peak_inflight = max(ep.peak_inflight, ep.active)
                    t0 = time.monotonic()
                    try:
                        # httpx timeouts are per socket operation; this bounds the whole request.
                        async with asyncio.timeout(self._request_timeout_s):
                            resp = await client.request(method, ep.url + path, json=body)
                        outcome = classify_status(resp.status_code, resp.text)
                        detail = f"HTTP {resp.status_code}: {resp.text[:500]}"
                    except (httpx.HTTPError, TimeoutError) as exc:
                        outcome = classify_exception(exc)
                        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    finally:
                        ep.active -= 1
                    latency = time.monotonic() - t0
            finally:
                ep.inflight -= 1
            if outcome is Outcome.OK:
                ep.failures = 0
                ep.served += 1
                return resp.json(), ep.url, latency
            if outcome is Outcome.INVALID:
                # The same request fails the same way everywhere: no retry, and the endpoint is fine.
                ep.rejected += 1
                raise RequestRejected(
                    f"{ep.url}{path} rejected the request: {detail}", rejection_reason(resp.status_code, resp.text)
                )
            ep.failed += 1
            errors.append(f"{ep.url}: {detail}")
            if outcome is Outcome.FATAL:
                raise InferenceError(f"{ep.url}{path} rejected the request: {detail}")
            if outcome is Outcome.DEAD:
                ep.dead = detail
                log.error("worker %s is dead (%s); taking it out of rotation", ep.url, detail[:200])
            else:
                ep.failures += 1
                ep.cool_until = time.monotonic() + self._retry.delay_s(ep.failures, self._rng)
            if not self._retry.should_retry(outcome, attempt):
                break
            if outcome is Outcome.RETRY:  # a dead worker needs no backoff: another endpoint may serve it now
                log.warning("retrying %s after try %d failed: %s", path, attempt, errors[-1][:200])
                await asyncio.sleep(self._retry.delay_s(attempt, self._rng))
        if all(e.dead for e in self._endpoints):
            raise InferenceError(_dead_message(self._endpoints))
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


def _dead_message(endpoints: Sequence[_Endpoint]) -> str:
    parts = [f"{e.url} ({(e.dead or '')[:200]})" for e in endpoints]
    return f"every worker is dead, restart them (complexify workers down; complexify workers up): {'; '.join(parts)}"
