"""Checkers: words family (first/last words, palindromes); units from counting.py.

Hardening against gamed answers (see `views`): positions and required words are read in the visible
answer, a first or last word needs other words with it, and a palindrome counts only in prose and needs
two different letters. (IFBench's `words:*` and `sentence:*` ids, which keep the reference's semantics,
are in `ifbench_words`.)
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.checks import views
from pipeline.checks.counting import WORD_RE, want_count, words
from pipeline.checks.ifeval_args import fail, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import short

_LETTERS = re.compile(r"[^\W\d_]+")


def _norm(word: str) -> str:
    return word.lower().replace("’", "'")


def _want_word(cid: str, name: str, value: Any) -> str:
    """A single word in our unit (letters/digits with inner apostrophes), e.g. "however"."""
    text = want_str(cid, name, value).strip()
    if not WORD_RE.fullmatch(text):
        raise fail(cid, f"{name!r} must be a single word (letters, digits, inner apostrophes), got {text!r}")
    return text


# --- Start with / End with -------------------------------------------------------------------------


@checker("first_word:first_word_answer")
def check_first_word_answer(response: str, *, first_word: str) -> CheckResult:
    """The first word of the visible answer (leading punctuation and markdown skipped) is `first_word`, any case,
    and more words follow it."""
    want = _want_word("first_word:first_word_answer", "first_word", first_word)
    text = views.visible(response)
    m = WORD_RE.search(text)
    if m is None:
        return CheckResult(False, "the response has no words")
    ok = _norm(m.group()) == _norm(want)
    if ok and not WORD_RE.search(text, m.end()):
        return CheckResult(False, f"the response is only the word {short(m.group())}")
    return CheckResult(ok, f"first word is {short(m.group())}, need {want!r}")


@checker("last_word:last_word_answer")
def check_last_word_answer(response: str, *, last_word: str) -> CheckResult:
    """The last word of the visible answer (trailing punctuation ignored) is `last_word`, any case, and other
    words come before it."""
    want = _want_word("last_word:last_word_answer", "last_word", last_word)
    all_words = words(views.visible(response))
    if not all_words:
        return CheckResult(False, "the response has no words")
    last = all_words[-1]
    ok = _norm(last) == _norm(want)
    if ok and len(all_words) < 2:
        return CheckResult(False, f"the response is only the word {short(last)}")
    return CheckResult(ok, f"last word is {short(last)}, need {want!r}")


@checker("keywords:start_end")
def check_start_end(response: str) -> CheckResult:
    """At least three words in the visible answer, the first equals the last (any case), and nothing follows the
    last word."""
    text = views.visible(response).strip()
    all_words = words(text)
    if len(all_words) < 3:
        return CheckResult(
            False, f"found {len(all_words)} word(s), need at least 3 (a word between the first and the last)"
        )
    first, last = all_words[0], all_words[-1]
    if not text.endswith(last):
        return CheckResult(False, f"the response ends with {short(text[-5:])} after its last word {short(last)}")
    if _norm(first) != _norm(last):
        return CheckResult(False, f"starts with {short(first)} but ends with {short(last)}")
    return CheckResult(True, f"starts and ends with {short(first)}")


@checker("lexical:palindrome_word")
def check_palindrome_word(response: str, *, min_length: int) -> CheckResult:
    """Some word of at least min_length letters, with at least two different letters, reads the same backwards
    (letters only, any case) and is used in prose in the visible answer ("aaaaa" or a bare "Level." do not count)."""
    cid = "lexical:palindrome_word"
    length = want_count(cid, "min_length", min_length)
    if length < 3:
        raise fail(cid, f"'min_length' must be at least 3 (shorter palindromes are trivial), got {length}")
    text = views.visible(response)
    found = []
    for m in _LETTERS.finditer(text):
        w = m.group().lower()
        if len(w) >= length and w == w[::-1] and len(set(w)) > 1:
            found.append(m)
    for m, ok in zip(found, views.prose_spans(text, [(m.start(), m.end()) for m in found]), strict=True):
        if ok:
            return CheckResult(True, f"found the palindrome {short(m.group())}")
    if found:
        return CheckResult(False, f"the palindrome {short(found[0].group())} is not used in a sentence")
    return CheckResult(False, f"no palindrome of at least {length} letters found")
