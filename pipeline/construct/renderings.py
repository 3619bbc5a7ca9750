"""Surface variety: the same composition tree rendered as structured text, one prose paragraph or a numbered list.

Every rendering states each constraint's sentence whole, every Chain part and Selection case heading line
(`### Part 2`, `### Case B`) and the Selection condition word for word, so the fidelity gate's code check
(`render.required_fragments`) holds for each of them. Wording lives in prompts/renderings.yaml: large pools
drawn from the instruction's rng, each heading line named once, and prose connectors only on some sentences,
so that surface variety spreads a run's prompts apart instead of adding wording they all share.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from pipeline import spans
from pipeline.construct.conditions import outcome_intros
from pipeline.construct.render import PROMPTS_DIR, render_instruction, sentence
from pipeline.errors import CompositionError
from pipeline.models import And, Chain, Constraint, Node, Selection, Task

RENDERINGS = ("structured", "prose", "numbered")
DEFAULT_RENDERINGS: dict[str, float] = {"structured": 1.0, "prose": 1.0, "numbered": 1.0}
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]


@cache
def rendering_templates() -> dict[str, Any]:
    return yaml.safe_load((PROMPTS_DIR / "renderings.yaml").read_text(encoding="utf-8"))


def rendering_weight_problems(weights: Mapping[str, Any]) -> list[str]:
    """Why a rendering weight map is unusable (empty list = usable)."""
    known = ", ".join(RENDERINGS)
    problems = [f"unknown rendering {name!r} (known: {known})" for name in weights if name not in RENDERINGS]
    for name, w in weights.items():
        # a YAML `true` is not a weight, and NaN or infinity would make every draw meaningless
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            problems.append(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
    if not problems and not any(w > 0 for w in weights.values()):
        problems.append(f"needs at least one positive weight (renderings: {known})")
    return problems


def check_rendering_weights(weights: Mapping[str, Any]) -> None:
    """Raise CompositionError naming every problem of a rendering weight map."""
    problems = rendering_weight_problems(weights)
    if problems:
        raise CompositionError("renderings: " + "; ".join(problems))


def choose_rendering(weights: Mapping[str, float], rng: random.Random) -> str:
    """A rendering drawn by weight from `rng`; with one positive weight nothing is drawn, so the rng stream (and the
    prompt text that follows from it) is the same as in a run without surface variety."""
    names = [n for n in RENDERINGS if weights.get(n, 0) > 0]  # fixed order: the draw must not depend on dict order
    if len(names) == 1:
        return names[0]
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def render_prompt(tree: Task, rng: random.Random, rendering: str = "structured") -> str:
    """The instruction text of `tree` in one of the RENDERINGS; the seed task always comes first."""
    if rendering == "structured":
        return render_instruction(tree, rng)
    if rendering == "prose":
        body = _Prose(rng).body(tree.body, spans.RESPONSE, lead=True)
    elif rendering == "numbered":
        r = _Numbered(rng)
        items = r.items(tree.body, spans.RESPONSE)
        outline = r.numbering() == "outline"
        if len(items) == 1 and items[0].children:  # one Chain or Selection: its own sentence introduces the list
            body = f"{items[0].text}\n{_format_items(items[0].children, outline)}"
        else:
            body = f"{r.pick('intro')}\n{_format_items(items, outline)}" if items else ""
    else:
        raise CompositionError(f"unknown rendering {rendering!r}; known: {', '.join(RENDERINGS)}")
    head = (tree.task or "").strip()
    return "\n\n".join(p for p in (head, body) if p).strip()


def _part_ids(scope: str, n: int) -> list[str]:
    return [spans.part_scope(scope, i).removeprefix("part:") for i in range(1, n + 1)]


def _task_sentence(task: Task) -> str:
    """A task's own text as a sentence; "" for a task that only carries its enclosing task's body."""
    return sentence(task.task) if task.task and task.task.strip() else ""


def outcome_phrases(node: Selection, rng: random.Random) -> dict[str, str]:
    """How each outcome of the Selection is introduced ("If so", "If not", "If you get 2"), drawn from the
    `outcomes` pools; a remainder's cases share one wording, so they read as a series."""
    pools = rendering_templates()["outcomes"]
    defaults = outcome_intros(node.condition, len(node.branches))
    if all(when in ("yes", "no") for when, _ in defaults):
        return {when: str(rng.choice(pools[when])) for when, _ in defaults}
    wording = str(rng.choice(pools["remainder"]))
    return {when: wording.format(r=when) for when, _ in defaults}


