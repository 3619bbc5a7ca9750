"""Hardening by measured difficulty: an instruction the model finds easy is made harder by one move.

IFDecorator's loop, on complexify's trees: when the measured pass rate of an instruction is above a
threshold, its tree is changed by one of the run's moves, tried in an order drawn for the instruction until
one fits:

- `constraint`: one constraint is added to one output of the taken path (the whole response, a Chain step
  or the Selection case that applies);
- `chain_step`: the constraints of one such output are split across the steps of a new Chain (one more
  Chain level: a Single or And_1 becomes a Chain_1, a Chain_1 step becomes a nested Chain);
- `selection_level`: one such output becomes a Selection on a freshly drawn condition whose correct case
  keeps the output's constraints and whose other cases get new ones (one more Selection level).

Every new constraint is drawn like any composed constraint (compatible with every constraint already in the
tree under the taxonomy's conflict graph, no lexical clash); nothing of the parent is dropped; a result is
kept only if its numeric constraints stay jointly feasible and its category is a valid one (a move past the
deepest category does not fit). The hardened instruction is a new instruction (its own id, fingerprint, plan
and prompt) that names its parent and its round; it is then measured again like any other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from pipeline import spans
from pipeline.construct.compose import ComposeOptions, chain_steps_text, draw_constraint
from pipeline.construct.conditions import draw_condition
from pipeline.construct.plans import compile_plan
from pipeline.construct.renderings import render_prompt
from pipeline.construct.seed_tags import keeps_to_seed
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.tree import (
    composition_types,
    iter_constraints,
    iter_selections,
    parse_category,
    tree_category,
    tree_depth,
)
from pipeline.errors import CompositionError
from pipeline.models import And, Branch, Chain, Constraint, Instruction, Node, Seed, Selection, Task, fingerprint_of

DRAWS_PER_SLOT = 8
MOVES = ("constraint", "chain_step", "selection_level")
CASE_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


Rebuild = Callable[[Constraint], Task]


@dataclass(frozen=True)
class Output:
    """One output on the tree's taken path: the Task that makes it, its placement ("whole" for the response
    itself, "part" for a Chain step or the Selection case that applies), the span its checks read, the task
    text its constraints are drawn for, and how to rebuild the whole tree with that Task replaced."""

    task: Task
    placement: str
    scope: str
    context: str
    rebuild: Callable[[Task], Task]


def outputs(tree: Task) -> list[Output]:
    """Every output on the tree's taken path, in tree order (an output before the outputs nested in it)."""
    out: list[Output] = []

    def task_outputs(task: Task, placement: str, scope: str, context: str, rebuild: Callable[[Task], Task]) -> None:
        context = task.task or context  # a task without text carries out its enclosing task
        out.append(Output(task, placement, scope, context, rebuild))
        node_outputs(task.body, placement, scope, context, lambda b: rebuild(task.model_copy(update={"body": b})))

    def node_outputs(
        node: Node | None, placement: str, scope: str, context: str, rebuild: Callable[[Node], Task]
    ) -> None:
        if isinstance(node, And):
            for i, child in enumerate(node.children):

                def put(n: Node, i: int = i, node: And = node) -> Task:
                    return rebuild(And(children=[*node.children[:i], n, *node.children[i + 1 :]]))

                node_outputs(child, placement, scope, context, put)
        elif isinstance(node, Chain):
            for i, step in enumerate(node.steps):

                def put_step(t: Task, i: int = i, node: Chain = node) -> Task:
                    return rebuild(node.model_copy(update={"steps": [*node.steps[:i], t, *node.steps[i + 1 :]]}))

                task_outputs(step, "part", spans.part_scope(scope, i + 1), context, put_step)
        elif isinstance(node, Selection):
            for i, branch in enumerate(node.branches):
                if branch.label != node.correct:
                    continue  # a case that does not apply changes nothing the answer must do

                def put_case(t: Task, i: int = i, node: Selection = node) -> Task:
                    branches = list(node.branches)
                    branches[i] = branches[i].model_copy(update={"body": t})
                    return rebuild(node.model_copy(update={"branches": branches}))

                task_outputs(branch.body, "part", scope, context, put_case)
        elif isinstance(node, Task):
            task_outputs(node, placement, scope, context, rebuild)

    task_outputs(tree, "whole", spans.RESPONSE, tree.task or "", lambda t: t)
    return out


def _augment(body: Node | None, new: Constraint) -> Node:
    if body is None:
        return new
    if isinstance(body, And):
        return And(children=[*body.children, new])
    return And(children=[body, new])


def slots(tree: Task) -> list[tuple[str, Rebuild]]:
    """Every output on the tree's taken path that can take one more constraint, in tree order: its placement
    and how to rebuild the tree with it."""

    def adding_to(o: Output) -> Rebuild:
        return lambda c: o.rebuild(o.task.model_copy(update={"body": _augment(o.task.body, c)}))

    return [
        (o.placement, adding_to(o))
        for o in outputs(tree)
        if o.task.body is None or isinstance(o.task.body, Constraint | And)
    ]


