"""Checkers: sentence shapes family (our own constraints on the sentences and paragraphs of an answer): their
lengths, how they vary, how they open and end, their commas, long words and repeated words, and which
paragraphs use a word.

A sentence is counting.py's (ended by . ! ? or a line break), read outside fenced code blocks, except that a
line broken in the middle of a sentence (the next line starts with a lowercase letter, or the line ends with a
comma or semicolon and the next starts with a letter) is joined to the next line first, so hard-wrapping a
long sentence does not make it short. Rules about the kind of sentences a text is written in (their lengths,
openers, long words) read full sentences only: those ended by . ! or ?, and run-on lines of 8 or more words
without one, so short headings, list lines and table rows are not held to them while dropping full stops
dodges nothing; limits that a run-on could dodge (the longest sentence, the last sentence) and bans read every
sentence. A sentence's words are runs of letters and digits with inner apostrophes. A paragraph is a block
between blank lines outside code blocks; one made only of headings, list items, table rows or quote lines is
not a prose paragraph.

Hardening (see `views`): what a rule requires is found in the visible answer, so a hidden comment adds no
sentence and breaks none; what a rule forbids (a banned opener, a repeated word, an extra comma) is looked
for in the visible answer and in the folded one, where hidden text counts and look-alike letters and marks
are undone. Rules over every sentence refuse an answer chopped into fragments (more than half of three or
more sentences under 3 words), and every rule needs an answer with words.
"""

from __future__ import annotations

import re
from collections import Counter

from pipeline.checks import views
from pipeline.checks.counting import WORD_RE, paragraphs, sentences, want_count
from pipeline.checks.ifeval_args import fail, want_str
from pipeline.checks.lexical_patterns import LETTER, no_words, seen_text
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import keyword_pattern, short

# A line break inside a sentence: after a word or digit when a lowercase letter follows, or after a comma or
# semicolon when a word follows (a list item, heading, quote or table row on the next line starts a new sentence).
_WRAP = re.compile(r"(?<=\w)[ \t]*\n[ \t]*(?=[a-z])|(?<=[,;])[ \t]*\n[ \t]*(?=[^\W\d_])")
_RUN_ON = 8  # a line of this many words is a sentence even without a full stop
_CLOSERS = "\"'”’)]*_ \t"
_LEADERS = "\"'“‘*_#>([ \t-"
_FULL_STOPS = ".!?。！？"
_LEADING_HEADINGS = re.compile(r"\A(?:[ \t]*(?:#{1,6}[ \t][^\n]*|\*\*[^\n]*\*\*[ \t]*|__[^\n]*__[ \t]*)?\n)*")
_NOT_PROSE_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,9}[.)][ \t]|\||>|$)")
_COMMAS = str.maketrans({"、": ",", "﹐": ",", "，": ","})


def shape_sentences(text: str) -> list[str]:
    """The sentences of text, with hard-wrapped lines joined first (see the module docstring)."""
    return sentences(_WRAP.sub(" ", text))


def _n_words(sentence: str) -> int:
    return sum(1 for _ in WORD_RE.finditer(sentence))


def _chopped(found: list[str]) -> CheckResult | None:
    """A failed check when the answer is chopped into fragments, else None."""
    tiny = sum(1 for s in found if _n_words(s) < 3)
    if len(found) >= 3 and 2 * tiny > len(found):
        return CheckResult(False, f"{tiny} of {len(found)} sentences have fewer than 3 words (fragments)")
    return None


def _opener(sentence: str) -> str | None:
    """The first word with a letter of a sentence, lowercase (list numbers and markup skipped)."""
    for m in WORD_RE.finditer(sentence):
        if LETTER.search(m.group()):
            return m.group().lower().replace("’", "'")
    return None


def _ends_sentence(sentence: str, marks: str = ".!?") -> bool:
    return sentence.rstrip(_CLOSERS).endswith(tuple(marks))


def _ban_views(response: str) -> tuple[str, str]:
    """Where a ban on something within a sentence is looked for, outside code blocks: the visible answer (a full
    stop hidden in a comment splits nothing there) and the folded answer (hidden text counts there), both with
    disguises undone."""
    return views.unfenced(seen_text(response)), views.unfenced(views.folded(response))


