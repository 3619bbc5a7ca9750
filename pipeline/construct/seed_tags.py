"""Seed tags: how a seed file spells them, and the rules that keep constraints its task cannot take away from it.

A seed may carry `tags` (`SeedTags`): the form of its answer (haiku, poem, short_answer, code, ...) and the
natural length of that answer in words. The rules apply on the span that answers the seed's task: the whole
response, or the first part of a Chain (and that part's first part, when nested). Each clash is reported as
`seed_clash:<rule>`; the composer redraws such a draw, as it does an infeasible one
(pipeline/construct/feasibility.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pipeline import spans
from pipeline.construct.feasibility import (
    INF,
    Bounds,
    Infeasibility,
    Layout,
    format_count,
    infeasibilities,
    layouts,
    span_bounds,
)
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.traits import SEED_FORM_GROUPS
from pipeline.errors import UserInputError
from pipeline.models import Node, Seed, SeedTags


def parse_tags(value: Any, where: str) -> SeedTags | None:
    """A seed's `tags` object (or its JSON text, from CSV) as SeedTags; an unknown tag or value names the row."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, Mapping):
        raise UserInputError(
            f'{where}: \'tags\' must be a JSON object such as {{"form": "poem", "max_words": 200}}; for a '
            "dataset whose 'tags' column means something else, map tags away: columns={'tags': 'none'}"
        )
    try:
        return SeedTags.model_validate(dict(value))
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            problem = f"unknown seed tag {name!r}"
        elif name:
            problem = f"tag {name!r}: {err['msg']}"
        else:  # a rule over several tags
            problem = str(err["msg"]).removeprefix("Value error, ")
        known = ", ".join(SeedTags.model_fields)
        raise UserInputError(f"{where}: {problem}; known tags: {known} (see seeds/README.md)") from None


def answer_scopes(layout: Layout) -> list[str]:
    """The spans that carry the answer to the seed's task, outermost first: the response, then the first part
    of a Chain placed on it, then that part's first part, ..."""
    out = [spans.RESPONSE]
    while spans.part_scope(out[-1], 1) in layout:
        out.append(spans.part_scope(out[-1], 1))
    return out


# --- the clash rules -------------------------------------------------------------------------------------

FIXED_VERSE = SEED_FORM_GROUPS["fixed_verse"]
# The clash of a constraint whose spec (or dimension) is `unfit_for` a group of seed forms: group, rule, message.
_FORM_RULES = (
    ("verse", "structure_in_verse", "{id} does not fit a {form}"),  # tables, headings, lists, JSON, templates
    ("fixed_verse", "layout_in_fixed_verse", "{id} breaks the lines of a {form}"),  # sections, one-word lines
    ("code", "text_rule_in_code", "{id} cannot apply to code"),  # rules over the text as prose
)
# Rough words per unit, to read character and letter minimums as word counts (generous: long words).
_CHARS_PER_WORD = 12
_LETTERS_PER_WORD = 10
_FIXED_VERSE_SENTENCES = 5  # a limerick has five lines; a haiku three


def min_words(b: Bounds) -> float:
    """The fewest words any answer meeting `b` has, by any of the word units (or by its characters)."""
    return max(
        b.low("words_w"), b.low("words_ws"), b.low("words_ours"), b.low("distinct_words"),
        b.low("chars") / _CHARS_PER_WORD, b.low("ascii_letters") / _LETTERS_PER_WORD,
    )  # fmt: skip


def max_words(b: Bounds) -> float:
    """The most words an answer meeting `b` may have, by any word unit."""
    return min(b.hi.get("words_w", INF), b.hi.get("words_ws", INF), b.hi.get("words_ours", INF))


def _clash_rules(seed: Seed, layout: Layout, bounds: dict[str, Bounds], taxonomy: Taxonomy) -> list[Infeasibility]:
    tags = seed.tags
    if tags is None:
        return []
    out: list[Infeasibility] = []
    scopes = answer_scopes(layout)
    inner = scopes[-1]

    def clash(rule: str, scope: str, detail: str) -> None:
        out.append(Infeasibility("seed_clash", rule, scope, f"seed {seed.id}: {detail}"))

    # The innermost answer span holds the answer alone: a minimum there is the answer's minimum. A maximum on
    # any span around it caps the answer too.
    need = min_words(bounds[inner])
    if tags.max_words is not None and need > tags.max_words:
        clash(
            "too_long_for_seed",
            inner,
            f"needs at least {format_count(math.ceil(need))} words, the task's answer has at most {tags.max_words}",
        )
    for scope in scopes:
        cap = max_words(bounds[scope])
        if tags.min_words is not None and cap < tags.min_words:
            clash(
                "too_short_for_seed",
                scope,
                f"allows at most {format_count(cap)} words, the task's answer needs {tags.min_words}",
            )
        for c in layout[scope]:
            spec = taxonomy.specs.get(c.spec_id)
            unfit = spec.unfit_for if spec is not None else []
            for group, rule, message in _FORM_RULES:
                if group in unfit and tags.form in SEED_FORM_GROUPS[group]:
                    clash(rule, scope, message.format(id=c.spec_id, form=tags.form))
    if tags.form in FIXED_VERSE:
        b = bounds[inner]
        if max(b.low("paragraphs_blank"), b.low("paragraphs_stars"), b.low("paragraphs_nn")) >= 2:
            clash("layout_in_fixed_verse", inner, f"a {tags.form} is one stanza, not several paragraphs")
        if max(b.low("sentences_punkt"), b.low("sentences_ours")) > _FIXED_VERSE_SENTENCES:
            clash("layout_in_fixed_verse", inner, f"a {tags.form} has no room for that many sentences")
    return out


def seed_clashes(seed: Seed, tree: Node, taxonomy: Taxonomy) -> list[Infeasibility]:
    """Constraints of the tree that clash with the seed's tags (form and length hints), by rule; none without
    tags. Rules: too_long_for_seed, too_short_for_seed, structure_in_verse, layout_in_fixed_verse,
    text_rule_in_code."""
    seen: dict[tuple[str, str, str], Infeasibility] = {}
    for layout in layouts(tree):
        bounds, _ = span_bounds(layout, taxonomy)
        for f in _clash_rules(seed, layout, bounds, taxonomy):
            seen.setdefault((f.rule, f.scope, f.detail), f)
    return list(seen.values())


def check_composition(seed: Seed, tree: Node, taxonomy: Taxonomy) -> list[Infeasibility]:
    """Infeasibilities first, then seed clashes: the reasons a composed draw is redrawn (empty: keep it)."""
    return infeasibilities(tree, taxonomy) + seed_clashes(seed, tree, taxonomy)


def keeps_to_seed(tree: Node, taxonomy: Taxonomy, seed: Seed | None) -> bool:
    """A changed tree (hardened, or a sibling) may stand: jointly feasible and, when its seed is known, asking nothing
    the seed's tags rule out."""
    return not (check_composition(seed, tree, taxonomy) if seed is not None else infeasibilities(tree, taxonomy))
