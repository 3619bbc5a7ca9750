"""IFEval items whose kwargs our checkers reject but the reference evaluator accepts, decided deterministically.

Our checkers refuse arguments outside what the taxonomy generates (see `ifeval_args`). The reference
evaluator runs on more: where an argument is unset it draws a random one, and it uses some odd values as
given. So that `complexify ifeval` runs on every input the reference runs on, each instruction's kwargs are
resolved first. Valid kwargs pass through untouched (exact reference semantics). Otherwise:

- **Unset values the reference draws at random** (missing or null; a negative count; an empty keyword or
  word list; `nth_paragraph` outside 1..`num_paragraphs`; an empty `letter`) are drawn from the reference's
  own ranges and options, by a generator seeded with the item's key, the instruction's position and id, so
  every run decides the item the same way. Words come from the taxonomy's `ifeval_keywords` pool.
- **A `letter` that is not a-z** (the reference draws a random letter instead): a single character is
  counted as given, case-insensitively (`#`, `é`, `1`); a longer text is counted as non-overlapping
  occurrences of that text.
- **Values the reference uses literally but our validators refuse** keep the reference's meaning: a float
  count (`2.0` is 2; "at least 2.5" is "at least 3"; an exact count of 2.5 never holds), a bool count (an
  int to Python), a negative `capital_frequency` (never redrawn: "less than -1" never holds, "at least -1"
  always does), blank strings (an `end_phrase`, `postscript_marker` or whitespace `prompt_to_repeat` that
  strips to nothing always matches; a blank `section_spliter` counts digit runs; a whitespace `keyword`
  occurs len(text) + 1 times), a string where a word list belongs (the reference iterates its characters).

"The reference" is Google's `evaluation_lib`, which passes kwargs as given. lm-eval's port also drops every
falsy value (0, "", []) before building the instruction, so it draws those at random where Google uses them
literally; on such values the two references disagree with each other (at random), and we follow Google.

Anything the reference itself cannot run (an unknown relation or language, a missing `prompt_to_repeat`,
an invalid regex, unknown argument names) stays an error. Every change is reported in `notes`.

IFBench's files write every count as a float (`"N": 5.0`: its kwargs rows are one table of all argument
names), and its evaluator compares them as the numbers they are. So for an instruction outside IFEval's
groups, a whole float given to an argument its checker declares as an `int` is that integer, silently (it is
the format, not an odd value); a fractional one stays an error from the checker.
"""

from __future__ import annotations

import inspect
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from pipeline.checks.ifeval_args import RELATIONS, relation_holds
from pipeline.checks.language import IFEVAL_LANGUAGES
from pipeline.checks.length import paragraph_first_word
from pipeline.checks.patterns import arg_pattern
from pipeline.checks.registry import CheckResult, load_checkers
from pipeline.project import TAXONOMY_DIR

Verdict = Callable[[str], CheckResult]
# The groups of IFEval's 25 ids: the rules above apply to them. Other ids (IFBench's) only get `whole_floats`.
IFEVAL_GROUPS = frozenset(
    {"change_case", "combination", "detectable_content", "detectable_format", "keywords", "language",
     "length_constraints", "punctuation", "startend"}
)  # fmt: skip
_INT_HINTS = {"int", "int|None", "<class'int'>"}
KEYWORD_POOL_FILE = TAXONOMY_DIR / "constraints" / "ifeval.yaml"

