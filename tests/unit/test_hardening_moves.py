"""Structural hardening moves on hand-built trees: a Chain step or a Selection level is added the way the composer
builds one, nothing of the tree is lost, and a move that would go past the deepest category does not fit."""

from __future__ import annotations

import random
from pathlib import Path
from typing import get_args

import pytest

from pipeline.construct.compose import ComposeOptions, chain_steps_text
from pipeline.construct.hardening import MOVE_FUNCTIONS, MOVES, harden_instruction, harden_tree, outputs
from pipeline.construct.plans import compile_plan
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import iter_constraints, tree_category
from pipeline.errors import CompositionError
from pipeline.models import And, Chain, Constraint, Instruction, Node, Selection, Task, fingerprint_of
from pipeline.run.config import HardeningMove

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEED = "Describe a lighthouse at dusk."
LOWER = Constraint(spec_id="t:lower", text="Write only in lowercase letters.")
WORDS = Constraint(
    spec_id="t:words", params={"relation": "less than", "num_words": 150}, text="Answer with less than 150 words."
)
REPEAT = Constraint(
    spec_id="t:repeat", params={"prompt_to_repeat": SEED}, text="First repeat the request word for word."
)


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy(FIXTURE, check_checkers=False)


def harden(tree: Task, tax: Taxonomy, move: str, seed: int = 0) -> Task | None:
    return harden_tree(tree, tax, ComposeOptions(), random.Random(seed), (move,))


def kept(parent: Task, child: Task) -> bool:
    """Every constraint of the parent is somewhere in the child."""
    got = [c.model_dump_json() for _, c in iter_constraints(child)]
    return all(c.model_dump_json() in got for _, c in iter_constraints(parent))


def test_a_single_becomes_a_chain_whose_first_step_keeps_its_constraint_and_whose_second_gets_a_new_one(
    tax: Taxonomy,
) -> None:
    tree = Task(task=SEED, body=LOWER)
    child = harden(tree, tax, "chain_step")
    assert child is not None and tree_category(child) == "Chain_1" and child.task == SEED
    assert isinstance(child.body, Chain) and len(child.body.steps) == 2
    first, second = child.body.steps
    assert first.task in chain_steps_text()["first"] and first.body == LOWER
    assert "Part 1" in (second.task or "") and isinstance(second.body, Constraint) and second.body != LOWER
    assert tax.compatible(second.body.spec_id, [LOWER.spec_id])
    assert [c.scope for c in compile_plan(child, tax).checks] == ["part:1", "part:2"]


def test_an_and_is_split_over_the_steps_and_a_chain_step_becomes_a_nested_chain(tax: Taxonomy) -> None:
    tree = Task(task=SEED, body=And(children=[LOWER, WORDS]))
    child = harden(tree, tax, "chain_step")
    assert child is not None and tree_category(child) == "Chain_1" and kept(tree, child)
    assert isinstance(child.body, Chain) and [s.body for s in child.body.steps] == [
        LOWER,
        WORDS,
    ]  # in order, nothing new
    grandchild = harden(child, tax, "chain_step")
    assert grandchild is not None and tree_category(grandchild) == "Chain_2" and kept(child, grandchild)
    assert isinstance(grandchild.body, Chain)
    nested = [(i, s) for i, s in enumerate(grandchild.body.steps) if isinstance(s.body, Chain)]
    [(i, holder)] = nested
    assert holder.task is None  # as the composer nests: the sub-chain's first step carries out the step's own task
    assert isinstance(holder.body, Chain) and holder.body.steps[0].task == child.body.steps[i].task
    scopes = {c.scope for c in compile_plan(grandchild, tax).checks}
    assert {f"part:{i + 1}.1", f"part:{i + 1}.2"} <= scopes


def test_a_selection_level_keeps_the_constraints_in_the_case_that_applies(tax: Taxonomy) -> None:
    tree = Task(task=SEED, body=And(children=[LOWER, WORDS]))
    child = harden(tree, tax, "selection_level")
    assert child is not None and tree_category(child) == "Selection_2" and kept(tree, child)
    sel = child.body
    assert isinstance(sel, Selection) and [b.label for b in sel.branches][:2] == ["A", "B"]
    correct = next(b for b in sel.branches if b.label == sel.correct)
    assert correct.when == sel.condition.value and correct.body.body == tree.body
    for other in (b for b in sel.branches if b.label != sel.correct):
        assert isinstance(other.body.body, Constraint)  # a new constraint, compatible with the tree's
        assert tax.compatible(other.body.body.spec_id, [LOWER.spec_id, WORDS.spec_id])
    plan = compile_plan(child, tax)
    assert plan.checks[0].checker == "structure:selected_case" and plan.correct_branches == {"tree.body": sel.correct}


