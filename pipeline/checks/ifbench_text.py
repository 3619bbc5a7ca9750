"""Text helpers shared by the IFBench-exact checkers (the `ifbench` vocabulary): the reference's own units.

IFBench's checkers do not share one notion of a word or a sentence; each helper here reproduces one the
reference uses, under a name that says which:

- `split_into_sentences`: IFBench's rule-based splitter (abbreviations, initials, decimals, web
  addresses and runs of dots do not end a sentence; `.`, `?` and `!` do; newlines are spaces);
- `count_words`: runs of `\\w` characters (NLTK's `RegexpTokenizer(r"\\w+")`);
- `word_tokenize`: `nltk.word_tokenize` (offline Punkt + Treebank, `pipeline.checks.text`); `iter_word_tokens`
  and `edge_word_tokens` give the same tokens lazily, tokenizing only the Punkt sentences a checker reaches;
- `drop_punctuation` / `strip_punctuation`: removing every ASCII punctuation character
  (`string.punctuation`), or only those (and spaces) at both ends of a word.

Two checkers need NLTK data no package ships: the English `stopwords` corpus (`ratio:stop_words`) and
the `averaged_perceptron_tagger_eng` part-of-speech model (`words:start_verb`). They are read from
NLTK's data layout under `$COMPLEXIFY_NLTK_DATA` or `$NLTK_DATA` (never downloaded); when absent the
check fails with `missing_data_result`, whose evidence names the resource and how to provide it.

Argument helpers: IFBench's data files give counts and percentages as JSON numbers such as `5.0`; `want_count`
accepts an int or an integral float and returns an int. Like the IFEval checkers, a missing or malformed argument
raises `CheckerArgumentError` instead of the reference's random replacement.

These functions are stable: other IFBench checker modules import them.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.checks.ifeval_args import fail
from pipeline.checks.registry import CheckResult
from pipeline.checks.text import count_words as _count_w_words
from pipeline.checks.text import sentences, word_tokens

PUNCTUATION = string.punctuation
_STRIP = PUNCTUATION + " "
_NO_PUNCT = str.maketrans("", "", PUNCTUATION)
_CACHE = 2048
_W_RUN = re.compile(r"\w+")  # NLTK's RegexpTokenizer(r"\w+") finds the same runs

BLANK = CheckResult(False, "the response is empty (the reference scores an empty response as not followed)")

# --- Words ---------------------------------------------------------------------------------------------


def count_words(text: str) -> int:
    """The reference's word count: runs of `\\w` characters (so "don't" is two words)."""
    return _count_w_words(text)


def word_runs(text: str) -> list[str]:
    """The runs of `\\w` characters of `text`, in order (the tokens `count_words` counts)."""
    return _W_RUN.findall(text)


def word_tokenize(text: str) -> list[str]:
    """`nltk.word_tokenize(text)` (English Punkt sentences, then the Treebank word tokenizer)."""
    return list(word_tokens(text))


@lru_cache(maxsize=1)
def _treebank() -> Any:
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


@lru_cache(maxsize=_CACHE)
def sentence_word_tokens(sentence: str) -> tuple[str, ...]:
    """The Treebank tokens of one Punkt sentence, by NLTK itself: a sentence the lazy helpers below reach is
    usually new, and NLTK on a whole sentence is cheaper than the memoised per-chunk tokenizer when cold (equal
    results: `tests/property/test_ifbench_fast_paths.py`). Kept per sentence: loose-mode variants share them."""
    return tuple(_treebank().tokenize(sentence))


def iter_word_tokens(text: str) -> Iterator[str]:
    """The tokens of `word_tokenize(text)` in order, each Punkt sentence tokenized only when it is reached (a
    checker that decides at an early token never tokenizes the rest)."""
    for sentence in sentences(text):
        yield from sentence_word_tokens(sentence)