def _visible_sentences(response: str, *, full: bool = False) -> tuple[list[str], CheckResult | None]:
    """The sentences of the visible answer outside code blocks (with `full`, only those ended by . ! or ?), or a
    failed check when it has no words, no such sentence, or is chopped into fragments."""
    if empty := no_words(response):
        return [], empty
    found = shape_sentences(views.unfenced(seen_text(response)))
    if full:
        found = [s for s in found if _ends_sentence(s, _FULL_STOPS) or _n_words(s) >= _RUN_ON]
    if not found:
        kind = "sentence ended by . ! or ?" if full else "sentence outside code blocks"
        return [], CheckResult(False, f"the response has no {kind}")
    return found, _chopped(found)


# --- Sentence lengths ------------------------------------------------------------------------------


@checker("shape:max_sentence_words")
def check_max_sentence_words(response: str, *, max_words: int) -> CheckResult:
    """Every sentence of the visible answer has at most max_words words, and the answer is not chopped into
    fragments."""
    limit = want_count("shape:max_sentence_words", "max_words", max_words)
    found, bad = _visible_sentences(response)
    if bad:
        return bad
    longest = max(found, key=_n_words)
    n = _n_words(longest)
    return CheckResult(n <= limit, f"the longest sentence has {n} words, need at most {limit}: {short(longest)}")


@checker("shape:short_and_long")
def check_short_and_long(response: str, *, short_max: int, long_min: int) -> CheckResult:
    """Sentence lengths vary: some full sentence of the visible answer has 3 to short_max words, and another one
    has at least long_min words."""
    cid = "shape:short_and_long"
    lo, hi = want_count(cid, "short_max", short_max, minimum=3), want_count(cid, "long_min", long_min)
    if lo >= hi:
        raise fail(cid, f"'short_max' ({lo}) must be below 'long_min' ({hi})")
    found, bad = _visible_sentences(response, full=True)
    if bad:
        return bad
    lengths = [_n_words(s) for s in found]
    has_short = any(3 <= n <= lo for n in lengths)
    has_long = any(n >= hi for n in lengths)
    detail = f"sentence lengths {sorted(lengths)[:8]}{'...' if len(lengths) > 8 else ''}"
    return CheckResult(has_short and has_long, f"{detail}; need one of 3-{lo} words and one of {hi}+ words")


@checker("shape:adjacent_lengths_differ")
def check_adjacent_lengths_differ(response: str, *, N: int) -> CheckResult:
    """At least N full sentences in the visible answer, and no two of them in a row have the same number of
    words."""
    want = want_count("shape:adjacent_lengths_differ", "N", N)
    found, bad = _visible_sentences(response, full=True)
    if bad:
        return bad
    if len(found) < want:
        return CheckResult(False, f"found {len(found)} sentence(s), need at least {want}")
    lengths = [_n_words(s) for s in found]
    for k in range(1, len(lengths)):
        if lengths[k] == lengths[k - 1]:
            return CheckResult(False, f"sentences {k} and {k + 1} both have {lengths[k]} words")
    return CheckResult(True, f"{len(found)} sentences, word counts {lengths[:10]} never repeat in a row")


@checker("shape:first_sentence_short")
def check_first_sentence_short(response: str, *, max_words: int) -> CheckResult:
    """The first full sentence of the visible answer (a heading before it is not one) has 2 to max_words words,
    and at least one more full sentence follows it."""
    limit = want_count("shape:first_sentence_short", "max_words", max_words, minimum=2)
    found, bad = _visible_sentences(response, full=True)
    if bad:
        return bad
    if len(found) < 2:
        return CheckResult(False, f"found {len(found)} sentence(s), need a short first sentence and more after it")
    first, n = found[0], _n_words(found[0])
    ok = 2 <= n <= limit and _ends_sentence(first)
    tail = "" if _ends_sentence(first) else ", and it does not end with . ! or ?"
    return CheckResult(ok, f"the first sentence has {n} words (need 2 to {limit}){tail}: {short(first)}")


# --- How sentences open and end --------------------------------------------------------------------


