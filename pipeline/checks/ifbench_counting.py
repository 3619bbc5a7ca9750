"""Checkers: IFBench `count:*` and `ratio:*` ids, with the reference's semantics exactly.

Each checker decides what IFBench's own checker decides for the same response and arguments (its units
are in `pipeline.checks.ifbench_text`), including what it lets through: these ids belong to the held-out
`ifbench` vocabulary, so they are not hardened, and the hacks they accept are recorded as known weaknesses
in `taxonomy/adversarial/ifbench_counting.yaml`. Differences, all on inputs the reference cannot score:

- an empty (blank) response fails, as the reference's evaluation scores it;
- where the reference raises (a response without words for `ratio:stop_words`, fewer than three
  characters for `ratio:overlap`), the check fails and its evidence says so;
- a missing or malformed argument raises `CheckerArgumentError` instead of being replaced at random;
- `ratio:stop_words` fails closed when NLTK's stopwords corpus is not installed (`ifbench_text`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.checks.ifbench_text import (
    BLANK,
    PUNCTUATION,
    STOPWORDS,
    count_words,
    drop_punctuation,
    english_stopwords,
    missing_data_result,
    split_into_sentences,
    strip_punctuation,
    want_count,
    want_text,
    word_runs,
)
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import short

CONJUNCTIONS = frozenset({"and", "but", "for", "nor", "or", "so", "yet"})
# The 50 names IFBench's count:person_names lists in its instruction, matched as case-sensitive substrings.
PERSON_NAMES = (
    "Emma Liam Sophia Jackson Olivia Noah Ava Lucas Isabella Mason Mia Ethan Charlotte Alexander Amelia Benjamin "
    "Harper Leo Zoe Daniel Chloe Samuel Lily Matthew Grace Owen Abigail Gabriel Ella Jacob Scarlett Nathan Victoria "
    "Elijah Layla Nicholas Audrey David Hannah Christopher Penelope Thomas Nora Andrew Aria Joseph Claire Ryan "
    "Stella Jonathan"
).split()
PRONOUNS = frozenset(
    "i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she her "
    "hers herself it its itself they them their theirs themselves".split()
)
KEYWORD_TIMES = (("keyword1", 1), ("keyword2", 2), ("keyword3", 3), ("keyword4", 5), ("keyword5", 7))
_DIGIT_RUN = re.compile(r"\d+")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # hiragana, katakana, CJK unified ideographs
_INTERROBANGS = ("!?", "?!", "‽")
_MARKS = ".,!?;:"
_STRIP = PUNCTUATION + " "  # what `strip_punctuation` strips, inlined in the loops over every token


@checker("count:word_count_range")
def check_word_count_range(response: str, *, min_words: int, max_words: int) -> CheckResult:
    """min_words <= number of `\\w+` runs <= max_words."""
    cid = "count:word_count_range"
    lo = want_count(cid, "min_words", min_words)
    hi = want_count(cid, "max_words", max_words)
    if not response.strip():
        return BLANK
    n = count_words(response)
    return CheckResult(lo <= n <= hi, f"found {n} word(s), need between {lo} and {hi}")


@checker("count:unique_word_count")
def check_unique_word_count(response: str, *, N: int) -> CheckResult:
    """At least N distinct lowercased whitespace tokens once ASCII punctuation is stripped from their ends (a
    token of punctuation only counts as the empty word)."""
    want = want_count("count:unique_word_count", "N", N)
    if not response.strip():
        return BLANK
    distinct = {token.strip(_STRIP) for token in set(response.lower().split())}  # each distinct token once
    return CheckResult(len(distinct) >= want, f"found {len(distinct)} unique word(s), need at least {want}")


@checker("ratio:stop_words")
def check_stop_words(response: str, *, percentage: int) -> CheckResult:
    """`\\w+` runs that are NLTK English stop words (any case) make up at most `percentage`% of all `\\w+` runs."""
    limit = want_count("ratio:stop_words", "percentage", percentage)
    if not response.strip():
        return BLANK
    stop = english_stopwords()
    if stop is None:
        return missing_data_result(STOPWORDS)
    tokens = word_runs(response)
    if not tokens:
        return CheckResult(False, "no words to take a share of (the reference raises ZeroDivisionError here)")
    n_stop = sum(1 for t in tokens if t.lower() in stop)
    share = (n_stop / len(tokens)) * 100
    return CheckResult(
        share <= limit, f"stop words are {share:.1f}% of {len(tokens)} word(s) ({n_stop}), need at most {limit}%"
    )


def _ending_counts(response: str) -> tuple[int, int, int]:
    """How many of the reference's sentences end with `.`, with `?` and with `!`."""
    sentences = split_into_sentences(response)
    dot, question, bang = (sum(1 for s in sentences if s.endswith(mark)) for mark in ".?!")
    return dot, question, bang