# The reference's ranges for counts it draws: (low, high) of randint, per instruction id and argument.
_RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("length_constraints:number_sentences", "num_sentences"): (1, 20),
    ("detectable_content:number_placeholders", "num_placeholders"): (1, 4),
    ("detectable_format:number_bullet_lists", "num_bullets"): (1, 5),
    ("detectable_format:number_highlighted_sections", "num_highlights"): (1, 4),
    ("detectable_format:multiple_sections", "num_sections"): (1, 5),
    ("length_constraints:number_paragraphs", "num_paragraphs"): (1, 5),
    ("keywords:frequency", "frequency"): (1, 3),
    ("length_constraints:number_words", "num_words"): (100, 500),
    ("length_constraints:nth_paragraph_first_word", "num_paragraphs"): (1, 5),
    ("keywords:letter_frequency", "let_frequency"): (1, 10),
    ("change_case:capital_word_frequency", "capital_frequency"): (1, 20),
}
# Counts compared for equality (a non-integral value never matches); the others are thresholds (>= or <).
_EXACT = {
    ("detectable_format:number_bullet_lists", "num_bullets"),
    ("length_constraints:number_paragraphs", "num_paragraphs"),
    ("length_constraints:nth_paragraph_first_word", "num_paragraphs"),
}
_RELATION_ARGS = {
    "length_constraints:number_sentences": "relation",
    "keywords:frequency": "relation",
    "length_constraints:number_words": "relation",
    "keywords:letter_frequency": "let_relation",
    "change_case:capital_word_frequency": "capital_relation",
}
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("detectable_format:multiple_sections", "section_spliter"): ("Section", "SECTION"),
    ("detectable_content:postscript", "postscript_marker"): ("P.S.", "P.P.S"),
    ("startend:end_checker", "end_phrase"): ("Any other questions?", "Is there anything else I can help with?"),
    ("language:response_language", "language"): tuple(IFEVAL_LANGUAGES),
}
_WORD_LISTS = {("keywords:existence", "keywords"): 2, ("keywords:forbidden_words", "forbidden_words"): 2}


@dataclass(frozen=True)
class Resolved:
    """What one instruction is checked with: kwargs for its checker, or a verdict that replaces the checker."""

    kwargs: dict[str, Any]
    notes: tuple[str, ...] = ()
    verdict: Verdict | None = field(default=None, compare=False)


@cache
def keyword_pool() -> tuple[str, ...]:
    """The bundled taxonomy's IFEval keyword pool (sorted, so draws do not depend on file order)."""
    doc = yaml.safe_load(KEYWORD_POOL_FILE.read_text(encoding="utf-8"))
    return tuple(sorted(doc["pools"]["ifeval_keywords"]))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value))


class _Resolver:
    """Resolves the kwargs of one instruction, collecting notes; `verdict` is set when no checker value fits."""

    def __init__(self, iid: str, kwargs: Mapping[str, Any], rng: random.Random) -> None:
        self.iid, self.kw, self.rng = iid, dict(kwargs), rng
        self.notes: list[str] = []
        self.verdict: Verdict | None = None

    def note(self, text: str) -> None:
        self.notes.append(f"{self.iid}: {text}")

    def count(self, name: str) -> None:
        """A count the reference draws when unset or negative (capital_frequency: only when unset)."""
        value = self.kw.get(name)
        lo, hi = _RANGES[(self.iid, name)]
        redraw_negative = self.iid != "change_case:capital_word_frequency"
        if value is None or (_is_number(value) and value < 0 and redraw_negative):
            drawn = self.rng.randint(lo, hi)
            self.note(f"{name}={value!r}: the reference draws a value instead; drew {drawn} (seeded)")
            self.kw[name] = drawn
            return
        if not _is_number(value):
            return  # a string or list: the reference fails on it too, and so does our checker
        if isinstance(value, bool | float):
            whole = int(value) if value == int(value) else None
            if whole is not None:
                self.kw[name] = whole
                self.note(f"{name}={value!r} read as {whole}")
            elif (self.iid, name) in _EXACT:
                self.verdict = lambda text, v=value: CheckResult(False, f"no count equals {name}={v}")
                self.note(f"{name}={value!r}: an exact count of a non-integer never holds")
            else:
                self.kw[name] = math.ceil(value)
                self.note(f"{name}={value!r}: a whole count reaches it exactly when it reaches {math.ceil(value)}")
        if isinstance(self.kw[name], int) and self.kw[name] < 0:  # capital_frequency: used as given by the reference
            self.kw[name] = 0
            self.note(f"{name}={value!r}: below any count, same verdicts as 0")

    def relation(self) -> None:
        name = _RELATION_ARGS.get(self.iid)
        if name is not None and self.kw.get(name) is None:
            self.kw[name] = self.rng.choice(RELATIONS)
            self.note(f"{name} is unset: the reference draws a value; drew {self.kw[name]!r} (seeded)")

    def choice(self, name: str) -> None:
        if self.kw.get(name) is None:
            self.kw[name] = self.rng.choice(_CHOICES[(self.iid, name)])
            self.note(f"{name} is unset: the reference draws a value; drew {self.kw[name]!r} (seeded)")

    def words(self, name: str, k: int) -> None:
        value = self.kw.get(name)
        if not value:
            self.kw[name] = sorted(self.rng.sample(keyword_pool(), k))
            self.note(f"{name}={value!r}: the reference draws words instead; drew {self.kw[name]} (seeded)")
        elif isinstance(value, str):
            self.kw[name] = list(value)
            self.note(f"{name}={value!r} is a string: the reference uses each of its characters as a word")

    def word(self, name: str) -> None:
        value = self.kw.get(name)
        if not value:
            self.kw[name] = self.rng.choice(keyword_pool())
            self.note(f"{name}={value!r}: the reference draws a word instead; drew {self.kw[name]!r} (seeded)")