@checker("shape:unique_openers")
def check_unique_openers(response: str, *, N: int) -> CheckResult:
    """At least N full sentences in the visible answer and no two of them begin with the same word (any case,
    look-alike letters folded; list numbers and markup before the word are skipped)."""
    want = want_count("shape:unique_openers", "N", N)
    found, bad = _visible_sentences(response, full=True)
    if bad:
        return bad
    if len(found) < want:
        return CheckResult(False, f"found {len(found)} sentence(s), need at least {want}")
    openers = Counter(o for o in map(_opener, found) if o)
    twice = [(w, c) for w, c in openers.most_common() if c > 1]
    if twice:
        listed = ", ".join(f"{short(w)} x{c}" for w, c in twice[:4])
        return CheckResult(False, f"{len(twice)} opening word(s) repeat: {listed}")
    return CheckResult(True, f"{len(found)} sentences with {len(openers)} different opening words")


def _want_word(cid: str, name: str, value: str) -> str:
    text = want_str(cid, name, value).strip()
    if not WORD_RE.fullmatch(text):
        raise fail(cid, f"{name!r} must be a single word, got {text!r}")
    return text.lower().replace("’", "'")


@checker("shape:banned_opener")
def check_banned_opener(response: str, *, word: str) -> CheckResult:
    """No sentence begins with the word (any case, look-alike letters folded, list numbers and markup skipped),
    in the visible answer nor in the folded one."""
    banned = _want_word("shape:banned_opener", "word", word)
    if empty := no_words(response):
        return empty
    found = [s for text in _ban_views(response) for s in shape_sentences(text)]
    hits = [s for s in found if _opener(s) == banned]
    if hits:
        return CheckResult(False, f"a sentence begins with {banned!r}: {short(hits[0])}")
    return CheckResult(True, f"no sentence begins with {banned!r}")


@checker("shape:last_sentence_opener")
def check_last_sentence_opener(response: str, *, opener: str) -> CheckResult:
    """The last sentence of the visible answer begins with the opener (any case; markup before it skipped) and
    has at least 3 more words after it."""
    want = want_str("shape:last_sentence_opener", "opener", opener).strip()
    found, bad = _visible_sentences(response)
    if bad:
        return bad
    last = found[-1].lstrip(_LEADERS)
    head = re.match(rf"{re.escape(want)}(?![^\W_])", last, re.IGNORECASE)
    if head is None:
        return CheckResult(False, f"the last sentence does not begin with {want!r}: {short(last)}")
    rest = _n_words(last[head.end() :])
    if rest < 3:
        return CheckResult(False, f"the last sentence has {rest} word(s) after {want!r}, need at least 3")
    return CheckResult(True, f"the last sentence begins with {want!r}: {short(last)}")


@checker("shape:opens_with_question")
def check_opens_with_question(response: str) -> CheckResult:
    """The first full sentence of the visible answer is a question of at least 3 words, and at least two more full
    sentences follow it."""
    found, bad = _visible_sentences(response, full=True)
    if bad:
        return bad
    first = found[0]
    if not _ends_sentence(first, "?？") or _n_words(first) < 3:
        return CheckResult(False, f"the first sentence is not a question of 3+ words: {short(first)}")
    if len(found) < 3:
        return CheckResult(False, f"found {len(found) - 1} sentence(s) after the opening question, need at least 2")
    return CheckResult(True, f"opens with the question {short(first)}")


# --- Within a sentence -----------------------------------------------------------------------------


@checker("shape:commas_per_sentence")
def check_commas_per_sentence(response: str, *, max_commas: int) -> CheckResult:
    """No sentence has more than max_commas commas, in the visible answer (a full stop hidden in a comment splits
    no sentence) nor in the folded one (look-alike commas such as "‚", "，" or "、" count)."""
    limit = want_count("shape:commas_per_sentence", "max_commas", max_commas, minimum=0)
    if empty := no_words(response):
        return empty
    found = [
        s for text in _ban_views(response) for s in shape_sentences(views.fold_punctuation(text).translate(_COMMAS))
    ]
    worst = max(found, key=lambda s: s.count(","), default="")
    n = worst.count(",")
    return CheckResult(n <= limit, f"the most commas in one sentence is {n}, need at most {limit}: {short(worst)}")