def test_a_nested_selection_takes_labels_after_the_trees(tax: Taxonomy) -> None:
    child = harden(Task(task=SEED, body=LOWER), tax, "selection_level")
    assert child is not None and tree_category(child) == "Selection_1"
    grandchild = harden(child, tax, "selection_level")
    assert grandchild is not None and tree_category(grandchild) == "Selection_2" and kept(child, grandchild)
    assert isinstance(grandchild.body, Selection)
    inner = next(b.body.body for b in grandchild.body.branches if isinstance(b.body.body, Selection))
    outer_labels = {b.label for b in grandchild.body.branches}
    assert isinstance(inner, Selection) and not outer_labels & {b.label for b in inner.branches}
    assert min(b.label for b in inner.branches) > max(outer_labels)  # outer cases keep the earlier letters
    assert len(compile_plan(grandchild, tax).correct_branches) == 2  # both Selections are on the taken path


def deepest_chain(leaf: Node, depth: int = 3) -> Node:
    """A Chain of Chains, `depth` levels, every leaf output holding `leaf`."""
    if depth == 0:
        return leaf
    return Chain(steps=[Task(task=f"Step {i} at depth {depth}.", body=deepest_chain(leaf, depth - 1)) for i in (1, 2)])


@pytest.mark.parametrize("move", MOVES)
def test_no_move_goes_past_the_deepest_category(tax: Taxonomy, move: str) -> None:
    tree = Task(task=SEED, body=deepest_chain(LOWER))
    assert tree_category(tree) == "Chain_3"
    # every output that could take a move is already three levels deep: whatever it adds would make a Chain_4
    assert all(harden(tree, tax, move, seed) is None for seed in range(5))


def test_a_constraint_only_for_the_whole_response_keeps_its_output_as_it_is(tax: Taxonomy) -> None:
    tree = Task(task=SEED, body=REPEAT)  # repeating the request cannot move into a part or a case
    assert harden(tree, tax, "chain_step") is None and harden(tree, tax, "selection_level") is None
    assert harden(tree, tax, "constraint") is not None


def test_outputs_follow_the_taken_path_with_their_spans(tax: Taxonomy) -> None:
    child = harden(Task(task=SEED, body=LOWER), tax, "selection_level")
    assert child is not None
    chained = harden(child, tax, "chain_step")
    assert chained is not None
    found = [(o.placement, o.scope) for o in outputs(chained)]
    assert found[0] == ("whole", "response") and all(p == "part" for p, _ in found[1:])
    assert {s for _, s in found} == {"response", "part:1", "part:2"}  # the chain sits in the case that applies


def instruction(tree: Task, tax: Taxonomy) -> Instruction:
    fp = fingerprint_of(tree.model_dump())
    return Instruction(
        id="ins-p", seed_id="s", seed_text=SEED, tree=tree, category=tree_category(tree), composition=[], depth=0,
        prompt=SEED, plan=compile_plan(tree, tax), taxonomy_version=tax.version, fingerprint=fp,
    )  # fmt: skip


def test_each_move_is_drawn_first_for_some_instruction_and_the_draw_is_repeatable(tax: Taxonomy) -> None:
    categories = set()
    for seed in range(40):
        parent = instruction(Task(task=SEED, body=LOWER), tax)
        child = harden_instruction(parent, tax, random_seed=seed, moves=MOVES)
        assert child is not None and child == harden_instruction(parent, tax, random_seed=seed, moves=MOVES[::-1])
        categories.add(child.category)
    assert categories == {"And_1", "Chain_1", "Selection_1"}  # one per move: constraint, chain_step, selection_level


def test_the_config_offers_exactly_the_moves_there_are() -> None:
    assert get_args(HardeningMove) == MOVES == tuple(MOVE_FUNCTIONS)


def test_an_unknown_move_is_named(tax: Taxonomy) -> None:
    with pytest.raises(CompositionError, match="unknown hardening move 'swap'"):
        harden(Task(task=SEED, body=LOWER), tax, "swap")