class _Prose:
    """One paragraph: lead-ins join whole constraint sentences, Chain parts become ordered sentences, a Selection
    becomes if / otherwise sentences."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = rendering_templates()["prose"]

    def pick(self, key: str, **kw: Any) -> str:
        return self.rng.choice(self.t[key]).format(**kw)

    def rules(self, constraints: list[Constraint], lead: bool) -> str:
        out: list[str] = []
        for i, c in enumerate(constraints):
            if i == 0:
                joint = self.pick("first_rule") if lead else ""
            else:
                key = "last_rule" if i == len(constraints) - 1 and i >= 2 else "next_rule"
                # a connector on some sentences only: on every one it is wording all prompts share
                joint = self.pick(key) if self.rng.random() < self.t[f"{key}_share"] else ""
            out.append(f"{joint} {sentence(c.text)}".strip())
        return " ".join(out)

    def task(self, task: Task, scope: str) -> str:
        # no lead-in after a task sentence: the part's or case's own lead-in already introduces its rules
        head = _task_sentence(task)
        return " ".join(p for p in (head, self.body(task.body, scope, lead=False)) if p)

    def body(self, node: Node | None, scope: str, lead: bool) -> str:
        if node is None:
            return ""
        if isinstance(node, Constraint):
            return self.rules([node], lead)
        if isinstance(node, And):
            cons = [c for c in node.children if isinstance(c, Constraint)]
            rest = [self.body(c, scope, lead) for c in node.children if not isinstance(c, Constraint)]
            if not rest:
                return self.rules(cons, lead)
            return " ".join([*rest, f"{self.pick('global_intro')} {self.rules(cons, lead=False)}"])
        if isinstance(node, Task):
            return self.task(node, scope)
        if isinstance(node, Chain):
            return self.chain(node, scope)
        assert isinstance(node, Selection)
        return self.selection(node, scope)

    def chain(self, node: Chain, scope: str) -> str:
        ids = _part_ids(scope, len(node.steps))
        intro = "chain_intro" if scope == spans.RESPONSE else "subchain_intro"
        out = [self.pick(intro, n=len(ids))]  # each part names its heading line where it is told
        for i, (pid, step) in enumerate(zip(ids, node.steps, strict=True)):
            key = "step_first" if i == 0 else "step_last" if i == len(ids) - 1 else "step_middle"
            lead = self.pick(key, marker=spans.part_marker(pid), ordinal=_ORDINALS[i], part=pid)
            what = self.task(step, spans.part_scope(scope, i + 1)) or self.t["case_empty"]
            out.append(f"{lead} {what}")
        return " ".join(out)

    def selection(self, node: Selection, scope: str) -> str:
        intros = outcome_phrases(node, self.rng)
        key = "case" if scope == spans.RESPONSE else "case_part"
        out = [self.pick("selection_intro", condition=node.condition.text)]
        for b in node.branches:
            what = self.task(b.body, scope) or self.t["case_empty"]
            out.append(
                f"{self.pick(key, intro=intros[b.when], label=b.label, marker=spans.case_marker(b.label))} {what}"
            )
        out.append(self.pick("selection_outro"))
        return " ".join(out)


@dataclass
class _Item:
    """One numbered requirement and the items nested under it."""

    text: str
    children: list[_Item] = field(default_factory=list)


def _nest(head: str, items: list[_Item]) -> _Item:
    """`head` over `items`; a lone item that has its own list is merged into the head to save a level."""
    if len(items) == 1 and items[0].children:
        return _Item(f"{head} {items[0].text}", items[0].children)
    return _Item(head, items)


def _format_items(items: list[_Item], outline: bool, prefix: str = "", depth: int = 0) -> str:
    """Items as numbered lines, three spaces of indent per level; `outline` numbers 1.2.1., else each level 1., 2."""
    lines = []
    for i, item in enumerate(items, start=1):
        number = f"{prefix}{i}." if outline else f"{i}."
        lines.append(f"{'   ' * depth}{number} {item.text}")
        if item.children:
            lines.append(_format_items(item.children, outline, number, depth + 1))
    return "\n".join(lines)


class _Numbered:
    """A numbered requirement list; Chain parts and Selection cases are items with their rules nested beneath."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = rendering_templates()["numbered"]

    def pick(self, key: str, **kw: Any) -> str:
        return self.rng.choice(self.t[key]).format(**kw)

    def numbering(self) -> str:
        style = str(self.rng.choice(self.t["numbering"]))
        if style not in ("outline", "indented"):
            raise ValueError(f"prompts/renderings.yaml: numbered.numbering holds {style!r}; use outline or indented")
        return style

    def items(self, node: Node | None, scope: str) -> list[_Item]:
        if node is None:
            return []
        if isinstance(node, Constraint):
            return [_Item(sentence(node.text))]
        if isinstance(node, And):
            cons = [_Item(sentence(c.text)) for c in node.children if isinstance(c, Constraint)]
            rest = [i for c in node.children if not isinstance(c, Constraint) for i in self.items(c, scope)]
            return [*rest, _Item(self.pick("global"), cons)] if rest else cons
        if isinstance(node, Task):
            body = self.items(node.body, scope)
            head = _task_sentence(node)
            return [_Item(head, body)] if head else body
        if isinstance(node, Chain):
            return [self.chain(node, scope)]
        assert isinstance(node, Selection)
        return [self.selection(node, scope)]

    def chain(self, node: Chain, scope: str) -> _Item:
        ids = _part_ids(scope, len(node.steps))
        key = "chain" if scope == spans.RESPONSE else "subchain"
        step = self.rng.choice(self.t["step"])  # one wording for all parts of a list
        steps = []
        for i, (pid, node_step) in enumerate(zip(ids, node.steps, strict=True), start=1):
            head = step.format(part=pid, marker=spans.part_marker(pid))
            body = self.items(node_step.body, spans.part_scope(scope, i))
            task = _task_sentence(node_step)
            if task:
                steps.append(_Item(f"{head} {task}", body))
            else:
                steps.append(_nest(head, body))
        return _Item(self.pick(key, n=len(ids)), steps)

    def selection(self, node: Selection, scope: str) -> _Item:
        intros = outcome_phrases(node, self.rng)
        key = "selection" if scope == spans.RESPONSE else "selection_part"
        case = self.rng.choice(self.t["case"])  # one wording for all cases of a list
        cases = []
        for b in node.branches:
            head = case.format(intro=intros[b.when], label=b.label, marker=spans.case_marker(b.label))
            cases.append(_nest(head, self.items(b.body, scope) or [_Item(self.t["case_empty"])]))
        return _Item(self.pick(key, condition=node.condition.text), cases)
