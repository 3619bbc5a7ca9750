"""Sample composition trees (Single / And / Chain / Selection, nested) with conflict-free constraints,
and compile each tree into its verification plan."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

import yaml

from pipeline import spans
from pipeline.construct.conditions import draw_condition
from pipeline.construct.options import ComposeOptions as ComposeOptions  # re-exported: the composer's options
from pipeline.construct.params import sample_params
from pipeline.construct.plans import compile_plan
from pipeline.construct.render import render_template
from pipeline.construct.renderings import choose_rendering, render_prompt
from pipeline.construct.seed_tags import check_composition
from pipeline.construct.taxonomy import Taxonomy, max_compatible
from pipeline.construct.tree import (
    CATEGORIES as CATEGORIES,  # re-exported: the composer is where callers look for categories
)
from pipeline.construct.tree import (
    DEFAULT_MIX,
    allocate,
    composition_types,
    parse_category,
    taken_constraints,
    tree_category,
    tree_depth,
)
from pipeline.construct.tree import iter_constraints as iter_constraints
from pipeline.errors import CompositionError
from pipeline.models import (
    And,
    Branch,
    Chain,
    Constraint,
    ConstraintSpec,
    Instruction,
    Node,
    Seed,
    Selection,
    Task,
    WordRoles,
    fingerprint_of,
)
from pipeline.project import PROMPTS_DIR

# Dimensions whose constraints make sense over a whole multi-part response.
GLOBAL_DIMENSIONS = frozenset(
    {"Keywords", "Punctuation", "Language Style", "Target Language", "Personalization", "Sentiment", "Topic"}
)


# Draws of one instruction before the composer gives up (each redrawn tree counts).
MAX_ATTEMPTS = 40


# --- shapes: the skeleton of a tree before constraints are placed ------------------------------------


@dataclass
class _Leaf:
    n: int


@dataclass
class _ChainShape:
    steps: list[_Shape]


@dataclass
class _SelShape:
    branches: list[_Shape]


@dataclass
class _GlobalShape:
    inner: _Shape
    n: int = 1


_Shape = _Leaf | _ChainShape | _SelShape | _GlobalShape


def _gen_shape(
    depth: int, required: frozenset[str], allowed: frozenset[str], rng: random.Random, opts: ComposeOptions, root: bool
) -> _Shape:
    """A random skeleton of exactly `depth` levels that contains every kind in `required`, others from `allowed`."""
    if depth == 0:
        return _Leaf(1)
    if depth == 1 and not required and (not allowed or rng.random() < 0.6):
        return _Leaf(rng.randint(*opts.and_size))
    if root and depth >= 2 and len(required) <= depth - 1 and rng.random() < opts.global_share:
        return _GlobalShape(_gen_shape(depth - 1, required, allowed, rng, opts, root=False))
    kind = rng.choice(sorted(required if len(required) == depth else allowed))
    rest = required - {kind}
    n = rng.randint(*opts.chain_steps) if kind == "chain" else (3 if rng.random() < opts.multiway_share else 2)
    special = rng.randrange(n)
    children: list[_Shape] = []
    for i in range(n):
        if i == special:
            children.append(_gen_shape(depth - 1, rest, allowed, rng, opts, root=False))
        elif depth >= 2 and rng.random() < 0.25:
            children.append(_Leaf(rng.randint(*opts.and_size)))
        else:
            children.append(_Leaf(1))
    return _ChainShape(children) if kind == "chain" else _SelShape(children)


# --- constraint sampling ----------------------------------------------------------------------------


class _Dead(Exception):
    """No compatible constraint fits a slot; the caller retries with a new tree."""


@cache
def chain_steps_text() -> dict[str, list[str]]:
    """How Chain steps are worded (prompts/chain_steps.yaml): openers of the first step and of the ones after it."""
    data = yaml.safe_load((PROMPTS_DIR / "chain_steps.yaml").read_text(encoding="utf-8"))
    return {"first": list(data["first"]), "follow": list(data["follow"])}


def _words(c: Constraint, names: Iterable[str]) -> list[str]:
    """The text values of the named parameters of `c` (a list parameter gives each of its strings)."""
    out: list[str] = []
    for name in names:
        v = c.params.get(name)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v if isinstance(x, str))
    return out


def lexical_clash(new: Constraint, path: Sequence[Constraint], taxonomy: Taxonomy) -> bool:
    """A word one constraint bans must not be named by another on the path: required by it (a keyword, a phrase,
    the text to repeat, ...) or banned by it too. Which parameters hold such words is the specs' `words`."""
    cs = [*path, new]
    roles = {id(c): taxonomy.specs[c.spec_id].words if c.spec_id in taxonomy.specs else WordRoles() for c in cs}
    for a in cs:
        banned = [w.lower() for w in _words(a, roles[id(a)].bans)]
        if not banned:
            continue
        for b in cs:
            named = _words(b, [*roles[id(b)].requires, *roles[id(b)].bans]) if b is not a else []
            for text in named:
                low = text.lower()
                if any(re.search(rf"\b{re.escape(w)}\b", low) for w in banned):
                    return True
    return False