def edge_word_tokens(text: str, k: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The first k and the last k tokens of `word_tokenize(text)` (all of them, twice, when there are fewer than
    k), tokenizing only the Punkt sentences at both ends that hold them."""
    punkt = sentences(text)
    head: list[str] = []
    for sentence in punkt:
        head.extend(sentence_word_tokens(sentence))
        if len(head) >= k:
            break
    if len(head) < k:  # every sentence was read
        return tuple(head), tuple(head)
    tail: list[str] = []
    for sentence in reversed(punkt):
        tail[:0] = sentence_word_tokens(sentence)
        if len(tail) >= k:
            break
    return tuple(head[:k]), tuple(tail[-k:])


def drop_punctuation(text: str) -> str:
    """`text` without any ASCII punctuation character (`string.punctuation`); other characters stay."""
    return text.translate(_NO_PUNCT)


def strip_punctuation(word: str) -> str:
    """`word` without ASCII punctuation and spaces at either end (the reference's per-word clean-up)."""
    return word.strip(_STRIP)


def lstrip_punctuation(word: str) -> str:
    """`word` without ASCII punctuation and spaces at its start."""
    return word.lstrip(_STRIP)


def rstrip_punctuation(word: str) -> str:
    """`word` without ASCII punctuation and spaces at its end."""
    return word.rstrip(_STRIP)


# --- Sentences -----------------------------------------------------------------------------------------

_PRD, _STOP = "<prd>", "<stop>"
_LETTER = "([A-Za-z])"
_STARTERS = (
    r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s|However\s|That\s|This\s"
    r"|Wherever)"
)
_SUFFIX = "(Inc|Ltd|Jr|Sr|Co)"
# The splitter's steps, in order: (pattern, replacement). A period kept inside a sentence becomes <prd>
# (restored at the end); a place where a sentence ends before a capitalised starter becomes <stop>.
_STEPS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(Mr|St|Mrs|Ms|Dr)[.]"), rf"\1{_PRD}"),  # titles
    (re.compile(r"[.](com|net|org|io|gov|edu|me)"), rf"{_PRD}\1"),  # web addresses
    (re.compile(r"([0-9])[.]([0-9])"), rf"\1{_PRD}\2"),  # decimals
    (re.compile(r"\.{2,}"), lambda m: _PRD * len(m.group(0)) + _STOP),  # an ellipsis ends a sentence once
)
_STEPS_AFTER_PHD: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\s{_LETTER}[.] "), rf" \1{_PRD} "),  # an initial
    (re.compile(rf"([A-Z][.][A-Z][.](?:[A-Z][.])?) {_STARTERS}"), rf"\1{_STOP} \2"),  # acronym, then a starter
    (re.compile(rf"{_LETTER}[.]{_LETTER}[.]{_LETTER}[.]"), rf"\1{_PRD}\2{_PRD}\3{_PRD}"),  # a.b.c.
    (re.compile(rf"{_LETTER}[.]{_LETTER}[.]"), rf"\1{_PRD}\2{_PRD}"),  # a.b.
    (re.compile(rf" {_SUFFIX}[.] {_STARTERS}"), rf" \1{_STOP} \2"),  # Inc. then a starter
    (re.compile(rf" {_SUFFIX}[.]"), rf" \1{_PRD}"),  # Inc.
    (re.compile(rf" {_LETTER}[.]"), rf" \1{_PRD}"),  # a lone letter
)
# A closing quote after the end mark moves before it, so the quote stays in its sentence.
_QUOTE_SWAPS = (("”", ".”", "”."), ('"', '."', '".'), ("!", '!"', '"!'), ("?", '?"', '"?'))


# What each step's pattern needs in the text to match at all, tested first: most answers hold no title, decimal,
# initial or acronym, and a search that starts at a fixed character (a period, a space) is much cheaper than a
# `sub` that tries the pattern at every position. Each test is implied by its step's pattern, so skipping the
# step when it fails changes nothing (`tests/property/test_ifbench_fast_paths.py`).
_TITLE = re.compile(r"\.(?:(?<=Mr\.|St\.|Ms\.|Dr\.)|(?<=Mrs\.))").search
_WEB = re.compile(r"\.(?:com|net|org|io|gov|edu|me)").search
_DECIMAL = re.compile(r"\.(?<=[0-9]\.)[0-9]").search
_INITIAL = re.compile(r"\. (?<=\s[A-Za-z]\. )").search
_LETTER_DOT = re.compile(r"\.(?<=[A-Za-z]\.)[A-Za-z]\.").search  # acronyms and a.b. / a.b.c.
_SUFFIXED = re.compile(r" (?:Inc|Ltd|Jr|Sr|Co)\.").search
_LONE_LETTER = re.compile(r"\.(?<= [A-Za-z]\.)").search
_NEEDS: tuple[Callable[[str], object], ...] = (
    _TITLE, _WEB, _DECIMAL, lambda w: ".." in w,
)  # fmt: skip
_NEEDS_AFTER_PHD: tuple[Callable[[str], object], ...] = (
    _INITIAL, _LETTER_DOT, _LETTER_DOT, _LETTER_DOT, _SUFFIXED, _SUFFIXED, _LONE_LETTER,
)  # fmt: skip


def _split(text: str, *, screened: bool) -> tuple[str, ...]:
    """The splitter; `screened` skips a step whose pattern cannot match (same result, see `_NEEDS`)."""
    work = " " + text.replace("\n", " ") + "  "
    for (pattern, repl), needs in zip(_STEPS, _NEEDS, strict=True):
        if not screened or needs(work):
            work = pattern.sub(repl, work)
    if "Ph.D" in work:
        work = work.replace("Ph.D.", f"Ph{_PRD}D{_PRD}")
    for (pattern, plain), needs in zip(_STEPS_AFTER_PHD, _NEEDS_AFTER_PHD, strict=True):
        if not screened or needs(work):
            work = pattern.sub(plain, work)
    for trigger, before, after in _QUOTE_SWAPS:
        if trigger in work:
            work = work.replace(before, after)
    for mark in ".?!":
        work = work.replace(mark, mark + _STOP)
    pieces = [piece.strip() for piece in work.replace(_PRD, ".").split(_STOP)]
    if pieces and not pieces[-1]:
        pieces.pop()
    return tuple(pieces)


