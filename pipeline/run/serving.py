"""The models a run talks to: local vLLM workers started for it, or endpoints, behind one chat function."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

from pipeline.llm.engine import SyncEngine, open_engine
from pipeline.llm.paths import default_cache_db
from pipeline.llm.records import ChatRequest, SamplingParams
from pipeline.llm.workers import WorkerOptions, local_workers, prestart_workers
from pipeline.models import Response
from pipeline.run.config import DEFAULT_MODEL, ConfigError, RoleConfig, RunConfig
from pipeline.run.identity import role_models
from pipeline.run.stages import FAILED_PREFIX, ChatFn, Messages, Models
from pipeline.run.usage import note_engine
from pipeline.verify.judge import LLMJudge


def engine_chat_fn(engines: dict[str, SyncEngine]) -> ChatFn:
    """Adapt SyncEngines (one per configured model name) to the stages' ChatFn."""

    def chat(conversations: Sequence[Messages], role: RoleConfig, n: int) -> list[list[Response]]:
        engine = engines[role.model]
        s = role.sampling
        params = SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens)
        results = engine.generate([ChatRequest.of(list(conv), sampling=params, n=n) for conv in conversations])
        note_engine(cached=sum(r.cached for r in results), retries=sum(r.retries for r in results))
        name = engine.model
        out = []
        for res in results:
            if res.failure is not None:  # this request only: its instruction becomes a reject with the reason
                out.append([Response(text="", finish_reason=f"{FAILED_PREFIX}{res.failure}", model=name)])
                continue
            per = max(1, len(res.completions))
            out.append(
                [
                    Response(
                        text=c.text,
                        reasoning=c.reasoning,
                        finish_reason=c.finish_reason or "stop",
                        model=name,
                        # recorded with the answer too (answers cached before that: the request's share now)
                        prompt_tokens=c.prompt_tokens or res.prompt_tokens // per,
                        completion_tokens=c.completion_tokens,  # recorded with the answer: replays count too
                        latency_s=res.latency_s,
                        candidate=k,
                    )
                    for k, c in enumerate(res.completions)
                ]
            )
        return out

    return chat


def model_routes(cfg: RunConfig, wanted: dict[str, str]) -> dict[str, list[str]]:
    """The endpoints of each role's model: its own (workers.model_endpoints) or the shared ones (workers.endpoints)."""
    w = cfg.workers
    routes = {m: list(w.model_endpoints.get(m) or w.endpoints) for m in wanted.values()}
    missing = sorted({f"{role} ({m})" for role, m in wanted.items() if not routes[m]})
    if missing:
        raise ConfigError(
            f"no endpoint serves {', '.join(missing)}: list it under workers.model_endpoints, or set workers.endpoints"
        )
    return routes


def local_worker_options(cfg: RunConfig) -> WorkerOptions:
    """How the run's local workers are started: the one model every role uses, the config's worker settings."""
    w = cfg.workers
    distinct = set(role_models(cfg).values())
    if len(distinct) > 1:
        raise ConfigError(f"local workers serve one model, but the roles ask for {sorted(distinct)}; use endpoints")
    return WorkerOptions(
        model=distinct.pop(),
        max_model_len=w.max_model_len,
        startup_timeout_s=w.startup_timeout_s,
        cpu_binding=w.cpu_binding,
    )


def prestart_local_workers(cfg: RunConfig) -> None:
    """Start the run's local workers now, without waiting: they load while Prefect starts, and `serve_models`
    then finds them starting instead of cold. Nothing to do for a run on endpoints."""
    if cfg.workers.local:
        prestart_workers(cfg.workers.local, local_worker_options(cfg))


@contextmanager
def serve_models(cfg: RunConfig, log: Callable[[str], None]) -> Iterator[Models]:
    """Start local workers if the config asks for them, connect engines and the judge, and stop what was started.
    A run opens them through `pipeline.run.services.open_run_services`."""
    wanted = role_models(cfg)
    w = cfg.workers
    with ExitStack() as stack:
        if w.local:
            opts = local_worker_options(cfg)
            log(f"starting {w.local} local vLLM worker(s) for {opts.model!r} (first start takes about a minute)")
            records = stack.enter_context(local_workers(w.local, opts))
            routes = {m: [r.url for r in records] for m in wanted.values()}
            served: dict[str, str | None] = {m: records[0].served_name for m in wanted.values()}
        else:
            routes = model_routes(cfg, wanted)
            served = {m: (None if m == DEFAULT_MODEL else m) for m in wanted.values()}
        engines: dict[str, SyncEngine] = {}
        for model, name in served.items():
            engine = open_engine(
                routes[model],
                name,
                cache_path=default_cache_db(),
                max_concurrency=w.max_concurrency,
                request_timeout_s=w.request_timeout_s,
            )
            stack.callback(engine.close)
            engines[model] = engine
        # the run's one judge: YES/NO questions to the judge's model, decided with the config's margin
        judge_model = cfg.models.judge
        judge = LLMJudge(engines[judge_model.model], margin=judge_model.margin) if judge_model.enabled else None
        generated = lambda: sum(e.engine.streamed_pieces() for e in engines.values())  # noqa: E731
        yield Models(chat=engine_chat_fn(engines), judge=judge, generated=generated)
        for model, engine in engines.items():
            stats = engine.cache_stats()
            if stats is not None:
                log(f"request cache for {model}: {stats}")