def leaf_constraints(body: Node | None) -> list[Constraint] | None:
    """The constraints of an output that holds nothing but constraints (none, one, or an And of them); else None."""
    if body is None:
        return []
    if isinstance(body, Constraint):
        return [body]
    if isinstance(body, And) and all(isinstance(c, Constraint) for c in body.children):
        return [c for c in body.children if isinstance(c, Constraint)]
    return None


def fits(tree: Task, taxonomy: Taxonomy, seed: Seed | None = None) -> bool:
    """A hardened tree is kept only in a valid category (not past the deepest one), jointly feasible and, when its
    seed is known, with no constraint its seed's task cannot take (a haiku of 300 words: seed_tags)."""
    try:
        parse_category(tree_category(tree))
    except CompositionError:
        return False
    return keeps_to_seed(tree, taxonomy, seed)


# --- moves: each returns the hardened tree or None when it does not fit --------------------------------------


@dataclass(frozen=True)
class _Draw:
    """What every move draws with: the taxonomy, the sampler's options and the instruction's rng."""

    taxonomy: Taxonomy
    options: ComposeOptions
    rng: random.Random
    seed: Seed | None = None  # the instruction's seed, when known: its tags rule out clashing constraints

    def constraints(self, n: int, path: Sequence[Constraint], task_text: str) -> list[Constraint] | None:
        """n part constraints, each compatible with `path` and the ones drawn before it; None if one does not fit."""
        out: list[Constraint] = []
        for _ in range(n):
            new = draw_constraint(
                self.taxonomy, self.options, self.rng, placement="part", path=[*path, *out], task_text=task_text
            )
            if new is None:
                return None
            out.append(new)
        return out


def add_constraint(tree: Task, draw: _Draw) -> Task | None:
    """The tree with one more compatible constraint on one of its outputs."""
    path_constraints = [c for _, c in iter_constraints(tree)]  # every constraint of the tree: conservative
    task_text = tree.task or ""
    candidates = slots(tree)
    draw.rng.shuffle(candidates)
    for placement, rebuild in candidates:
        for _ in range(DRAWS_PER_SLOT):
            new = draw_constraint(
                draw.taxonomy, draw.options, draw.rng, placement=placement, path=path_constraints, task_text=task_text
            )
            if new is None:
                break  # nothing compatible fits this output
            hardened = rebuild(new)
            if fits(hardened, draw.taxonomy, draw.seed):
                return hardened
    return None


