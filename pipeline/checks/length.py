"""Checkers: length family (IFEval `length_constraints:*`, exact strict semantics)."""

from __future__ import annotations

import re

from pipeline.checks.ifeval_args import fail, need, relation_holds, want_int, want_relation, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.text import count_sentences, count_words

_DIVIDER = re.compile(r"\s?\*\*\*\s?")  # IFEval's markdown paragraph divider
_FIRST_WORD_STOP = frozenset(".,?!'\"")


@checker("length_constraints:number_sentences")
def check_number_sentences(response: str, *, num_sentences: int, relation: str) -> CheckResult:
    """NLTK Punkt (English) sentence count compared with `relation`."""
    cid = "length_constraints:number_sentences"
    threshold = want_int(cid, "num_sentences", num_sentences)
    rel = want_relation(cid, "relation", relation)
    count = count_sentences(response)
    return CheckResult(relation_holds(rel, count, threshold), f"found {count} sentence(s), {need(rel, threshold)}")


@checker("length_constraints:number_words")
def check_number_words(response: str, *, num_words: int, relation: str) -> CheckResult:
    """Word count (runs of \\w characters) compared with `relation`."""
    cid = "length_constraints:number_words"
    threshold = want_int(cid, "num_words", num_words)
    rel = want_relation(cid, "relation", relation)
    count = count_words(response)
    return CheckResult(relation_holds(rel, count, threshold), f"found {count} word(s), {need(rel, threshold)}")


@checker("length_constraints:number_paragraphs")
def check_number_paragraphs(response: str, *, num_paragraphs: int) -> CheckResult:
    """Exactly N paragraphs split by ***; empty pieces may only be at the ends (IFEval's rule)."""
    wanted = want_int("length_constraints:number_paragraphs", "num_paragraphs", num_paragraphs)
    # Without "***" the divider cannot match: skip the regex scan, which tries every position (`\s?` first).
    pieces = _DIVIDER.split(response) if "***" in response else [response]
    last = len(pieces) - 1
    count = len(pieces)
    for i, piece in enumerate(pieces):
        if not piece.strip():
            if i not in (0, last):
                return CheckResult(False, f"empty paragraph #{i + 1} between *** dividers")
            count -= 1
    return CheckResult(count == wanted, f"found {count} paragraph(s) separated by ***, need exactly {wanted}")


def paragraph_first_word(paragraph: str) -> str:
    """IFEval's first word: drop leading ' then ", cut at . , ? ! ' or ", lowercase letter by letter."""
    word = paragraph.split()[0].lstrip("'").lstrip('"')
    out = []
    for ch in word:
        if ch in _FIRST_WORD_STOP:
            break
        out.append(ch.lower())  # per character, like the reference (str.lower() treats final sigma differently)
    return "".join(out)


@checker("length_constraints:nth_paragraph_first_word")
def check_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> CheckResult:
    """Exactly N non-empty paragraphs split by blank lines, and paragraph n starts with `first_word`."""
    cid = "length_constraints:nth_paragraph_first_word"
    wanted = want_int(cid, "num_paragraphs", num_paragraphs, minimum=1)
    nth = want_int(cid, "nth_paragraph", nth_paragraph, minimum=1)
    if nth > wanted:
        raise fail(cid, f"'nth_paragraph' ({nth}) must be <= 'num_paragraphs' ({wanted})")
    target = want_str(cid, "first_word", first_word).lower()
    pieces = response.split("\n\n")
    count = sum(1 for p in pieces if p.strip())
    # Like the reference, paragraph n is the n-th raw piece (blank pieces included in the indexing).
    if nth > count:
        return CheckResult(False, f"found {count} paragraph(s); paragraph {nth} does not exist")
    paragraph = pieces[nth - 1].strip()
    if not paragraph:
        return CheckResult(False, f"paragraph {nth} is empty")
    word = paragraph_first_word(paragraph)
    if count != wanted:
        return CheckResult(False, f"found {count} paragraph(s) separated by blank lines, need exactly {wanted}")
    if word != target:
        return CheckResult(False, f"paragraph {nth} starts with {word!r}, need {target!r}")
    return CheckResult(True, f"{count} paragraph(s); paragraph {nth} starts with {target!r}")
