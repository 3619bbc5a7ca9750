"""Counterfactual siblings of a composed instruction: the same tree with only a Selection condition's facts
changed (so another branch is the correct one), or with one Chain step's output requirement changed.

A group holds the instruction itself and its siblings; all share a `sibling_group` id, are rendered with the
same renderer choices (their prompts differ only where the tree differs) and get plans from `compile_plan`.
A response written for one member is a wrong-branch (or step-ignoring) response for the others, which is
what the `siblings` publish config pairs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence

from pipeline.construct.compose import sample_params
from pipeline.construct.conditions import BINARY, MULTIWAY, ConditionDraw
from pipeline.construct.plans import compile_plan
from pipeline.construct.render import render_template
from pipeline.construct.renderings import render_prompt
from pipeline.construct.seed_tags import keeps_to_seed
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.tree import iter_constraints
from pipeline.errors import CompositionError
from pipeline.models import (
    And,
    Branch,
    Chain,
    Condition,
    Constraint,
    Instruction,
    Node,
    ParamValue,
    Seed,
    Selection,
    Task,
    fingerprint_of,
)

# Members per group at most (the instruction included): nested or multiway Selections can have many outcomes.
SIBLING_LIMIT = 6
# Redraws of a condition, or of a constraint's parameters, before giving up on a wanted value.
MAX_REDRAWS = 2000
# Parameter kinds a Chain sibling may change: numbers and choices. Words stay, so no new word can clash with a
# forbidden one elsewhere in the tree.
CHANGEABLE = frozenset({"int", "float", "choice"})
# Redraws of one constraint for a Chain sibling, each under its own derived key, before that constraint is passed
# over: a redraw rarely breaks the tree's joint feasibility, so a few tries almost always find one that fits.
FEASIBLE_TRIES = 8
_DRAWS: dict[str, Callable[[random.Random], ConditionDraw]] = {f.__name__: f for f in [*BINARY, *MULTIWAY]}
Outcome = dict[str, str]  # Selection path -> label of its correct branch, for the Selections a response executes


def group_id(ins: Instruction) -> str:
    """The sibling group id of the group made from `ins`."""
    return f"sib-{fingerprint_of(['siblings', ins.id])[:12]}"


def sibling_kind(ins: Instruction) -> str | None:
    """ "selection" or "chain": which siblings `make_siblings` makes for this tree (None: neither applies)."""
    if "Selection" in ins.composition:
        return "selection"
    if "Chain" in ins.composition:
        return "chain"
    return None


def make_siblings(
    ins: Instruction, taxonomy: Taxonomy, *, limit: int = SIBLING_LIMIT, seed: Seed | None = None
) -> list[Instruction]:
    """Selection siblings for a tree with a Selection, else Chain siblings for one with a Chain, else []. With the
    instruction's `seed`, a Chain sibling's changed constraint never clashes with the seed's tags."""
    kind = sibling_kind(ins)
    if kind == "selection":
        return selection_siblings(ins, taxonomy, limit=limit)
    if kind == "chain":
        return chain_siblings(ins, taxonomy, limit=limit, seed=seed)
    return []


# --- Selection siblings ------------------------------------------------------------------------------------


def outcomes(node: Node | None, path: str = "tree") -> list[Outcome]:
    """Every distinct correct-branch assignment a tree can have (paths as in compile_plan), in a fixed order."""
    if node is None or isinstance(node, Constraint):
        return [{}]
    if isinstance(node, Task):
        return outcomes(node.body, f"{path}.body")
    if isinstance(node, And):
        parts = [outcomes(c, f"{path}.children[{i}]") for i, c in enumerate(node.children)]
    elif isinstance(node, Chain):
        parts = [outcomes(s, f"{path}.steps[{i}]") for i, s in enumerate(node.steps)]
    else:
        return [
            {path: b.label, **o}
            for i, b in enumerate(node.branches)
            for o in outcomes(b.body, f"{path}.branches[{i}].body")
        ]
    # Selections in different children or steps are independent: every combination is an outcome
    return [{k: v for o in combo for k, v in o.items()} for combo in itertools.product(*parts)]


