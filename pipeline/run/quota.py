"""The caps a batch's kept samples pass as the run saves it (pipeline/run/generate.py): kept samples beyond their
category's quota, or that no open grid cell takes, become rejects with the reason. The stages
(pipeline/run/stages.py) have selected and banded the batch before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from pipeline.construct.taxonomy import Taxonomy
from pipeline.run.config import RunConfig
from pipeline.run.grid import assign_cells
from pipeline.run.stages import BatchResult


def cap_to_quota(
    result: BatchResult, quotas: Mapping[str, int], filled: Counter[str]
) -> tuple[BatchResult, dict[str, str]]:
    """Move kept samples beyond their category's quota to the rejects (reason quota_full); `filled` (kept so far per
    category) is updated. Also returns each kept sample's cell (its category)."""
    kept, rejects, cells = [], list(result.rejects), {}
    for s in result.kept:
        cat = s.instruction.category
        if filled[cat] < quotas.get(cat, 0):
            filled[cat] += 1
            kept.append(s)
            cells[s.id] = cat
        else:
            rejects.append(s.model_copy(update={"kept": False, "reject_reasons": ["quota_full"]}))
    return replace(result, kept=kept, rejects=rejects), cells


def cap_to_grid(
    result: BatchResult,
    quotas: Mapping[str, int],
    filled: Counter[str],
    targets: Mapping[str, str],
    cfg: RunConfig,
    taxonomy: Taxonomy,
) -> tuple[BatchResult, dict[str, str]]:
    """cap_to_quota for a grid: kept samples no open cell takes move to the rejects (quota_full, outside_grid);
    `filled` counts what each cell kept. `targets` holds the cell each instruction was planned for (tried first).
    Also returns each kept sample's cell."""
    candidates = [*result.kept, *result.rejects]
    assignment = assign_cells(result.kept, candidates, targets, quotas, filled, cfg, taxonomy)
    away = assignment.turned_away
    kept = [s for s in result.kept if s.id not in away]
    rejects = [
        *result.rejects,
        *(s.model_copy(update={"kept": False, "reject_reasons": [away[s.id]]}) for s in result.kept if s.id in away),
    ]
    return replace(result, kept=kept, rejects=rejects), assignment.cells
