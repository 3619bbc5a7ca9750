"""Property tests of counterfactual siblings: every sibling has exactly one correct branch, no two siblings of a
group share one, siblings differ from the instruction only in condition facts (or one Chain step's requirement),
and every sibling is jointly feasible, as every composed instruction is."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.feasibility import infeasibilities
from pipeline.construct.hardening import harden_instruction
from pipeline.construct.plans import compile_plan
from pipeline.construct.siblings import chain_siblings, make_siblings, selection_siblings, sibling_kind
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.construct.tree import iter_constraints
from pipeline.models import Condition, Constraint, Instruction, Node, Seed, Selection, Task
from tests.helpers.tree_properties import assert_instruction_invariants

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
TAXONOMIES = {"bundled": lambda: load_taxonomy(), "fixture": lambda: load_taxonomy(FIXTURE, check_checkers=False)}
SELECTION_CATEGORIES = ["Selection_1", "Selection_2", "Selection_3", "Selection_and_Chain_2", "Selection_and_Chain_3"]
CHAIN_CATEGORIES = ["Chain_1", "Chain_2", "Chain_3"]
options = st.builds(
    ComposeOptions,
    checkers=st.sampled_from(["any", "code"]),
    multiway_share=st.floats(0, 1),
    global_share=st.floats(0, 1),
)


def condition_value(c: Condition) -> str:
    """The condition's value computed here from its facts alone (not read from `c.value`)."""
    f: dict[str, Any] = c.facts
    yes = {
        "parity": lambda: f["n"] % 2 == 0,
        "divisibility": lambda: f["n"] % f["d"] == 0,
        "primality": lambda: f["n"] > 1 and all(f["n"] % k for k in range(2, f["n"])),
        "comparison": lambda: 7 * f["a"] > 3 * f["b"],
        "letter_in_word": lambda: f["letter"] in f["word"],
        "alphabetical": lambda: f["first"] < f["second"],
        "weekend": lambda: dt.date.fromisoformat(f["date"]).weekday() >= 5,
    }
    if c.kind == "remainder":
        return str(f["n"] % 3)
    return "yes" if yes[c.kind]() else "no"


def selections(node: Node | None, path: str = "tree") -> list[tuple[str, Selection]]:
    """Every Selection in the tree with its path (untaken branches too)."""
    if node is None or isinstance(node, Constraint):
        return []
    if isinstance(node, Task):
        return selections(node.body, f"{path}.body")
    if isinstance(node, Selection):
        return [(path, node)] + [
            s for i, b in enumerate(node.branches) for s in selections(b.body, f"{path}.branches[{i}].body")
        ]
    kids = node.children if node.kind == "and" else node.steps  # type: ignore[union-attr]
    key = "children" if node.kind == "and" else "steps"
    return [s for i, k in enumerate(kids) for s in selections(k, f"{path}.{key}[{i}]")]


def without_conditions(tree: Task) -> dict[str, Any]:
    """The tree as data with every condition and correct label blanked: what siblings must share."""
    data = tree.model_dump()

    def blank(d: Any) -> None:
        if isinstance(d, dict):
            if d.get("kind") == "selection":
                d["condition"], d["correct"] = None, None
            for v in d.values():
                blank(v)
        elif isinstance(d, list):
            for v in d:
                blank(v)

    blank(data)
    return data


def assert_group_shares_all_but_conditions(ins: Instruction, group: list[Instruction]) -> None:
    assert group[0].id == ins.id and group[0].tree == ins.tree and group[0].plan == ins.plan
    assert len({g.id for g in group}) == len({g.fingerprint for g in group}) == len(group)
    assert {g.sibling_group for g in group} == {group[0].sibling_group} and group[0].sibling_group
    for g in group:
        assert (g.seed_id, g.seed_text, g.category, g.composition, g.depth) == (
            ins.seed_id,
            ins.seed_text,
            ins.category,
            ins.composition,
            ins.depth,
        )
        assert without_conditions(g.tree) == without_conditions(ins.tree)
        assert g.plan == compile_plan(g.tree, TAXONOMY_CACHE[g.taxonomy_version])

    # the prompts differ only where the condition text does
    def masked(g: Instruction) -> str:
        text = g.prompt
        for _, s in selections(g.tree):
            text = text.replace(s.condition.text, "<condition>")
        return text

    assert len({masked(g) for g in group}) == 1


TAXONOMY_CACHE: dict[str, Any] = {}


