"""Properties of grid quotas: composing for a cell hits it, and cell quotas add up (the planner's are in
test_ledger_properties.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.feasibility import is_feasible
from pipeline.construct.options import DEFAULT_VOCABULARIES
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.construct.tree import CATEGORIES, tree_category
from pipeline.models import Seed
from pipeline.run.config import parse_config
from pipeline.run.grid import cell_quotas, grid_cells, options_for, taken_dimensions
from pipeline.run.stages import BatchSpec, compose_stage

TAX = load_taxonomy()
# dimensions with a code-checked constraint a default run may compose (held-out vocabularies left out)
CODE_DIMENSIONS = sorted(
    {s.dimension for s in TAX.specs.values() if s.is_code and s.vocabulary in DEFAULT_VOCABULARIES}
)
SEEDS = [Seed(id=f"s{i}", text=f"Write a short note about topic number {i} for a class newsletter.") for i in range(5)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    category=st.sampled_from(CATEGORIES),
    dimension=st.sampled_from(CODE_DIMENSIONS),
    rendering=st.sampled_from(["structured", "prose", "numbered"]),
    random_seed=st.integers(0, 10_000),
)
def test_an_instruction_composed_for_a_cell_belongs_to_it(
    category: str, dimension: str, rendering: str, random_seed: int
) -> None:
    cfg = parse_config(
        {"samples": 1, "mix": {category: 1}, "compose": {"checkers": "code"}, "random_seed": random_seed,
         "grid": {"dimensions": [dimension], "renderings": [rendering]}}
    )  # fmt: skip
    [key] = grid_cells(cfg)

    batch = compose_stage(BatchSpec(0, ((random_seed, key),)), SEEDS, list(range(len(SEEDS))), TAX, cfg, set())
    [ins] = batch.instructions
    assert ins.category == category == tree_category(ins.tree) and ins.rendering == rendering
    assert dimension in taken_dimensions(ins, TAX) and is_feasible(ins.tree)
    assert options_for(key, cfg, cfg.compose).favour_dimension == dimension


def test_cell_quotas_of_a_grid_with_every_axis() -> None:
    cfg = parse_config(
        {"samples": 24, "mix": {"Single": 1, "And_1": 1}, "compose": {"checkers": "code"},
         "grid": {"dimensions": ["Length", "Keywords"], "bands": {"easy": [0.5, 1], "hard": [0, 0.49]},
                  "renderings": ["prose", "numbered", "structured"]}}
    )  # fmt: skip
    quotas = cell_quotas(cfg)
    assert len(quotas) == 24 and set(quotas.values()) == {1}
    assert "And_1/Keywords/hard/structured" in quotas


def first_fitting_count(mix: dict[str, float], cells: int, samples: int) -> int:
    """The grid check's answer by trying every count from `samples` up (what the config check did before)."""
    from pipeline.construct.tree import allocate

    n = samples
    while not all(q == 0 or q >= cells for q in allocate(n, mix).values()):
        n += 1
    return n


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.sampled_from([0, 0.5, 1, 1.5, 2, 3, 5, 7.25]), min_size=1, max_size=len(CATEGORIES)),
    cells=st.integers(2, 30),
    samples=st.integers(1, 400),
)
def test_samples_filling_cells_is_the_first_count_that_fits(weights: list[float], cells: int, samples: int) -> None:
    from pipeline.run.config import samples_filling_cells

    mix = dict(zip(CATEGORIES, weights, strict=False))
    if not any(w > 0 for w in mix.values()):
        mix[CATEGORIES[0]] = 1
    assert samples_filling_cells(mix, cells, samples) == first_fitting_count(mix, cells, samples)
