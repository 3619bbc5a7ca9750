"""Checkers: hardened guards (`guard:*`) for the 25 IFEval ids, which keep the reference's semantics exactly.

This module holds the guards of the keyword, language, length, case and punctuation ids, the map from
IFEval id to guard (`GUARDS`) and `add_guards`; `guards_format` holds those of the detectable,
combination and start/end ids.

The reference accepts some responses that game it: a keyword inside another word, a forbidden word
split by a zero-width space, a postscript marker in the middle of the text, empty bullets, all three
constrained answers at once, text langdetect cannot classify, and so on (the adversarial suite in
taxonomy/adversarial records each one as a known weakness). A guard takes exactly the kwargs of the IFEval
id it guards and passes only when the reference checker passes on the same response *and* the
hardened conditions hold, so guard => reference. A plan built for training adds the guard next to the
IFEval check and makes the check depend on it (`add_guards`): a gamed answer then earns nothing for
that constraint, while the IFEval check itself still scores exactly as the benchmark does.

The hardened conditions read the views of `views`: required content in the visible answer (reasoning
blocks, HTML comments and invisible characters removed), forbidden content in the folded answer
(look-alike letters and marks, invisible characters, compatibility forms undone), markdown structure
outside code blocks, and markers or items only with content under them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.checks import case, length, punctuation, views
from pipeline.checks import keywords as keyword_checks
from pipeline.checks import language as language_checks
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import canon, disguised_keyword, keyword_pattern, prose_keywords, short
from pipeline.checks.text import count_sentences, detect_language
from pipeline.checks.text import sentences as punkt_sentences
from pipeline.models import Check, VerificationPlan

GUARD_PREFIX = "guard:"
_WORD_TOKEN = re.compile(r"[^\W_]+")
_LETTER = re.compile(r"[^\W\d_]")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_DIVIDER = re.compile(r"\s?\*\*\*\s?")  # the reference's paragraph divider
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+|\]\([^()\s]*\)")
_COMMAS = ",，、"  # after folding: ASCII, full-width and ideographic commas (and their look-alikes)


def reference_fails(fn: Callable[..., CheckResult], response: str, **kwargs: Any) -> CheckResult | None:
    """None when the reference checker passes; otherwise its failed result, so a guard never passes more."""
    result = fn(response, **kwargs)
    return None if result.passed else CheckResult(False, f"reference check fails: {result.evidence}")


def words_of(text: str) -> list[str]:
    """The words of text (letters/digits with inner apostrophes)."""
    return views.WORD.findall(text)


def _letter_words(text: str) -> int:
    return sum(1 for w in _WORD_TOKEN.findall(text) if _LETTER.search(w))


# --- keywords ---------------------------------------------------------------------------------------


@checker("guard:keywords_existence")
def guard_keywords_existence(response: str, *, keywords: list[str]) -> CheckResult:
    """keywords:existence, and every keyword occurs as a whole word, in prose, in the visible answer."""
    failed = reference_fails(keyword_checks.check_keywords_existence, response, keywords=keywords)
    if failed:
        return failed
    found = prose_keywords(response, [k.strip() for k in keywords])
    missing = [k for k, ok in zip(keywords, found, strict=True) if not ok]
    if missing:
        return CheckResult(False, f"keyword(s) {', '.join(map(repr, missing))} not used as whole words in a sentence")
    return CheckResult(True, f"all {len(keywords)} keyword(s) used as whole words in sentences")


@checker("guard:keywords_frequency")
def guard_keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> CheckResult:
    """keywords:frequency; "at least" counts whole words in prose in the visible answer, "less than" counts
    the keyword anywhere in the folded answer (disguised occurrences too)."""
    failed = reference_fails(
        keyword_checks.check_keyword_frequency, response, keyword=keyword, frequency=frequency, relation=relation
    )
    if failed:
        return failed
    word = keyword.strip()
    if relation == "at least":
        text = canon(views.visible(response))
        spans = [(m.start(), m.end()) for m in keyword_pattern(word).finditer(text)]
        count = sum(views.prose_spans(text, spans))
        ok = count >= frequency
    else:
        count = len(re.findall(re.escape(views.fold(word)), views.folded(response), re.IGNORECASE))
        ok = count < frequency
    return CheckResult(ok, f"{word!r} occurs {count} time(s) once hardened, need {relation} {frequency}")


@checker("guard:forbidden_words")
def guard_forbidden_words(response: str, *, forbidden_words: list[str]) -> CheckResult:
    """keywords:forbidden_words, and no forbidden word hides behind look-alike letters, invisible characters,
    a plural or a possessive."""
    failed = reference_fails(keyword_checks.check_forbidden_words, response, forbidden_words=forbidden_words)
    if failed:
        return failed
    found = [w for w in forbidden_words if disguised_keyword(response, w)]
    if found:
        return CheckResult(False, f"contains forbidden word(s) {', '.join(map(repr, found))} in disguise")
    return CheckResult(True, f"none of the {len(forbidden_words)} forbidden word(s) occurs, disguised or not")


def _prose_text(response: str) -> str:
    """The visible answer without code blocks, HTML tags and link targets: the letters a reader reads."""
    return _URL.sub(" ", _HTML_TAG.sub(" ", views.unfenced(views.visible(response))))


@checker("guard:letter_frequency")
def guard_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> CheckResult:
    """keywords:letter_frequency; "at least" counts the letter outside markup (tags, link targets, code blocks,
    hidden text), "less than" counts it in the folded answer (look-alike letters too)."""
    failed = reference_fails(
        keyword_checks.check_letter_frequency,
        response,
        letter=letter,
        let_frequency=let_frequency,
        let_relation=let_relation,
    )
    if failed:
        return failed
    ch = letter.lower()
    if let_relation == "at least":
        count = _prose_text(response).lower().count(ch)
        ok = count >= let_frequency
    else:
        count = views.folded(response).lower().count(ch)
        ok = count < let_frequency
    return CheckResult(ok, f"letter {ch!r} occurs {count} time(s) once hardened, need {let_relation} {let_frequency}")


# --- language ---------------------------------------------------------------------------------------


@checker("guard:response_language")
def guard_response_language(response: str, *, language: str) -> CheckResult:
    """language:response_language, and langdetect must recognise the visible answer as that language
    (text it cannot classify, such as digits or symbols only, fails instead of passing)."""
    failed = reference_fails(language_checks.check_response_language, response, language=language)
    if failed:
        return failed
    found = detect_language(views.fold(views.visible(response)))
    if found != language:
        return CheckResult(False, f"the visible answer is detected as {found!r}, need {language!r}")
    return CheckResult(True, f"detected {language!r}")


# --- length -----------------------------------------------------------------------------------------


@checker("guard:number_sentences")
def guard_number_sentences(response: str, *, num_sentences: int, relation: str) -> CheckResult:
    """length_constraints:number_sentences; "at least" counts the reference's sentences of two words or more in the
    visible answer, "less than" counts them line by line in the folded answer, so every line is at least one
    sentence (a list of lines without full stops is not one sentence)."""
    failed = reference_fails(length.check_number_sentences, response, num_sentences=num_sentences, relation=relation)
    if failed:
        return failed
    if relation == "at least":
        count = sum(1 for s in punkt_sentences(views.visible(response)) if len(words_of(s)) >= 2)
        ok = count >= num_sentences
    else:
        lines = [line for line in views.folded(response).splitlines() if _LETTER_OR_DIGIT.search(line)]
        count = sum(max(1, count_sentences(line)) for line in lines)
        ok = count < num_sentences
    return CheckResult(ok, f"found {count} sentence(s) once hardened, need {relation} {num_sentences}")


@checker("guard:number_paragraphs")
def guard_number_paragraphs(response: str, *, num_paragraphs: int) -> CheckResult:
    """length_constraints:number_paragraphs, and in the visible answer every *** paragraph has two words or more."""
    failed = reference_fails(length.check_number_paragraphs, response, num_paragraphs=num_paragraphs)
    if failed:
        return failed
    pieces = [p for p in _DIVIDER.split(views.visible(response)) if p.strip()]
    thin = [i for i, p in enumerate(pieces, start=1) if len(words_of(p)) < 2]
    if len(pieces) != num_paragraphs or thin:
        return CheckResult(False, f"{len(pieces)} visible paragraph(s), {len(thin)} of them with fewer than 2 words")
    return CheckResult(True, f"{num_paragraphs} paragraph(s) with text")


@checker("guard:number_words")
def guard_number_words(response: str, *, num_words: int, relation: str) -> CheckResult:
    """length_constraints:number_words; "at least" counts visible words with a letter (not numbers, not hidden
    text), "less than" counts folded words with underscores splitting them ("a_b_c" is three)."""
    failed = reference_fails(length.check_number_words, response, num_words=num_words, relation=relation)
    if failed:
        return failed
    if relation == "at least":
        count = _letter_words(views.visible(response))
        ok = count >= num_words
    else:
        count = sum(1 for _ in _WORD_TOKEN.finditer(views.folded(response)))
        ok = count < num_words
    return CheckResult(ok, f"found {count} word(s) once hardened, need {relation} {num_words}")


@checker("guard:nth_paragraph_first_word")
def guard_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> CheckResult:
    """length_constraints:nth_paragraph_first_word, and in the visible answer every paragraph has two words or
    more and paragraph n starts with exactly that word ("Then's" does not start with "then")."""
    failed = reference_fails(
        length.check_nth_paragraph_first_word,
        response,
        num_paragraphs=num_paragraphs,
        nth_paragraph=nth_paragraph,
        first_word=first_word,
    )
    if failed:
        return failed
    pieces = views.visible(response).split("\n\n")
    if len(pieces) < nth_paragraph or any(0 < len(words_of(p)) < 2 for p in pieces):
        return CheckResult(False, "a visible paragraph has fewer than 2 words")
    head = words_of(pieces[nth_paragraph - 1])
    if not head or head[0].lower() != first_word.strip().lower():
        return CheckResult(
            False, f"paragraph {nth_paragraph} starts with {short(head[0] if head else '')}, need {first_word!r}"
        )
    return CheckResult(True, f"paragraph {nth_paragraph} starts with {first_word!r}")


# --- case ---------------------------------------------------------------------------------------------


@checker("guard:capital_word_frequency")
def guard_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> CheckResult:
    """change_case:capital_word_frequency; "at least" counts visible all-capital words of two letters or more
    ("I" and "A" do not count), "less than" counts all-capital words of the folded answer (look-alike letters too)."""
    failed = reference_fails(
        case.check_capital_word_frequency,
        response,
        capital_frequency=capital_frequency,
        capital_relation=capital_relation,
    )
    if failed:
        return failed
    if capital_relation == "at least":
        count = sum(
            1 for w in _WORD_TOKEN.findall(views.visible(response)) if w.isupper() and len(_LETTER.findall(w)) >= 2
        )
        ok = count >= capital_frequency
    else:
        count = sum(1 for w in _WORD_TOKEN.findall(views.folded(response)) if w.isupper())
        ok = count < capital_frequency
    return CheckResult(
        ok, f"found {count} all-capital word(s) once hardened, need {capital_relation} {capital_frequency}"
    )


def _latin_english(seen: str) -> str | None:
    """Why the visible text is not plain English, or None: its letters must be plain Latin ones as written
    (not styled, small-capital or look-alike letters) and langdetect must call the folded text English."""
    letters = _LETTER.findall(seen)
    if len(letters) < 2:
        return "fewer than 2 letters"
    foreign = sum(1 for ch in letters if not ("a" <= ch <= "z" or "A" <= ch <= "Z"))
    if foreign * 10 > len(letters):
        return f"{foreign} of {len(letters)} letters are not plain Latin letters (styled, small-capital or look-alike)"
    found = detect_language(views.fold(seen))
    if found != "en":
        return f"detected language {found!r}, need English"
    return None


@checker("guard:english_capital")
def guard_english_capital(response: str) -> CheckResult:
    """change_case:english_capital, and the folded visible answer is still all capitals, mostly Latin letters and
    recognised as English (text langdetect cannot classify fails)."""
    failed = reference_fails(case.check_english_capital, response)
    if failed:
        return failed
    seen = views.visible(response)
    if not views.fold(seen).isupper():
        return CheckResult(False, "has lowercase letters once look-alike letters are folded")
    problem = _latin_english(seen)
    if problem:
        return CheckResult(False, problem)
    return CheckResult(True, "English, all capital letters")


@checker("guard:english_lowercase")
def guard_english_lowercase(response: str) -> CheckResult:
    """change_case:english_lowercase, and the folded visible answer is still all lowercase (small capitals and
    look-alike letters fold to what they look like), mostly Latin letters and recognised as English."""
    failed = reference_fails(case.check_english_lowercase, response)
    if failed:
        return failed
    seen = views.visible(response)
    if not views.fold(seen).islower():
        return CheckResult(False, "has capital letters once look-alike letters (such as small capitals) are folded")
    problem = _latin_english(seen)
    if problem:
        return CheckResult(False, problem)
    return CheckResult(True, "English, all lowercase letters")


# --- punctuation ------------------------------------------------------------------------------------


@checker("guard:no_comma")
def guard_no_comma(response: str) -> CheckResult:
    """punctuation:no_comma, and no other comma either: full-width, ideographic, small or look-alike commas."""
    failed = reference_fails(punctuation.check_no_comma, response)
    if failed:
        return failed
    text = views.fold_punctuation(views.folded(response))
    count = sum(text.count(c) for c in _COMMAS)
    if count:
        return CheckResult(False, f"found {count} comma(s) in other forms")
    return CheckResult(True, "no commas of any form")


# --- which guard goes with which IFEval id ------------------------------------------------------------

GUARDS: dict[str, str] = {
    "keywords:existence": "guard:keywords_existence",
    "keywords:frequency": "guard:keywords_frequency",
    "keywords:forbidden_words": "guard:forbidden_words",
    "keywords:letter_frequency": "guard:letter_frequency",
    "language:response_language": "guard:response_language",
    "length_constraints:number_sentences": "guard:number_sentences",
    "length_constraints:number_paragraphs": "guard:number_paragraphs",
    "length_constraints:number_words": "guard:number_words",
    "length_constraints:nth_paragraph_first_word": "guard:nth_paragraph_first_word",
    "detectable_content:number_placeholders": "guard:number_placeholders",
    "detectable_content:postscript": "guard:postscript",
    "detectable_format:number_bullet_lists": "guard:number_bullet_lists",
    "detectable_format:constrained_response": "guard:constrained_response",
    "detectable_format:number_highlighted_sections": "guard:number_highlighted_sections",
    "detectable_format:multiple_sections": "guard:multiple_sections",
    "detectable_format:json_format": "guard:json_format",
    "detectable_format:title": "guard:title",
    "combination:two_responses": "guard:two_responses",
    "combination:repeat_prompt": "guard:repeat_prompt",
    "startend:end_checker": "guard:end_checker",
    "startend:quotation": "guard:quotation",
    "change_case:capital_word_frequency": "guard:capital_word_frequency",
    "change_case:english_capital": "guard:english_capital",
    "change_case:english_lowercase": "guard:english_lowercase",
    "punctuation:no_comma": "guard:no_comma",
}


def add_guards(plan: VerificationPlan) -> VerificationPlan:
    """The plan with each IFEval code check preceded by its guard, on which the check (and every check that
    depends on it) then depends: a gamed answer fails the guard and so earns nothing for that constraint."""
    checks: list[Check] = []
    guard_of: dict[str, str] = {}
    taken = {c.id for c in plan.checks}
    for c in plan.checks:
        deps = list(dict.fromkeys([*c.depends_on, *(guard_of[d] for d in c.depends_on if d in guard_of)]))
        guard = GUARDS.get(c.checker or "") if c.kind == "code" else None
        if guard:
            gid = f"{c.id}~guard"
            while gid in taken:
                gid += "~"
            taken.add(gid)
            checks.append(
                c.model_copy(update={"id": gid, "checker": guard, "depends_on": deps, "constraint_path": None})
            )
            guard_of[c.id] = gid
            deps = [*deps, gid]
        checks.append(c.model_copy(update={"depends_on": deps}))
    return VerificationPlan(checks=checks, correct_branches=dict(plan.correct_branches))
