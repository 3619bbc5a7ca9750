"""Checkers: detectable content and format (IFEval `detectable_content:*`, `detectable_format:*`).

Exact strict semantics of IFEval. A few of its regexes backtrack quadratically on long runs of
whitespace or brackets (a megabyte of blank lines would take hours), so those counts are computed by
linear scans that give the same numbers; tests compare them with the regexes on random text.
"""

from __future__ import annotations

import json
import re

from pipeline.checks.ifeval_args import want_int, want_str
from pipeline.checks.patterns import ArgPattern, arg_pattern
from pipeline.checks.registry import CheckResult, checker

_NON_SPACE = re.compile(r"\S")
_HIGHLIGHT = re.compile(r"\*[^\n\*]*\*")
_DOUBLE_HIGHLIGHT = re.compile(r"\*\*[^\n\*]*\*\*")
# For a fixed marker, IFEval's findall(r"\s*p\.\s?s\..*$") finds something exactly when the core occurs.
_POSTSCRIPTS = {"P.S.": re.compile(r"p\.\s?s\."), "P.P.S": re.compile(r"p\.\s?p\.\s?s")}
CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
_JSON_FENCES = ("```json", "```Json", "```JSON", "```")


def count_placeholders(text: str) -> int:
    """Number of non-overlapping r"\\[.*?\\]" matches: a [ closed by the next ] on the same line."""
    count, i, n = 0, 0, len(text)
    newline = -1  # position of the next "\n" at or after the current "["; cached so long lines stay linear
    while i < n:
        p = text.find("[", i)
        if p < 0:
            break
        if newline < p:
            newline = text.find("\n", p)
            if newline < 0:
                newline = n
        q = text.find("]", p + 1, newline)
        if q >= 0:
            count += 1
            i = q + 1
        else:  # no later "[" on this line can close either
            i = newline + 1
    return count


def count_bullet_lines(text: str) -> tuple[int, int]:
    """Matches of IFEval's r"^\\s*\\*[^\\*].*$" and r"^\\s*-.*$" (MULTILINE), counted separately.

    `\\s` spans newlines, so a match starts at a line start, skips whitespace (possibly whole blank
    lines) to the first other character, and ends at the end of that character's line; the scan then
    resumes there, exactly like `re.findall`.
    """
    return _count_from_line_starts(text, star=True), _count_from_line_starts(text, star=False)


def _count_from_line_starts(text: str, *, star: bool) -> int:
    count, start, n = 0, 0, len(text)
    while start <= n:
        m = _NON_SPACE.search(text, start)
        if m is None:
            break
        j = m.start()
        ch = text[j]
        if star:
            matched = ch == "*" and j + 1 < n and text[j + 1] != "*"
            rest = j + 2  # `[^\*]` took one character (possibly a newline); `.*` runs from here
        else:
            matched = ch == "-"
            rest = j + 1
        if matched:
            count += 1
            end = text.find("\n", rest)
        else:  # every line start in this whitespace run reaches the same character and fails too
            end = text.find("\n", j)
        if end < 0:
            break
        start = end + 1
    return count


