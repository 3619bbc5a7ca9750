"""Feasibility of a composed tree before anything is generated: the numeric constraints on each output span
must be satisfiable together, and the constraints must not clash with what the seed's task asks for.

`infeasibilities(tree, taxonomy)` works by interval arithmetic over counts per span. A span is the whole response or
one marked Chain part (`part:2`, `part:2.1`); a Selection branch adds its constraints to the span it sits
in, and every branch is checked as if it were the taken one (a counterfactual sibling makes it so). What is
modelled, per span:

- counts bounded by a constraint, as its taxonomy entry declares them (`counts` and `verbatim`, the units in
  pipeline/construct/traits.py), each in the unit its checker counts: words (runs of `\\w`, whitespace
  tokens and our words are different quantities, related only by tokens <= our words <= runs), characters,
  CJK characters, ASCII letters, one letter's occurrences, sentences (NLTK Punkt and our splitter apart),
  questions, paragraphs (`***`, blank-line and `\\n\\n` paragraphs apart), bullet lines, numbered items,
  highlighted spans, sections, headings, placeholders, numbers, and the occurrences of each keyword
  (substring matches and whole-word matches apart);
- implications inside a span: a whole-word occurrence of a plain word is a substring occurrence; k
  blank-line paragraphs of at least two words each need 2k words and k sentences; k questions are k
  sentences; k distinct words are k words; k numbered items are 2k words (number and content); text a
  constraint requires verbatim (keywords, an end phrase, section markers, template labels) brings its
  letters, so "fewer than 3 e's" cannot stand beside the required whole words "telescope" and "meadow";
  a keyword-count range cannot be met when more of its keywords are required, or fewer are allowed;
- nesting: counts that add up over disjoint spans (every one above except Punkt sentences, `***` and
  `\\n\\n` paragraphs, distinct words, numbered items and headings) make a span's lower bound at least the
  sum of its parts' lower bounds, so a part cannot need 300 words when the whole must stay under 200.

Everything here is sound for answers in ordinary text: when it reports a problem, no answer without
look-alike letters, hidden text or underscores glued to words satisfies every checker of that span. What is
not modelled is allowed through: the checkers still decide each answer.

Rules on the seed's own tags (a haiku cannot take 400 words) live in pipeline/construct/seed_tags.py, on top of this.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline import spans
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.traits import SCALAR_UNITS, SET_UNITS
from pipeline.models import And, Chain, Constraint, ConstraintSpec, CountBound, Node, Task

INF = math.inf
# A tree with more alternative layouts than this (Selections inside Chains inside Selections) is checked
# on the first ones only; the composer's trees have a few dozen at most.
MAX_LAYOUTS = 4096

# Quantities whose count over a span is at least the sum of the counts over disjoint parts inside it.
_ADDITIVE = frozenset(
    {
        "words_w", "words_ws", "words_ours", "sentences_ours", "questions", "paragraphs_blank", "bullets",
        "highlights", "sections", "placeholders", "numbers", "chars", "cjk_chars", "ascii_letters",
    }
)  # fmt: skip
_ADDITIVE_PREFIXES = ("sub:", "word:", "letter:")
_FAMILIES = (
    ("words_", "word_count"), ("chars", "character_count"), ("cjk_chars", "character_count"),
    ("sub:", "keyword_occurrences"), ("word:", "keyword_occurrences"), ("letter:", "letter_count"),
    ("ascii_letters", "letter_count"), ("sentences_", "sentence_count"), ("questions", "sentence_count"),
    ("paragraphs_", "paragraph_count"), ("bullets", "list_count"), ("numbered_items", "list_count"),
)  # fmt: skip
_SLOT = re.compile(r"<[^>\n]*>")
_PLAIN = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Infeasibility:
    """One reason a composed tree cannot be followed: `kind` is "infeasible" or "seed_clash"."""

    kind: str
    rule: str
    scope: str
    detail: str

    @property
    def reason(self) -> str:
        """The counted reason, e.g. "infeasible:keyword_occurrences" or "seed_clash:too_long_for_seed"."""
        return f"{self.kind}:{self.rule}"


# --- layouts: which constraints sit on which span, one layout per choice of Selection branches -------------

Layout = dict[str, list[Constraint]]  # span -> constraints placed on it; every span of the layout is a key


def layouts(node: Node | None, scope: str = spans.RESPONSE) -> list[Layout]:
    """Every combination of Selection branches as a map span -> constraints (spans without any included)."""
    if node is None:
        return [{scope: []}]
    if isinstance(node, Constraint):
        return [{scope: [node]}]
    if isinstance(node, Task):
        return layouts(node.body, scope)
    if isinstance(node, And):
        return _product([layouts(c, scope) for c in node.children], scope)
    if isinstance(node, Chain):
        return _product([layouts(s, spans.part_scope(scope, i)) for i, s in enumerate(node.steps, 1)], scope)
    return [lay for b in node.branches for lay in layouts(b.body, scope)][:MAX_LAYOUTS]


def _product(options: list[list[Layout]], scope: str) -> list[Layout]:
    out: list[Layout] = []
    for combo in itertools.islice(itertools.product(*options), MAX_LAYOUTS):
        merged: Layout = {scope: []}
        for lay in combo:
            for s, cs in lay.items():
                merged.setdefault(s, []).extend(cs)
        out.append(merged)
    return out


def parent_scope(scope: str) -> str | None:
    """The span a part sits in: part:2.1 -> part:2 -> response -> None."""
    if scope == spans.RESPONSE:
        return None
    head, _, _ = scope.rpartition(".")
    return head if head else spans.RESPONSE


# --- bounds per span ---------------------------------------------------------------------------------------


@dataclass
class Bounds:
    """Lower and upper bounds on the counts of one span, each with the constraints that set it."""

    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)
    lo_why: dict[str, str] = field(default_factory=dict)
    hi_why: dict[str, str] = field(default_factory=dict)
    texts: list[tuple[str, int]] = field(default_factory=list)  # verbatim text and its disjoint occurrences
    ranges: list[tuple[str, list[str], int, int]] = field(default_factory=list)  # keyword-count ranges

    def at_least(self, q: str, n: float, why: str) -> None:
        if n > self.lo.get(q, 0):
            self.lo[q], self.lo_why[q] = n, why

    def at_most(self, q: str, n: float, why: str) -> None:
        if n < self.hi.get(q, INF):
            self.hi[q], self.hi_why[q] = n, why

    def between(self, q: str, lo: float, hi: float, why: str) -> None:
        self.at_least(q, lo, why)
        self.at_most(q, hi, why)

    def relation(self, q: str, relation: object, n: object, why: str) -> None:
        """IFEval's relations: "less than" n caps the count at n - 1, "at least" n floors it at n."""
        if not isinstance(n, int):
            return
        if relation == "less than":
            self.at_most(q, n - 1, why)
        elif relation == "at least":
            self.at_least(q, n, why)

    def low(self, q: str) -> float:
        return self.lo.get(q, 0)


