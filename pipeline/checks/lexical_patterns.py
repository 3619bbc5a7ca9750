"""Checkers: lexical patterns family (our own character- and word-level constraints): word lengths, doubled
letters, affixes, number words, percentages, hyphenated compounds, acronyms, the order of words and numbers,
dashes, contractions, first-person words, semicolons and parentheses.

Units, stated in each spec's description: a word is a run of letters and digits with inner apostrophes
(counting.py) that holds a letter; a compound is words joined by hyphens ("well-known"); sentences are
counting.py's.

Hardening (see `views`): what a rule requires (N words of a kind, a keyword, a definition) is found in the
visible answer with look-alike letters folded, and only in prose where a bare list could stuff it; what a
rule forbids (a long word, a doubled letter, a dash, a contraction, a first-person word, an extra mark) is
looked for in the folded answer, hidden comments included, so a disguise or an invisible character inside a
word hides nothing. An answer without words satisfies no rule, bans included.
"""

from __future__ import annotations

import bisect
import itertools
import re
from typing import Any

from pipeline.checks import views
from pipeline.checks.counting import WORD_RE, sentences, want_count
from pipeline.checks.ifeval_args import fail, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import keyword_pattern, short, want_keywords

LETTER = re.compile(r"[^\W\d_]")
_ALNUM = re.compile(r"[^\W_]")
HYPHENS = "-\u2010\u2011"
COMPOUND = re.compile(rf"[^\W_]+(?:['’][^\W_]+)*(?:[{HYPHENS}][^\W_]+(?:['’][^\W_]+)*)*")
_HYPHEN_SPLIT = re.compile(f"[{HYPHENS}]")
_VOWEL = re.compile(r"[aeiouy]")
_LIST_NUMBER = re.compile(r"^[ \t]*\d{1,9}[.)](?=[ \t])", re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_DIGIT = re.compile(r"\d")
NUMBER_WORDS = frozenset(
    """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million
    billion
    """.split()
)
# Words an acronym's expansion may skip ("Department of Energy (DOE)" keeps "of", "the United Nations (UN)" not).
_SMALL_WORDS = frozenset({"a", "an", "and", "at", "by", "de", "for", "in", "of", "on", "the", "to", "with", "&"})
_ACRONYM = re.compile(r"(?<![^\W_])([A-Z]{2,6})(?:s|['’]s)?(?![^\W_]|['’][^\W_])")
_DASHES = "\u2012\u2013\u2014\u2015\u2e3a\u2e3b\ufe58"
_DASH = re.compile(rf"[{_DASHES}]|(?<=[^\s\-])--(?=[^\-])|(?<=\s)--(?=\s)")
_RULE_LINE = re.compile(r"^[\s|:\-=*_+#>~]*$", re.MULTILINE)
_CONTRACTED = re.compile(
    r"(?<![^\W_])(?:[^\W_]+(?:n't|'re|'ve|'ll|'m|'d)|(?:it|that|there|here|what|who|where|when|how|he|she|let)'s|"
    r"y'all|(?:is|are|was|were|do|does|did|ca|could|should|would|has|have|had|must|need)nt)(?![^\W_])",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(
    r"(?<![^\W_]|['’])(?:i|me|my|mine|myself|we|our|ours|ourselves|let's|i'm|i've|i'll|i'd|we're|we've|we'll|we'd|"
    r"(?-i:us|Us))(?![^\W_]|['’][^\W_]|\.[^\W_]\.)",
    re.IGNORECASE,
)


def no_words(response: str) -> CheckResult | None:
    """A failed check for an answer without a visible word (an empty answer satisfies no rule), else None."""
    if not any(LETTER.search(w) for w in WORD_RE.findall(views.visible(response))):
        return CheckResult(False, "the response has no words")
    return None


def letters_in(word: str) -> int:
    """The letters and digits of a word or compound (apostrophes and hyphens not counted)."""
    return sum(1 for _ in _ALNUM.finditer(word))


def want_letter(cid: str, name: str, value: Any) -> str:
    """A single ASCII letter, lowercased."""
    text = want_str(cid, name, value).strip().lower()
    if len(text) != 1 or not "a" <= text <= "z":
        raise fail(cid, f"{name!r} must be one letter a-z, got {value!r}")
    return text


def seen_text(response: str) -> str:
    """The visible answer with look-alike letters folded: where required words are looked for."""
    return views.fold(views.visible(response))


def in_sentences(text: str, found: list[re.Match[str]], *, others: int = 3) -> list[re.Match[str]]:
    """The matches whose sentence also holds at least `others` words that are not matches, in order: a bare list
    of the wanted words ("kindness, sadness, madness") is not a sentence."""
    starts = views.sentence_bounds(text)
    hits: dict[int, list[re.Match[str]]] = {}
    for m in sorted(found, key=lambda m: m.start()):
        hits.setdefault(bisect.bisect_right(starts, m.start()) - 1, []).append(m)
    kept = []
    for k, members in hits.items():
        end = starts[k + 1] if k + 1 < len(starts) else len(text)
        firsts = [m.start() for m in members]
        rest = 0
        for w in WORD_RE.finditer(text, starts[k], end):
            i = bisect.bisect_left(firsts, w.end())  # matches starting before this word ends
            if i == 0 or members[i - 1].end() <= w.start():  # matches do not overlap: the latest one decides
                rest += 1
                if rest >= others:
                    kept.extend(members)
                    break
    return sorted(kept, key=lambda m: m.start())


def _apostrophes(text: str) -> str:
    return views.fold_punctuation(text).replace("’", "'")


# --- Word shapes -----------------------------------------------------------------------------------


@checker("lexical:max_word_length")
def check_max_word_length(response: str, *, max_letters: int) -> CheckResult:
    """No word or hyphenated compound has more than max_letters letters (digits count, apostrophes and hyphens do
    not; numbers without a letter are not words), read in the folded answer and the visible one, so neither a
    zero-width space nor a hidden comment cuts a long word in two."""
    limit = want_count("lexical:max_word_length", "max_letters", max_letters)
    if empty := no_words(response):
        return empty
    text = views.folded_and_seen(response)
    candidates = [m.group() for m in COMPOUND.finditer(text) if LETTER.search(m.group())]
    longest = max(candidates, key=letters_in, default="")
    n = letters_in(longest)
    return CheckResult(n <= limit, f"the longest word {short(longest)} has {n} letters, need at most {limit}")


@checker("lexical:no_double_letter")
def check_no_double_letter(response: str, *, letter: str) -> CheckResult:
    """The letter never appears twice in a row in any case ("ll", "Ll"), anywhere in the folded answer or as the
    visible answer shows it (a hidden comment between two letters does not part them)."""
    ch = want_letter("lexical:no_double_letter", "letter", letter)
    if empty := no_words(response):
        return empty
    text = views.folded_and_seen(response)
    double = re.compile(re.escape(ch) * 2, re.IGNORECASE)
    hits = [m.group() for m in COMPOUND.finditer(text) if double.search(m.group())]
    if hits or double.search(text):
        where = short(hits[0]) if hits else "the text"
        return CheckResult(False, f"{len(hits) or 1} word(s) double {ch!r}, first {where}")
    return CheckResult(True, f"no word doubles {ch!r}")


def _affix_words(response: str, affix: str, *, at_end: bool) -> list[str]:
    """Different words (lowercase, possessive 's dropped) with the affix and at least 3 other letters, in prose."""
    text = seen_text(response)
    found = []
    for m in WORD_RE.finditer(text):
        w = _apostrophes(m.group()).lower().split("'")[0]
        if w.isalpha() and len(w) >= len(affix) + 3 and (w.endswith(affix) if at_end else w.startswith(affix)):
            found.append(m)
    return sorted({_apostrophes(m.group()).lower().split("'")[0] for m in in_sentences(text, found)})


def _want_affix(cid: str, value: Any) -> str:
    text = want_str(cid, "affix", value).strip().lower().strip("-")
    if not 2 <= len(text) <= 6 or not text.isascii() or not text.isalpha():
        raise fail(cid, f"'affix' must be 2 to 6 letters a-z, got {value!r}")
    return text


def _affix_result(cid: str, response: str, affix: str, N: int, *, at_end: bool) -> CheckResult:
    want = want_count(cid, "N", N)
    part = _want_affix(cid, affix)
    got = _affix_words(response, part, at_end=at_end)
    shown = f" ({', '.join(got[:6])})" if got else ""
    kind = f"ending in -{part}" if at_end else f"beginning with {part}-"
    return CheckResult(len(got) >= want, f"found {len(got)} different word(s) {kind} in sentences{shown}, need {want}")


@checker("lexical:suffix_words")
def check_suffix_words(response: str, *, affix: str, N: int) -> CheckResult:
    """At least N different words end with the suffix and have at least 3 more letters ("kindness" for -ness,
    not "ness"), each used in a sentence of the visible answer (a bare list earns nothing)."""
    return _affix_result("lexical:suffix_words", response, affix, N, at_end=True)


@checker("lexical:prefix_words")
def check_prefix_words(response: str, *, affix: str, N: int) -> CheckResult:
    """At least N different words begin with the prefix and have at least 3 more letters ("rebuild" for re-),
    each used in a sentence of the visible answer."""
    return _affix_result("lexical:prefix_words", response, affix, N, at_end=False)


@checker("lexical:long_words")
def check_long_words(response: str, *, min_letters: int, N: int) -> CheckResult:
    """At least N different words of at least min_letters letters (letters only, at least 4 different ones), each
    used in a sentence of the visible answer."""
    cid = "lexical:long_words"
    length, want = want_count(cid, "min_letters", min_letters), want_count(cid, "N", N)
    text = seen_text(response)
    found = [m for m in WORD_RE.finditer(text) if _long_word(m.group(), length)]
    got = sorted({m.group().lower() for m in in_sentences(text, found)})
    shown = f" ({', '.join(got[:5])})" if got else ""
    return CheckResult(
        len(got) >= want, f"found {len(got)} different word(s) of {length}+ letters{shown}, need {want}"
    )


def _long_word(word: str, length: int) -> bool:
    return word.isalpha() and len(word) >= length and len(set(word.lower())) >= 4


@checker("lexical:hyphenated_words")
def check_hyphenated_words(response: str, *, N: int) -> CheckResult:
    """At least N different hyphenated compounds ("well-known", "state-of-the-art"): letters only, every part of
    at least 2 letters with a vowel, each used in a sentence of the visible answer."""
    want = want_count("lexical:hyphenated_words", "N", N)
    text = seen_text(response)
    found = []
    for m in COMPOUND.finditer(text):
        parts = _HYPHEN_SPLIT.split(m.group().lower())
        if len(parts) > 1 and all(p.isalpha() and len(p) >= 2 and _VOWEL.search(p) for p in parts):
            found.append(m)
    got = sorted({"-".join(_HYPHEN_SPLIT.split(m.group().lower())) for m in in_sentences(text, found)})
    shown = f" ({', '.join(got[:5])})" if got else ""
    return CheckResult(len(got) >= want, f"found {len(got)} different hyphenated word(s){shown}, need {want}")


# --- Numbers ---------------------------------------------------------------------------------------


@checker("lexical:spelled_numbers")
def check_spelled_numbers(response: str, *, N: int) -> CheckResult:
    """No digit anywhere in the folded answer (not in list numbering, not as a full-width or superscript digit)
    and at least N numbers written in words (one ... ninety, hundred, thousand, million, billion; a hyphenated
    "twenty-one" is one number), used in sentences of the visible answer."""
    want = want_count("lexical:spelled_numbers", "N", N)
    if empty := no_words(response):
        return empty
    digits = _DIGIT.findall(views.folded(response))
    if digits:
        return CheckResult(False, f"found {len(digits)} digit(s), first {digits[0]!r}; write numbers in words")
    text = seen_text(response)
    found = [
        m for m in COMPOUND.finditer(text) if all(p in NUMBER_WORDS for p in _HYPHEN_SPLIT.split(m.group().lower()))
    ]
    got = in_sentences(text, found)
    shown = f" ({', '.join(m.group() for m in got[:5])})" if got else ""
    return CheckResult(
        len(got) >= want, f"no digits; found {len(got)} number word(s) in sentences{shown}, need {want}"
    )


def number_values(text: str) -> list[float]:
    """The numbers written with digits, in order (1,000 is 1000 and 3.5 is 3.5; list numbering is skipped)."""
    return [float(m.group().replace(",", "")) for m in _NUMBER.finditer(_LIST_NUMBER.sub("", text))]


@checker("lexical:numbers_ascending")
def check_numbers_ascending(response: str, *, N: int) -> CheckResult:
    """At least N numbers written with digits in the visible answer, and every number is larger than the one
    before it, in the folded answer too (a hidden or full-width number out of order counts)."""
    want = want_count("lexical:numbers_ascending", "N", N)
    seen = number_values(views.visible(response))
    if len(seen) < want:
        return CheckResult(False, f"found {len(seen)} number(s), need at least {want}")
    values = number_values(views.folded(response))
    for before, after in itertools.pairwise(values):
        if after <= before:
            return CheckResult(False, f"{after:g} comes after {before:g}; numbers must keep rising")
    return CheckResult(True, f"{len(values)} numbers in ascending order, from {values[0]:g} to {values[-1]:g}")


_PERCENT = re.compile(r"(?<![\d.,])\d+(?:,\d{3})*(?:\.\d+)?[ \t]?(?:%|per[ \t]?cent(?![^\W_]))", re.IGNORECASE)


@checker("lexical:percentages")
def check_percentages(response: str, *, N: int) -> CheckResult:
    """Exactly N percentages written with digits ("45%", "12.5 %", "30 percent") outside code blocks, in the
    visible answer and in the folded one (a hidden one or a full-width ％ counts)."""
    want = want_count("lexical:percentages", "N", N)
    seen = [m.group() for m in _PERCENT.finditer(views.unfenced(views.visible(response)))]
    total = len(_PERCENT.findall(views.unfenced(views.folded(response))))
    if len(seen) != want or total != want:
        shown = f" ({', '.join(short(p) for p in seen[:4])})" if seen else ""
        return CheckResult(False, f"found {max(len(seen), total)} percentage(s){shown}, need exactly {want}")
    return CheckResult(True, f"found {want} percentage(s): {', '.join(short(p) for p in seen[:4])}")


# --- Acronyms --------------------------------------------------------------------------------------


def _initials(words: list[str]) -> str:
    return "".join(w[0].upper() for w in words)


def _defined(text: str, m: re.Match[str]) -> bool:
    """Whether the acronym at m is defined there: "Full Name (ACR)" or "ACR (Full Name)", the initials of the
    full name's words (small words such as "of" optional) spelling the acronym."""
    acr = m.group(1)
    before, after = text[max(0, m.start() - 200) : m.start()], text[m.end() : m.end() + 200]
    full: list[str] = []
    options: list[list[str]] = []
    if before.rstrip().endswith("(") and after.startswith(")"):
        sentence = views.sentence_bounds(before)[-1]
        full = WORD_RE.findall(before[sentence:].rstrip()[:-1])
        options = [full[-len(acr) :], [w for w in full if w.lower() not in _SMALL_WORDS][-len(acr) :]]
    elif (close := after.find(")")) > 0 and (inner := after[:close].lstrip()).startswith("(") and "(" not in inner[1:]:
        full = WORD_RE.findall(inner)
        options = [full, [w for w in full if w.lower() not in _SMALL_WORDS]]
    if not full:
        return False
    return any(len(opt) == len(acr) and all(len(w) > 1 for w in opt) and _initials(opt) == acr for opt in options)


@checker("lexical:acronyms_defined")
def check_acronyms_defined(response: str, *, N: int) -> CheckResult:
    """At least N different acronyms (words of 2 to 6 capital letters, a plural s allowed) in the visible answer
    outside code blocks, and every such word there is defined where it first appears: "World Health Organization
    (WHO)" or "WHO (World Health Organization)", the initials of the full name spelling it."""
    want = want_count("lexical:acronyms_defined", "N", N)
    text = views.unfenced(seen_text(response))
    first: dict[str, re.Match[str]] = {}
    for m in _ACRONYM.finditer(text):
        first.setdefault(m.group(1), m)
    undefined = [acr for acr, m in first.items() if not _defined(text, m)]
    if undefined:
        return CheckResult(False, f"{len(undefined)} acronym(s) not defined at first use: {', '.join(undefined[:4])}")
    shown = f" ({', '.join(list(first)[:5])})" if first else ""
    return CheckResult(len(first) >= want, f"found {len(first)} defined acronym(s){shown}, need {want}")


# --- Where and in which order words appear ---------------------------------------------------------


@checker("lexical:keywords_in_order")
def check_keywords_in_order(response: str, *, keywords: list[str]) -> CheckResult:
    """Every keyword is used in a sentence of the visible answer (whole word, any case), and the first such use
    of each keyword comes after the first use of the keyword before it in the list."""
    wanted = want_keywords("lexical:keywords_in_order", "keywords", keywords)
    text = seen_text(response)
    matches = [(k, m) for k, kw in enumerate(wanted) for m in keyword_pattern(kw).finditer(text)]
    prose = views.prose_spans(text, [(m.start(), m.end()) for _, m in matches])
    firsts: list[int] = []
    for k, kw in enumerate(wanted):
        uses = [m.start() for (j, m), ok in zip(matches, prose, strict=True) if j == k and ok]
        if not uses:
            return CheckResult(False, f"{kw!r} is not used in a sentence")
        firsts.append(min(uses))
    for k in range(1, len(wanted)):
        if firsts[k] <= firsts[k - 1]:
            return CheckResult(False, f"{wanted[k]!r} first appears before {wanted[k - 1]!r}")
    return CheckResult(True, f"{', '.join(repr(k) for k in wanted)} first appear in this order")


# --- Punctuation and style -------------------------------------------------------------------------


@checker("lexical:no_em_dash")
def check_no_em_dash(response: str) -> CheckResult:
    """No em dash, en dash or other dash character (— – ― ‒ ⸺), and no double hyphen standing in for one, in the
    folded answer outside code blocks; markdown rules and table delimiter lines (---, |---|) are not dashes."""
    if empty := no_words(response):
        return empty
    text = _RULE_LINE.sub("", views.unfenced(views.folded(response)))
    hits = list(_DASH.finditer(text))
    if hits:
        around = text[max(0, hits[0].start() - 15) : hits[0].end() + 15]
        return CheckResult(False, f"found {len(hits)} dash(es), first in {short(around)}")
    return CheckResult(True, "no dashes")


@checker("lexical:no_contractions")
def check_no_contractions(response: str) -> CheckResult:
    """No contractions (don't, it's, we'll, I'm, let's, y'all ...), with any apostrophe look-alike, nor their
    apostrophe-less spellings (dont, isnt), in the folded answer or the visible one (a hidden comment does not part
    a contraction); possessives ("the river's") are fine."""
    if empty := no_words(response):
        return empty
    hits = [m.group() for m in _CONTRACTED.finditer(_apostrophes(views.folded_and_seen(response)))]
    if hits:
        return CheckResult(False, f"found {len(hits)} contraction(s): {', '.join(short(h) for h in hits[:4])}")
    return CheckResult(True, "no contractions")


@checker("lexical:no_first_person")
def check_no_first_person(response: str) -> CheckResult:
    """No first-person word (I, me, my, mine, myself, we, us, our, ours, ourselves and their contractions such as
    I'm and let's) in any case, in the folded answer or the visible one; "US" in capitals (the country) is not
    "us"."""
    if empty := no_words(response):
        return empty
    hits = [m.group() for m in _FIRST_PERSON.finditer(_apostrophes(views.folded_and_seen(response)))]
    if hits:
        return CheckResult(False, f"found {len(hits)} first-person word(s): {', '.join(short(h) for h in hits[:4])}")
    return CheckResult(True, "no first-person words")


@checker("lexical:semicolon_clauses")
def check_semicolon_clauses(response: str, *, N: int) -> CheckResult:
    """Exactly N semicolons outside code blocks, each joining two clauses: at least 3 words on either side of it
    within its sentence (up to the next semicolon), in the visible answer, and no other semicolon in the folded
    answer (a Greek question mark or a full-width ; counts)."""
    want = want_count("lexical:semicolon_clauses", "N", N)
    good = 0
    for sentence in sentences(views.unfenced(views.visible(response))):
        parts = sentence.split(";")
        good += sum(1 for a, b in itertools.pairwise(parts) if _words(a) >= 3 and _words(b) >= 3)
    total = views.unfenced(views.folded(response)).count(";")
    if good != want or total != want:
        extra = f" ({total - good} without a clause on each side)" if total > good else ""
        return CheckResult(False, f"found {max(good, total)} semicolon(s){extra}, need exactly {want}")
    return CheckResult(True, f"found {want} semicolon(s) joining clauses")


def _words(text: str) -> int:
    return sum(1 for w in WORD_RE.findall(text) if LETTER.search(w))


_PAREN_GROUP = re.compile(r"\(([^()]*)\)")


@checker("lexical:parentheticals")
def check_parentheticals(response: str, *, N: int) -> CheckResult:
    """Exactly N parenthetical remarks outside code blocks: "(...)" holding at least 2 words, not nested, in the
    visible answer, and no other opening parenthesis in the folded answer (full-width and small forms count)."""
    want = want_count("lexical:parentheticals", "N", N)
    good = sum(1 for m in _PAREN_GROUP.finditer(views.unfenced(views.visible(response))) if _words(m.group(1)) >= 2)
    total = views.unfenced(views.folded(response)).count("(")
    if good != want or total != want:
        extra = f" ({total - good} not a remark of 2+ words)" if total > good else ""
        return CheckResult(False, f"found {max(good, total)} parenthesis group(s){extra}, need exactly {want}")
    return CheckResult(True, f"found {want} parenthetical remark(s)")
