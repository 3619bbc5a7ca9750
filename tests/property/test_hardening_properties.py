"""Hardening: a hardened instruction asks strictly more of the answer, stays compatible and feasible, loses nothing of
its parent, renders faithfully and says where it came from."""

from __future__ import annotations

import random
from collections import Counter
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.compose import compose_instruction
from pipeline.construct.feasibility import is_feasible
from pipeline.construct.hardening import MOVES, harden_instruction
from pipeline.construct.plans import DECISION_CHECKER, compile_plan
from pipeline.construct.render import fidelity_problems, required_fragments
from pipeline.construct.renderings import RENDERINGS, render_prompt
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import CATEGORIES, iter_constraints, iter_selections, parse_category
from pipeline.errors import CompositionError
from pipeline.models import And, Chain, Constraint, Instruction, Node, Seed, Task
from tests.helpers.tree_properties import assert_instruction_invariants


@cache
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def compose(category: str, seed: int) -> Instruction | None:
    try:
        return compose_instruction(
            Seed(id=f"s{seed}", text="Describe a lighthouse at dusk."), category, taxonomy(), random_seed=seed
        )
    except CompositionError:
        return None


@settings(max_examples=120, deadline=None)
@given(category=st.sampled_from(CATEGORIES), seed=st.integers(0, 10_000))
def test_a_hardened_instruction_adds_one_compatible_feasible_constraint_on_the_taken_path(
    category: str, seed: int
) -> None:
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


def chains(node: Node | None) -> int:
    """How many Chain nodes a tree holds (untaken Selection cases included)."""
    if node is None or isinstance(node, Constraint):
        return 0
    if isinstance(node, Task):
        return chains(node.body)
    if isinstance(node, And):
        return sum(chains(c) for c in node.children)
    if isinstance(node, Chain):
        return 1 + sum(chains(s) for s in node.steps)
    return sum(chains(b.body) for b in node.branches)


def constraint_multiset(ins: Instruction) -> Counter[str]:
    return Counter(c.model_dump_json() for _, c in iter_constraints(ins.tree))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), seed=st.integers(0, 10_000), move=st.sampled_from(MOVES))
def test_every_move_gives_a_valid_feasible_child_that_keeps_every_constraint_and_renders_faithfully(
    category: str, seed: int, move: str
) -> None:
    parent = compose(category, seed)
    if parent is None:
        return
    child = harden_instruction(parent, taxonomy(), random_seed=seed, moves=[move])
    if child is None:
        return
    parse_category(child.category)  # a valid category: no move goes past the deepest one
    assert_instruction_invariants(child, taxonomy(), child.category)  # plan follows the tree, no conflict on an output
    assert child.plan == compile_plan(child.tree, taxonomy()) and is_feasible(child.tree)
    assert child.depth >= parent.depth
    assert (child.parent_id, child.hardening_round) == (parent.id, parent.hardening_round + 1)
    assert child.fingerprint != parent.fingerprint and child.id != parent.id
    before, after = constraint_multiset(parent), constraint_multiset(child)
    assert before <= after, "a constraint of the parent was lost"
    added = [Constraint.model_validate_json(c) for c in (after - before).elements()]
    assert added or move == "chain_step"  # a Chain step may only regroup what was there
    olds = [c.spec_id for _, c in iter_constraints(parent.tree)]
    for new in added:  # conservative: every new constraint is compatible with every constraint of the parent
        assert taxonomy().compatible(new.spec_id, olds), f"{new.spec_id} conflicts with one of {olds}"
    assert parent.plan.correct_branches.items() <= child.plan.correct_branches.items()  # the same cases still apply
    decisions = [sum(c.checker == DECISION_CHECKER for c in i.plan.checks) for i in (parent, child)]
    if move == "constraint":
        assert len(added) == 1 and len(child.plan.checks) == len(parent.plan.checks) + 1
    elif move == "chain_step":
        assert chains(child.tree) == chains(parent.tree) + 1 and decisions[1] == decisions[0]
        assert len(child.plan.checks) >= len(parent.plan.checks)
    else:
        assert len(list(iter_selections(child.tree))) == len(list(iter_selections(parent.tree))) + 1
        assert decisions[1] == decisions[0] + 1  # the new Selection is on the taken path
        labels = [b.label for s in iter_selections(child.tree) for b in s.branches]
        assert len(labels) == len(set(labels))  # one response marks every case it follows: labels never repeat
    assert fidelity_problems(child.tree, child.prompt, child.prompt) == []
    structured = render_prompt(child.tree, random.Random(seed), "structured")
    for rendering in RENDERINGS:
        prompt = render_prompt(child.tree, random.Random(seed), rendering)
        assert fidelity_problems(child.tree, structured, prompt) == [], (rendering, prompt)
        assert all(f.lower() in prompt.lower() for f in required_fragments(child.tree))
    assert harden_instruction(parent, taxonomy(), random_seed=seed, moves=[move]) == child  # deterministic


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), seed=st.integers(0, 10_000), order=st.permutations(MOVES))
def test_the_order_of_moves_is_drawn_per_instruction_not_taken_from_the_config(
    category: str, seed: int, order: list[str]
) -> None:
    parent = compose(category, seed)
    if parent is None:
        return
    child = harden_instruction(parent, taxonomy(), random_seed=seed, moves=order)
    assert child == harden_instruction(parent, taxonomy(), random_seed=seed, moves=list(MOVES))
    if child is not None:
        parse_category(child.category)
        assert is_feasible(child.tree) and constraint_multiset(parent) <= constraint_multiset(child)


@cache
def short_form_seeds() -> list[Seed]:
    """Bundled seeds whose tags rule constraints out (short answers, sentence edits, poems): hardening must respect
    them."""
    from pipeline.seeding.load import load_seed_file

    seeds = load_seed_file(Path(__file__).resolve().parents[2] / "seeds" / "complexify-seeds.jsonl")
    return [
        s
        for s in seeds
        if s.tags is not None and s.tags.form in ("sentence_edit", "short_answer", "poem", "short_text")
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 10_000), category=st.sampled_from(["Single", "And_1", "Chain_1", "Selection_1"]))
def test_a_child_never_clashes_with_its_seeds_tags(index: int, category: str) -> None:
    from pipeline.construct.compose import ComposeOptions
    from pipeline.construct.seed_tags import check_composition

    seeds = short_form_seeds()
    seed = seeds[index % len(seeds)]
    opts = ComposeOptions(checkers="code")
    try:
        ins = compose_instruction(seed, category, taxonomy(), random_seed=index, options=opts)
    except CompositionError:
        return
    for _ in range(2):
        child = harden_instruction(ins, taxonomy(), options=opts, random_seed=index, moves=MOVES, seed=seed)
        if child is None:
            return
        assert check_composition(seed, child.tree, taxonomy()) == []
        ins = child