@checker("ratio:sentence_type")
def check_sentence_type(response: str) -> CheckResult:
    """Sentences ending in `.` number exactly twice those ending in `?` (none of either also holds)."""
    if not response.strip():
        return BLANK
    dot, question, _ = _ending_counts(response)
    return CheckResult(
        dot == 2 * question, f"{dot} sentence(s) end with '.', {question} with '?'; need twice as many '.' as '?'"
    )


@checker("ratio:sentence_balance")
def check_sentence_balance(response: str) -> CheckResult:
    """As many sentences end in `.` as in `?` and as in `!`."""
    if not response.strip():
        return BLANK
    dot, question, bang = _ending_counts(response)
    return CheckResult(
        dot == question == bang,
        f"{dot} sentence(s) end with '.', {question} with '?', {bang} with '!'; need the three equal",
    )


@checker("count:conjunctions")
def check_conjunctions(response: str, *, small_n: int) -> CheckResult:
    """At least small_n different whitespace tokens that are coordinating conjunctions once ASCII punctuation is
    stripped from their ends and they are lowercased; tokens differ as written ("and", "And" and "and," are
    three)."""
    want = want_count("count:conjunctions", "small_n", small_n)
    if not response.strip():
        return BLANK
    found = {token for token in set(response.split()) if token.strip(_STRIP).lower() in CONJUNCTIONS}
    listed = ", ".join(sorted(short(t) for t in found)[:8])
    return CheckResult(
        len(found) >= want, f"found {len(found)} different conjunction token(s) ({listed}), need at least {want}"
    )


@checker("count:person_names")
def check_person_names(response: str, *, N: int) -> CheckResult:
    """At least N of the 50 listed names occur as case-sensitive substrings ("Emmanuel" holds "Emma")."""
    want = want_count("count:person_names", "N", N)
    if not response.strip():
        return BLANK
    found = [name for name in PERSON_NAMES if name in response]
    return CheckResult(len(found) >= want, f"found {len(found)} listed name(s), need at least {want}")


def _trigrams(text: str) -> set[tuple[str, str, str]]:
    return set(zip(text, text[1:], text[2:], strict=False))


@lru_cache(maxsize=256)
def _reference_trigrams(text: str) -> frozenset[tuple[str, str, str]]:
    # reference_text is an argument: the same one is checked against many responses and loose-mode variants
    return frozenset(_trigrams(text))


@checker("ratio:overlap")
def check_overlap(response: str, *, reference_text: str, percentage: int) -> CheckResult:
    """The share of the response's distinct character trigrams that also occur in reference_text lies within
    `percentage` +- 2 (percentage points)."""
    cid = "ratio:overlap"
    ref = want_text(cid, "reference_text", reference_text)
    target = want_count(cid, "percentage", percentage)
    if not response.strip():
        return BLANK
    mine = _trigrams(response)
    if not mine:
        return CheckResult(False, "fewer than 3 characters (the reference raises ZeroDivisionError here)")
    overlap = (len(mine & _reference_trigrams(ref)) / len(mine)) * 100
    return CheckResult(
        target - 2 <= overlap <= target + 2,
        f"{overlap:.1f}% of the response's character trigrams occur in the reference text, need {target}% (+-2)",
    )