@checker("shape:long_word_each_sentence")
def check_long_word_each_sentence(response: str, *, min_letters: int) -> CheckResult:
    """Every full sentence of the visible answer holds a word of at least min_letters letters (letters only, at
    least 4 different ones), and the answer is not chopped into fragments."""
    length = want_count("shape:long_word_each_sentence", "min_letters", min_letters)
    found, bad = _visible_sentences(response, full=True)
    if bad:
        return bad
    for k, s in enumerate(found, start=1):
        if not any(w.isalpha() and len(w) >= length and len(set(w.lower())) >= 4 for w in WORD_RE.findall(s)):
            return CheckResult(False, f"sentence {k} has no word of {length}+ letters: {short(s)}")
    return CheckResult(True, f"all {len(found)} sentences hold a word of {length}+ letters")


@checker("shape:no_repeat_within_sentence")
def check_no_repeat_within_sentence(response: str, *, min_letters: int) -> CheckResult:
    """No word of at least min_letters letters occurs twice in one sentence (any case, look-alike letters
    folded), in the visible answer nor in the folded one."""
    length = want_count("shape:no_repeat_within_sentence", "min_letters", min_letters)
    if empty := no_words(response):
        return empty
    found = [s for text in _ban_views(response) for s in shape_sentences(text)]
    for s in found:
        counts = Counter(w.lower() for w in WORD_RE.findall(s.replace("’", "'")) if len(w) >= length)
        twice = [w for w, c in counts.items() if c > 1 and LETTER.search(w)]
        if twice:
            return CheckResult(False, f"a sentence repeats {short(twice[0])}: {short(s)}")
    return CheckResult(True, f"no word of {length}+ letters repeats within a sentence")


# --- Which paragraphs use a word ---------------------------------------------------------------------------


@checker("lexical:word_first_paragraph_only")
def check_word_first_paragraph_only(response: str, *, word: str) -> CheckResult:
    """At least two paragraphs (heading lines before the first one, such as a title, a bold title line or a case
    heading, are skipped); the word (whole word, any case) is used in a sentence of the first paragraph of the
    visible answer, and appears in no later paragraph of the folded answer, disguised or hidden."""
    cid = "lexical:word_first_paragraph_only"
    want = want_str(cid, "word", word).strip()
    found = paragraphs(_LEADING_HEADINGS.sub("", views.unfenced(seen_text(response)), count=1))
    if len(found) < 2:
        return CheckResult(False, f"found {len(found)} paragraph(s), need at least 2")
    pattern = keyword_pattern(want)
    if not views.in_prose(found[0], [pattern])[0]:
        return CheckResult(False, f"the first paragraph does not use {want!r} in a sentence")
    folded = paragraphs(_LEADING_HEADINGS.sub("", views.folded(response), count=1))
    later = [i for i, p in enumerate(folded[1:], start=2) if pattern.search(p)]
    if later:
        return CheckResult(False, f"{want!r} appears again in paragraph(s) {later[:5]}")
    return CheckResult(True, f"{want!r} appears in the first of {len(found)} paragraphs only")


def _prose_paragraphs(text: str) -> list[str]:
    """The paragraphs of text outside code blocks that hold a line of prose (see the module docstring)."""
    return [p for p in paragraphs(views.unfenced(text)) if any(not _NOT_PROSE_LINE.match(ln) for ln in p.split("\n"))]


@checker("lexical:word_every_paragraph")
def check_word_every_paragraph(response: str, *, word: str, N: int) -> CheckResult:
    """At least N prose paragraphs in the visible answer, and every one of them uses the word (whole word, any
    case) in a sentence."""
    cid = "lexical:word_every_paragraph"
    want, need_n = want_str(cid, "word", word).strip(), want_count(cid, "N", N)
    found = _prose_paragraphs(seen_text(response))
    if len(found) < need_n:
        return CheckResult(False, f"found {len(found)} prose paragraph(s), need at least {need_n}")
    pattern = keyword_pattern(want)
    lacking = [i for i, p in enumerate(found, start=1) if not views.in_prose(p, [pattern])[0]]
    if lacking:
        return CheckResult(False, f"paragraph(s) {lacking[:5]} of {len(found)} do not use {want!r} in a sentence")
    return CheckResult(True, f"all {len(found)} paragraphs use {want!r}")
