"""Checks a run can pass before anything starts: bad input fails in a second, with exit 2, writing nothing.

Everything here is deterministic, so the same input would fail the same way inside the flow after its
retries; catching it before the run folder, the Prefect server or a vLLM worker exists saves all of that.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.errors import CompositionError, UserInputError
from pipeline.llm.cache import check_cache_file
from pipeline.llm.paths import default_cache_db
from pipeline.models import Seed
from pipeline.run.config import ConfigError, RunConfig, seed_token_budget
from pipeline.run.grid import grid_cells, options_for
from pipeline.run.identity import role_models, run_fingerprint
from pipeline.run.judge_routing import check_calibration_config
from pipeline.run.runlock import check_run_free
from pipeline.seeding.load import load_seed_file
from pipeline.seeding.select import drop_empty, load_benchmark_prompts
from pipeline.verify.overlap import held_out_overlaps

# Composition feasibility does not depend on the seed's words, so a neutral task stands in before seeds load.
PROBE_SEED = Seed(id="preflight", text="Describe a walk through a city park in spring.", source="preflight")


def check_output_dir(path: Path, what: str = "output_dir") -> None:
    """`path` is, or can be created as, a writable folder: no file in the way, no read-only ancestor."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserInputError(f"{what} {path}: {probe} is a file, not a folder; choose another {what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserInputError(f"{what} {path}: {probe} is not writable by this user; choose another {what}")


def check_seed_paths(cfg: RunConfig) -> None:
    """Every local seed source exists (the files' contents are checked when they load)."""
    for i, src in enumerate(cfg.seeds.sources):
        if src.path is not None and not cfg.resolve(src.path).exists():
            raise ConfigError(f"seeds.sources.{i}.path: {cfg.resolve(src.path)} not found; fix the path")


def check_composable(cfg: RunConfig, taxonomy: Taxonomy, seed: Seed = PROBE_SEED) -> None:
    """One trial instruction per category of the mix: an impossible request (and_size beyond what the
    conflict graph allows, say) fails here, not inside the first batch."""
    opts = cfg.compose
    problems = []
    for cat in sorted(c for c, w in cfg.mix.items() if w > 0):
        try:
            compose_instruction(seed, cat, taxonomy, random_seed=f"preflight:{cfg.random_seed}", options=opts)
        except CompositionError as exc:
            problems.append(f"mix.{cat}: {exc}")
    if problems:
        raise ConfigError("the run cannot compose its categories:\n  - " + "\n  - ".join(problems))


def check_grid(cfg: RunConfig, taxonomy: Taxonomy, seed: Seed = PROBE_SEED) -> None:
    """Grid dimensions the taxonomy has, and one trial instruction per cell composed for it: a dimension no
    output of a category can take (a judge-checked one with checkers: code, say) fails here."""
    if not cfg.grid.enabled():
        return
    known = sorted({s.dimension for s in taxonomy.specs.values()})
    unknown = [d for d in cfg.grid.dimensions if d not in known]
    if unknown:
        raise ConfigError(
            f"grid.dimensions: unknown {', '.join(map(repr, unknown))}; the taxonomy has: {', '.join(known)}"
        )
    vocabularies = cfg.compose.vocabularies  # a held-out vocabulary's constraints are not there to draw
    allowed = [s for s in taxonomy.specs.values() if s.vocabulary in vocabularies]
    empty = [d for d in cfg.grid.dimensions if not any(s.dimension == d for s in allowed)]
    if empty:
        raise ConfigError(
            f"grid.dimensions: {', '.join(map(repr, empty))} has no constraint in the vocabularies the run composes "
            f"({', '.join(vocabularies)}); drop it from the grid, or add its vocabulary to compose.vocabularies"
        )
    if cfg.compose.checkers == "code":
        judged_only = [d for d in cfg.grid.dimensions if not any(s.is_code for s in allowed if s.dimension == d)]
        if judged_only:
            raise ConfigError(
                f"grid.dimensions: {', '.join(map(repr, judged_only))} only has judge-checked constraints in the "
                f"vocabularies the run composes ({', '.join(vocabularies)}), but compose.checkers is code; drop it "
                "from the grid, or set compose.checkers: any with a judge"
            )
    base, problems, tried = cfg.compose, [], set()
    for key, cell in grid_cells(cfg).items():
        if (cell.category, cell.dimension) in tried:
            continue  # the band is measured and the rendering is layout: neither changes what can be composed
        tried.add((cell.category, cell.dimension))
        try:
            compose_instruction(
                seed,
                cell.category,
                taxonomy,
                random_seed=f"preflight:{cfg.random_seed}",
                options=options_for(key, cfg, base),
            )
        except CompositionError as exc:
            problems.append(f"grid cell {key}: {exc}")
    if problems:
        raise ConfigError(
            "the run cannot compose some grid cells (drop their dimension from grid.dimensions, or allow more "
            "constraints, e.g. compose.checkers: any):\n  - " + "\n  - ".join(problems)
        )


def preflight(cfg: RunConfig, *, taxonomy: Taxonomy | None = None, seeds: Sequence[Seed] = ()) -> None:
    """All cheap, deterministic checks of a run's inputs; raises UserInputError naming the fix."""
    check_output_dir(cfg.resolve(cfg.output_dir))
    check_seed_paths(cfg)
    taxonomy = taxonomy or load_taxonomy()
    check_composable(cfg, taxonomy, seeds[0] if seeds else PROBE_SEED)
    check_grid(cfg, taxonomy, seeds[0] if seeds else PROBE_SEED)
    check_calibration_config(cfg, taxonomy)  # judge routes name known dimensions; the gold file is valid
    check_held_out_overlap(cfg, taxonomy)
    check_budget(cfg)


def check_budget(cfg: RunConfig) -> None:
    """A money budget needs a price for every model the run uses: without one its cost is unknown, never guessed."""
    unpriced = sorted(set(role_models(cfg).values()) - set(cfg.prices))
    if cfg.budget.max_cost is not None and unpriced:
        raise ConfigError(
            f"budget.max_cost needs a price for every model the run uses; none for {', '.join(unpriced)}: add it "
            "under prices (model: {prompt: P, generated: G}, per million tokens), or use budget.max_generated_tokens"
        )


def check_held_out_overlap(cfg: RunConfig, taxonomy: Taxonomy) -> None:
    """No constraint the run may compose behaves like one of a held-out vocabulary it leaves out (same verdicts on
    the probe texts for matched parameter draws, `pipeline/verify/overlap.py`): a held-out type under another name
    would leak into the training data. Cached per taxonomy version; the first check takes a few seconds."""
    found = held_out_overlaps(taxonomy, cfg.compose.vocabularies)
    if found:
        raise ConfigError("compose.vocabularies: " + "; ".join(o.message() for o in found))


def check_seed_files(cfg: RunConfig) -> None:
    """Load every local seed file and decontamination file: a malformed line, a non-UTF-8 file or a source with no
    seed text fails here, naming the file. Hub datasets load when the run starts."""
    seed_token_budget(cfg)  # the workers' context leaves room for seed text
    local = [src for src in cfg.seeds.sources if src.path is not None]
    texts = sum(
        len(drop_empty(load_seed_file(cfg.resolve(src.path), src.columns, limit=src.limit))[0])
        for src in local
        if src.path
    )
    if len(local) == len(cfg.seeds.sources) and not texts:
        raise ConfigError(
            "seeds.sources: no seed with text in " + ", ".join(str(cfg.resolve(s.path or "")) for s in local)
        )
    for bench in cfg.seeds.decontaminate:
        load_benchmark_prompts(cfg.resolve(bench))


def check_before_start(cfg: RunConfig, *, lock: bool = True) -> None:
    """What `run` checks before it starts Prefect or a worker (about a second, nothing created): the config's
    checks above with the taxonomy, every local seed file loaded, the request cache file readable and, with
    `lock`, the run not held by another process."""
    taxonomy = load_taxonomy()
    preflight(cfg, taxonomy=taxonomy)
    check_seed_files(cfg)
    check_cache_file(default_cache_db())
    if lock:
        check_run_free(cfg.resolve(cfg.output_dir) / "runs" / run_fingerprint(cfg))