@lru_cache(maxsize=_CACHE)
def _sentences(text: str) -> tuple[str, ...]:
    return _split(text, screened=True)


def split_into_sentences(text: str) -> list[str]:
    """IFBench's sentences of `text`, stripped, in order; the last piece is dropped only when it is empty,
    so a sentence may be a lone mark ("Wow!!" gives "Wow!" and "!"). A blank text has none."""
    return list(_sentences(text))


# --- Arguments -----------------------------------------------------------------------------------------


def want_count(checker_id: str, name: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number >= minimum, given as an int or an integral float (IFBench's rows hold `5.0`)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(checker_id, f"{name!r} must be an integer (a whole number), got {value!r}")
    if value < minimum:
        raise fail(checker_id, f"{name!r} must be >= {minimum}, got {value}")
    return value


def want_text(checker_id: str, name: str, value: Any) -> str:
    """A string with some non-whitespace content."""
    if not isinstance(value, str) or not value.strip():
        raise fail(checker_id, f"{name!r} must be a non-empty string, got {value!r}")
    return value


# --- NLTK data no package ships ------------------------------------------------------------------------

STOPWORDS = "corpora/stopwords"
TAGGER = "taggers/averaged_perceptron_tagger_eng"
_TAGGER_FILES = ("weights", "tagdict", "classes")
_DOWNLOAD_NAME = {STOPWORDS: "stopwords", TAGGER: "averaged_perceptron_tagger_eng"}


def nltk_data_roots() -> tuple[str, ...]:
    """The folders searched for NLTK data: $COMPLEXIFY_NLTK_DATA, then each entry of $NLTK_DATA."""
    roots = [os.environ.get("COMPLEXIFY_NLTK_DATA", "")]
    roots += os.environ.get("NLTK_DATA", "").split(os.pathsep)
    return tuple(r for r in roots if r)


MISSING_DATA = "missing NLTK data: "  # how the evidence of `missing_data_result` starts


def missing_data_result(resource: str) -> CheckResult:
    """The failed check for a missing NLTK resource (`STOPWORDS` or `TAGGER`), saying how to provide it."""
    name = _DOWNLOAD_NAME[resource]
    return CheckResult(
        False,
        f"{MISSING_DATA}{resource} (NLTK's {name!r}) is not under $COMPLEXIFY_NLTK_DATA or $NLTK_DATA; "
        f"put it there (python -m nltk.downloader -d <folder> {name}, then set NLTK_DATA=<folder>)",
    )


# Loaded resources by (kind, data folders). Only what was found is kept: data added later is seen at the next check.
_LOADED: dict[tuple[str, tuple[str, ...]], Any] = {}


def _found(kind: str, load: Callable[[tuple[str, ...]], Any]) -> Any:
    roots = nltk_data_roots()
    if not roots:
        return None
    key = (kind, roots)
    if key not in _LOADED:
        value = load(roots)
        if value is None:
            return None
        _LOADED[key] = value
    return _LOADED[key]


def _stopwords_in(roots: tuple[str, ...]) -> frozenset[str] | None:
    import nltk
    from nltk.corpus.reader import WordListCorpusReader

    try:
        root = nltk.data.find(STOPWORDS, paths=list(roots))
    except LookupError:
        return None
    reader = WordListCorpusReader(root, ["english"], encoding="utf8")
    try:
        return frozenset(reader.words("english"))
    except (OSError, LookupError):  # the corpus folder without its English list
        return None


def english_stopwords() -> frozenset[str] | None:
    """NLTK's English stop words (`stopwords.words('english')`) from the data folders, or None when absent."""
    return _found("stopwords", _stopwords_in)


def _tagger_in(roots: tuple[str, ...]) -> Any:
    import nltk
    from nltk.tag.perceptron import TAGGER_JSONS, PerceptronTagger

    try:
        folder = Path(str(nltk.data.find(TAGGER + "/", paths=list(roots))))
    except LookupError:
        return None
    names = TAGGER_JSONS["eng"]
    files = [folder / names[k] for k in _TAGGER_FILES]
    if not all(f.is_file() for f in files):
        return None
    tagger = PerceptronTagger(load=False)
    weights, tagdict, classes = (json.loads(f.read_text(encoding="utf-8")) for f in files)
    # What PerceptronTagger.load_from_json sets, read from the folder found above.
    tagger.model.weights, tagger.tagdict, tagger.classes = weights, tagdict, set(classes)
    tagger.model.classes = tagger.classes
    return tagger


def pos_tagger() -> Any:
    """NLTK's English averaged perceptron tagger (what `nltk.pos_tag` uses), or None when its data is absent."""
    return _found("tagger", _tagger_in)