def _int(params: Mapping[str, object], name: str) -> int | None:
    v = params.get(name)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _words_param(params: Mapping[str, object], name: str | None) -> list[str]:
    v = params.get(name) if name is not None else None
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def _key(word: str) -> str:
    return word.strip().lower()


def _exact(b: Bounds, q: str, n: int | None, why: str) -> None:
    if n is not None:
        b.between(q, n, n, why)


def add_constraint(b: Bounds, c: Constraint, spec: ConstraintSpec | None) -> None:
    """The bounds one constraint puts on the counts of its span, as its spec's `counts` and `verbatim` declare
    them (pipeline/construct/traits.py); a spec that declares none adds none."""
    if spec is None:
        return
    p, why = c.params, c.spec_id
    for bound in spec.counts:
        if bound.unit in SET_UNITS:
            lo, hi = _limit(p, bound.min), _limit(p, bound.max)
            if lo is not None and hi is not None:
                b.ranges.append((why, [_key(w) for w in _words_param(p, bound.of)], lo, hi))
            continue
        for q in _quantities(p, bound):
            if bound.relation is not None:
                b.relation(q, p.get(bound.relation), _limit(p, bound.n), why)
            elif bound.exactly is not None:
                _exact(b, q, _limit(p, bound.exactly), why)
            else:
                if bound.min is not None:
                    b.at_least(q, _limit(p, bound.min) or 0, why)
                hi = _limit(p, bound.max)
                if bound.max is not None:
                    b.at_most(q, INF if hi is None else hi, why)
    for text in spec.verbatim:
        times = _limit(p, text.times) or 0
        for t in _words_param(p, text.param):
            if text.slots:  # a template's lines around its slots
                b.texts += [(line, 1) for line in _SLOT.sub(" ", t).splitlines() if line.strip()]
            else:
                b.texts.append((t, times))