@checker("count:numbers")
def check_numbers(response: str, *, N: int) -> CheckResult:
    """Exactly N runs of digits once ASCII punctuation is removed (so 1,000 and 3.5 are one number each)."""
    want = want_count("count:numbers", "N", N)
    if not response.strip():
        return BLANK
    found = len(_DIGIT_RUN.findall(drop_punctuation(response)))
    return CheckResult(found == want, f"found {found} number(s), need exactly {want}")


@checker("count:punctuation")
def check_punctuation(response: str) -> CheckResult:
    """An interrobang (`?!`, `!?` or `‽`) and each of `. , ! ? ; :`; the first `?!` (else `!?`) is taken out before
    the marks are looked for, so it does not count as its own `?` and `!`."""
    if not response.strip():
        return BLANK
    if not any(mark in response for mark in _INTERROBANGS):
        return CheckResult(False, "no interrobang (?!, !? or ‽)")
    rest = response.replace("?!", "", 1)
    if len(rest) == len(response):
        rest = response.replace("!?", "", 1)
    missing = [mark for mark in _MARKS if mark not in rest]
    if missing:
        return CheckResult(False, f"missing punctuation mark(s): {' '.join(missing)}")
    return CheckResult(True, "every mark (. , ! ? ; :) and an interrobang are used")


@checker("ratio:sentence_words")
def check_sentence_words(response: str) -> CheckResult:
    """Exactly three sentences, all of the same length in characters (whether their words differ is not
    checked)."""
    if not response.strip():
        return BLANK
    sentences = split_into_sentences(response)
    if len(sentences) != 3:
        return CheckResult(False, f"found {len(sentences)} sentence(s), need exactly 3")
    lengths = [len(s.strip()) for s in sentences]
    return CheckResult(len(set(lengths)) == 1, f"sentence lengths {lengths} characters, need all equal")


@checker("count:words_japanese")
def check_words_japanese(response: str, *, N: int) -> CheckResult:
    """Every N-th whitespace token (ASCII punctuation stripped from its ends; empty or all-digit tokens are
    skipped) holds a hiragana, katakana or CJK ideograph."""
    want = want_count("count:words_japanese", "N", N, minimum=1)
    if not response.strip():
        return BLANK
    for i, token in enumerate(response.split(), start=1):
        word = strip_punctuation(token)
        if i % want == 0 and word and not word.isdigit() and not _JAPANESE.search(word):
            return CheckResult(False, f"word {i} ({short(word)}) is not Japanese")
    return CheckResult(True, f"every {want}th word is Japanese")


@checker("count:pronouns")
def check_pronouns(response: str, *, N: int) -> CheckResult:
    """At least N whitespace tokens that are English personal pronouns, once `/` is a space, the text is
    lowercased and ASCII punctuation is removed."""
    want = want_count("count:pronouns", "N", N)
    if not response.strip():
        return BLANK
    tokens = drop_punctuation(response.replace("/", " ").lower()).split()
    found = sum(1 for t in tokens if t in PRONOUNS)
    return CheckResult(found >= want, f"found {found} pronoun(s), need at least {want}")


@checker("count:keywords_multiple")
def check_keywords_multiple(
    response: str, *, keyword1: str, keyword2: str, keyword3: str, keyword4: str, keyword5: str
) -> CheckResult:
    """keyword1 occurs exactly once, keyword2 twice, keyword3 three times, keyword4 five times and keyword5 seven
    times, counted as non-overlapping case-insensitive substrings (keywords stripped of surrounding spaces)."""
    cid = "count:keywords_multiple"
    given = {"keyword1": keyword1, "keyword2": keyword2, "keyword3": keyword3, "keyword4": keyword4,
             "keyword5": keyword5}  # fmt: skip
    words = {name: want_text(cid, name, given[name]).strip() for name, _ in KEYWORD_TIMES}
    if not response.strip():
        return BLANK
    text = response.lower()
    for name, times in KEYWORD_TIMES:
        word = words[name]
        found = text.count(word.lower())
        if found != times:
            return CheckResult(False, f"{short(word)} occurs {found} time(s), need exactly {times}")
    return CheckResult(True, "each keyword occurs exactly as often as asked (1, 2, 3, 5, 7)")
