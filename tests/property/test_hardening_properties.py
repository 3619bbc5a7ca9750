"""Hardening: a hardened instruction asks strictly more of the answer, stays compatible and feasible, and says where it came from."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.compose import compose_instruction
from pipeline.errors import CompositionError
from pipeline.feasibility import is_feasible
from pipeline.hardening import harden_instruction
from pipeline.models import Instruction, Seed
from pipeline.taxonomy import Taxonomy, load_taxonomy
from pipeline.tree import CATEGORIES, iter_constraints


@cache
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def compose(category: str, seed: int) -> Instruction | None:
    try:
        return compose_instruction(Seed(id=f"s{seed}", text="Describe a lighthouse at dusk."), category, taxonomy(), random_seed=seed)
    except CompositionError:
        return None


@settings(max_examples=120, deadline=None)
@given(category=st.sampled_from(CATEGORIES), seed=st.integers(0, 10_000))
def test_a_hardened_instruction_adds_one_compatible_feasible_constraint_on_the_taken_path(category: str, seed: int) -> None:
    parent = compose(category, seed)
    if parent is None:
        return
    child = harden_instruction(parent, taxonomy(), random_seed=seed)
    if child is None:
        return
    before = dict(iter_constraints(parent.tree))
    after = dict(iter_constraints(child.tree))
    assert len(after) == len(before) + 1
    assert len(child.plan.checks) == len(parent.plan.checks) + 1  # the new constraint is on the taken path
    old_keys = [c.model_dump_json() for c in before.values()]
    added = [c for c in after.values() if c.model_dump_json() not in old_keys]
    assert len(added) == 1
    others = [c.spec_id for c in before.values()]
    # conservative: the new constraint is compatible with every constraint of the tree, whatever output it is on
    assert taxonomy().compatible(added[0].spec_id, others), f"{added[0].spec_id} conflicts with one of {others}"
    assert is_feasible(child.tree)
    assert (child.parent_id, child.hardening_round) == (parent.id, parent.hardening_round + 1)
    assert child.fingerprint != parent.fingerprint and child.id != parent.id
    assert child.plan.correct_branches == parent.plan.correct_branches  # the same cases apply
    assert harden_instruction(parent, taxonomy(), random_seed=seed) == child  # deterministic


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_rounds_count_up_from_the_composed_instruction(seed: int) -> None:
    current = compose("And_1", seed)
    assert current is not None
    for expected_round in (1, 2, 3):
        child = harden_instruction(current, taxonomy(), random_seed=seed)
        if child is None:
            return
        assert child.hardening_round == expected_round and child.parent_id == current.id
        current = child