def _split(constraints: list[Constraint], k: int, rng: random.Random) -> list[list[Constraint]]:
    """`constraints` in order over k groups: one each while they last (empty groups after), else cut at random."""
    n = len(constraints)
    if n <= k:
        return [[c] for c in constraints] + [[] for _ in range(k - n)]
    cuts = sorted(rng.sample(range(1, n), k - 1))
    return [constraints[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]


def _one(constraints: list[Constraint]) -> Node:
    return constraints[0] if len(constraints) == 1 else And(children=list[Node](constraints))


def chain_step(tree: Task, out: Output, draw: _Draw) -> Task | None:
    """`out` as a Chain whose steps share its constraints; a step left without one gets a new one. The steps are
    worded as the composer words them: the first carries out the output's task, each later one works on the part
    before it."""
    constraints = leaf_constraints(out.task.body) or []
    lo, hi = draw.options.chain_steps
    groups = _split(constraints, min(max(len(constraints), lo), hi), draw.rng)
    texts = chain_steps_text()
    # a Chain step's own text becomes the first sub-step's, as in a composed nested Chain
    own_text = out.task.task if out.placement == "part" and out.task.task else None
    follow = draw.rng.sample(texts["follow"], len(texts["follow"]))
    path = [c for _, c in iter_constraints(tree)]
    steps: list[Task] = []
    for i, group in enumerate(groups, start=1):
        if i == 1:
            text = own_text if own_text is not None else draw.rng.choice(texts["first"])
        else:
            prev = "Part " + spans.part_scope(out.scope, i - 1).removeprefix("part:")
            text = follow[(i - 2) % len(follow)].format(prev=prev)
        if not group:
            new = draw.constraints(1, path, text)
            if new is None:
                return None
            path, group = [*path, *new], new
        steps.append(Task(task=text, body=_one(group)))
    chain = Chain(steps=steps)
    return Task(task=None, body=chain) if own_text is not None else out.task.model_copy(update={"body": chain})


def selection_level(tree: Task, out: Output, draw: _Draw) -> Task | None:
    """`out` as a Selection on a new condition: the case that applies keeps the output's constraints, every other
    case gets one new constraint; labels continue after the tree's (outer cases keep the earlier letters)."""
    n = 3 if draw.rng.random() < draw.options.multiway_share else 2
    cond = draw_condition(draw.rng, n)
    used = {b.label for s in iter_selections(tree) for b in s.branches}
    labels = [x for x in CASE_LABELS if x not in used][:n]
    if len(labels) < n:
        return None
    others = draw.constraints(n - 1, [c for _, c in iter_constraints(tree)], out.context)
    if others is None:
        return None
    bodies = iter(others)
    branches = [
        Branch(
            label=label,
            when=value,
            body=Task(task=None, body=out.task.body if value == cond.condition.value else next(bodies)),
        )
        for label, value in zip(labels, cond.outcomes, strict=True)
    ]
    correct = next(b.label for b in branches if b.when == cond.condition.value)
    selection = Selection(condition=cond.condition, branches=branches, correct=correct)
    return out.task.model_copy(update={"body": selection})


Reshape = Callable[[Task, Output, _Draw], Task | None]


def _reshape_some_output(tree: Task, draw: _Draw, reshape: Reshape) -> Task | None:
    """The tree with one output that holds only constraints reshaped; outputs tried in random order. An output
    with a constraint that only fits the whole response (e.g. repeating the prompt) keeps its shape."""
    candidates = [
        o
        for o in outputs(tree)
        if (cons := leaf_constraints(o.task.body)) is not None
        and all("part" in draw.taxonomy.spec(c.spec_id).placement for c in cons)
    ]
    draw.rng.shuffle(candidates)
    for out in candidates:
        for _ in range(DRAWS_PER_SLOT):
            task = reshape(tree, out, draw)
            if task is None:
                break  # nothing compatible fits this output
            hardened = out.rebuild(task)
            if fits(hardened, draw.taxonomy, draw.seed):
                return hardened
    return None


def add_chain_step(tree: Task, draw: _Draw) -> Task | None:
    """The tree with one output split into the steps of a new Chain."""
    return _reshape_some_output(tree, draw, chain_step)


def add_selection_level(tree: Task, draw: _Draw) -> Task | None:
    """The tree with one output turned into a Selection whose applying case keeps it."""
    return _reshape_some_output(tree, draw, selection_level)


MOVE_FUNCTIONS: dict[str, Callable[[Task, _Draw], Task | None]] = {
    "constraint": add_constraint, "chain_step": add_chain_step, "selection_level": add_selection_level,
}  # fmt: skip


def harden_tree(
    tree: Task,
    taxonomy: Taxonomy,
    options: ComposeOptions,
    rng: random.Random,
    moves: Sequence[str] = ("constraint",),
    seed: Seed | None = None,
) -> Task | None:
    """The tree made harder by the first of `moves` (in an order drawn from `rng`) that fits; None if none does.
    Only the set of moves counts, not how a config lists them."""
    unknown = sorted(set(moves) - set(MOVES))
    if unknown:
        raise CompositionError(f"unknown hardening move {unknown[0]!r}; known: {', '.join(MOVES)}")
    order = [MOVE_FUNCTIONS[name] for name in MOVES if name in moves]
    rng.shuffle(order)  # one move draws nothing, so a run with only "constraint" hardens as it always did
    draw = _Draw(taxonomy, options, rng, seed)
    for move in order:
        hardened = move(tree, draw)
        if hardened is not None:
            return hardened
    return None


def harden_instruction(
    ins: Instruction,
    taxonomy: Taxonomy,
    *,
    options: ComposeOptions | None = None,
    random_seed: int | str = 0,
    moves: Sequence[str] = ("constraint",),
    seed: Seed | None = None,
) -> Instruction | None:
    """A harder child of `ins` (one of `moves` applied), or None when no move fits; deterministic. With its `seed`,
    no new constraint clashes with the seed's tags."""
    rng = random.Random(f"harden|{random_seed}|{ins.fingerprint}")
    tree = harden_tree(ins.tree, taxonomy, options or ComposeOptions(), rng, moves, seed)
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


def harden_unique(
    ins: Instruction,
    taxonomy: Taxonomy,
    *,
    seen: Container[str],
    options: ComposeOptions | None = None,
    random_seed: int | str = 0,
    moves: Sequence[str] = ("constraint",),
    seed: Seed | None = None,
    redraws: int = 8,
) -> Instruction | None:
    """harden_instruction, drawn again (up to `redraws` times) while the child's content fingerprint is in `seen`,
    the duplicate check every composed instruction goes through; None when no move fits or every draw repeats an
    instruction in `seen` (a repeated child adds nothing). Deterministic; `seen` is only read."""
    for attempt in range(redraws):
        suffix = "" if attempt == 0 else f":redraw{attempt}"
        child = harden_instruction(
            ins, taxonomy, options=options, random_seed=f"{random_seed}{suffix}", moves=moves, seed=seed
        )
        if child is None or child.fingerprint not in seen:
            return child
    return None
