"""A run's services, opened once by one function: its models (local workers started for it, or endpoints), the
judge, the task-fidelity embedder and the judge's routes per dimension.

The coordinator (`pipeline.run.generate.open_run_context`) and every runner (`pipeline.run.runners.serve_run`)
open them here, so a batch is processed with the same judge and routes wherever it runs (the
driver, not a batch, composes hardened children: pipeline/run/ledger.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from pipeline import store
from pipeline.construct.taxonomy import Taxonomy
from pipeline.run.config import RunConfig
from pipeline.run.judge_routing import with_judge_routes
from pipeline.run.serving import serve_models
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
    models: Models | None = None,
) -> Iterator[Models]:
    """The run's models with everything the stages use beside them, ready to process batches; stops what it started.

    `models` answers with these instead of the config's workers (your own chat function, say): nothing is started,
    and their judge is kept as given. `run` is the run's folder when it exists (the judge's gold scores and routes are
    stored there).
    """
    with serve_models(cfg, log) if models is None else _given(models) as opened:
        if opened.relevance is None and needs_embedder(cfg):  # the bundled model loads on first use only
            opened = replace(opened, relevance=default_relevance())
        opened = with_judge_routes(cfg, taxonomy, opened, log, run)
        yield opened


@contextmanager
def _given(models: Models) -> Iterator[Models]:
    yield models