class _Sampler:
    """Places constraints on output paths without conflicts."""

    def __init__(self, taxonomy: Taxonomy, opts: ComposeOptions, rng: random.Random) -> None:
        self.tax = taxonomy
        self.opts = opts
        self.rng = rng

    def eligible(
        self, placement: str, path: Sequence[Constraint], dims: frozenset[str] | None
    ) -> list[ConstraintSpec]:
        ids = [c.spec_id for c in path]
        return [
            s
            for s in self.tax.specs.values()
            if placement in s.placement
            and (self.opts.checkers == "any" or s.is_code)
            and s.vocabulary in self.opts.vocabularies
            and (dims is None or s.dimension in dims)
            and self.tax.compatible(s.id, ids)
        ]

    def constraint(
        self, placement: str, path: Sequence[Constraint], task_text: str, dims: frozenset[str] | None = None
    ) -> Constraint:
        candidates = self.eligible(placement, path, dims)
        if not candidates:
            raise _Dead
        code = [s for s in candidates if s.is_code]
        judge = [s for s in candidates if not s.is_code]
        pick_judge = bool(judge) and (not code or self.rng.random() < self.opts.judge_share)
        group = judge if pick_judge else code
        dims_avail = sorted({s.dimension for s in group})
        favour, placed = self.opts.favour_dimension, {self.tax.specs[c.spec_id].dimension for c in path}
        # uniform over dimensions keeps rare dimensions visible
        dim = favour if favour in dims_avail and favour not in placed else self.rng.choice(dims_avail)
        specs = [s for s in group if s.dimension == dim]
        for _ in range(8):
            spec = self.rng.choice(specs)
            params = sample_params(spec, self.tax.pools, self.rng, task_text)
            text = render_template(self.rng.choice(spec.phrasings), params)
            c = Constraint(spec_id=spec.id, params=params, text=text)
            if not lexical_clash(c, path, self.tax):
                return c
        raise _Dead

    def constraints(self, n: int, placement: str, path: Sequence[Constraint], task_text: str) -> list[Constraint]:
        out: list[Constraint] = []
        for _ in range(n):
            out.append(self.constraint(placement, [*path, *out], task_text))
        return out


def draw_constraint(
    taxonomy: Taxonomy,
    options: ComposeOptions,
    rng: random.Random,
    *,
    placement: str,
    path: Sequence[Constraint],
    task_text: str,
) -> Constraint | None:
    """One constraint compatible with every constraint of `path` (conflict graph and lexical clashes), or None."""
    try:
        return _Sampler(taxonomy, options, rng).constraint(placement, path, task_text)
    except _Dead:
        return None


# --- building trees ---------------------------------------------------------------------------------


