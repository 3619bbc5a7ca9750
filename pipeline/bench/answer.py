"""Answer benchmark prompts through the engine: request cache, retries, per-endpoint concurrency, progress.

Every prompt is one request for `samples` answers. All requests are in flight at once (within the engine's
per-endpoint limit), so the server's batching stays full; progress is reported as each request finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pipeline.checks.registry import CheckResult
from pipeline.errors import InferenceError, UserInputError
from pipeline.llm.cache import RequestCache
from pipeline.llm.openai_engine import DEFAULT_REQUEST_TIMEOUT_S, OpenAIEngine
from pipeline.llm.records import ChatRequest, ChatResult, SamplingParams
from pipeline.llm.workers import WorkerOptions, local_workers
from pipeline.models import Record
from pipeline.verify.plan import JudgeFn, JudgeQuery

T = TypeVar("T")
Progress = Callable[[int], None]  # called with the number of requests that just finished


@dataclass(frozen=True)
class AnswerSettings:
    """How answers are sampled. `reasoning`: the model thinks first; its reasoning is stripped before checking."""

    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    samples: int = 1
    seed: int | None = None
    reasoning: bool = False

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise UserInputError(f"--samples must be >= 1, got {self.samples}")
        if self.max_tokens < 1:
            raise UserInputError(f"--max-tokens must be >= 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise UserInputError(f"--temperature must be within [0, 2], got {self.temperature}")
        if self.samples > 1 and self.temperature == 0.0:
            raise UserInputError(
                f"--samples {self.samples} with --temperature 0 gives {self.samples} identical answers; "
                "set a sampling temperature, e.g. --temperature 0.7"
            )

    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens)


@dataclass(frozen=True)
class EngineSettings:
    """Where and how requests go: endpoints, served model (None: the first one listed), cache, limits."""

    endpoints: tuple[str, ...]
    model: str | None = None
    cache_path: Path | None = None
    max_concurrency: int = 64
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S  # no progress at all for this long gives a request up


class Answer(Record):
    """One sampled answer to one suite item: a line of responses.jsonl."""

    id: str
    sample: int = 0
    response: str
    reasoning: str | None = None
    finish_reason: str | None = None
    failure: str | None = None  # the server rejected the request (e.g. prompt_too_long): nothing was answered
    completion_tokens: int = 0
    cached: bool = False


@dataclass(frozen=True)
class Generation:
    """The results of one generation pass, with what it cost."""

    results: list[ChatResult]
    model: str
    seconds: float

    @property
    def completion_tokens(self) -> int:
        return sum(r.completion_tokens for r in self.results)

    @property
    def cached(self) -> int:
        return sum(r.cached for r in self.results)

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.results)


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from blocking code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(make()))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    worker = threading.Thread(target=target, name="complexify-bench", daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return out[0]


async def _generate(
    engine: OpenAIEngine, requests: Sequence[ChatRequest], progress: Progress | None
) -> tuple[list[ChatResult], str]:
    model = await engine.model_name()

    async def one(req: ChatRequest) -> ChatResult:
        result = (await engine.agenerate([req]))[0]
        if progress is not None:
            progress(1)
        return result

    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
            tasks = [group.create_task(one(r)) for r in requests]
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None
    finally:
        await engine.aclose()
    return [t.result() for t in tasks], model


# What reading a malformed server response raises (JSON that is not JSON, a list where an object belongs, text
# where a number belongs, nesting too deep to parse): the engine passes these on as they are.
MALFORMED_RESPONSE = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError)


def malformed_response(endpoints: Sequence[str], exc: BaseException) -> InferenceError:
    """The one-line error for an endpoint whose answer is not an OpenAI-compatible response."""
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    detail = detail if len(detail) <= 200 else detail[:197] + "..."
    return InferenceError(
        f"endpoint {', '.join(endpoints)} sent a response that is not OpenAI-compatible JSON ({detail}); "
        "check that it is an OpenAI-compatible server (GET /v1/models, POST /v1/chat/completions)"
    )


def generate(
    prompts: Sequence[str], settings: AnswerSettings, engine: EngineSettings, *, progress: Progress | None = None
) -> Generation:
    """Ask for `settings.samples` answers to each prompt (one user turn each); results in prompt order.

    A server that answers with something other than an OpenAI-compatible response is an InferenceError
    naming it (exit 1), not a traceback."""
    requests = [
        ChatRequest.of(
            [{"role": "user", "content": p}], sampling=settings.sampling(), n=settings.samples, seed=settings.seed
        )
        for p in prompts
    ]
    cache = RequestCache(engine.cache_path) if engine.cache_path is not None else None
    start = time.monotonic()
    try:

        def make() -> Coroutine[Any, Any, tuple[list[ChatResult], str]]:
            eng = OpenAIEngine(
                engine.endpoints,
                engine.model,
                max_concurrency=engine.max_concurrency,
                request_timeout_s=engine.request_timeout_s,
                cache=cache,
            )
            return _generate(eng, requests, progress)

        results, model = run_coroutine(make)
    except MALFORMED_RESPONSE as exc:
        raise malformed_response(engine.endpoints, exc) from exc
    finally:
        if cache is not None:
            cache.close()
    return Generation(results=results, model=model, seconds=time.monotonic() - start)


def answers_of(ids: Sequence[str], generation: Generation, samples: int) -> list[Answer]:
    """One Answer per item and sample (a rejected request gives an empty, failed answer for each sample)."""
    out: list[Answer] = []
    for item_id, res in zip(ids, generation.results, strict=True):
        if not res.ok:
            out.extend(Answer(id=item_id, sample=k, response="", failure=res.failure) for k in range(samples))
            continue
        per = max(1, len(res.completions))
        for k, c in enumerate(res.completions):
            out.append(
                Answer(
                    id=item_id,
                    sample=k,
                    response=c.text,
                    reasoning=c.reasoning,
                    finish_reason=c.finish_reason,
                    completion_tokens=res.completion_tokens // per,
                    cached=res.cached,
                )
            )
    return out


@contextlib.contextmanager
def serve(
    endpoint: str | None,
    model: str | None,
    *,
    local: bool,
    max_model_len: int = 2048,
    log: Callable[[str], None] = print,
) -> Iterator[tuple[tuple[str, ...], str | None]]:
    """The endpoints and served model to use: the given endpoint, or one local worker for the block."""
    if local == (endpoint is not None):
        raise UserInputError("give exactly one of --endpoint URL or --local")
    if endpoint is not None:
        if not endpoint.startswith(("http://", "https://")):
            raise UserInputError(f"--endpoint {endpoint!r} is not a URL; give e.g. http://127.0.0.1:8000")
        yield (endpoint,), model
        return
    opts = WorkerOptions(model=model or "default", max_model_len=max_model_len)
    log(f"starting a local vLLM worker for {opts.model!r} (the first start takes about a minute)")
    with local_workers(1, opts) as records:
        yield (records[0].url,), records[0].served_name


def answers_bytes(answers: Sequence[Answer]) -> bytes:
    """responses.jsonl's content: one answer per line (the format `bench score --responses` reads)."""
    return "".join(a.model_dump_json() + "\n" for a in answers).encode()


def guarded_judge(judge: JudgeFn, endpoint: str) -> JudgeFn:
    """`judge`, with a malformed answer of its endpoint turned into an InferenceError naming it."""

    def ask(queries: Sequence[JudgeQuery]) -> Sequence[CheckResult]:
        try:
            return judge(queries)
        except MALFORMED_RESPONSE as exc:
            raise malformed_response([endpoint], exc) from exc

    return ask
