"""One batch through the stages without a run folder: compose a planned spec, then process it."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.construct.taxonomy import Taxonomy
from pipeline.models import Instruction, Seed
from pipeline.run.config import RunConfig
from pipeline.run.identity import config_hash, role_models, template_hashes
from pipeline.run.ledger import Draft, Ledger
from pipeline.run.planning import quota_plan, seed_order
from pipeline.run.stages import BatchResult, BatchSpec, Models, Provenance, compose_stage, process_batch


def planned_spec(cfg: RunConfig, ledger: Ledger | None = None, index: int = 0) -> BatchSpec:
    """The fresh slots the run's ledger plans for batch `index` (a new ledger of `cfg` unless given)."""
    draft = (ledger or Ledger(quota_plan(cfg))).plan(index, lambda request, taken: None)
    assert isinstance(draft, Draft), draft
    return BatchSpec(index, tuple((slot.position, slot.cell) for slot in draft.fresh))


def compose_spec(spec: BatchSpec, seeds: Sequence[Seed], taxonomy: Taxonomy, cfg: RunConfig) -> list[Instruction]:
    """The instructions a run would compose for `spec` (nothing seen before)."""
    return list(compose_stage(spec, seeds, seed_order(len(seeds), cfg.random_seed), taxonomy, cfg, set()).instructions)


def run_spec(
    spec: BatchSpec,
    seeds: Sequence[Seed],
    taxonomy: Taxonomy,
    cfg: RunConfig,
    models: Models,
    *,
    run_id: str,
    run_fingerprint: str | None = None,
) -> BatchResult:
    """Compose and process one batch as a run would."""
    batch = compose_stage(spec, seeds, seed_order(len(seeds), cfg.random_seed), taxonomy, cfg, set())
    provenance = Provenance(run_id, run_fingerprint or config_hash(cfg), role_models(cfg), template_hashes())
    return process_batch(batch, cfg, models, provenance)
