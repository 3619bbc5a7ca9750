"""Checkers: keywords family (IFEval `keywords:*`, exact strict semantics)."""

from __future__ import annotations

import re
from typing import Any

from pipeline.checks.ifeval_args import (
    fail,
    need,
    relation_holds,
    want_int,
    want_relation,
    want_str,
    want_str_list,
)
from pipeline.checks.patterns import arg_pattern
from pipeline.checks.registry import CheckResult, checker


@checker("keywords:existence")
def check_keywords_existence(response: str, *, keywords: list[str]) -> CheckResult:
    """Every keyword occurs, case-insensitively; like IFEval, a keyword is a regex (run in bounded time, see
    `pipeline.checks.patterns`) and substrings count."""
    cid = "keywords:existence"
    words = want_str_list(cid, "keywords", keywords)
    missing = [w for w in words if not arg_pattern(cid, "keywords", w, flags=re.IGNORECASE).search(response)]
    if missing:
        return CheckResult(False, f"missing keyword(s) {', '.join(map(repr, missing))}")
    return CheckResult(True, f"found all {len(words)} keyword(s)")


@checker("keywords:frequency")
def check_keyword_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> CheckResult:
    """The keyword (stripped, case-insensitive regex, substrings count) occurs `relation` `frequency` times."""
    cid = "keywords:frequency"
    word = want_str(cid, "keyword", keyword).strip()
    threshold = want_int(cid, "frequency", frequency)
    rel = want_relation(cid, "relation", relation)
    count = arg_pattern(cid, "keyword", word, flags=re.IGNORECASE).count(response)
    return CheckResult(
        relation_holds(rel, count, threshold), f"{word!r} occurs {count} time(s), {need(rel, threshold)}"
    )


@checker("keywords:forbidden_words")
def check_forbidden_words(response: str, *, forbidden_words: list[str]) -> CheckResult:
    """No forbidden word occurs between word boundaries (case-insensitive; the word is a regex, as in IFEval)."""
    cid = "keywords:forbidden_words"
    words = want_str_list(cid, "forbidden_words", forbidden_words)
    found = [
        w for w in words if arg_pattern(cid, "forbidden_words", w, r"\b" + w + r"\b", re.IGNORECASE).search(response)
    ]
    if found:
        return CheckResult(False, f"contains forbidden word(s) {', '.join(map(repr, found))}")
    return CheckResult(True, f"none of the {len(words)} forbidden word(s) occurs")


def _letter(cid: str, letter: Any) -> str:
    """IFEval accepts a single character whose lowercase form is a-z."""
    if not isinstance(letter, str) or len(letter) != 1 or len(letter.lower()) != 1 or not "a" <= letter.lower() <= "z":
        raise fail(cid, f"'letter' must be a single letter a-z, got {letter!r}")
    return letter.lower()


@checker("keywords:letter_frequency")
def check_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> CheckResult:
    """The letter, in either case, occurs `let_relation` `let_frequency` times."""
    cid = "keywords:letter_frequency"
    ch = _letter(cid, letter)
    threshold = want_int(cid, "let_frequency", let_frequency)
    rel = want_relation(cid, "let_relation", let_relation)
    count = response.lower().count(ch)
    return CheckResult(
        relation_holds(rel, count, threshold), f"letter {ch!r} occurs {count} time(s), {need(rel, threshold)}"
    )
