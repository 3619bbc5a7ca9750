"""Counting what each stage's requests cost while a batch is processed: the batch's token ledger.

Each instruction of a batch is processed on a thread of its own under a `Meter` (`metering`); the stages name
themselves (`stage`), and the batch's chat function and judge are wrapped (`metered_models`) so that every request
adds to the meter of the instruction it serves, under the stage that asked and the role whose model answered.
The counts come from the answers themselves (their recorded prompt and generated tokens, a refusal's reason), so
the same instruction costs the same whether its answers are generated now or replayed from the request cache; the
engine adds how they were obtained (`note_engine`: cache hits, retries). The batch's meters are summed into its
manifest (pipeline/store/usage.py sums a run's).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, ParamSpec, Protocol, TypeVar

from pipeline.models import FAILED_PREFIX, Response
from pipeline.run.config import RoleConfig
from pipeline.store.manifest import UsageRow
from pipeline.store.usage import sum_rows

Key = tuple[str, str, str]  # stage, role, model
P = ParamSpec("P")
T = TypeVar("T")
Item = TypeVar("Item")
Chat = Callable[[Sequence[list[dict[str, str]]], RoleConfig, int], list[list[Response]]]


class _Models(Protocol):
    """What metering needs of a run's models (pipeline/run/stages.py `Models`)."""

    @property
    def chat(self) -> Chat: ...

    @property
    def judge(self) -> Any: ...


M = TypeVar("M", bound=_Models)


class Meter:
    """Counts per stage, role and model (see UsageRow); safe to add to from several threads."""

    def __init__(self) -> None:
        self._counts: dict[Key, Counter[str]] = {}
        self._lock = threading.Lock()

    def add(self, key: Key, **counts: int) -> None:
        with self._lock:
            self._counts.setdefault(key, Counter()).update(counts)

    def rows(self) -> tuple[UsageRow, ...]:
        with self._lock:
            items = [(k, dict(c)) for k, c in self._counts.items()]
        return sum_rows(UsageRow(stage=s, role=r, model=m, **c) for (s, r, m), c in items)


_METER: ContextVar[Meter | None] = ContextVar("complexify_meter", default=None)
_STAGE: ContextVar[tuple[str, str]] = ContextVar("complexify_stage", default=("other", "other"))
_CALL: ContextVar[Key | None] = ContextVar("complexify_call", default=None)  # the chat call in progress


@contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Count the requests made in this block (on this thread) into `meter`."""
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


@contextmanager
def stage(name: str, role: str | None = None) -> Iterator[None]:
    """Requests made in this block belong to stage `name`; chat requests to `role` (default: the enclosing one)."""
    token = _STAGE.set((name, role or _STAGE.get()[1]))
    try:
        yield
    finally:
        _STAGE.reset(token)


def in_stage(name: str, role: str | None = None) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A stage function whose requests belong to stage `name` (see `stage`)."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def staged(*args: P.args, **kwargs: P.kwargs) -> T:
            with stage(name, role):
                return fn(*args, **kwargs)

        return staged

    return wrap


def note_engine(*, cached: int = 0, retries: int = 0) -> None:
    """How the answers of the chat call in progress were obtained (called by the engine's chat function)."""
    meter, key = _METER.get(), _CALL.get()
    if meter is not None and key is not None:
        meter.add(key, cached=cached, retries=retries)


def _chat_counts(answers: Sequence[Sequence[Response]]) -> dict[str, int]:
    failures = sum(1 for rs in answers if rs and rs[0].finish_reason.startswith(FAILED_PREFIX))
    prompt = sum(r.prompt_tokens for rs in answers for r in rs)
    generated = sum(r.completion_tokens for rs in answers for r in rs)
    return {"requests": len(answers), "prompt_tokens": prompt, "generated_tokens": generated, "failures": failures}


def metered_chat(chat: Chat) -> Chat:
    """`chat`, counting every call into the current meter under the current stage and role."""

    def counted(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        meter = _METER.get()
        if meter is None:
            return chat(conversations, role, n)
        name, role_name = _STAGE.get()
        key = (name, role_name, role.model)
        token = _CALL.set(key)
        try:
            answers = chat(conversations, role, n)
        finally:
            _CALL.reset(token)
        meter.add(key, **_chat_counts(answers))
        return answers

    return counted


class _MeteredScorer:
    """A judge's YES/NO scorer, counting its questions as role `judge`: with an engine behind it (`yes_no`), each
    answer's recorded prompt tokens, its one generated token, refusals, cache hits and retries; with any other
    scorer, the questions and the refused ones (scored -inf both ways)."""

    def __init__(self, scorer: Any, model: str) -> None:
        self._scorer, self._model = scorer, model

    def yes_no_logprobs(self, conversations: Sequence[Sequence[dict[str, str]]]) -> list[tuple[float, float]]:
        meter = _METER.get()
        if meter is None:
            return list(self._scorer.yes_no_logprobs(conversations))
        key = (_STAGE.get()[0], "judge", self._model)
        if not hasattr(self._scorer, "yes_no"):
            scores: list[tuple[float, float]] = self._scorer.yes_no_logprobs(conversations)
            failed = sum(1 for y, n in scores if y == float("-inf") and n == float("-inf"))
            meter.add(key, requests=len(conversations), failures=failed)
            return scores
        answers = self._scorer.yes_no(conversations)
        meter.add(
            key,
            requests=len(answers),
            prompt_tokens=sum(a.prompt_tokens for a in answers),
            generated_tokens=sum(a.failure is None for a in answers),  # one token: YES or NO
            failures=sum(a.failure is not None for a in answers),
            cached=sum(a.cached for a in answers),
            retries=sum(a.retries for a in answers),
        )
        return [(a.logprob_yes, a.logprob_no) for a in answers]

    def __getattr__(self, name: str) -> Any:  # anything else the judge's code asks of its scorer
        return getattr(self._scorer, name)


def metered_scorer(scorer: Any, model: str) -> Any:
    """A judge's scorer counting its questions into the current meter, as role `judge` of model `model`."""
    return _MeteredScorer(scorer, model)


def metered_models(models: M, judge_model: str) -> M:
    """The batch's models (pipeline/run/stages.py `Models`) with their chat function and judge counting into the
    current meter."""
    judge = models.judge
    if judge is not None:
        judge = copy.copy(judge)
        judge.scorer = metered_scorer(judge.scorer, judge_model)
    return replace(models, chat=metered_chat(models.chat), judge=judge)  # type: ignore[type-var]


def each_metered(
    map_fn: Callable[[Callable[[Item], tuple[T, tuple[UsageRow, ...]]], Iterable[Item]], Iterator[Any]],
    fn: Callable[[Item], T],
    items: Iterable[Item],
) -> tuple[list[T], tuple[UsageRow, ...]]:
    """`fn` over `items` through `map_fn` (a pool's map), each call under a meter of its own; the results in order
    and the ledger rows they cost, summed."""

    def one(item: Item) -> tuple[T, tuple[UsageRow, ...]]:
        with metering(Meter()) as meter:
            out = fn(item)
        return out, meter.rows()

    done = list(map_fn(one, items))
    return [out for out, _ in done], sum_rows(row for _, rows in done for row in rows)
