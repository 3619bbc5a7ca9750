"""Render a composition tree as instruction text (templates in prompts/); each constraint is stated once."""

from __future__ import annotations

import random
import re
from functools import cache
from typing import Any

import yaml

from pipeline import spans
from pipeline.construct.conditions import outcome_intros
from pipeline.construct.tree import iter_constraints
from pipeline.models import And, Chain, Constraint, Instruction, Node, ParamValue, Selection, Task
from pipeline.project import PROMPTS_DIR


@cache
def structure_templates() -> dict[str, Any]:
    return yaml.safe_load((PROMPTS_DIR / "structure.yaml").read_text(encoding="utf-8"))


def sentence(text: str) -> str:
    """A constraint's text as a sentence that ends with punctuation."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", '"', "'", ")", ":")) else text + "."


def render_instruction(tree: Task, rng: random.Random) -> str:
    """The full instruction: the seed task, then its structure and constraints."""
    return _Renderer(rng).task_text(tree, spans.RESPONSE, top=True).strip()


class _Renderer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = structure_templates()

    def pick(self, key: str, **kw: Any) -> str:
        return self.rng.choice(self.t[key]).format(**kw)

    def task_text(self, task: Task, scope: str, top: bool = False) -> str:
        head = (task.task or "").strip()
        body = self.body(task.body, scope, top=top)
        if not head:
            return body
        if not body:
            return head
        return f"{head}\n\n{body}" if top else f"{sentence(head)} {body}"

    def body(self, node: Node | None, scope: str, top: bool = False) -> str:
        if node is None:
            return ""
        if isinstance(node, Constraint):
            return sentence(node.text)
        if isinstance(node, And):
            cons = [c for c in node.children if isinstance(c, Constraint)]
            rest = [c for c in node.children if not isinstance(c, Constraint)]
            if rest:  # constraints over a whole structured response
                parts = [self.body(r, scope, top) for r in rest]
                globals_ = " ".join(sentence(c.text) for c in cons)
                return "\n\n".join([*parts, f"{self.pick('global_intro')} {globals_}"])
            if top and self.rng.random() < 0.5:
                items = "\n".join(f"- {sentence(c.text)}" for c in cons)
                return f"{self.pick('requirements_intro')}\n{items}"
            return " ".join(sentence(c.text) for c in cons)
        if isinstance(node, Chain):
            return self.chain(node, scope)
        if isinstance(node, Selection):
            return self.selection(node, scope)
        return self.task_text(node, scope)

    def chain(self, node: Chain, scope: str) -> str:
        ids = [spans.part_scope(scope, i).removeprefix("part:") for i in range(1, len(node.steps) + 1)]
        markers = ", ".join(f'"{spans.part_marker(p)}"' for p in ids)
        key = "chain_intro" if scope == spans.RESPONSE else "subchain_intro"
        lines = [self.pick(key, n=len(ids), markers=markers)]
        for pid, step in zip(ids, node.steps, strict=True):
            step_scope = spans.part_scope(scope, int(pid.rsplit(".", 1)[-1]))
            lines.append(f"Part {pid}: {self.task_text(step, step_scope)}".rstrip())
        return "\n".join(lines) if scope == spans.RESPONSE else "\n" + "\n".join(lines)

    def selection(self, node: Selection, scope: str) -> str:
        intros = dict(outcome_intros(node.condition, len(node.branches)))
        cases = []
        for b in node.branches:
            what = self.task_text(b.body, scope) or self.t["case_empty"]
            cases.append(f"{self.pick('case_intro', intro=intros[b.when], label=b.label)} {what}")
        labels = " or ".join(f'"{spans.case_marker(b.label)}"' for b in node.branches)
        outro = "selection_outro" if scope == spans.RESPONSE else "selection_outro_part"
        return " ".join(
            [self.pick("selection_intro", condition=node.condition.text), self.pick(outro, cases=labels), *cases]
        )


# --- LLM rewrite with a fidelity gate ----------------------------------------------------------------


@cache
def rewrite_prompt() -> dict[str, str]:
    return yaml.safe_load((PROMPTS_DIR / "rewrite.yaml").read_text(encoding="utf-8"))


def rewrite_messages(prompt: str) -> list[dict[str, str]]:
    """Chat messages asking a model to rewrite a template instruction into fluent text."""
    tpl = rewrite_prompt()
    return [
        {"role": "system", "content": tpl["system"]},
        {"role": "user", "content": tpl["user"].format(instruction=prompt)},
    ]


def required_fragments(tree: Task) -> list[str]:
    """Every literal a faithful rewrite must keep: parameter values, markers, condition facts, the task text
    when a constraint quotes it."""
    out: list[str] = []
    for _, c in iter_constraints(tree):
        for name, value in c.params.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, bool) or v is None:
                    continue
                if isinstance(v, str) and name == "prompt_to_repeat":
                    out.append(v.strip())
                elif isinstance(v, int | float | str):
                    out.append(str(v) if not isinstance(v, float) else f"{v:g}")
    out.extend(_structure_fragments(tree))
    return list(dict.fromkeys(f for f in out if f.strip()))


def _structure_fragments(node: Node | None, scope: str = spans.RESPONSE) -> list[str]:
    if node is None or isinstance(node, Constraint):
        return []
    if isinstance(node, Task):
        return _structure_fragments(node.body, scope)
    if isinstance(node, And):
        return [f for c in node.children for f in _structure_fragments(c, scope)]
    if isinstance(node, Chain):
        out = []
        for i, step in enumerate(node.steps, start=1):
            sub = spans.part_scope(scope, i)
            out.append(spans.part_marker(sub.removeprefix("part:")))
            out.extend(_structure_fragments(step, sub))
        return out
    assert isinstance(node, Selection)
    # The numbers and quoted words of the condition decide the correct case: they must survive verbatim.
    out = re.findall(r"\d+|(?<=')[^']+(?=')", node.condition.text)
    for b in node.branches:
        out.append(spans.case_marker(b.label))
        out.extend(_structure_fragments(b.body, scope))
    return out


def _contains(text: str, fragment: str) -> bool:
    if re.fullmatch(r"-?\d+(?:\.\d+)?", fragment):  # a number must stand alone, not inside another number
        return re.search(rf"(?<![\d.]){re.escape(fragment)}(?![\d]|\.\d)", text) is not None
    return fragment.lower() in text.lower()


def fidelity_problems(
    tree: Task, template: str, rewritten: str, *, min_ratio: float = 0.5, max_ratio: float = 3.0
) -> list[str]:
    """Why a rewrite is not faithful to the template (empty list = faithful)."""
    text = rewritten.strip()
    if not text:
        return ["empty rewrite"]
    problems = [f"missing {f!r}" for f in required_fragments(tree) if not _contains(text, f)]
    ratio = len(text) / max(len(template), 1)
    if not min_ratio <= ratio <= max_ratio:
        problems.append(f"length changed {ratio:.2f}x (allowed {min_ratio}-{max_ratio}x)")
    return problems


def apply_rewrite(instruction: Instruction, rewritten: str | None) -> Instruction:
    """Use the rewrite as the prompt when faithful; otherwise keep the template and record why."""
    if rewritten is None:
        return instruction
    problems = fidelity_problems(instruction.tree, instruction.prompt, rewritten)
    if problems:
        note = (
            "rewrite rejected: "
            + "; ".join(problems[:5])
            + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        )
        return instruction.model_copy(update={"rewrite_note": note})
    return instruction.model_copy(
        update={"prompt": rewritten.strip(), "template_prompt": instruction.prompt, "rewrite_note": "rewrite accepted"}
    )


def format_param(value: ParamValue) -> str:
    """How a parameter value appears in an instruction sentence."""
    if isinstance(value, list):
        items = [f'"{v}"' for v in value]
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_template(template: str, params: dict[str, ParamValue]) -> str:
    """A phrasing or judge question with its parameters filled in."""
    return template.format(**{k: format_param(v) for k, v in params.items()})
