"""Checkers: counting family (IFTrain counts and our own length counts), with regex-defined units.

The units are defined here once and stated in each spec's description, so the instruction and the
checker count the same things:

- word: a run of letters and digits, optionally joined by inner apostrophes ("don't" is one word);
- sentence: text ended by `.`, `!` or `?` (or `。！？`) plus optional closing quotes/brackets and then
  whitespace (or directly Chinese or Japanese text); a line break also ends a sentence; pieces without a
  letter or digit are dropped;
- paragraph: text between blank lines.

Hardening against gamed answers (see `views`): minimum counts read the visible answer only (hidden
text earns nothing) and maximum counts read the folded answer (look-alike letters, invisible
characters and compatibility forms cannot hide an occurrence); a count that must be exact must hold in
both. Paragraphs and questions need words, and keywords count only in prose, not in a bare list.
(IFBench's own counts, which keep the reference's semantics, are in `ifbench_counting`.)
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.checks import views
from pipeline.checks.ifeval_args import fail, need, relation_holds, want_int, want_relation, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import in_range, keyword_pattern, want_bounds

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?。！？])\s+"  # terminal mark, then whitespace
    r"|(?<=[.!?。！？][\"'”’)\]*_])\s+"  # ... with one closing quote/bracket/emphasis mark between
    r"|(?<=[。！？])"  # CJK full stops need no space after them
    r"|(?<=[.!?])(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])"  # nor ASCII ones before CJK text
    r"|\n+"
)
_HAS_ALNUM = re.compile(r"[^\W_]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_CLOSERS = "\"'”’)]*_ \t"


def words(text: str) -> list[str]:
    """Our words: runs of letters/digits with inner apostrophes, in order."""
    return WORD_RE.findall(text)


def sentences(text: str) -> list[str]:
    """Our sentences (see the module docstring), stripped, in order."""
    return [s.strip() for s in _SENTENCE_BREAK.split(text) if s and _HAS_ALNUM.search(s)]


def paragraphs(text: str) -> list[str]:
    """Non-empty blocks of text between blank lines."""
    return [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]


def want_count(cid: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """A count parameter: an integer >= minimum (1 unless zero is meaningful)."""
    return want_int(cid, name, value, minimum=minimum)


# --- Length ----------------------------------------------------------------------------------------


@checker("length:cjk_chars")
def check_cjk_chars(response: str, *, min_chars: int, max_chars: int) -> CheckResult:
    """The answer is in Chinese (letters of other scripts do not outnumber the Chinese characters) and the number
    of CJK ideographs lies in [min_chars, max_chars] (at least min_chars visible, at most max_chars once
    compatibility forms and radicals are folded into ideographs)."""
    lo, hi = want_bounds("length:cjk_chars", "min_chars", min_chars, "max_chars", max_chars)
    seen = views.visible(response)
    count = sum(1 for _ in _CJK.finditer(seen))
    other = sum(1 for m in _LETTER.finditer(seen) if not _CJK.match(m.group()) and not _KANA.match(m.group()))
    if other > count:
        return CheckResult(
            False, f"not written in Chinese: {other} letters of other scripts, {count} Chinese characters"
        )
    if count < lo:
        return in_range(count, lo, hi, "Chinese characters")
    return in_range(sum(1 for _ in _CJK.finditer(views.folded(response))), lo, hi, "Chinese characters")


@checker("letters:letter_counting")
def check_letter_counting(response: str, *, N: int, relation: str) -> CheckResult:  # IFTrain's kwarg name
    """The number of ASCII letters (A-Z, a-z) is `relation` N, as in IFTrain; "at least" counts the visible
    answer, "less than" the folded answer, so look-alike letters (Cyrillic а, ｆｕｌｌ-width) count."""
    cid = "letters:letter_counting"
    threshold = want_count(cid, "N", N)
    rel = want_relation(cid, "relation", relation)
    text = views.visible(response) if rel == "at least" else views.folded(response)
    count = sum(1 for _ in _ASCII_LETTER.finditer(text))
    return CheckResult(relation_holds(rel, count, threshold), f"found {count} letters, {need(rel, threshold)}")


@checker("paragraphs:blank_line_count")
def check_blank_line_paragraphs(response: str, *, num_paragraphs: int) -> CheckResult:
    """Exactly num_paragraphs paragraphs separated by blank lines in the visible answer; blocks without a letter
    or digit (dividers) are not paragraphs, and every paragraph needs at least two words."""
    want = want_count("paragraphs:blank_line_count", "num_paragraphs", num_paragraphs)
    found = [p for p in paragraphs(views.visible(response)) if _HAS_ALNUM.search(p)]
    if len(found) != want:
        return CheckResult(False, f"found {len(found)} paragraph(s), need exactly {want}")
    thin = [i for i, p in enumerate(found, start=1) if views.word_count(p) < 2]
    if thin:
        return CheckResult(False, f"paragraph(s) {thin[:5]} have fewer than 2 words")
    return CheckResult(True, f"found {want} paragraph(s)")


def _questions(text: str) -> list[str]:
    """The sentences of text that end with a question mark."""
    return [s for s in sentences(text) if s.rstrip(_CLOSERS).endswith(("?", "？"))]


@checker("sentence:question_count")
def check_question_count(response: str, *, N: int) -> CheckResult:  # IFBench-style kwarg name
    """Exactly N sentences end with a question mark (closing quotes/brackets after it are ignored): N real
    questions (with a word of two letters) in the visible answer, and no other question-mark sentence in the
    folded answer (look-alike question marks such as "﹖" count)."""
    want = want_count("sentence:question_count", "N", N, minimum=0)
    real = [q for q in _questions(views.visible(response)) if any(len(w) > 1 and _LETTER.search(w) for w in words(q))]
    found = len(_questions(views.folded(response)))
    if len(real) != want or found != want:
        detail = f" ({found - len(real)} without a real question)" if found > len(real) else ""
        return CheckResult(False, f"found {max(found, len(real))} question(s){detail}, need exactly {want}")
    return CheckResult(True, f"found {want} question(s)")


# --- Keywords --------------------------------------------------------------------------------------


@checker("count:count_increment_word")
def check_count_increment_word(response: str, *, keyword1: str, keyword2: str) -> CheckResult:
    """keyword1 occurs exactly once and keyword2 exactly twice (whole words, case-insensitive), every time in
    prose in the visible answer, and no disguised extra occurrence hides in the folded answer."""
    cid = "count:count_increment_word"
    k1 = want_str(cid, "keyword1", keyword1).strip()
    k2 = want_str(cid, "keyword2", keyword2).strip()
    if k1.lower() == k2.lower():
        raise fail(cid, f"'keyword1' and 'keyword2' must differ, both are {k1!r}")
    text = views.visible(response)
    pats = [keyword_pattern(k1), keyword_pattern(k2)]
    hits = [(m.start(), m.end()) for pat in pats for m in pat.finditer(text)]
    n1, n2 = (sum(1 for _ in pat.finditer(text)) for pat in pats)
    ok = n1 == 1 and n2 == 2
    evidence = f"{k1!r} occurs {n1} time(s) (need 1), {k2!r} occurs {n2} time(s) (need 2)"
    if not ok:
        return CheckResult(False, evidence)
    if not all(views.prose_spans(text, hits)):
        return CheckResult(False, f"{evidence}, but not all in sentences (a bare list of keywords)")
    shown = views.folded(response)
    f1, f2 = (sum(1 for _ in keyword_pattern(views.fold(k)).finditer(shown)) for k in (k1, k2))
    if (f1, f2) != (1, 2):
        return CheckResult(False, f"{evidence}, but {f1} and {f2} once disguised forms count")
    return CheckResult(True, evidence)