def _limit(params: Mapping[str, object], value: int | str | None) -> int | None:
    """A declared limit: a number as given, a parameter's int value, or None (no such int value)."""
    return _int(params, value) if isinstance(value, str) else value


def _quantities(params: Mapping[str, object], bound: CountBound) -> list[str]:
    """The quantities one declared count bounds: the unit itself, or one per word (or letter) of its parameter."""
    if bound.unit in SCALAR_UNITS:
        return [bound.unit]
    if bound.unit == "letter":
        return [f"letter:{w.lower()}" for w in _words_param(params, bound.of)]
    return [f"{bound.unit}:{_key(w)}" for w in _words_param(params, bound.of)]


def _self_overlaps(word: str) -> bool:
    """Two substring occurrences of `word` can overlap ("aa" in "aaa") when a proper prefix is also a suffix."""
    return any(word[:k] == word[-k:] for k in range(1, len(word)))


def _implied(b: Bounds, letters: set[str]) -> None:
    """Bounds that follow from the others inside one span (see the module docstring)."""
    # a whole-word match of a plain word is a substring match (not so for phrases: "fresh  start" is one match
    # of the phrase as words, none of the regex "fresh start")
    for q in [q for q in (*b.lo, *b.hi) if q.startswith("word:") and _PLAIN.fullmatch(q[5:])]:
        w = q.removeprefix("word:")
        b.at_least(f"sub:{w}", b.low(q), b.lo_why.get(q, ""))
        if f"sub:{w}" in b.hi:
            b.at_most(q, b.hi[f"sub:{w}"], b.hi_why[f"sub:{w}"])
    # a numbered item is its number ("3.") and content with two letters or digits: two tokens at least
    b.at_least("words_ws", 2 * b.low("numbered_items"), "numbered items (number and content)")
    pages = b.low("paragraphs_blank")
    b.at_least("words_ours", 2 * pages, "blank-line paragraphs (two words each)")
    b.at_least("words_ours", b.low("distinct_words"), b.lo_why.get("distinct_words", ""))
    b.at_least("sentences_ours", max(pages, b.low("questions")), "questions and paragraphs are sentences")
    # Word units nest: every whitespace token with a letter or digit holds one of our words or more, and each of
    # our words holds a run of \w (apostrophes split it further), so words_ws <= words_ours <= words_w.
    for small, big in (("words_ws", "words_ours"), ("words_ours", "words_w")):
        b.at_least(big, b.low(small), b.lo_why.get(small, ""))
    for small, big in (("words_ours", "words_w"), ("words_ws", "words_ours")):
        if big in b.hi:
            b.at_most(small, b.hi[big], b.hi_why[big])
    # Letters brought by verbatim text: occurrences of one text are disjoint, different texts may overlap
    # (a keyword inside the end phrase), so the bound is the largest single contribution.
    items = [(t, k) for t, k in b.texts]
    for q, v in list(b.lo.items()):
        if q.startswith("word:"):
            items.append((q.removeprefix("word:"), int(v)))
        elif q.startswith("sub:"):
            w = q.removeprefix("sub:")
            items.append((w, 1 if _self_overlaps(w) else int(v)))
    # whole-word occurrences of different purely alphabetic words are different runs of letters: they add up
    alpha = [(q.removeprefix("word:"), v) for q, v in b.lo.items() if q.startswith("word:") and q[5:].isalpha()]
    for letter in letters:
        single = max((k * t.lower().count(letter) for t, k in items), default=0)
        best = max(single, sum(int(v) * w.count(letter) for w, v in alpha))
        b.at_least(f"letter:{letter}", best, "required text")
    ascii_sum = sum(b.low(f"letter:{x}") for x in letters if "a" <= x <= "z")
    ascii_text = max((k * sum(ch.isascii() and ch.isalpha() for ch in t) for t, k in items), default=0)
    b.at_least("ascii_letters", max(ascii_sum, ascii_text), "required letters")


