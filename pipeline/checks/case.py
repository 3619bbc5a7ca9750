"""Checkers: letter case (IFEval `change_case:*`, exact strict semantics)."""

from __future__ import annotations

from pipeline.checks.ifeval_args import need, relation_holds, want_int, want_relation
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.text import count_capital_words, detect_language


@checker("change_case:capital_word_frequency")
def check_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> CheckResult:
    """Number of all-capital NLTK word tokens compared with `capital_relation`."""
    cid = "change_case:capital_word_frequency"
    threshold = want_int(cid, "capital_frequency", capital_frequency)
    rel = want_relation(cid, "capital_relation", capital_relation)
    count = count_capital_words(response)
    return CheckResult(
        relation_holds(rel, count, threshold), f"found {count} all-capital word(s), {need(rel, threshold)}"
    )


def _english(response: str) -> CheckResult | None:
    """None when the response is English; otherwise the verdict (undetectable text passes, as in IFEval)."""
    found = detect_language(response)
    if found is None:
        return CheckResult(True, "language could not be detected (counts as followed, as in IFEval)")
    if found != "en":
        return CheckResult(False, f"detected language {found!r}, need English")
    return None


@checker("change_case:english_capital")
def check_english_capital(response: str) -> CheckResult:
    """All cased letters are capitals, and the text is English."""
    if not response.isupper():  # IFEval short-circuits here: langdetect is not consulted
        return CheckResult(False, "contains lowercase letters (or no letters at all)")
    return _english(response) or CheckResult(True, "English, all capital letters")


@checker("change_case:english_lowercase")
def check_english_lowercase(response: str) -> CheckResult:
    """All cased letters are lowercase, and the text is English."""
    if not response.islower():
        return CheckResult(False, "contains capital letters (or no letters at all)")
    return _english(response) or CheckResult(True, "English, all lowercase letters")