@pytest.mark.parametrize("which", sorted(TAXONOMIES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    category=st.sampled_from(SELECTION_CATEGORIES),
    random_seed=st.integers(0, 2**32),
    opts=options,
    limit=st.integers(2, 8),
)
def test_selection_siblings_each_have_one_correct_branch_and_never_share_it(
    which: str, category: str, random_seed: int, opts: ComposeOptions, limit: int
) -> None:
    tax = TAXONOMIES[which]()
    TAXONOMY_CACHE[tax.version] = tax
    ins = compose_instruction(
        Seed(id="p", text="Describe a lighthouse."), category, tax, random_seed=random_seed, options=opts
    )
    group = selection_siblings(ins, tax, limit=limit)
    assert 2 <= len(group) <= limit
    for g in group:
        assert_instruction_invariants(g, tax, category)
        for _, sel in selections(g.tree):
            truth = condition_value(sel.condition)
            assert truth == sel.condition.value
            matching = [b.label for b in sel.branches if b.when == truth]
            assert matching == [sel.correct], "exactly one branch is correct, and it is the one recorded"
    # no two siblings share a correct branch (assignment of correct branches along the executed path)
    taken = [tuple(sorted(g.plan.correct_branches.items())) for g in group]
    assert len(set(taken)) == len(taken)
    top_path, top = selections(ins.tree)[0]
    if len(selections(ins.tree)) == 1:  # one Selection: each branch is correct in exactly one sibling
        labels = [g.plan.correct_branches[top_path] for g in group]
        assert len(set(labels)) == len(labels) and set(labels) <= {b.label for b in top.branches}
        assert len(group) == min(limit, len(top.branches))
    assert_group_shares_all_but_conditions(ins, group)
    assert selection_siblings(ins, tax, limit=limit) == group  # deterministic


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CHAIN_CATEGORIES), random_seed=st.integers(0, 2**32), opts=options)
def test_chain_siblings_change_one_step_requirement_that_later_steps_depend_on(
    category: str, random_seed: int, opts: ComposeOptions
) -> None:
    tax = TAXONOMIES["bundled"]()
    ins = compose_instruction(
        Seed(id="p", text="Describe a lighthouse."), category, tax, random_seed=random_seed, options=opts
    )
    group = chain_siblings(ins, tax)
    assert group == [] or group[0].tree == ins.tree
    original = dict(iter_constraints(ins.tree))
    changed_paths = []
    for g in group[1:]:
        assert_instruction_invariants(g, tax, category)
        mine = dict(iter_constraints(g.tree))
        assert mine.keys() == original.keys()
        diff = [p for p in mine if mine[p] != original[p]]
        assert len(diff) == 1, "a Chain sibling changes exactly one constraint"
        path = diff[0]
        old, new = original[path], mine[path]
        assert new.spec_id == old.spec_id and new.params != old.params and new.text != old.text
        changed_paths.append(path)
        # every check of the later steps depends on the changed one: an answer that keeps the old requirement
        # fails them all after gating
        changed = next(c for c in g.plan.checks if c.constraint_path == path)
        scope = changed.scope.split(".")[0]
        later = [
            c for c in g.plan.checks if c.scope.startswith("part:") and int(c.scope[5:].split(".")[0]) > int(scope[5:])
        ]
        assert all(changed.id in c.depends_on for c in later)
        assert without_conditions(g.tree) != without_conditions(ins.tree)
    assert len(set(changed_paths)) == len(changed_paths), "one sibling per step"


@pytest.mark.parametrize("which", sorted(TAXONOMIES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    category=st.sampled_from(SELECTION_CATEGORIES + CHAIN_CATEGORIES),
    random_seed=st.integers(0, 2**32),
    opts=options,
    rounds=st.integers(0, 3),
    limit=st.integers(2, 8),
)
def test_every_sibling_is_jointly_feasible(
    which: str, category: str, random_seed: int, opts: ComposeOptions, rounds: int, limit: int
) -> None:
    tax = TAXONOMIES[which]()
    ins = compose_instruction(
        Seed(id="p", text="Describe a lighthouse."), category, tax, random_seed=random_seed, options=opts
    )
    for k in range(rounds):  # hardened trees carry more constraints, so a redrawn one clashes more easily
        ins = harden_instruction(ins, tax, options=opts, random_seed=k) or ins
    assert not infeasibilities(ins.tree)
    group = make_siblings(ins, tax, limit=limit)
    assert (group == [] and sibling_kind(ins) != "selection") or 2 <= len(group) <= limit
    for g in group:
        assert not infeasibilities(g.tree), f"sibling {g.id} of {ins.id}"
        assert_instruction_invariants(g, tax, ins.category)
    assert make_siblings(ins, tax, limit=limit) == group  # deterministic