@dataclass
class _Builder:
    sampler: _Sampler
    rng: random.Random
    labels: Iterator[str] = field(default_factory=lambda: iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))

    def leaf_body(self, shape: _Leaf, placement: str, path: Sequence[Constraint], task_text: str) -> Node:
        cs = self.sampler.constraints(shape.n, placement, path, task_text)
        return cs[0] if len(cs) == 1 else And(children=list[Node](cs))

    def body(self, shape: _Shape, placement: str, path: Sequence[Constraint], task_text: str, scope: str) -> Node:
        if isinstance(shape, _Leaf):
            return self.leaf_body(shape, placement, path, task_text)
        if isinstance(shape, _GlobalShape):
            globals_ = [
                self.sampler.constraint("whole", [*path], task_text, dims=GLOBAL_DIMENSIONS) for _ in range(shape.n)
            ]
            inner = self.body(shape.inner, placement, [*path, *globals_], task_text, scope)
            return And(children=[*globals_, inner])
        if isinstance(shape, _ChainShape):
            return self.chain(shape, path, task_text, scope)
        return self.selection(shape, path, task_text, scope)

    def chain(
        self, shape: _ChainShape, path: Sequence[Constraint], task_text: str, scope: str, first: str | None = None
    ) -> Chain:
        ops = chain_steps_text()
        steps: list[Task] = []
        follow = self.rng.sample(ops["follow"], len(ops["follow"]))
        for i, child in enumerate(shape.steps, start=1):
            step_scope = spans.part_scope(scope, i)
            if i == 1:
                text = first if first is not None else self.rng.choice(ops["first"])
            else:
                prev = "Part " + spans.part_scope(scope, i - 1).removeprefix("part:")
                text = follow[(i - 2) % len(follow)].format(prev=prev)
            if isinstance(child, _ChainShape):
                # A nested chain: its first sub-part carries out this step's task.
                steps.append(Task(task=None, body=self.chain(child, path, text, step_scope, first=text)))
            else:
                steps.append(Task(task=text, body=self.body(child, "part", path, text, step_scope)))
        return Chain(steps=steps)

    def selection(self, shape: _SelShape, path: Sequence[Constraint], task_text: str, scope: str) -> Selection:
        draw = draw_condition(self.rng, len(shape.branches))
        branches = []
        labels = [next(self.labels) for _ in shape.branches]  # outer cases get the earlier letters
        for label, value, child in zip(labels, draw.outcomes, shape.branches, strict=True):
            body = self.body(child, "part", path, task_text, scope)
            branches.append(Branch(label=label, when=value, body=Task(task=None, body=body)))
        correct = next(b.label for b in branches if b.when == draw.condition.value)
        return Selection(condition=draw.condition, branches=branches, correct=correct)


# --- the public entry points -------------------------------------------------------------------------


def compose_instruction(
    seed: Seed, category: str, taxonomy: Taxonomy, *, random_seed: int | str = 0, options: ComposeOptions | None = None
) -> Instruction:
    """Sample one instruction of `category` for `seed`; deterministic for a given `random_seed`."""
    opts = options or ComposeOptions()
    target = parse_category(category)
    limit = max_compatible(taxonomy, "whole" if target.depth <= 1 else "part", opts.checkers, opts.vocabularies)
    if opts.and_size[0] > limit:
        raise CompositionError(
            f"cannot place {opts.and_size[0]} mutually compatible constraints on one output: the taxonomy's conflict "
            f"graph allows at most {limit} here (checkers={opts.checkers}); lower and_size"
        )
    rng = random.Random(f"{random_seed}|{seed.id}|{category}")
    redraws: Counter[str] = Counter()  # draws thrown away as infeasible or clashing with the seed, by reason
    for _ in range(MAX_ATTEMPTS):
        shape = _gen_shape(target.depth, target.required, target.required, rng, opts, root=True)
        builder = _Builder(_Sampler(taxonomy, opts, rng), rng)
        try:
            body = builder.body(shape, "whole", [], seed.text, spans.RESPONSE)
        except _Dead:
            continue
        tree = Task(task=seed.text, body=body)
        got = tree_category(tree)
        if got != category:  # guard: the shape generator must hit the requested category
            raise AssertionError(f"sampled a {got} tree for category {category}")
        problems = check_composition(seed, tree, taxonomy)
        if problems:  # counts that cannot hold together, or constraints the seed's task cannot take: redraw
            redraws[problems[0].reason] += 1
            continue
        taken_dims = {taxonomy.specs[c.spec_id].dimension for c in taken_constraints(tree)}
        if opts.favour_dimension and opts.favour_dimension not in taken_dims:
            redraws["favoured_dimension_missing"] += 1
            continue
        plan = compile_plan(tree, taxonomy)
        rendering = choose_rendering(opts.renderings, rng)
        prompt = render_prompt(tree, rng, rendering)
        fp = fingerprint_of({"seed": seed.model_dump(), "tree": tree.model_dump(), "taxonomy": taxonomy.version})
        return Instruction(
            # the fingerprint names the content; the id also names the draw, so two draws never share an id
            id=f"ins-{fingerprint_of([fp, str(random_seed)])[:12]}",
            seed_id=seed.id,
            seed_text=seed.text,
            tree=tree,
            category=category,
            composition=sorted(composition_types(tree)),
            depth=tree_depth(tree),
            prompt=prompt,
            plan=plan,
            taxonomy_version=taxonomy.version,
            fingerprint=fp,
            rendering=rendering,
            redraws=dict(sorted(redraws.items())),
        )
    thrown = f"; draws thrown away: {dict(sorted(redraws.items()))}" if redraws else ""
    raise CompositionError(
        f"could not compose a {category} instruction in {MAX_ATTEMPTS} attempts: the conflict graph leaves too few "
        f"compatible constraints (checkers={opts.checkers}, and_size={opts.and_size}){thrown}; loosen the options"
    )