def _family(q: str) -> str:
    return next((name for prefix, name in _FAMILIES if q.startswith(prefix)), f"{q}_count")


def format_count(n: float) -> str:
    """A bound for messages: the integer, or "no limit"."""
    return "no limit" if n == INF else str(int(n))


def span_bounds(layout: Layout, taxonomy: Taxonomy) -> tuple[dict[str, Bounds], list[Infeasibility]]:
    """Bounds of every span of one layout, parts summed into the spans around them, and what cannot hold."""
    bounds: dict[str, Bounds] = {}
    for scope, cs in layout.items():
        b = bounds[scope] = Bounds()
        for c in cs:
            add_constraint(b, c, taxonomy.specs.get(c.spec_id))
    letters = {q.removeprefix("letter:") for b in bounds.values() for q in (*b.lo, *b.hi) if q.startswith("letter:")}
    found: list[Infeasibility] = []
    # deepest spans first, so a part's own sums are done before they count toward the span around it
    for scope in sorted(bounds, key=lambda s: -s.count(".") - (s != spans.RESPONSE)):
        b = bounds[scope]
        nested: set[str] = set()
        parts = [bounds[s] for s in bounds if parent_scope(s) == scope]
        for q in {q for part in parts for q in part.lo}:
            if q in _ADDITIVE or q.startswith(_ADDITIVE_PREFIXES):
                total = sum(part.low(q) for part in parts)
                if total > b.low(q):
                    b.lo[q], b.lo_why[q] = total, "its parts together"
                    nested.add(q)
        _implied(b, letters)
        found += _violations(scope, b, nested)
    return bounds, found


def _violations(scope: str, b: Bounds, nested: set[str]) -> list[Infeasibility]:
    out = []
    for q, hi in sorted(b.hi.items()):
        lo = b.low(q)
        if lo > hi:
            rule = _family(q) + ("_over_parts" if q in nested else "")
            detail = (
                f"{q} needs at least {format_count(lo)} ({b.lo_why.get(q, '')}) "
                f"but at most {format_count(hi)} ({b.hi_why[q]})"
            )
            out.append(Infeasibility("infeasible", rule, scope, detail))
    for why, words, lo, hi in b.ranges:
        required = [w for w in dict.fromkeys(words) if b.low(f"word:{w}") >= 1]
        barred = [w for w in dict.fromkeys(words) if b.hi.get(f"word:{w}", INF) <= 0]
        if len(required) > hi:
            out.append(
                Infeasibility(
                    "infeasible",
                    "keyword_count_range",
                    scope,
                    f"{why}: at most {hi} of {words}, but {required} are required",
                )
            )
        if len(set(words)) - len(barred) < lo:
            out.append(
                Infeasibility(
                    "infeasible",
                    "keyword_count_range",
                    scope,
                    f"{why}: at least {lo} of {words}, but {barred} are forbidden",
                )
            )
    return out


def infeasibilities(tree: Node, taxonomy: Taxonomy | None = None) -> list[Infeasibility]:
    """Every infeasibility of the tree, over all its Selection branches (empty: jointly satisfiable as far as
    the modelled counts go). The counts come from the specs of `taxonomy` (the project's, by default)."""
    tax = taxonomy if taxonomy is not None else load_taxonomy()
    seen: dict[tuple[str, str, str], Infeasibility] = {}
    for layout in layouts(tree):
        for f in span_bounds(layout, tax)[1]:
            seen.setdefault((f.rule, f.scope, f.detail), f)
    return list(seen.values())


def is_feasible(tree: Node, taxonomy: Taxonomy | None = None) -> bool:
    """No modelled count of any span is out of reach (`infeasibilities(tree, taxonomy)` is empty)."""
    return not infeasibilities(tree, taxonomy)
