"""Hardening by measured difficulty: an instruction the model finds easy gets one more compatible constraint.

IFDecorator's loop, on complexify's trees: when the measured pass rate of an instruction is above a
threshold, one constraint is added to one output of its tree (the whole response, a Chain step or a
Selection case), drawn like any composed constraint (compatible with every constraint already in the tree
under the taxonomy's conflict graph, no lexical clash) and kept only if the tree's numeric constraints stay
jointly feasible. The hardened instruction is a new instruction (its own id, fingerprint, plan and prompt)
that names its parent and its round; it is then measured again like any other.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from pipeline.compose import ComposeOptions, draw_constraint
from pipeline.config import RunConfig
from pipeline.feasibility import is_feasible
from pipeline.models import And, Chain, Constraint, Instruction, Node, Selection, Task, fingerprint_of
from pipeline.plans import compile_plan
from pipeline.renderings import render_prompt
from pipeline.stages import Models
from pipeline.taxonomy import Taxonomy
from pipeline.tree import composition_types, iter_constraints, tree_category, tree_depth

DRAWS_PER_SLOT = 8


Rebuild = Callable[[Constraint], Task]


def _augment(body: Node | None, new: Constraint) -> Node:
    if body is None:
        return new
    if isinstance(body, And):
        return And(children=[*body.children, new])
    return And(children=[body, new])


def slots(tree: Task) -> list[tuple[str, Rebuild]]:
    """Every output on the tree's taken path that can take one more constraint, in tree order: its placement
    ("whole" for the response itself, "part" for a Chain step or the Selection case that applies) and how to
    rebuild the tree with it."""
    out: list[tuple[str, Rebuild]] = []

    def task_slots(task: Task, placement: str, rebuild: Callable[[Task], Task]) -> None:
        body = task.body
        if body is None or isinstance(body, Constraint | And):
            out.append((placement, lambda c: rebuild(task.model_copy(update={"body": _augment(body, c)}))))
        node_slots(body, placement, lambda b: rebuild(task.model_copy(update={"body": b})))

    def node_slots(node: Node | None, placement: str, rebuild: Callable[[Node], Task]) -> None:
        if isinstance(node, And):
            for i, child in enumerate(node.children):
                def put(n: Node, i: int = i, node: And = node) -> Task:
                    return rebuild(And(children=[*node.children[:i], n, *node.children[i + 1 :]]))
                node_slots(child, placement, put)
        elif isinstance(node, Chain):
            for i, step in enumerate(node.steps):
                def put_step(t: Task, i: int = i, node: Chain = node) -> Task:
                    return rebuild(node.model_copy(update={"steps": [*node.steps[:i], t, *node.steps[i + 1 :]]}))
                task_slots(step, "part", put_step)
        elif isinstance(node, Selection):
            for i, branch in enumerate(node.branches):
                if branch.label != node.correct:
                    continue  # a constraint in a case that does not apply changes nothing the answer must do
                def put_case(t: Task, i: int = i, node: Selection = node) -> Task:
                    branches = list(node.branches)
                    branches[i] = branches[i].model_copy(update={"body": t})
                    return rebuild(node.model_copy(update={"branches": branches}))
                task_slots(branch.body, "part", put_case)
        elif isinstance(node, Task):
            task_slots(node, placement, rebuild)

    task_slots(tree, "whole", lambda t: t)
    return out


def harden_tree(tree: Task, taxonomy: Taxonomy, options: ComposeOptions, rng: random.Random) -> Task | None:
    """The tree with one more compatible, jointly feasible constraint on one of its outputs; None if none fits."""
    path_constraints = [c for _, c in iter_constraints(tree)]  # every constraint of the tree: conservative
    task_text = tree.task or ""
    candidates = slots(tree)
    rng.shuffle(candidates)
    for placement, rebuild in candidates:
        for _ in range(DRAWS_PER_SLOT):
            new = draw_constraint(taxonomy, options, rng, placement=placement, path=path_constraints, task_text=task_text)
            if new is None:
                break  # nothing compatible fits this output
            hardened = rebuild(new)
            if is_feasible(hardened):
                return hardened
    return None


def harden_instruction(
    ins: Instruction, taxonomy: Taxonomy, *, options: ComposeOptions | None = None, random_seed: int | str = 0
) -> Instruction | None:
    """A harder child of `ins` (one more constraint), or None when no compatible constraint fits; deterministic."""
    rng = random.Random(f"harden|{random_seed}|{ins.fingerprint}")
    tree = harden_tree(ins.tree, taxonomy, options or ComposeOptions(), rng)
    if tree is None:
        return None
    fp = fingerprint_of({"hardened_from": ins.fingerprint, "tree": tree.model_dump()})
    return ins.model_copy(
        update={
            "id": f"ins-{fingerprint_of([fp, str(random_seed)])[:12]}",
            "tree": tree,
            "category": tree_category(tree),
            "composition": sorted(composition_types(tree)),
            "depth": tree_depth(tree),
            "prompt": render_prompt(tree, random.Random(fp), ins.rendering),
            "plan": compile_plan(tree, taxonomy),
            "fingerprint": fp,
            "template_prompt": None,
            "rewrite_note": "",
            "parent_id": ins.id,
            "hardening_round": ins.hardening_round + 1,
            "sibling_group": None,
        }
    )



def with_hardening(models: Models, cfg: RunConfig, taxonomy: Taxonomy) -> Models:
    """The run's models with the hardener its config asks for (unchanged when hardening is off)."""
    if not cfg.hardening.enabled:
        return models
    options = cfg.compose.options()

    def harden(ins: Instruction) -> Instruction | None:
        return harden_instruction(ins, taxonomy, options=options, random_seed=cfg.random_seed)

    return replace(models, harden=harden)