def _blank_items(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(w, str) and not w.strip() for w in value)


def _regex_all(words: list[str]) -> Verdict:
    def verdict(text: str) -> CheckResult:
        cid = "keywords:existence"
        missing = [w for w in words if not arg_pattern(cid, "keywords", w, flags=re.IGNORECASE).search(text)]
        return CheckResult(not missing, f"missing keyword(s) {missing!r}" if missing else "found every keyword")

    return verdict


def _regex_none(words: list[str]) -> Verdict:
    def verdict(text: str) -> CheckResult:
        cid = "keywords:forbidden_words"
        found = [
            w for w in words if arg_pattern(cid, "forbidden_words", w, r"\b" + w + r"\b", re.IGNORECASE).search(text)
        ]
        return CheckResult(not found, f"contains {found!r}" if found else "no forbidden word")

    return verdict


def _substring_count(needle: str, relation: str, threshold: int) -> Verdict:
    def verdict(text: str) -> CheckResult:
        n = text.lower().count(needle)
        return CheckResult(
            relation_holds(relation, n, threshold), f"{needle!r} occurs {n} time(s), need {relation} {threshold}"
        )

    return verdict


def _nth_paragraph(num: Any, nth: int, first_word: str) -> Verdict:
    """The reference's nth-paragraph rule for values our checker refuses (0 paragraphs, n beyond the count, ...)."""

    def verdict(text: str) -> CheckResult:
        pieces = text.split("\n\n")
        count = sum(1 for p in pieces if p.strip())
        if nth > count or not pieces[nth - 1].strip():
            return CheckResult(False, f"found {count} paragraph(s); paragraph {nth} is missing or empty")
        word = paragraph_first_word(pieces[nth - 1].strip())
        ok = count == num and word == first_word
        return CheckResult(
            ok, f"{count} paragraph(s), need {num}; paragraph {nth} starts with {word!r}, need {first_word!r}"
        )

    return verdict


def _always(passed: bool, why: str) -> Verdict:
    return lambda text: CheckResult(passed, why)


def _int_params(instruction_id: str) -> frozenset[str]:
    """The arguments the checker of `instruction_id` declares as plain integers (none for an unknown id)."""
    checker = load_checkers().get(instruction_id)
    return frozenset() if checker is None else _declared_ints(checker.fn, checker.params)


@cache
def _declared_ints(fn: Callable[..., Any], params: frozenset[str]) -> frozenset[str]:
    hints = inspect.get_annotations(fn)
    return frozenset(name for name in params if str(hints.get(name, "")).replace(" ", "") in _INT_HINTS)


