"""Composition trees as data: ComplexBench categories and the walkers every stage shares (depth, kinds,
category, constraints). No sampling here, so render, verify and store can use it without the composer."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pipeline.errors import CompositionError
from pipeline.models import And, Chain, Constraint, Node, Selection, Task

CATEGORIES = [
    "Single", "And_1", "Chain_1", "Chain_2", "Chain_3", "Selection_1", "Selection_2", "Selection_3",
    "Selection_and_Chain_2", "Selection_and_Chain_3",
]  # fmt: skip
# RAIF's ComplexBench grid, weighted toward the structures small models find hard.
DEFAULT_MIX = {
    "Single": 1, "And_1": 2, "Chain_1": 1, "Chain_2": 1, "Selection_1": 1, "Selection_2": 1,
    "Selection_3": 0.5, "Selection_and_Chain_2": 1, "Selection_and_Chain_3": 0.5,
}  # fmt: skip
_CATEGORY_RE = re.compile(r"^(Single|And|Chain|Selection|Selection_and_Chain)(?:_(\d+))?$")


# --- categories --------------------------------------------------------------------------------------


def split_by_weight(n: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split n over keys by positive weight total (largest remainder, ties by key): categories, or grid cells."""
    total = sum(weights.values())
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


@dataclass(frozen=True)
class CategoryTarget:
    depth: int
    required: frozenset[str]


def parse_category(category: str) -> CategoryTarget:
    """Category name -> nesting depth and required composition kinds; raises on unknown names."""
    m = _CATEGORY_RE.match(category)
    valid = f"valid categories: {', '.join(CATEGORIES)} (depth suffix 1-3)"
    if not m:
        raise CompositionError(f"unknown category {category!r}; {valid}")
    base, depth_s = m.group(1), m.group(2)
    if base == "Single":
        if depth_s is not None:
            raise CompositionError(f"unknown category {category!r}; {valid}")
        return CategoryTarget(0, frozenset())
    depth = int(depth_s or 0)
    if not 1 <= depth <= 3:
        raise CompositionError(f"category {category!r}: nesting depth must be 1, 2 or 3; {valid}")
    if base == "And":
        if depth != 1:
            raise CompositionError(f"category {category!r}: an And of constraints has depth 1 (use And_1)")
        return CategoryTarget(1, frozenset())
    required = {"Chain": {"chain"}, "Selection": {"selection"}, "Selection_and_Chain": {"chain", "selection"}}[base]
    if len(required) > depth:
        raise CompositionError(f"category {category!r}: Selection and Chain together need depth >= 2")
    return CategoryTarget(depth, frozenset(required))


def allocate(n: int, mix: Mapping[str, float]) -> dict[str, int]:
    """Split n over categories by weight (largest remainder); raises on unknown categories or bad weights."""
    if n < 0:
        raise CompositionError(f"number of instructions must be >= 0, got {n}")
    for cat, w in mix.items():
        parse_category(cat)
        if w < 0:
            raise CompositionError(f"category weight for {cat!r} must be >= 0, got {w}")
    if sum(mix.values()) <= 0:
        raise CompositionError("the category mix needs at least one positive weight")
    return split_by_weight(n, mix)


def tree_depth(node: Node | None) -> int:
    """Nesting depth: a constraint is 0; And, Chain and Selection each add one level."""
    if node is None or isinstance(node, Constraint):
        return 0
    if isinstance(node, Task):
        return tree_depth(node.body)
    if isinstance(node, And):
        return 1 + max(tree_depth(c) for c in node.children)
    if isinstance(node, Chain):
        return 1 + max(tree_depth(s) for s in node.steps)
    return 1 + max(tree_depth(b.body) for b in node.branches)


def composition_types(node: Node | None) -> set[str]:
    """Composition kinds present in a tree ("And", "Chain", "Selection")."""
    if node is None or isinstance(node, Constraint):
        return set()
    if isinstance(node, Task):
        return composition_types(node.body)
    if isinstance(node, And):
        return {"And"}.union(*(composition_types(c) for c in node.children))
    if isinstance(node, Chain):
        return {"Chain"}.union(*(composition_types(s) for s in node.steps))
    return {"Selection"}.union(*(composition_types(b.body) for b in node.branches))


def tree_category(tree: Task) -> str:
    """The ComplexBench-style category a tree belongs to (e.g. "Selection_and_Chain_2")."""
    depth, kinds = tree_depth(tree), composition_types(tree)
    if depth == 0:
        return "Single"
    if "Chain" in kinds and "Selection" in kinds:
        return f"Selection_and_Chain_{depth}"
    if "Chain" in kinds:
        return f"Chain_{depth}"
    if "Selection" in kinds:
        return f"Selection_{depth}"
    return f"And_{depth}"


def iter_constraints(node: Node | None, path: str = "tree") -> Iterator[tuple[str, Constraint]]:
    """Every constraint in the tree with its path, untaken Selection branches included."""
    if node is None:
        return
    if isinstance(node, Constraint):
        yield path, node
    elif isinstance(node, Task):
        yield from iter_constraints(node.body, f"{path}.body")
    elif isinstance(node, And):
        for i, c in enumerate(node.children):
            yield from iter_constraints(c, f"{path}.children[{i}]")
    elif isinstance(node, Chain):
        for i, s in enumerate(node.steps):
            yield from iter_constraints(s, f"{path}.steps[{i}]")
    else:
        for i, b in enumerate(node.branches):
            yield from iter_constraints(b.body, f"{path}.branches[{i}].body")


def iter_selections(node: Node | None) -> Iterator[Selection]:
    """Every Selection in the tree, outer before inner, untaken branches included."""
    if node is None or isinstance(node, Constraint):
        return
    if isinstance(node, Selection):
        yield node
        for branch in node.branches:
            yield from iter_selections(branch.body)
    elif isinstance(node, Task):
        yield from iter_selections(node.body)
    elif isinstance(node, Chain):
        for step in node.steps:
            yield from iter_selections(step)
    else:
        for child in node.children:
            yield from iter_selections(child)


def taken_constraints(node: Node | None) -> Iterator[Constraint]:
    """The constraints an answer must meet: every one in the tree but those of Selection cases that do not apply."""
    if node is None:
        return
    if isinstance(node, Constraint):
        yield node
    elif isinstance(node, Task):
        yield from taken_constraints(node.body)
    elif isinstance(node, And):
        for child in node.children:
            yield from taken_constraints(child)
    elif isinstance(node, Chain):
        for step in node.steps:
            yield from taken_constraints(step)
    else:
        for branch in node.branches:
            if branch.label == node.correct:
                yield from taken_constraints(branch.body)
