"""Chat generation and YES/NO scoring over OpenAI-compatible servers (vLLM workers), with a request cache.

How requests travel (streaming, spreading over endpoints, adaptive concurrency, progress-based timeouts,
retries) is `pipeline.llm.transport`; this module decides what to ask and reads the answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import httpx

from pipeline.errors import InferenceError
from pipeline.llm.cache import RequestCache, request_key
from pipeline.llm.parsing import MalformedAnswer, read_chat, read_yes_no
from pipeline.llm.records import ChatRequest, ChatResult, Completion, YesNo
from pipeline.llm.retry import RetryPolicy
from pipeline.llm.transport import (
    DEFAULT_REQUEST_TIMEOUT_S,
    QUEUE_READ_PERIOD_S,
    RESENT,
    EndpointPool,
    RequestRejected,
    normalize_endpoint,
)

__all__ = ["DEFAULT_REQUEST_TIMEOUT_S", "OpenAIEngine", "RequestRejected", "normalize_endpoint", "split_tokens"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# vLLM caps top_logprobs at its --max-logprobs (20 by default); 20 leaves room for every YES/NO spelling.
JUDGE_TOP_LOGPROBS = 20
_JUDGE_PARAMS: dict[str, Any] = {
    "max_tokens": 1,
    "temperature": 0.0,
    "logprobs": True,
    "top_logprobs": JUDGE_TOP_LOGPROBS,
}
# A failed model-name lookup (after all its retries) is the answer for this long: callers queued behind it
# fail at once instead of each retrying the lookup again.
MODEL_LOOKUP_FAILURE_TTL_S = 30.0


def split_tokens(total: int, n: int) -> list[int]:
    """A request's generated tokens shared over its n answers (the server reports only the total), summing to it."""
    share, extra = divmod(total, n)
    return [share + (k < extra) for k in range(n)]


class OpenAIEngine:
    """Chat generation and YES/NO scoring over one model served by one or more OpenAI-compatible endpoints.

    Requests go through an `EndpointPool` (see pipeline.llm.transport for timeouts, retries and concurrency).
    Answers go to the request cache as each request finishes, so a crash loses nothing done, and a rerun asks
    only for what the cache lacks. Create and use it inside one event loop (see SyncEngine for blocking callers).
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
        self._pool = EndpointPool(
            endpoints,
            max_concurrency=max_concurrency,
            request_timeout_s=request_timeout_s,
            connect_timeout_s=connect_timeout_s,
            adaptive_concurrency=adaptive_concurrency,
            queue_read_period_s=queue_read_period_s,
            retry=retry,
            api_key=api_key,
            transport=transport,
        )
        self._model = model
        self.cache = cache
        self._model_lock: asyncio.Lock | None = None
        self._model_failure: tuple[float, InferenceError] | None = None  # when the lookup last failed, and how

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def model_name(self) -> str:
        """The served model name: as given, or the first model the first answering endpoint lists."""
        if self._model_lock is None:
            self._model_lock = asyncio.Lock()
        async with self._model_lock:
            if self._model is None:
                failed = self._model_failure
                if failed is not None and time.monotonic() - failed[0] < MODEL_LOOKUP_FAILURE_TTL_S:
                    # Every caller waiting here would otherwise retry the whole lookup in turn, one after the
                    # other: with many requests queued that turns a dead endpoint into minutes of silence.
                    raise InferenceError(str(failed[1]))
                try:
                    data, url, _ = await self._pool.call("GET", "/v1/models", None)
                except InferenceError as exc:
                    self._model_failure = (time.monotonic(), exc)
                    raise
                listed = data.get("data")
                models = [m.get("id") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
                if not models or not models[0]:
                    raise InferenceError(f"{url}/v1/models lists no model: is it an OpenAI-compatible server?")
                self._model = str(models[0])
            return self._model

    @property
    def endpoints(self) -> list[str]:
        return list(self._pool.urls)

    def endpoint_stats(self) -> dict[str, dict[str, Any]]:
        """Per endpoint: calls served, failed, rejected and resent, stalls, concurrency limit, why it left (if so)."""
        return self._pool.stats()

    def streamed_pieces(self) -> int:
        """Answer chunks received so far over every endpoint (about one generated token each)."""
        return self._pool.streamed_pieces()

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
        resent = [0]
        RESENT.set(resent)  # this request's own task: the pool counts its tries beyond the first here
        try:
            data, url, latency = await self._pool.call("POST", "/v1/chat/completions", body)
        except RequestRejected as exc:
            log.warning("request rejected (%s): %s", exc.reason, str(exc)[:300])
            # never cached: cheap to ask again
            return ChatResult(completions=(), failure=exc.reason, error=str(exc), retries=resent[0])
        try:
            answers, prompt_tokens, completion_tokens = read_chat(data, wire_n)
        except MalformedAnswer as exc:
            raise InferenceError(
                f"{url}/v1/chat/completions answered {exc}: is it an OpenAI-compatible server?"
            ) from None
        shares = zip(split_tokens(completion_tokens, wire_n), split_tokens(prompt_tokens, wire_n), strict=True)
        parsed = [
            c.model_copy(update={"completion_tokens": t, "prompt_tokens": p})
            for c, (t, p) in zip(answers, shares, strict=True)
        ] * (len(missing) if greedy else 1)
        fresh = dict(zip(missing, parsed, strict=True))
        if self.cache is not None:
            self.cache.put_many((k, c.model_dump()) for k, c in fresh.items())
        completions = tuple(fresh[k] if k in fresh else Completion(**cached[k]) for k in keys)
        return ChatResult(
            completions=completions,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency,
            endpoint=url,
            cached=False,
            retries=resent[0],
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
                return YesNo(**hit).model_copy(update={"cached": True})
        body = {"model": model, "messages": messages, **_JUDGE_PARAMS}
        resent = [0]
        RESENT.set(resent)  # this question's own task: the pool counts its tries beyond the first here
        try:
            data, url, _ = await self._pool.call("POST", "/v1/chat/completions", body)
        except RequestRejected as exc:
            log.warning("YES/NO question rejected (%s): %s", exc.reason, str(exc)[:300])
            return YesNo(logprob_yes=-math.inf, logprob_no=-math.inf, failure=exc.reason, retries=resent[0])
        try:
            answer = read_yes_no(data)
        except MalformedAnswer as exc:
            raise InferenceError(
                f"{url}/v1/chat/completions answered a YES/NO question {exc}: is it an OpenAI-compatible server?"
            ) from None
        usage = data.get("usage")
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        answer = answer.model_copy(update={"prompt_tokens": prompt if isinstance(prompt, int) else 0})
        if self.cache is not None:
            self.cache.put(key, answer.model_dump(exclude={"cached", "retries"}))
        return answer.model_copy(update={"retries": resent[0]})

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
