"""Checkers: hardened guards (`guard:*`) for IFEval's detectable, combination and start/end ids.

See `guards` for what a guard is: it takes the kwargs of the IFEval id it guards, passes only where the
reference passes, and adds hardened conditions read from the views of `views`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.checks import combination, detectable, startend, views
from pipeline.checks.guards import reference_fails, words_of
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import short

_PLACEHOLDER = re.compile(r"\[([^\[\]\n]*)\](?!\()")  # a markdown link "[text](url)" is no placeholder
_STAR_BULLET = re.compile(r"^\s*\*[^\*](.*)$", re.MULTILINE)
_DASH_BULLET = re.compile(r"^\s*-(.*)$", re.MULTILINE)
_RULE = re.compile(r"^\s*(?:-[ \t]*){3,}$")
_BOLD = re.compile(r"\*\*([^\n*]+)\*\*")
_ITALIC = re.compile(r"(?<!\*)\*([^\n*]+)\*(?!\*)")
_TITLE = re.compile(r"<<([^\n]+?)>>")
_POSTSCRIPT_LINE = {
    "P.S.": re.compile(r"^[ \t>*_]*p\.\s?s\.", re.IGNORECASE | re.MULTILINE),
    "P.P.S": re.compile(r"^[ \t>*_]*p\.\s?p\.\s?s\.?", re.IGNORECASE | re.MULTILINE),
}
_ANY_POSTSCRIPT = re.compile(r"^[ \t>*_]*p\.\s?(?:p\.\s?)*s\.?", re.IGNORECASE)


# --- detectable content -----------------------------------------------------------------------------


@checker("guard:number_placeholders")
def guard_number_placeholders(response: str, *, num_placeholders: int) -> CheckResult:
    """detectable_content:number_placeholders, counting in the visible answer only [placeholders] with a name
    (not "[]", "[ ]", "[x]" or a markdown link)."""
    failed = reference_fails(detectable.check_number_placeholders, response, num_placeholders=num_placeholders)
    if failed:
        return failed
    count = sum(1 for m in _PLACEHOLDER.finditer(views.visible(response)) if views.has_content(m.group(1)))
    return CheckResult(
        count >= num_placeholders, f"found {count} named placeholder(s), need at least {num_placeholders}"
    )


@checker("guard:postscript")
def guard_postscript(response: str, *, postscript_marker: str) -> CheckResult:
    """detectable_content:postscript, and in the visible answer a line starts with the marker after the main text,
    the postscript has content, and only postscripts follow it (no marker in the middle of the text)."""
    failed = reference_fails(detectable.check_postscript, response, postscript_marker=postscript_marker)
    if failed:
        return failed
    text = views.visible(response).strip()
    pattern = _POSTSCRIPT_LINE.get(postscript_marker.strip())
    hits = list(pattern.finditer(text)) if pattern else []
    if not hits:
        return CheckResult(False, f"no line starts with {postscript_marker!r}")
    last = hits[-1]
    if len(words_of(text[: last.start()])) < 2:
        return CheckResult(False, "no main text before the postscript")
    block_end = text.find("\n\n", last.end())
    if not views.has_content(text[last.end() : block_end if block_end >= 0 else len(text)]):
        return CheckResult(False, "the postscript is empty")
    later = [p for p in text[block_end:].split("\n\n") if p.strip()] if block_end >= 0 else []
    if any(not _ANY_POSTSCRIPT.match(p.strip()) for p in later):
        return CheckResult(False, "text follows the postscript: the marker is not at the end")
    return CheckResult(True, f"ends with a postscript starting with {postscript_marker!r}")


# --- detectable format ------------------------------------------------------------------------------


@checker("guard:number_bullet_lists")
def guard_number_bullet_lists(response: str, *, num_bullets: int) -> CheckResult:
    """detectable_format:number_bullet_lists, and in the visible answer outside code blocks there are exactly
    that many bullets, each with content, and no horizontal rule posing as one."""
    failed = reference_fails(detectable.check_number_bullet_lists, response, num_bullets=num_bullets)
    if failed:
        return failed
    text = views.unfenced(views.visible(response))
    items = [m.group(0) for m in _STAR_BULLET.finditer(text)] + [m.group(0) for m in _DASH_BULLET.finditer(text)]
    empty = [item for item in items if _RULE.match(item) or not views.has_content(item)]
    if empty:
        return CheckResult(False, f"{len(empty)} bullet(s) without content, e.g. {short(empty[0])}")
    if len(items) != num_bullets:
        return CheckResult(False, f"found {len(items)} visible bullet(s), need exactly {num_bullets}")
    return CheckResult(True, f"exactly {num_bullets} bullet(s) with content")


@checker("guard:constrained_response")
def guard_constrained_response(response: str) -> CheckResult:
    """detectable_format:constrained_response, and the visible answer contains exactly one of the three options."""
    failed = reference_fails(detectable.check_constrained_response, response)
    if failed:
        return failed
    text = views.visible(response)
    named = [o for o in detectable.CONSTRAINED_OPTIONS if o in text]
    if len(named) != 1:
        return CheckResult(False, f"the visible answer gives {len(named)} of the options, need exactly one")
    return CheckResult(True, f"answers {named[0]!r}")


@checker("guard:number_highlighted_sections")
def guard_number_highlighted_sections(response: str, *, num_highlights: int) -> CheckResult:
    """detectable_format:number_highlighted_sections, counting in the visible answer outside code blocks each
    highlighted span once (bold is not two highlights) and only spans with content."""
    failed = reference_fails(detectable.check_number_highlighted_sections, response, num_highlights=num_highlights)
    if failed:
        return failed
    text = views.unfenced(views.visible(response))
    count = sum(1 for m in _BOLD.finditer(text) if views.has_content(m.group(1)))
    count += sum(1 for m in _ITALIC.finditer(_BOLD.sub(" ", text)) if views.has_content(m.group(1)))
    return CheckResult(
        count >= num_highlights, f"found {count} distinct highlighted span(s), need at least {num_highlights}"
    )


@checker("guard:multiple_sections")
def guard_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> CheckResult:
    """detectable_format:multiple_sections, and in the visible answer every section has two words or more."""
    failed = reference_fails(
        detectable.check_multiple_sections, response, section_spliter=section_spliter, num_sections=num_sections
    )
    if failed:
        return failed
    sections = detectable.section_pattern("guard:multiple_sections", section_spliter.strip()).split(
        views.visible(response)
    )[1:]
    full = sum(1 for s in sections if len(words_of(s)) >= 2)
    if full < num_sections or full < len(sections):
        return CheckResult(False, f"{len(sections) - full} of {len(sections)} section(s) have fewer than 2 words")
    return CheckResult(True, f"{full} section(s) with content")


def _unfence_json(text: str) -> str:
    text = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    return text.removesuffix("```").strip()


def _filled(value: Any) -> bool:
    """A JSON value holding something: a number, a bool, a non-blank string, or a container with a filled value."""
    if isinstance(value, dict):
        return any(_filled(v) for v in value.values())
    if isinstance(value, list):
        return any(_filled(v) for v in value)
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


@checker("guard:json_format")
def guard_json_format(response: str) -> CheckResult:
    """detectable_format:json_format, and the JSON is an object or array with some filled-in value
    (not {}, [], "", null or a bare scalar)."""
    failed = reference_fails(detectable.check_json_format, response)
    if failed:
        return failed
    value = json.loads(_unfence_json(response))  # the reference parsed it, so this cannot fail
    if not isinstance(value, dict | list):
        return CheckResult(False, f"the JSON is a bare {type(value).__name__}, not an object or array")
    if not _filled(value):
        return CheckResult(False, "the JSON holds no value")
    return CheckResult(True, "JSON with content")


@checker("guard:title")
def guard_title(response: str) -> CheckResult:
    """detectable_format:title, and the visible answer outside code blocks has a <<title>> with content and
    some text besides the title."""
    failed = reference_fails(detectable.check_title, response)
    if failed:
        return failed
    text = views.unfenced(views.visible(response))
    titles = [m for m in _TITLE.finditer(text) if views.has_content(m.group(1))]
    if not titles:
        return CheckResult(False, "no visible <<title>> with content")
    if len(words_of(_TITLE.sub(" ", text))) < 2:
        return CheckResult(False, "the response is only a title")
    return CheckResult(True, f"titled {short(titles[0].group(1))}")


# --- combination ------------------------------------------------------------------------------------


def _plain_words(text: str) -> list[str]:
    """The lowercased words of the folded text (to compare two answers beyond punctuation and case)."""
    return [w.lower() for w in words_of(views.fold(text))]


@checker("guard:two_responses")
def guard_two_responses(response: str) -> CheckResult:
    """combination:two_responses, and in the visible answer both responses have two words or more and differ
    in their words, not just in punctuation or case."""
    failed = reference_fails(combination.check_two_responses, response)
    if failed:
        return failed
    answers = [p for p in views.visible(response).split(combination.SEPARATOR) if p.strip()]
    if len(answers) != 2 or any(len(words_of(a)) < 2 for a in answers):
        return CheckResult(False, "the visible answer does not hold two responses of two words or more")
    if _plain_words(answers[0]) == _plain_words(answers[1]):
        return CheckResult(False, "the two responses differ only in punctuation or case")
    return CheckResult(True, "two different responses with content")


@checker("guard:repeat_prompt")
def guard_repeat_prompt(response: str, *, prompt_to_repeat: str) -> CheckResult:
    """combination:repeat_prompt, and an answer of two words or more follows the repeated request."""
    failed = reference_fails(combination.check_repeat_prompt, response, prompt_to_repeat=prompt_to_repeat)
    if failed:
        return failed
    rest = views.visible(response.strip()[len(prompt_to_repeat.strip()) :])
    if len(words_of(rest)) < 2:
        return CheckResult(False, "nothing answers the request after repeating it")
    return CheckResult(True, "repeats the request, then answers it")


# --- start / end ------------------------------------------------------------------------------------


@checker("guard:end_checker")
def guard_end_checker(response: str, *, end_phrase: str) -> CheckResult:
    """startend:end_checker, and the visible answer has two words or more before the phrase, which does not
    start inside a word."""
    failed = reference_fails(startend.check_end_checker, response, end_phrase=end_phrase)
    if failed:
        return failed
    phrase = end_phrase.strip().lower()
    text = views.visible(response).strip().strip('"').lower()
    if not text.endswith(phrase):
        return CheckResult(False, f"the visible answer does not end with {end_phrase.strip()!r}")
    before = text[: len(text) - len(phrase)]
    if before and re.match(r"[^\W_]", phrase) and re.match(r"[^\W_]", before[-1]):
        return CheckResult(False, f"{end_phrase.strip()!r} is glued to the word before it")
    if len(words_of(before)) < 2:
        return CheckResult(False, f"nothing comes before {end_phrase.strip()!r}")
    return CheckResult(True, f"ends with {end_phrase.strip()!r} after the answer")


@checker("guard:quotation")
def guard_quotation(response: str) -> CheckResult:
    """startend:quotation, and the quotes hold some text (two letters or digits)."""
    failed = reference_fails(startend.check_quotation, response)
    if failed:
        return failed
    if not views.has_content(views.visible(response.strip()[1:-1])):
        return CheckResult(False, "the quotation marks wrap nothing")
    return CheckResult(True, "wrapped in double quotation marks around text")
