"""Checkers: ComplexBench's code-checkable rule families (`complexbench:*`), written from its semantics.

Shared conventions (each spec's description repeats the part that applies to it):

- Punctuation is compared in one canonical form: full-width forms (U+FF01-U+FF5E) become their ASCII
  twins, `。` becomes `.`, `、` becomes `,`, curly quotes become straight quotes and the ideographic
  space a plain space. ComplexBench maps ASCII to full-width instead; mapping the other way gives the
  same equivalences and keeps the evidence readable for English text.
- Keywords match case-insensitively, any run of whitespace in a keyword matches any run of whitespace,
  and an edge of the keyword that is a letter or digit of a space-separated script must sit on a word
  boundary ("art" does not match "start"). CJK characters have no word boundaries, so a CJK edge
  matches anywhere, like ComplexBench's plain substring test.
- Starts/ends/exact comparisons ignore surrounding whitespace, collapse internal whitespace and are
  case-insensitive.

Hardening against gamed answers (see `views`): required keywords count only in the visible answer and
only in prose, not in a bare list of keywords; forbidden words are found in all of the text, through
look-alike letters and invisible characters, in plural and possessive forms too ("budgets",
"budget's"); a prefix or suffix must sit on a word boundary and come with some other text; a banned
ending is found behind trailing punctuation, markup or emoji; lengths ignore hidden text, invisible
characters and whitespace padding; tokens without a letter or digit are not words; a JSON answer must
be the whole response (optionally in one code fence) with every value filled in; punctuation is
compared after folding look-alike marks.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

from pipeline.checks import views
from pipeline.checks.ifeval_args import fail, want_int, want_str, want_str_list
from pipeline.checks.registry import CheckResult, checker

_FULLWIDTH: dict[int | str, int | str] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_CANON = str.maketrans(
    {**_FULLWIDTH, "。": ".", "、": ",", "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "\u3000": " "}
)
# Scripts written without spaces: their characters are word characters to `re` but have no boundaries.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_SPACED_WORD_CHAR = re.compile(rf"[^\W_{_UNSPACED}]")
_WS = re.compile(r"\s+")
_SENTENCE_END_TOLERANCE = (".", "。")
_ALNUM = re.compile(r"[^\W_]")
_PADDING = re.compile(r"\s{3,}")
MAX_EVIDENCE = 40


def canon(text: str) -> str:
    """Canonical punctuation (full-width and curly forms -> ASCII), so either form satisfies a rule."""
    return text.translate(_CANON)


def _squash(text: str) -> str:
    """Canonical punctuation, collapsed whitespace, stripped, lowercased: the form prefixes are compared in."""
    return _WS.sub(" ", canon(text)).strip().lower()


def short(text: str, limit: int = MAX_EVIDENCE) -> str:
    """A one-line excerpt for evidence."""
    flat = _WS.sub(" ", text).strip()
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def keyword_pattern(keyword: str, *, inflected: bool = False) -> re.Pattern[str]:
    """Case-insensitive pattern for a keyword, with word boundaries only on spaced-script edges.

    With `inflected`, a Latin-edged keyword also matches its plural and possessive forms ("budgets",
    "budget's"): the form forbidden-word rules must catch.
    """
    word = _squash(keyword)
    body = r"\s+".join(re.escape(part) for part in word.split(" "))
    # A CJK neighbour does not block a Latin keyword either: only spaced-script word characters do.
    edge = rf"[^\W_{_UNSPACED}]"
    latin_tail = bool(_SPACED_WORD_CHAR.match(word[-1]))
    head = rf"(?<!{edge})" if _SPACED_WORD_CHAR.match(word[0]) else ""
    suffix = "(?:s|es|'s)?" if inflected and latin_tail else ""
    tail = rf"{suffix}(?!{edge})" if latin_tail else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def contains_keyword(response: str, keyword: str) -> bool:
    """The keyword occurs anywhere in the text (matching rules above; no hardening)."""
    return keyword_pattern(keyword).search(canon(response)) is not None


def prose_keywords(response: str, keywords: list[str]) -> list[bool]:
    """For each keyword, whether it occurs in prose in the visible answer (not in a bare keyword list)."""
    return views.in_prose(canon(views.visible(response)), [keyword_pattern(w) for w in keywords])


def disguised_keyword(response: str, keyword: str) -> bool:
    """The keyword, or its plural or possessive, occurs anywhere in the text, look-alike letters and
    invisible characters undone: what a forbidden-word rule must find."""
    return keyword_pattern(views.fold(keyword), inflected=True).search(canon(views.folded(response))) is not None


def want_keywords(cid: str, name: str, value: Any) -> list[str]:
    """A non-empty list of keywords, each with some non-punctuation content."""
    words = want_str_list(cid, name, value)
    return [w.strip() for w in words]


def want_bounds(cid: str, lo_name: str, lo: Any, hi_name: str, hi: Any) -> tuple[int, int]:
    """Two integers 0 <= lo <= hi."""
    low = want_int(cid, lo_name, lo)
    high = want_int(cid, hi_name, hi)
    if low > high:
        raise fail(cid, f"{lo_name!r} ({low}) must not exceed {hi_name!r} ({high})")
    return low, high


def in_range(count: int, lo: int, hi: int, unit: str) -> CheckResult:
    """Verdict and evidence for a count that must lie in [lo, hi]."""
    if count < lo:
        return CheckResult(False, f"found {count} {unit}, need at least {lo}")
    if count > hi:
        return CheckResult(False, f"found {count} {unit}, need at most {hi}")
    return CheckResult(True, f"found {count} {unit}, within [{lo}, {hi}]")


# --- Keywords --------------------------------------------------------------------------------------


@checker("complexbench:keywords")
def check_keywords(response: str, *, keywords: list[str]) -> CheckResult:
    """Every keyword occurs (case-insensitive, whole words for Latin edges)."""
    words = want_keywords("complexbench:keywords", "keywords", keywords)
    found = prose_keywords(response, words)
    missing = [w for w, ok in zip(words, found, strict=True) if not ok]
    if missing:
        listed = [w for w in missing if contains_keyword(response, w)]
        detail = f" ({', '.join(map(repr, listed))} only outside prose or hidden)" if listed else ""
        return CheckResult(False, f"missing keyword(s) {', '.join(map(repr, missing))}{detail}")
    return CheckResult(True, f"found all {len(words)} keyword(s) in sentences")


@checker("complexbench:forbidden_words")
def check_forbidden_words(response: str, *, forbidden_words: list[str]) -> CheckResult:
    """No forbidden word occurs anywhere, in any case, plural or possessive, disguised or hidden."""
    words = want_keywords("complexbench:forbidden_words", "forbidden_words", forbidden_words)
    found = [w for w in words if disguised_keyword(response, w)]
    if found:
        return CheckResult(False, f"contains forbidden word(s) {', '.join(map(repr, found))}")
    return CheckResult(True, f"none of the {len(words)} forbidden word(s) occurs")


@checker("complexbench:keyword_count")
def check_keyword_count(response: str, *, keywords: list[str], min_count: int, max_count: int) -> CheckResult:
    """The number of distinct listed keywords present lies in [min_count, max_count] (ComplexBench model_keyword_num).

    Toward the minimum only keywords used in prose in the visible answer count; toward the maximum
    every occurrence counts, disguised, hidden, plural or possessive.
    """
    cid = "complexbench:keyword_count"
    words = want_keywords(cid, "keywords", keywords)
    lo, hi = want_bounds(cid, "min_count", min_count, "max_count", max_count)
    if lo > len(set(map(_squash, words))):
        raise fail(cid, f"'min_count' ({lo}) exceeds the number of distinct keywords ({len(words)})")
    used = sorted({_squash(w) for w, ok in zip(words, prose_keywords(response, words), strict=True) if ok})
    anywhere = sorted({_squash(w) for w in words if disguised_keyword(response, w)})
    if len(used) < lo:
        result = in_range(len(used), lo, hi, "of the listed keywords used in sentences")
    else:
        result = in_range(len(anywhere), lo, hi, "of the listed keywords")
    detail = f" ({', '.join(map(repr, anywhere))})" if anywhere else ""
    return CheckResult(result.passed, result.evidence + detail)


# --- Start with / End with -------------------------------------------------------------------------


def _word_char(ch: str) -> bool:
    """A letter or digit of a script written with spaces (where word boundaries exist)."""
    return bool(_SPACED_WORD_CHAR.match(ch))


@checker("complexbench:starts_with")
def check_starts_with(response: str, *, prefix: str) -> CheckResult:
    """The visible answer begins with `prefix` (case-insensitive, whitespace and punctuation forms normalised),
    ending on a word boundary ("Dear readers" does not start with "Dear reader"), and goes on after it."""
    want = _squash(want_str("complexbench:starts_with", "prefix", prefix))
    text = _squash(views.visible(response))
    if not text.startswith(want):
        return CheckResult(False, f"starts with {short(text[: len(want) + 10])}, need {short(prefix)}")
    rest = text[len(want) :]
    if rest and _word_char(want[-1]) and _word_char(rest[0]):
        return CheckResult(False, f"{short(prefix)} runs into the next word: {short(text[: len(want) + 10])}")
    if not views.WORD.search(rest):
        return CheckResult(False, f"nothing follows {short(prefix)}")
    return CheckResult(True, f"starts with {short(prefix)}")


def _suffix_start(text: str, suffix: str) -> int | None:
    """Where `suffix` starts if `text` ends with it, maybe followed by one full stop (ComplexBench tolerates 。)."""
    if text.endswith(suffix):
        return len(text) - len(suffix)
    for mark in _SENTENCE_END_TOLERANCE:
        if not suffix.endswith(mark) and text.endswith(suffix + mark):
            return len(text) - len(suffix) - len(mark)
    return None


def _ends_with(text: str, suffix: str) -> bool:
    return _suffix_start(text, suffix) is not None


_MAX_TRAILER = 64  # trailing decoration looked behind for a banned ending (bounded: the check stays linear)


def _ends_with_behind_decoration(text: str, suffix: str) -> bool:
    """`text` ends with `suffix` once trailing punctuation, markup, symbols or emoji are dropped."""
    n = len(text)
    i = n
    while True:
        if _ends_with(text[:i], suffix):
            return True
        if i == 0 or n - i >= _MAX_TRAILER or _ALNUM.match(text[i - 1]):
            return False
        i -= 1


@checker("complexbench:ends_with")
def check_ends_with(response: str, *, suffix: str) -> CheckResult:
    """The visible answer ends with `suffix`, optionally followed by a single `.` or `。`; the suffix starts
    on a word boundary ("Awe value you" does not end with "We value you") and other text comes before it."""
    want = _squash(want_str("complexbench:ends_with", "suffix", suffix))
    text = _squash(views.visible(response))
    start = _suffix_start(text, want)
    if start is None:
        return CheckResult(False, f"ends with {short(text[-(len(want) + 10) :])}, need {short(suffix)}")
    if start > 0 and _word_char(want[0]) and _word_char(text[start - 1]):
        return CheckResult(
            False, f"{short(suffix)} is glued to the word before it: {short(text[max(0, start - 10) :])}"
        )
    if not views.WORD.search(text, 0, start):
        return CheckResult(False, f"nothing comes before {short(suffix)}")
    return CheckResult(True, f"ends with {short(suffix)}")


@checker("complexbench:not_ends_with")
def check_not_ends_with(response: str, *, suffix: str) -> CheckResult:
    """The response does not end with `suffix` (nor with `suffix` plus a single `.` or `。`), also not behind
    trailing punctuation, markup, emoji, hidden text or invisible characters, nor in look-alike letters."""
    want = _squash(want_str("complexbench:not_ends_with", "suffix", suffix))
    folded_want = _squash(views.fold(suffix))
    for text, target in (
        (_squash(response), want),
        (_squash(views.visible(response)), want),
        (_squash(views.folded(views.visible(response))), folded_want),
    ):
        if _ends_with_behind_decoration(text, target):
            return CheckResult(False, f"ends with {short(suffix)}, which is not allowed")
    return CheckResult(True, f"does not end with {short(suffix)}")


# --- Length ----------------------------------------------------------------------------------------


@checker("complexbench:length_chars")
def check_length_chars(response: str, *, min_chars: int, max_chars: int) -> CheckResult:
    """The stripped visible answer has between min_chars and max_chars characters (every code point counts,
    but invisible characters and hidden text do not, and a run of whitespace counts at most twice)."""
    lo, hi = want_bounds("complexbench:length_chars", "min_chars", min_chars, "max_chars", max_chars)
    return in_range(len(_PADDING.sub("  ", views.visible(response).strip())), lo, hi, "characters")


@checker("complexbench:length_words")
def check_length_words(response: str, *, min_words: int, max_words: int) -> CheckResult:
    """The number of whitespace-separated tokens with a letter or digit in the visible answer lies in
    [min_words, max_words] (a lone dash or an invisible character is not a word)."""
    lo, hi = want_bounds("complexbench:length_words", "min_words", min_words, "max_words", max_words)
    count = sum(1 for token in views.visible(response).split() if _ALNUM.search(token))
    return in_range(count, lo, hi, "words")


# --- Word Matching ---------------------------------------------------------------------------------


def _strip_full_stop(text: str) -> str:
    return text[:-1].rstrip() if text.endswith(".") else text


@checker("complexbench:exact_match")
def check_exact_match(response: str, *, answer: str) -> CheckResult:
    """The whole answer equals `answer` (case-insensitive, whitespace collapsed, a trailing `.`/`。` ignored);
    reasoning blocks and invisible characters aside, nothing else may be there (not even an HTML comment)."""
    want = _strip_full_stop(_squash(want_str("complexbench:exact_match", "answer", answer)))
    got = _strip_full_stop(_squash(views.strip_invisible(views.strip_reasoning_blocks(response))))
    if got == want:
        return CheckResult(True, f"response is exactly {short(answer)}")
    return CheckResult(False, f"response is {short(got)}, need exactly {short(answer)}")


# --- JSON Format -----------------------------------------------------------------------------------


def first_json_object(text: str) -> tuple[Any, str | None]:
    """Parse the JSON value that starts at the first `{`; returns (value, None) or (None, reason)."""
    start = text.find("{")
    if start < 0:
        return None, "no '{' found"
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError as exc:
        return None, f"the first {{...}} block is not valid JSON ({str(exc).split(':')[0]})"
    except RecursionError:
        return None, "the first {...} block is nested too deeply to parse"
    return value, None


_FENCED = re.compile(r"\A```[A-Za-z]*[ \t]*\n(.*)\n[ \t]*```\Z", re.DOTALL)


def whole_json(text: str) -> tuple[Any, str | None]:
    """Parse the whole text (reasoning aside, optionally inside one ``` fence) as one JSON value."""
    body = views.strip_invisible(views.strip_reasoning_blocks(text)).strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body.startswith("{"):
        return None, "the response is not a JSON object (text before it, or no '{' at the start)"
    try:
        value, end = json.JSONDecoder().raw_decode(body)
    except ValueError as exc:
        return None, f"not valid JSON ({str(exc).split(':')[0]})"
    except RecursionError:
        return None, "the JSON is nested too deeply to parse"
    if body[end:].strip():
        return None, f"text after the JSON object: {short(body[end:])}"
    return value, None


def _blank(value: Any) -> bool:
    """An unfilled JSON value: null, an empty or blank string, an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


@checker("complexbench:json_keys")
def check_json_keys(response: str, *, keys: list[str]) -> CheckResult:
    """The response is one JSON object (optionally in a ``` fence, nothing around it) whose key set is
    exactly `keys` and whose values are all filled in (not null, blank, [] or {})."""
    cid = "complexbench:json_keys"
    wanted = want_str_list(cid, "keys", keys)
    if len(set(wanted)) != len(wanted):
        raise fail(cid, f"'keys' must be distinct, got {wanted!r}")
    value, problem = whole_json(response)
    if problem:
        return CheckResult(False, problem)
    if not isinstance(value, dict):
        return CheckResult(False, f"the JSON value is a {type(value).__name__}, not an object")
    missing = [k for k in wanted if k not in value]
    extra = [k for k in value if k not in set(wanted)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing key(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unexpected key(s) {', '.join(map(repr, extra[:5]))}")
        return CheckResult(False, "; ".join(parts))
    empty = [k for k in wanted if _blank(value[k])]
    if empty:
        return CheckResult(False, f"key(s) without a value: {', '.join(map(repr, empty))}")
    return CheckResult(True, f"JSON object with exactly the {len(wanted)} required key(s), all filled in")


# --- Punctuation -----------------------------------------------------------------------------------

PUNCTUATION = frozenset(string.punctuation)


def punctuation_view(text: str) -> str:
    """All of the text with every punctuation disguise undone: NFKC, look-alike marks, then `canon`."""
    return canon(views.fold_punctuation(views.folded(text)))


@checker("complexbench:punctuation_whitelist")
def check_punctuation_whitelist(response: str, *, allowed: list[str]) -> CheckResult:
    """No ASCII punctuation mark outside `allowed` occurs; a full-width, curly, small or look-alike form counts
    as its ASCII twin."""
    cid = "complexbench:punctuation_whitelist"
    if isinstance(allowed, str) or not isinstance(allowed, list | tuple):
        raise fail(cid, f"'allowed' must be a list of punctuation marks, got {allowed!r}")
    marks = set()
    for mark in allowed:
        if not isinstance(mark, str) or len(canon(mark)) != 1 or canon(mark) not in PUNCTUATION:
            raise fail(
                cid, f"'allowed' entries must be single punctuation marks from {string.punctuation!r}, got {mark!r}"
            )
        marks.add(canon(mark))
    used = {ch for ch in punctuation_view(response) if ch in PUNCTUATION}
    bad = sorted(used - marks)
    if bad:
        return CheckResult(False, f"uses punctuation outside the allowed set: {' '.join(bad)}")
    return CheckResult(True, f"uses only allowed punctuation ({' '.join(sorted(used)) or 'none'})")