def has_title(text: str) -> bool:
    """IFEval's title rule: some r"<<[^\\n]+>>" match has non-blank text inside the brackets.

    On one line the regex can only match from the first "<<" to the last ">>" (greedy), so at most once.
    """
    for line in text.split("\n"):
        p = line.find("<<")
        if p < 0:
            continue
        q = line.rfind(">>", p + 3)
        if q >= 0 and line[p : q + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


def _custom_postscript(cid: str, marker: str, text: str) -> bool:
    """The reference's findall(r"\\s*" + marker + r".*$", MULTILINE) finds something.

    For a plain marker (no repetition or alternation, see `patterns`) that holds exactly when the marker
    itself occurs: the leading `\\s*` can match nothing and `.*$` always matches to the end of the line.
    Searching for the marker alone avoids the reference's quadratic backtracking over long whitespace runs.
    """
    full = arg_pattern(
        cid, "postscript_marker", marker, r"\s*" + marker + r".*$", re.MULTILINE
    )  # validates, as the reference
    if full.plain is not None:
        return arg_pattern(cid, "postscript_marker", marker, marker, re.MULTILINE).search(text)
    return full.search(text)


def section_pattern(cid: str, spliter: str) -> ArgPattern:
    """IFEval's section header pattern for a (stripped) spliter: r"\\s?" + spliter + r"\\s?\\d+\\s?"."""
    return arg_pattern(cid, "section_spliter", spliter, r"\s?" + spliter + r"\s?\d+\s?")


@checker("detectable_content:number_placeholders")
def check_number_placeholders(response: str, *, num_placeholders: int) -> CheckResult:
    """At least N [square-bracket] placeholders."""
    wanted = want_int("detectable_content:number_placeholders", "num_placeholders", num_placeholders)
    count = count_placeholders(response)
    return CheckResult(count >= wanted, f"found {count} [placeholder](s), need at least {wanted}")


@checker("detectable_content:postscript")
def check_postscript(response: str, *, postscript_marker: str) -> CheckResult:
    """A postscript marker occurs (case-insensitive, anywhere: IFEval's pattern is not anchored to a line)."""
    cid = "detectable_content:postscript"
    marker = want_str(cid, "postscript_marker", postscript_marker).strip()
    text = response.lower()
    pattern = _POSTSCRIPTS.get(marker)
    if pattern is not None:
        found = pattern.search(text) is not None
    else:  # any other marker is used as a regex, lowercased, as the reference does
        found = _custom_postscript(cid, marker.lower(), text)
    if found:
        return CheckResult(True, f"found postscript marker {marker!r}")
    return CheckResult(False, f"no postscript starting with {marker!r}")


@checker("detectable_format:number_bullet_lists")
def check_number_bullet_lists(response: str, *, num_bullets: int) -> CheckResult:
    """Exactly N bullet lines: lines starting with "*" (not "**") plus every line starting with "-"."""
    wanted = want_int("detectable_format:number_bullet_lists", "num_bullets", num_bullets)
    stars, dashes = count_bullet_lines(response)
    count = stars + dashes
    detail = f" ({stars} with *, {dashes} with -)" if stars and dashes else ""
    return CheckResult(count == wanted, f"found {count} bullet line(s){detail}, need exactly {wanted}")


@checker("detectable_format:constrained_response")
def check_constrained_response(response: str) -> CheckResult:
    """The response contains one of IFEval's three fixed answers."""
    text = response.strip()
    for option in CONSTRAINED_OPTIONS:
        if option in text:
            return CheckResult(True, f"contains {option!r}")
    return CheckResult(False, "contains none of " + ", ".join(map(repr, CONSTRAINED_OPTIONS)))


@checker("detectable_format:number_highlighted_sections")
def check_number_highlighted_sections(response: str, *, num_highlights: int) -> CheckResult:
    """At least N non-blank *highlighted* spans; **bold** spans count once more, as in IFEval."""
    wanted = want_int("detectable_format:number_highlighted_sections", "num_highlights", num_highlights)
    count = sum(1 for m in _HIGHLIGHT.finditer(response) if m.group().strip("*").strip())
    count += sum(1 for m in _DOUBLE_HIGHLIGHT.finditer(response) if m.group()[2:-2].strip())
    return CheckResult(count >= wanted, f"found {count} highlighted section(s), need at least {wanted}")


@checker("detectable_format:multiple_sections")
def check_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> CheckResult:
    """At least N section headers "<spliter> <number>" (the spliter is a regex, as in IFEval, run in bounded time)."""
    cid = "detectable_format:multiple_sections"
    spliter = want_str(cid, "section_spliter", section_spliter).strip()
    wanted = want_int(cid, "num_sections", num_sections)
    count = len(section_pattern(cid, spliter).split(response)) - 1
    return CheckResult(count >= wanted, f"found {count} '{spliter} N' section header(s), need at least {wanted}")


def _unfence(text: str) -> str:
    text = text.strip()
    for fence in _JSON_FENCES:
        text = text.removeprefix(fence)
    return text.removesuffix("```").strip()


@checker("detectable_format:json_format")
def check_json_format(response: str) -> CheckResult:
    """The response, without surrounding ``` fences, parses as JSON."""
    try:
        json.loads(_unfence(response))
    except ValueError as exc:
        return CheckResult(False, f"not valid JSON: {exc}"[:160])
    except RecursionError:  # the reference crashes here; for us it is simply not acceptable JSON
        return CheckResult(False, "not valid JSON: nested too deeply")
    return CheckResult(True, "valid JSON")


@checker("detectable_format:title")
def check_title(response: str) -> CheckResult:
    """A non-blank title in double angular brackets, <<like this>>, on one line."""
    if has_title(response):
        return CheckResult(True, "found a <<title>>")
    return CheckResult(False, "no <<title>> in double angular brackets")