def whole_floats(instruction_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """IFBench's float counts: `N=5.0` is `N=5` where the checker takes an int (IFEval's ids are left alone)."""
    out = dict(kwargs)
    if instruction_id.split(":", 1)[0] in IFEVAL_GROUPS:
        return out
    for name in _int_params(instruction_id) & out.keys():
        value = out[name]
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            out[name] = int(value)
    return out


def resolve(instruction_id: str, kwargs: Mapping[str, Any], *, key: int | str, index: int) -> Resolved:
    """The kwargs (or verdict) one IFEval or IFBench instruction is checked with; see the module docstring."""
    if instruction_id.split(":", 1)[0] not in IFEVAL_GROUPS:
        return Resolved(whole_floats(instruction_id, kwargs))
    r = _Resolver(instruction_id, kwargs, random.Random(f"{key}|{index}|{instruction_id}"))
    iid, kw = instruction_id, r.kw
    for rid, name in _RANGES:
        if rid == iid:
            r.count(name)
    r.relation()
    for rid, name in _CHOICES:
        if rid == iid:
            r.choice(name)
    for (rid, name), k in _WORD_LISTS.items():
        if rid == iid:
            r.words(name, k)
            if _blank_items(kw[name]):
                r.note(f"{name} holds blank words, used as the reference uses them (as regular expressions)")
                r.verdict = _regex_all(kw[name]) if iid == "keywords:existence" else _regex_none(kw[name])
    if iid == "keywords:frequency":
        r.word("keyword")
        if isinstance(kw["keyword"], str) and not kw["keyword"].strip() and isinstance(kw.get("frequency"), int):
            r.note("keyword is whitespace: stripped, the empty pattern matches len(text) + 1 times")
            r.verdict = lambda text, f=kw["frequency"], rel=kw["relation"]: CheckResult(
                relation_holds(rel, len(text) + 1, f), f"empty pattern matches {len(text) + 1} times"
            )
    if iid == "keywords:letter_frequency":
        _letter(r)
    if iid == "length_constraints:nth_paragraph_first_word":
        _nth(r)
    if iid in ("startend:end_checker", "detectable_content:postscript", "combination:repeat_prompt"):
        name = {"startend:end_checker": "end_phrase", "detectable_content:postscript": "postscript_marker"}.get(
            iid, "prompt_to_repeat"
        )
        value = kw.get(name)
        if isinstance(value, str) and value and not value.strip():
            r.note(f"{name}={value!r} strips to nothing, which every response matches")
            r.verdict = _always(True, f"{name} is blank: always matches")
        elif value == "" and name != "prompt_to_repeat":
            r.note(f"{name}='' matches every response")
            r.verdict = _always(True, f"{name} is empty: always matches")
    if (
        iid == "detectable_format:multiple_sections"
        and isinstance(kw.get("section_spliter"), str)
        and not kw["section_spliter"].strip()
    ):
        wanted = kw.get("num_sections")
        if isinstance(wanted, int):
            r.note("section_spliter is blank: the reference's pattern then counts runs of digits as section headers")
            r.verdict = lambda text, w=wanted: CheckResult(
                len(re.split(r"\s?\s?\d+\s?", text)) - 1 >= w, "blank spliter"
            )
    return Resolved(kw, tuple(r.notes), r.verdict)


def _letter(r: _Resolver) -> None:
    kw = r.kw
    letter = kw.get("letter")
    if not letter:
        kw["letter"] = r.rng.choice("abcdefghijklmnopqrstuvwxyz")
        r.note(f"letter={letter!r}: the reference draws a letter instead; drew {kw['letter']!r} (seeded)")
        return
    if not isinstance(letter, str):
        return  # the reference fails on it too
    lowered = letter.lower()
    if len(letter) == 1 and len(lowered) == 1 and "a" <= lowered <= "z":
        return
    threshold, relation = kw.get("let_frequency"), kw.get("let_relation")
    if not isinstance(threshold, int) or relation not in RELATIONS:
        return  # let the checker report the bad frequency or relation
    what = "character" if len(letter) == 1 else "text"
    r.note(f"letter={letter!r} is not a-z (the reference draws a random letter); counting that {what} instead")
    r.verdict = _substring_count(lowered, relation, threshold)


def _nth(r: _Resolver) -> None:
    kw = r.kw
    num: Any = kw.get("num_paragraphs")
    nth: Any = kw.get("nth_paragraph")
    if _is_number(num) and (nth is None or (_is_number(nth) and (nth <= 0 or nth > num))):
        top = math.floor(num) + 1  # the reference draws from 1..num + 1; num + 1 can never be satisfied
        kw["nth_paragraph"] = r.rng.randint(1, max(1, top))
        r.note(
            f"nth_paragraph={nth!r} is outside 1..{num}: the reference draws a value instead; "
            f"drew {kw['nth_paragraph']} (seeded)"
        )
        nth = kw["nth_paragraph"]
    if kw.get("first_word") is None:
        r.word("first_word")
    word = kw.get("first_word")
    if not (_is_number(num) and isinstance(nth, int) and not isinstance(nth, bool) and isinstance(word, str)):
        return  # the reference fails on these too
    if num != int(num) or num < 1 or nth > num or not word.strip():
        r.note("decided with the reference's rule: our checker does not take these values")
        r.verdict = _nth_paragraph(num, nth, word.lower())
