"""The composer never draws a constraint of a vocabulary its options do not allow: by default no `ifbench` spec
(held out) reaches an instruction, whatever the category, the composition (And, Chain, Selection, nested) or the
hardening move."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.hardening import MOVES, harden_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.construct.tree import iter_constraints
from pipeline.errors import CompositionError
from pipeline.models import VOCABULARIES, Instruction, Seed
from tests.helpers.tree_properties import compose_options as options


def vocabularies_of(ins: Instruction) -> set[str]:
    tax = load_taxonomy()
    return {tax.spec(c.spec_id).vocabulary for _, c in iter_constraints(ins.tree)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), random_seed=st.integers(0, 2**32), opts=options)
def test_a_default_config_never_composes_an_ifbench_spec(
    category: str, random_seed: int, opts: ComposeOptions
) -> None:
    assert "ifbench" not in opts.vocabularies
    seed = Seed(id="v", text="Write a short note to a neighbour about a shared garden.")
    ins = compose_instruction(seed, category, load_taxonomy(), random_seed=random_seed, options=opts)
    assert "ifbench" not in vocabularies_of(ins)
    for move in MOVES:  # nor does a hardened child (a new constraint, a chain step, a selection level)
        child = harden_instruction(ins, load_taxonomy(), options=opts, random_seed=random_seed, moves=[move])
        if child is not None:
            assert "ifbench" not in vocabularies_of(child)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    category=st.sampled_from(CATEGORIES),
    random_seed=st.integers(0, 2**32),
    allowed=st.lists(st.sampled_from(VOCABULARIES), min_size=1, unique=True),
)
def test_every_composed_spec_is_of_an_allowed_vocabulary(category: str, random_seed: int, allowed: list[str]) -> None:
    opts = ComposeOptions(vocabularies=allowed)
    seed = Seed(id="v", text="Describe a market street early in the morning.")
    try:
        ins = compose_instruction(seed, category, load_taxonomy(), random_seed=random_seed, options=opts)
    except CompositionError:  # too few compatible specs in these vocabularies for this category: said, not hidden
        return
    assert vocabularies_of(ins) <= set(allowed)


def test_opting_in_composes_the_held_out_vocabulary() -> None:
    opts = ComposeOptions(vocabularies=["ifbench"])
    seed = Seed(id="v", text="Describe a lighthouse.")
    drawn = [compose_instruction(seed, "Single", load_taxonomy(), random_seed=i, options=opts) for i in range(20)]
    assert set().union(*map(vocabularies_of, drawn)) == {"ifbench"}
