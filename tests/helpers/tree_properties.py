"""Invariants every composed instruction must satisfy; shared by unit and property tests."""

from __future__ import annotations

from itertools import combinations

from hypothesis import strategies as st

from pipeline.construct.options import ComposeOptions
from pipeline.construct.plans import DECISION_CHECKER
from pipeline.construct.render import sentence
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.tree import composition_types, tree_category, tree_depth
from pipeline.models import And, Chain, Constraint, Instruction, Node, Selection, Task


def output_paths(node: Node | None, inherited: tuple[Constraint, ...] = ()) -> list[tuple[Constraint, ...]]:
    """For every output span, the constraints that apply to it (its own plus those over the whole)."""
    if node is None:
        return [inherited]
    if isinstance(node, Constraint):
        return [(*inherited, node)]
    if isinstance(node, Task):
        return output_paths(node.body, inherited)
    if isinstance(node, And):
        cons = tuple(c for c in node.children if isinstance(c, Constraint))
        rest = [c for c in node.children if not isinstance(c, Constraint)]
        if not rest:
            return [(*inherited, *cons)]
        return [p for r in rest for p in output_paths(r, (*inherited, *cons))]
    if isinstance(node, Chain):
        return [p for s in node.steps for p in output_paths(s, inherited)]
    return [p for b in node.branches for p in output_paths(b.body, inherited)]


def taken_constraint_paths(node: Node | None, path: str = "tree") -> tuple[list[str], list[str]]:
    """Paths of constraints on the executed path, and paths of the Selections on it."""
    cons: list[str] = []
    sels: list[str] = []

    def walk(n: Node | None, p: str) -> None:
        if n is None:
            return
        if isinstance(n, Constraint):
            cons.append(p)
        elif isinstance(n, Task):
            walk(n.body, f"{p}.body")
        elif isinstance(n, And):
            for i, c in enumerate(n.children):
                walk(c, f"{p}.children[{i}]")
        elif isinstance(n, Chain):
            for i, s in enumerate(n.steps):
                walk(s, f"{p}.steps[{i}]")
        elif isinstance(n, Selection):
            sels.append(p)
            i = next(k for k, b in enumerate(n.branches) if b.label == n.correct)
            walk(n.branches[i].body, f"{p}.branches[{i}].body")

    walk(node, path)
    return cons, sels


def all_constraints(node: Node | None) -> list[Constraint]:
    return [c for path in output_paths(node) for c in path]


def assert_instruction_invariants(ins: Instruction, tax: Taxonomy, category: str) -> None:
    # category and depth
    assert ins.category == category == tree_category(ins.tree)
    assert ins.depth == tree_depth(ins.tree)
    assert ins.composition == sorted(composition_types(ins.tree))

    # no two conflicting constraints on one output path
    for path in output_paths(ins.tree):
        for a, b in combinations(path, 2):
            assert not tax.conflicts(a.spec_id, b.spec_id), f"{a.spec_id} conflicts with {b.spec_id} on one output"

    # one check per constraint on the executed path; one decision check per executed Selection
    checks = ins.plan.checks
    cons, sels = taken_constraint_paths(ins.tree)
    constraint_checks = [c.constraint_path for c in checks if c.checker != DECISION_CHECKER]
    decision_checks = [c.constraint_path for c in checks if c.checker == DECISION_CHECKER]
    assert sorted(constraint_checks) == sorted(cons)
    assert sorted(decision_checks) == sorted(f"{s}.condition" for s in sels)
    assert len({c.id for c in checks}) == len(checks)

    # dependencies: only on earlier checks (acyclic) and transitively closed
    position = {c.id: i for i, c in enumerate(checks)}
    by_id = {c.id: c for c in checks}
    for c in checks:
        for d in c.depends_on:
            assert position[d] < position[c.id], f"{c.id} depends on later {d}"
            assert set(by_id[d].depends_on) <= set(c.depends_on), f"{c.id} misses transitive deps of {d}"

    # Selection branch checks depend on their decision check
    for dec in (c for c in checks if c.checker == DECISION_CHECKER):
        sel_path = dec.constraint_path.removesuffix(".condition") if dec.constraint_path else ""
        for c in checks:
            if c.constraint_path and c.constraint_path.startswith(sel_path + ".branches"):
                assert dec.id in c.depends_on
        assert dec.kwargs["expected"] in dec.kwargs["labels"]

    # later Chain parts depend on every check of earlier sibling parts
    for a in checks:
        for b in checks:
            sa, sb = a.scope, b.scope
            if sa.startswith("part:") and sb.startswith("part:"):
                pa, pb = sa[5:].split("."), sb[5:].split(".")
                if len(pa) == len(pb) and pa[:-1] == pb[:-1] and int(pa[-1]) < int(pb[-1]):
                    assert a.id in b.depends_on, f"{b.id} ({sb}) should depend on {a.id} ({sa})"

    # the prompt states every constraint
    for c in all_constraints(ins.tree):
        assert sentence(c.text) in ins.prompt or c.text in ins.prompt

    # lossless JSON round trip
    assert type(ins).model_validate_json(ins.model_dump_json()) == ins


# Sampler options a run configuration may set (default vocabularies), for property tests of the composer.
compose_options = st.builds(
    ComposeOptions,
    checkers=st.sampled_from(["any", "code"]),
    judge_share=st.floats(0, 1),
    and_size=st.tuples(st.integers(2, 3), st.integers(0, 2)).map(lambda t: (t[0], t[0] + t[1])),
    chain_steps=st.tuples(st.integers(2, 3), st.integers(0, 1)).map(lambda t: (t[0], t[0] + t[1])),
    multiway_share=st.floats(0, 1),
    global_share=st.floats(0, 1),
)
