"""Checkers: format family (punctuation bans, numbered lists, markdown tables/headings, templates).

Layout rules are defined on lines, so they are unambiguous and easy to state in an instruction:
a numbered item is `1.` or `1)` at the start of a line (at most one space before it), a heading 1-6 `#`
and a space.

Hardening against gamed answers (see `views`): structure is read in the visible answer outside fenced
code blocks; a bullet, item, heading, table or template slot needs real content (a lone character or
punctuation mark is not content); banned marks are found through look-alike forms ("ǃ", "‼", "﹒").
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.checks import views
from pipeline.checks.counting import WORD_RE, want_count
from pipeline.checks.ifeval_args import fail, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import canon, short

_NUMBERED = re.compile(r"^ ?(\d{1,9})[.)][ \t]+(\S.*)$", re.MULTILINE)  # indented lines are sub-items
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(\S.*)$", re.MULTILINE)
_TABLE_DELIM_CELL = re.compile(r"^:?-+:?$")
_SLOT = re.compile(r"<[^<>\n]+>")


def structure(response: str) -> str:
    """The text markdown structure is read from: the visible answer with fenced code blocks blanked out."""
    return views.unfenced(views.visible(response))


# --- Punctuation -----------------------------------------------------------------------------------


def _banned_marks(response: str, marks: str, name: str) -> CheckResult:
    text = views.fold_punctuation(views.folded(response))  # look-alike and compatibility forms count too
    found = sum(text.count(m) for m in marks)
    if found:
        first = min(text.find(m) for m in marks if m in text)
        return CheckResult(False, f"found {found} {name}, e.g. near {short(text[max(0, first - 15) : first + 5])}")
    return CheckResult(True, f"no {name}")


@checker("punctuation:punctuation_dot")
def check_no_dot(response: str) -> CheckResult:
    """No dot at all: `.`, `．`, `。`, `…` and look-alikes (one-dot leader, small full stop, middle dots)."""
    return _banned_marks(response, ".．。…", "dot(s)")


@checker("punctuation:punctuation_exclamation")
def check_no_exclamation(response: str) -> CheckResult:
    """No exclamation mark: `!`, `！` and look-alikes (`‼`, `﹗`, `ǃ`, `¡`, `❗`) are banned."""
    return _banned_marks(response, "!！", "exclamation mark(s)")


# --- Numbered lists --------------------------------------------------------------------------------


@checker("list:numbered_items")
def check_numbered_items(response: str, *, num_items: int) -> CheckResult:
    """Exactly num_items unindented numbered lines (`1.` or `1)`, at most one leading space), numbered 1, 2,
    ... in order, each with content (two letters or digits); lines in code blocks do not count."""
    want = want_count("list:numbered_items", "num_items", num_items)
    items = [(int(m.group(1)), m.group(2)) for m in _NUMBERED.finditer(views.fold(structure(response)))]
    numbers = [n for n, _ in items]
    if len(numbers) != want:
        return CheckResult(False, f"found {len(numbers)} numbered item(s), need exactly {want}")
    if numbers != list(range(1, want + 1)):
        return CheckResult(False, f"items are numbered {numbers[:10]}, need 1 to {want} in order")
    empty = [n for n, text in items if not views.has_content(text)]
    if empty:
        return CheckResult(False, f"item(s) {empty[:5]} have no content")
    return CheckResult(True, f"found {want} numbered items, 1 to {want}")


# --- Markdown Format -------------------------------------------------------------------------------


def table_cells(line: str) -> list[str]:
    """The cells of a table row: outer pipes dropped, split on pipes not escaped with a backslash."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def _tables(response: str) -> list[tuple[list[str], list[list[str]], int]]:
    """Each markdown table as (header cells, data rows' cells, delimiter cell count); one linear scan."""
    lines = response.splitlines()
    found = []
    i = 0
    while i < len(lines) - 2:
        head, delim = lines[i], lines[i + 1]
        i += 1
        if "|" not in head or "|" not in delim:
            continue
        delim_cells = table_cells(delim)
        if not all(_TABLE_DELIM_CELL.match(c) for c in delim_cells):
            continue
        rows = []
        j = i + 1
        while j < len(lines) and "|" in lines[j] and lines[j].strip():
            rows.append(table_cells(lines[j]))
            j += 1
        if rows:
            found.append((table_cells(head), rows, len(delim_cells)))
            i = j  # rows of a table are not headers of another: the scan stays linear
    return found