def pick_outcomes(own: Outcome, every: Sequence[Outcome], limit: int) -> list[Outcome]:
    """`own` first, then the outcomes that cover the most (Selection, branch) pairs not covered yet, up to `limit`."""
    chosen = [own]
    covered = set(own.items())
    rest = [o for o in every if o != own]
    while rest and len(chosen) < limit:
        best = max(rest, key=lambda o: (len(set(o.items()) - covered), -rest.index(o)))
        chosen.append(best)
        covered |= set(best.items())
        rest.remove(best)
    return chosen


def redraw_condition(condition: Condition, value: str, key: str) -> Condition:
    """A condition of the same kind whose computed value is `value` (new facts, the text stating them)."""
    draw = _DRAWS.get(condition.kind)
    if draw is None:
        raise CompositionError(
            f"cannot redraw a condition of kind {condition.kind!r}; known kinds: {', '.join(sorted(_DRAWS))}"
        )
    rng = random.Random(key)
    for _ in range(MAX_REDRAWS):
        new = draw(rng).condition
        if new.value == value:
            return new
    raise CompositionError(f"no {condition.kind} condition with value {value!r} in {MAX_REDRAWS} draws")


def retarget(node: Node | None, outcome: Outcome, key: str, path: str = "tree") -> Node | None:
    """The tree with each Selection named in `outcome` redrawn so that the named branch is the correct one."""
    if node is None or isinstance(node, Constraint):
        return node
    if isinstance(node, Task):
        return node.model_copy(update={"body": retarget(node.body, outcome, key, f"{path}.body")})
    if isinstance(node, And):
        children = [retarget(c, outcome, key, f"{path}.children[{i}]") for i, c in enumerate(node.children)]
        return node.model_copy(update={"children": children})
    if isinstance(node, Chain):
        steps = [retarget(s, outcome, key, f"{path}.steps[{i}]") for i, s in enumerate(node.steps)]
        return node.model_copy(update={"steps": steps})
    branches = [
        Branch(label=b.label, when=b.when, body=_task(retarget(b.body, outcome, key, f"{path}.branches[{i}].body")))
        for i, b in enumerate(node.branches)
    ]
    want = outcome.get(path, node.correct)
    condition = node.condition
    if want != node.correct:
        when = next(b.when for b in node.branches if b.label == want)
        condition = redraw_condition(node.condition, when, f"{key}|{path}|{want}")
    return Selection(condition=condition, branches=branches, correct=want)


def _task(node: Node | None) -> Task:
    assert isinstance(node, Task)
    return node


def selection_siblings(ins: Instruction, taxonomy: Taxonomy, *, limit: int = SIBLING_LIMIT) -> list[Instruction]:
    """The group of `ins` (first) and one sibling per other correct-branch assignment (at most `limit` in all).

    Only condition facts (and the condition text and value that follow from them) change; seed, constraints and
    branches stay. For one Selection that is one sibling per branch.
    """
    if "Selection" not in ins.composition:
        raise CompositionError(f"instruction {ins.id} ({ins.category}) has no Selection; Selection siblings need one")
    if limit < 2:
        raise CompositionError(f"a sibling group needs at least 2 members, got limit={limit}")
    gid = group_id(ins)
    every = outcomes(ins.tree)
    own = next(o for o in every if o == dict(ins.plan.correct_branches))
    trees = [_task(retarget(ins.tree, o, gid)) if o != own else ins.tree for o in pick_outcomes(own, every, limit)]
    return _group(ins, trees, taxonomy, gid)


# --- Chain siblings ----------------------------------------------------------------------------------------


def _phrasing_of(c: Constraint, taxonomy: Taxonomy) -> str | None:
    """The taxonomy phrasing `c.text` was rendered from (None if none renders to it)."""
    return next((p for p in taxonomy.spec(c.spec_id).phrasings if render_template(p, c.params) == c.text), None)