def compose_unique(
    seed: Seed,
    category: str,
    taxonomy: Taxonomy,
    *,
    random_seed: str,
    options: ComposeOptions | None = None,
    seen: set[str],
    redraws: int = 8,
) -> Instruction:
    """compose_instruction, redrawn (up to `redraws` times) while its content fingerprint is in `seen`; adds it.
    The instruction's `redraws` counts the infeasible draws of every attempt."""
    thrown: Counter[str] = Counter()
    for attempt in range(redraws):
        suffix = "" if attempt == 0 else f":redraw{attempt}"
        ins = compose_instruction(seed, category, taxonomy, random_seed=f"{random_seed}{suffix}", options=options)
        thrown.update(ins.redraws)
        if ins.fingerprint not in seen:
            break
    seen.add(ins.fingerprint)
    return ins.model_copy(update={"redraws": dict(sorted(thrown.items()))}) if thrown != ins.redraws else ins


def iter_compose(
    seeds: Sequence[Seed],
    n: int,
    taxonomy: Taxonomy,
    *,
    mix: dict[str, float] | None = None,
    random_seed: int = 0,
    options: ComposeOptions | None = None,
) -> Iterator[Instruction]:
    """Compose n instructions over the category mix, cycling through shuffled seeds, one at a time (constant
    memory but for the fingerprints); a draw whose content repeats an earlier one is redrawn, as in a run."""
    if not seeds:
        raise CompositionError("no seeds to compose from")
    counts = allocate(n, mix or DEFAULT_MIX)
    categories = [c for c, k in counts.items() for _ in range(k)]
    rng = random.Random(random_seed)
    rng.shuffle(categories)
    order = list(seeds)
    rng.shuffle(order)
    seen: set[str] = set()
    for i, cat in enumerate(categories):
        candidates = (order[(i + k) % len(order)] for k in range(SEED_TRIES))
        yield compose_on_seeds(
            candidates, cat, taxonomy, random_seed=f"{random_seed}:{i}", options=options, seen=seen
        )[0]


# Seeds tried for one instruction, the planned one first: a seed whose task cannot take what is asked (a poem
# cannot hold a JSON object, say, when a grid cell wants that dimension) gives way to the next ones.
SEED_TRIES = 16


def compose_on_seeds(
    candidates: Iterable[Seed],
    category: str,
    taxonomy: Taxonomy,
    *,
    random_seed: str,
    options: ComposeOptions | None,
    seen: set[str],
) -> tuple[Instruction, Seed]:
    """compose_unique on the first candidate seed it succeeds on, and that seed; the last seed's error if none."""
    error = CompositionError("no candidate seeds to compose from")
    for seed in candidates:
        try:
            return compose_unique(seed, category, taxonomy, random_seed=random_seed, options=options, seen=seen), seed
        except CompositionError as exc:
            error = exc
    raise error


def compose_batch(
    seeds: Sequence[Seed],
    n: int,
    taxonomy: Taxonomy,
    *,
    mix: dict[str, float] | None = None,
    random_seed: int = 0,
    options: ComposeOptions | None = None,
) -> list[Instruction]:
    """iter_compose as a list; deterministic."""
    return list(iter_compose(seeds, n, taxonomy, mix=mix, random_seed=random_seed, options=options))
