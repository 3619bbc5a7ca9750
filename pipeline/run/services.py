"""A run's services, opened once by one function: its models (local workers started for it, or endpoints), the
judge, the task-fidelity embedder, the judge's routes per dimension and the hardener.

The coordinator (`pipeline.run.generate.open_run_context`) and every runner (`pipeline.run.runners.serve_run`)
open them here, so a batch is processed with the same judge, routes and hardening wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from pipeline import store
from pipeline.construct.taxonomy import Taxonomy
from pipeline.models import Seed
from pipeline.run.config import RunConfig
from pipeline.run.judge_routing import with_judge_routes
from pipeline.run.serving import serve_models, with_hardening
from pipeline.run.stages import Models
from pipeline.verify.fidelity import default_relevance


def needs_embedder(cfg: RunConfig) -> bool:
    """Whether the run embeds texts: the task-fidelity test's relevance, or a reasoning trace's prompt similarity."""
    fidelity = cfg.fidelity.enabled and cfg.fidelity.embedding
    return fidelity or cfg.models.responder.reasoning != "off"


@contextmanager
def open_run_services(
    cfg: RunConfig,
    taxonomy: Taxonomy,
    log: Callable[[str], None],
    *,
    run: store.RunPaths | None,
    seeds: Sequence[Seed] = (),
    models: Models | None = None,
) -> Iterator[Models]:
    """The run's models with everything the stages use beside them, ready to process batches; stops what it started.

    `models` answers with these instead of the config's workers (your own chat function, say): nothing is started,
    and their judge is kept as given. `run` is the run's folder when it exists (the judge's gold scores and routes are
    stored there); `seeds` are the run's seeds, which hardening keeps each child within.
    """
    with serve_models(cfg, log) if models is None else _given(models) as opened:
        if opened.relevance is None and needs_embedder(cfg):  # the bundled model loads on first use only
            opened = replace(opened, relevance=default_relevance())
        opened = with_judge_routes(cfg, taxonomy, opened, log, run)
        yield with_hardening(opened, cfg, taxonomy, seeds)


@contextmanager
def _given(models: Models) -> Iterator[Models]:
    yield models