def changed_constraint(c: Constraint, taxonomy: Taxonomy, task_text: str, key: str) -> Constraint | None:
    """The same constraint, same phrasing, with its numeric and choice parameters redrawn (None: cannot change)."""
    spec = taxonomy.spec(c.spec_id)
    if not spec.is_code or not any(p.type in CHANGEABLE for p in spec.params):
        return None
    phrasing = _phrasing_of(c, taxonomy)
    if phrasing is None:
        return None
    kinds = {p.name: p.type for p in spec.params}
    rng = random.Random(key)
    for _ in range(MAX_REDRAWS // 20):
        drawn = sample_params(spec, taxonomy.pools, rng, task_text)
        params: dict[str, ParamValue] = {k: (v if kinds[k] in CHANGEABLE else c.params[k]) for k, v in drawn.items()}
        if params != c.params:
            return Constraint(spec_id=c.spec_id, params=params, text=render_template(phrasing, params))
    return None


def _replace(node: Node | None, path: str, target: str, new: Constraint) -> Node | None:
    """The tree with the constraint at `target` replaced by `new`."""
    if node is None:
        return None
    if isinstance(node, Constraint):
        return new if path == target else node
    if isinstance(node, Task):
        return node.model_copy(update={"body": _replace(node.body, f"{path}.body", target, new)})
    if isinstance(node, And):
        return node.model_copy(
            update={
                "children": [_replace(c, f"{path}.children[{i}]", target, new) for i, c in enumerate(node.children)]
            }
        )
    if isinstance(node, Chain):
        return node.model_copy(
            update={"steps": [_replace(s, f"{path}.steps[{i}]", target, new) for i, s in enumerate(node.steps)]}
        )
    branches = [
        Branch(label=b.label, when=b.when, body=_task(_replace(b.body, f"{path}.branches[{i}].body", target, new)))
        for i, b in enumerate(node.branches)
    ]
    return node.model_copy(update={"branches": branches})


def feasible_change(
    tree: Task, cpath: str, taxonomy: Taxonomy, task_text: str, key: str, seed: Seed | None = None
) -> Task | None:
    """`tree` with the constraint at `cpath` redrawn by `changed_constraint` so that the whole tree stays jointly
    feasible and, with its `seed`, within the seed's tags (seed_tags `keeps_to_seed`, as hardening requires);
    None if the constraint cannot change or none of FEASIBLE_TRIES redraws fits. Deterministic: the first try
    uses `key` itself (so a feasible sibling is the one drawn before this check existed), later tries keys derived
    from it."""
    c = dict(iter_constraints(tree)).get(cpath)
    if c is None:
        raise CompositionError(f"no constraint at {cpath!r} in the tree")
    for attempt in range(FEASIBLE_TRIES):
        new = changed_constraint(c, taxonomy, task_text, key if attempt == 0 else f"{key}|try{attempt}")
        if new is None:
            return None  # nothing to change (no number or choice, or a text no phrasing renders to)
        changed = _task(_replace(tree, "tree", cpath, new))
        if keeps_to_seed(changed, taxonomy, seed):
            return changed
    return None


def _first_chain(node: Node | None, path: str) -> tuple[str, Chain] | None:
    if node is None or isinstance(node, Constraint | Selection):
        return None
    if isinstance(node, Chain):
        return path, node
    if isinstance(node, Task):
        return _first_chain(node.body, f"{path}.body")
    return next((f for i, c in enumerate(node.children) if (f := _first_chain(c, f"{path}.children[{i}]"))), None)


def chain_siblings(
    ins: Instruction, taxonomy: Taxonomy, *, limit: int = SIBLING_LIMIT, seed: Seed | None = None
) -> list[Instruction]:
    """The group of `ins` (first) and one sibling per Chain step whose output requirement can change.

    Each sibling changes one code-checked constraint of one step (its numbers or choices, same phrasing), so an
    answer that keeps to the other requirement fails that step's check and, through the Chain's dependencies,
    every later step's checks. Every sibling is jointly feasible (`feasible_change`): a step whose first
    changeable constraint has no feasible redraw tries its next one, and gets no sibling if none has. Earlier
    steps come first (more checks depend on them); the last step is used only when no earlier one can change.
    """
    found = _first_chain(ins.tree, "tree")
    if found is None:
        raise CompositionError(
            f"instruction {ins.id} ({ins.category}) has no Chain outside a Selection; Chain siblings need one"
        )
    if limit < 2:
        raise CompositionError(f"a sibling group needs at least 2 members, got limit={limit}")
    path, chain = found
    gid = group_id(ins)
    changes: list[tuple[int, Task]] = []
    for i, step in enumerate(chain.steps):
        task_text = step.task or ins.seed_text
        for cpath, _ in iter_constraints(step, f"{path}.steps[{i}]"):
            tree = feasible_change(ins.tree, cpath, taxonomy, task_text, f"{gid}|{cpath}", seed)
            if tree is not None:
                changes.append((i, tree))
                break
    last = len(chain.steps) - 1
    early = [ch for ch in changes if ch[0] < last]
    trees = [ins.tree] + [tree for _, tree in (early or changes)[: limit - 1]]
    return _group(ins, trees, taxonomy, gid) if len(trees) > 1 else []


# --- the group ---------------------------------------------------------------------------------------------


def _group(ins: Instruction, trees: Sequence[Task], taxonomy: Taxonomy, gid: str) -> list[Instruction]:
    """Members for `trees` (the first is `ins`'s own tree), all rendered with the same renderer choices and in
    `ins`'s rendering. Prompts are template renderings: siblings are made before the rewrite stage, and a rewrite
    of `ins` (if any) would state the old condition, so it is dropped."""
    out = []
    for k, tree in enumerate(trees):
        prompt = render_prompt(
            tree, random.Random(gid), ins.rendering
        )  # same draws for every member: prompts differ only where trees do
        if k == 0:
            out.append(
                ins.model_copy(
                    update={"prompt": prompt, "template_prompt": None, "rewrite_note": "", "sibling_group": gid}
                )
            )
            continue
        fp = fingerprint_of({"sibling_of": ins.fingerprint, "tree": tree.model_dump()})
        out.append(
            ins.model_copy(
                update={
                    "id": f"ins-{fingerprint_of([fp, gid])[:12]}",
                    "tree": tree,
                    "prompt": prompt,
                    "plan": compile_plan(tree, taxonomy),
                    "fingerprint": fp,
                    "template_prompt": None,
                    "rewrite_note": "",
                    "sibling_group": gid,
                }
            )
        )
    return out


def variant_label(ins: Instruction, group: Sequence[Instruction]) -> str:
    """What sets this member apart in its group: its correct branches ("B", or "B>C" for nested Selections) for
    Selection siblings, else the text of its constraints that differ within the group."""
    if ins.plan.correct_branches and len({tuple(g.plan.correct_branches.items()) for g in group}) > 1:
        return ">".join(ins.plan.correct_branches.values())
    texts = [dict(iter_constraints(g.tree)) for g in group]
    mine = dict(iter_constraints(ins.tree))
    differing = [p for p in mine if any(t.get(p) != mine[p] for t in texts)]
    return " | ".join(mine[p].text for p in differing) or "-"


def fill_slots(
    items: Sequence[tuple[int, str]],
    compose_one: Callable[[int, str], Instruction],
    taxonomy: Taxonomy,
    seen: set[str],
    seed_of: Callable[[str], Seed | None] | None = None,
) -> Iterator[Instruction]:
    """A run's batch with siblings: each composed instruction's siblings take the batch's next slots of its category.

    The batch keeps its planned size and per-category counts, so quotas, attempt limits and resumed runs count
    siblings like any instruction. A group gets as many members as its category has slots left in the batch
    (at least 2, else the instruction goes alone); siblings are never redrawn as duplicates of each other, and
    their fingerprints join `seen` so later draws do not repeat them. `seed_of(id)` is the seed an instruction was
    composed on, so a sibling's changed constraint keeps within that seed's tags.
    """
    left = {c: sum(1 for _, x in items if x == c) for _, c in items}
    queued: dict[str, list[Instruction]] = {}
    for i, cat in items:
        left[cat] -= 1
        if queued.get(cat):
            yield queued[cat].pop(0)
            continue
        ins = compose_one(i, cat)
        room = left[cat] + 1
        seed = seed_of(ins.id) if seed_of is not None else None
        group = make_siblings(ins, taxonomy, limit=min(room, SIBLING_LIMIT), seed=seed) if room >= 2 else []
        if len(group) < 2:
            yield ins
            continue
        seen.update(g.fingerprint for g in group)
        queued[cat] = group[1:]
        yield group[0]