@checker("markdown:table_columns")
def check_table_columns(response: str, *, num_columns: int) -> CheckResult:
    """Some markdown table (header row, `---` delimiter row, >= 1 data row) has exactly num_columns in every row,
    a header cell with content in every column and a data row with content in every cell; code blocks do not count."""
    want = want_count("markdown:table_columns", "num_columns", num_columns)
    tables = _tables(structure(response))
    if not tables:
        return CheckResult(False, "no markdown table (header, delimiter row and data rows) found")
    shaped = [
        (head, rows)
        for head, rows, delim in tables
        if len(head) == want and delim == want and all(len(r) == want for r in rows)
    ]
    for head, rows in shaped:
        if all(views.has_content(c, 1) for c in head) and any(all(views.has_content(c, 1) for c in r) for r in rows):
            return CheckResult(True, f"found a table with {want} columns and {len(rows)} data row(s)")
    if shaped:
        return CheckResult(False, f"the table with {want} columns has empty header cells or no filled-in row")
    shapes = ", ".join(
        f"{len(head)} columns" + ("" if all(len(r) == len(head) for r in rows) else " (ragged rows)")
        for head, rows, _ in tables[:3]
    )
    return CheckResult(False, f"found table(s) with {shapes}, need exactly {want} columns")


@checker("markdown:min_headings")
def check_min_headings(response: str, *, N: int) -> CheckResult:  # IFBench-style kwarg name
    """At least N markdown headings (1-6 `#` and a space, then content); headings in code blocks do not count."""
    want = want_count("markdown:min_headings", "N", N)
    found = sum(1 for m in _HEADING.finditer(structure(response)) if views.has_content(m.group(1)))
    return CheckResult(found >= want, f"found {found} heading(s) with text, need at least {want}")


# --- Template: labelled slots ----------------------------------------------------------------------


def template_labels(cid: str, template: Any) -> list[tuple[str, str]]:
    """The (label, slot line) pairs of a template made of `Label: <slot>` lines (>= 2 distinct labels)."""
    text = want_str(cid, "template", template)
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        label, colon, slot = canon(line).partition(":")
        if not colon or not label.strip() or not _SLOT.search(slot):
            raise fail(cid, f"every template line must look like 'Label: <slot>', got {line.strip()!r}")
        pairs.append((label.strip(), line.strip()))
    labels = [p[0].lower() for p in pairs]
    if len(pairs) < 2 or len(set(labels)) != len(labels):
        raise fail(cid, f"'template' needs at least 2 lines with distinct labels, got {labels}")
    return pairs


def _label_line(label: str) -> re.Pattern[str]:
    """A response line that opens with `label:`; markdown emphasis/heading marks around the label are allowed."""
    return re.compile(rf"^[ \t>#*_]*{re.escape(label)}[ \t*_]*:[ \t*_]*(.*)$", re.IGNORECASE)


def _plain(text: str) -> str:
    """The words of text, lowercased and joined by single spaces (to compare a slot with its placeholder)."""
    return " ".join(WORD_RE.findall(text.lower()))


@checker("template:fixed_labels")
def check_fixed_labels(response: str, *, template: str) -> CheckResult:
    """The response fills the template: it starts with the first label, each label opens exactly one line,
    labels come in template order, every slot has content of its own (not the placeholder's words), and no
    `<slot>` placeholder is left."""
    cid = "template:fixed_labels"
    pairs = template_labels(cid, template)
    patterns = [_label_line(label) for label, _ in pairs]
    text = canon(views.visible(response))
    lines = [line for line in text.splitlines() if line.strip()]
    hits: list[tuple[int, int]] = []  # (line index, label index)
    for i, line in enumerate(lines):
        for k, pat in enumerate(patterns):
            if pat.match(line):
                hits.append((i, k))
                break
    for k, (label, _) in enumerate(pairs):
        n = sum(1 for _, j in hits if j == k)
        if n != 1:
            return CheckResult(False, f"label {label!r} opens {n} line(s), need exactly 1")
    if [k for _, k in hits] != list(range(len(pairs))):
        order = [pairs[k][0] for _, k in hits]
        return CheckResult(False, f"labels appear in the order {order}, need {[p[0] for p in pairs]}")
    if hits[0][0] != 0:
        return CheckResult(False, f"text before the first label {pairs[0][0]!r}: {short(lines[0])}")
    bounds = [i for i, _ in hits] + [len(lines)]
    for k, (label, slot_line) in enumerate(pairs):
        first = patterns[k].match(lines[bounds[k]])
        body = " ".join([first.group(1) if first else "", *lines[bounds[k] + 1 : bounds[k + 1]]])
        if not views.has_content(body):
            return CheckResult(False, f"the slot after {label!r} is empty")
        placeholders = {_plain(m.group()[1:-1]) for m in _SLOT.finditer(canon(slot_line))}
        if _plain(body) in placeholders:
            return CheckResult(False, f"the slot after {label!r} repeats the placeholder's words: {short(body)}")
    slots = {m.group() for _, line in pairs for m in _SLOT.finditer(canon(line))}
    left = [s for s in slots if s.lower() in text.lower()]
    if left:
        return CheckResult(False, f"placeholder(s) left unfilled: {', '.join(sorted(left)[:3])}")
    return CheckResult(True, f"all {len(pairs)} labelled slots filled in order")
