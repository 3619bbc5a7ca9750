"""Grid quotas: a run's category quotas split over cells of dimension x difficulty band x rendering.

A cell is keyed "category/dimension/band/rendering" (only the axes the grid has). Composing for a cell fixes
its category and rendering and puts a constraint of its dimension on the path the answer takes; the band is
measured, so a kept sample fills whichever open cell it belongs to, its target cell first. Without a grid
the cells are the categories themselves, so one ledger and one planner serve both (pipeline/run/ledger.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product

from pipeline.construct.compose import ComposeOptions
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.tree import allocate, taken_constraints
from pipeline.models import Instruction, Sample
from pipeline.run.config import RunConfig
from pipeline.run.difficulty import measured_pass_rate
from pipeline.run.ledger import Cell


def grid_cells(cfg: RunConfig) -> dict[str, Cell]:
    """Every cell of the run, by key, in a fixed order: category, then dimension, band, rendering."""
    g = cfg.grid
    cats = [c for c, w in cfg.mix.items() if w > 0]
    none: list[str | None] = [None]  # an axis the grid does not have
    axes = product(cats, [*g.dimensions] or none, [*g.bands] or none, [*g.renderings] or none)
    return {cell.key: cell for cell in (Cell(*values) for values in axes)}


def cell_quotas(cfg: RunConfig) -> dict[str, int]:
    """Per-cell quotas: the category quotas of the mix, each split evenly over the category's cells (the first
    cells get the remainder, so the category totals are exactly those of a run without a grid)."""
    per_cat = {c: k for c, k in allocate(cfg.samples, cfg.mix).items() if k > 0}
    cells = grid_cells(cfg)
    quotas = {}
    for cat, total in per_cat.items():
        keys = [k for k, cell in cells.items() if cell.category == cat]
        share, extra = divmod(total, len(keys))
        quotas.update({k: share + (i < extra) for i, k in enumerate(keys)})
    return {k: q for k, q in quotas.items() if q > 0}


def options_for(key: str, cfg: RunConfig, base: ComposeOptions) -> ComposeOptions:
    """Compose options aimed at a cell: its rendering only, its dimension favoured (unchanged without a grid)."""
    cell = grid_cells(cfg).get(key)
    if cell is None or (cell.rendering is None and cell.dimension is None):
        return base
    renderings = {cell.rendering: 1.0} if cell.rendering else base.renderings
    return base.aimed_at(cell.dimension, renderings)


def band_of(rate: float | None, bands: Mapping[str, tuple[float, float]]) -> str | None:
    """The first band whose inclusive range holds the pass rate; None when none does (or nothing was measured)."""
    if rate is None:
        return None
    return next((name for name, (lo, hi) in bands.items() if lo <= rate <= hi), None)


def taken_dimensions(ins: Instruction, taxonomy: Taxonomy) -> set[str]:
    """Dimensions of the constraints the instruction's answer must meet (untaken Selection cases left out)."""
    return {taxonomy.specs[c.spec_id].dimension for c in taken_constraints(ins.tree) if c.spec_id in taxonomy.specs}


def sample_pass_rate(sample: Sample, candidates: Sequence[Sample]) -> float | None:
    """The measured pass rate of the sample's instruction, from every candidate of it (`candidates`)."""
    return measured_pass_rate(candidates, sample.student)


def fits(cell: Cell, ins: Instruction, dims: set[str], band: str | None) -> bool:
    """The instruction (with its measured band) belongs in the cell."""
    return (
        cell.category == ins.category
        and (cell.dimension is None or cell.dimension in dims)
        and (cell.band is None or cell.band == band)
        and (cell.rendering is None or cell.rendering == ins.rendering)
    )


@dataclass
class CellAssignment:
    """What capping a batch to the grid decided: each kept sample's cell, and the samples it turned away."""

    cells: dict[str, str]  # sample id -> cell key
    turned_away: dict[str, str]  # sample id -> reason (quota_full, outside_grid)


def assign_cells(
    kept: Sequence[Sample],
    candidates: Sequence[Sample],
    targets: Mapping[str, str],
    quotas: Mapping[str, int],
    filled: Counter[str],
    cfg: RunConfig,
    taxonomy: Taxonomy,
) -> CellAssignment:
    """Give each kept sample an open cell it fits, its instruction's target cell first, else the open cell that
    lacks the most; `filled` is updated. A sample no cell of the grid fits is outside_grid; one whose cells are
    all met is quota_full."""
    cells = {k: c for k, c in grid_cells(cfg).items() if k in quotas}
    by_ins: dict[str, list[Sample]] = {}
    for s in candidates:
        by_ins.setdefault(s.instruction.id, []).append(s)
    out = CellAssignment({}, {})
    for s in kept:
        band = band_of(sample_pass_rate(s, by_ins.get(s.instruction.id, [s])), cfg.grid.bands)
        dims = taken_dimensions(s.instruction, taxonomy)
        fitting = [k for k, c in cells.items() if fits(c, s.instruction, dims, band)]
        open_ = [k for k in fitting if filled[k] < quotas[k]]
        target = targets.get(s.instruction.id)
        if target in open_:
            chosen: str | None = target
        else:
            chosen = min(open_, key=lambda k: (filled[k] - quotas[k], k), default=None)
        if chosen is None:
            out.turned_away[s.id] = "quota_full" if fitting else "outside_grid"
            continue
        filled[chosen] += 1
        out.cells[s.id] = chosen
    return out
