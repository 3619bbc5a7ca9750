"""Checkers: words family (first/last words, word positions, repeats, palindromes); units from counting.py.

Hardening against gamed answers (see `views`): positions and required words are read in the visible
answer, a first or last word needs other words with it, a keyword or palindrome counts only in prose,
a palindrome needs two different letters, and repeats are counted on the folded answer, so look-alike
letters and invisible characters cannot hide a repeated word.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pipeline.checks import views
from pipeline.checks.counting import WORD_RE, sentences, want_count, words
from pipeline.checks.ifeval_args import fail, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import canon, keyword_pattern, short

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


# --- Keywords --------------------------------------------------------------------------------------


@checker("sentence:keyword")
def check_sentence_keyword(response: str, *, word: str, N: int) -> CheckResult:  # IFBench's kwarg name
    """The N-th sentence of the visible answer contains `word` (whole word, any case) in prose: the sentence is
    not just the word or a list of it."""
    cid = "sentence:keyword"
    want = want_str(cid, "word", word).strip()
    index = want_count(cid, "N", N)
    found = sentences(views.visible(response))
    if len(found) < index:
        return CheckResult(False, f"found {len(found)} sentence(s), need at least {index}")
    target = canon(found[index - 1])
    pattern = keyword_pattern(want)
    if pattern.search(target) is None:
        return CheckResult(False, f"sentence {index} does not contain {want!r}: {short(target)}")
    if not views.in_prose(target, [pattern])[0]:
        return CheckResult(False, f"sentence {index} is not a sentence around {want!r}: {short(target)}")
    return CheckResult(True, f"sentence {index} contains {want!r}: {short(target)}")


@checker("words:repeats")
def check_repeats(response: str, *, small_n: int) -> CheckResult:
    """No word (compared case-insensitively, look-alike letters folded, invisible characters removed, hidden
    text included) occurs more than small_n times."""
    limit = want_count("words:repeats", "small_n", small_n)
    counts = Counter(map(_norm, words(views.folded(response))))
    over = [(w, c) for w, c in counts.most_common() if c > limit]
    if over:
        listed = ", ".join(f"{short(w)} x{c}" for w, c in over[:4])
        return CheckResult(False, f"{len(over)} word(s) occur more than {limit} times: {listed}")
    top = counts.most_common(1)
    detail = f" (most frequent: {short(top[0][0])} x{top[0][1]})" if top else ""
    return CheckResult(True, f"no word occurs more than {limit} times{detail}")


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
