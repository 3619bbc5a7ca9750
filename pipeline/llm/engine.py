"""The one engine interface every stage uses, and a blocking wrapper around the async HTTP engine."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from pipeline.llm.cache import CacheStats, RequestCache
from pipeline.llm.openai_engine import DEFAULT_REQUEST_TIMEOUT_S, OpenAIEngine
from pipeline.llm.records import ChatRequest, ChatResult, YesNo
from pipeline.llm.retry import RetryPolicy

T = TypeVar("T")
Messages = Sequence[dict[str, str]]


class SyncEngine:
    """Blocking facade over OpenAIEngine for callers that are not async (stages, Prefect tasks, the CLI).

    The async engine lives on a private event loop in a daemon thread, so this works from plain code and
    from inside someone else's running loop alike. Also satisfies the judge's `YesNoScorer` protocol.
    """

    def __init__(self, engine: OpenAIEngine) -> None:
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="complexify-llm", daemon=True)
        self._thread.start()
        self._closed = False
        self._lock = threading.Lock()  # taking a request and closing exclude each other

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._closed:
                coro.close()
                raise RuntimeError("engine is closed")
            fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result()
        except KeyboardInterrupt:
            fut.cancel()
            raise

    @property
    def model(self) -> str:
        return self._run(self.engine.model_name())

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        return self._run(self.engine.agenerate(requests))

    def chat(self, messages: Messages, **kwargs: Any) -> ChatResult:
        """One conversation; kwargs are ChatRequest fields (sampling, n, seed)."""
        return self.generate([ChatRequest.of(list(messages), **kwargs)])[0]

    def yes_no(self, conversations: Sequence[Messages]) -> list[YesNo]:
        return self._run(self.engine.ayes_no(conversations))

    def yes_no_logprobs(self, conversations: Sequence[Messages]) -> list[tuple[float, float]]:
        """The judge's YesNoScorer protocol (pipeline.verify.judge)."""
        return [(a.logprob_yes, a.logprob_no) for a in self.yes_no(conversations)]

    def cache_stats(self) -> CacheStats | None:
        return self.engine.cache.stats() if self.engine.cache is not None else None

    def close(self) -> None:
        """End what is still in flight (its callers get CancelledError), close the HTTP client, stop the loop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        if self.engine.cache is not None:
            self.engine.cache.close()

    async def _shutdown(self) -> None:
        # Another thread may still wait on a request (a batch retrying a dead endpoint while the run fails): on a
        # stopped loop its future would never resolve and that thread would wait forever.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.engine.aclose()

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_engine(
    endpoints: Sequence[str],
    model: str | None = None,
    *,
    cache_path: Path | str | None = None,
    max_concurrency: int = 64,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    adaptive_concurrency: bool = True,
    retry: RetryPolicy | None = None,
) -> SyncEngine:
    """A ready SyncEngine; `cache_path=None` disables the request cache (benchmarks), otherwise SQLite there.

    `max_concurrency` is the ceiling of requests in flight per endpoint (the engine finds the working limit
    below it unless `adaptive_concurrency` is off); `request_timeout_s` is how long a request may see no
    progress at all, its own or its endpoint's, before it is given up.
    """
    cache = RequestCache(cache_path) if cache_path is not None else None
    engine = OpenAIEngine(
        endpoints,
        model,
        max_concurrency=max_concurrency,
        request_timeout_s=request_timeout_s,
        adaptive_concurrency=adaptive_concurrency,
        retry=retry,
        cache=cache,
    )
    return SyncEngine(engine)
