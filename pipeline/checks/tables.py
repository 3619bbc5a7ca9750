"""Checkers: markdown tables.

A markdown table is a header row with `|`, a delimiter row of dashes (`|---|:---:|`) and the data rows that
follow it (lines with `|`, up to the first blank or pipe-less line); cells are split on pipes that are not
escaped with a backslash.

Hardening against gamed answers (see `views`): tables are read in the visible answer outside fenced code
blocks, so text in reasoning blocks, HTML comments or code earns nothing and invisible characters are
dropped; each rule names "the" table and requires exactly one, so a response cannot offer several shapes
and let one of them pass; rows must not be ragged and every data cell needs content (a dash is not
content); names are compared as written, so look-alike letters do not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.checks import views
from pipeline.checks.counting import want_count
from pipeline.checks.format import table_cells
from pipeline.checks.ifeval_args import fail, want_str_list
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import short

_DELIM_CELL = re.compile(r"^:?-+:?$")
_BOLD = re.compile(r"^(\*\*|__)(?=\S)(.+?)(?<=\S)\1$", re.DOTALL)
_DIGIT = re.compile(r"\d")
SORT_ORDERS = ("A to Z", "Z to A")


# --- Markdown tables -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    width: int  # cells of the delimiter row


def tables(text: str) -> list[Table]:
    """The markdown tables of text, read outside fenced blocks (one linear scan)."""
    lines = views.unfenced(text).splitlines()
    found: list[Table] = []
    i = 0
    while i + 1 < len(lines):
        head, delim = lines[i], lines[i + 1]
        if "|" in head and "|" in delim and all(_DELIM_CELL.match(c) for c in table_cells(delim)):
            j = i + 2
            rows = []
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                rows.append(table_cells(lines[j]))
                j += 1
            found.append(Table(table_cells(head), rows, len(table_cells(delim))))
            i = j
        else:
            i += 1
    return found


def _the_table(response: str) -> tuple[Table | None, str]:
    """The one well-formed table of the visible answer, or None and why not."""
    found = tables(views.visible(response))
    if not found:
        return None, "no markdown table (header row, |---| delimiter row, data rows) found"
    if len(found) > 1:
        return None, f"found {len(found)} markdown tables; the answer must hold exactly one"
    table = found[0]
    if not table.rows:
        return None, "the table has no data rows"
    n = len(table.header)
    if table.width != n or any(len(r) != n for r in table.rows):
        return None, f"ragged table: the header has {n} cells but some row or the delimiter does not"
    if not all(views.has_content(c, 1) for c in table.header):
        return None, "the table has an empty header cell"
    return table, ""


def _unmark(cell: str) -> str:
    """A cell's text without surrounding bold/italic/code marks."""
    return cell.strip().strip("*_`").strip()


def _full_rows(table: Table) -> list[int]:
    """1-based numbers of the data rows with an empty cell."""
    return [k for k, row in enumerate(table.rows, 1) if not all(views.has_content(c, 1) for c in row)]


def _filled_table(response: str, min_rows: int) -> tuple[Table | None, CheckResult]:
    """The one table, with at least `min_rows` data rows and every cell filled; or None and the failed check."""
    table, why = _the_table(response)
    if table is None:
        return None, CheckResult(False, why)
    if len(table.rows) < min_rows:
        return None, CheckResult(False, f"the table has {len(table.rows)} data row(s), need at least {min_rows}")
    empty = _full_rows(table)
    if empty:
        return None, CheckResult(False, f"data row(s) {empty[:5]} have empty cells")
    return table, CheckResult(True)


@checker("table:row_count")
def check_table_rows(response: str, *, num_rows: int) -> CheckResult:
    """Exactly one markdown table, with exactly num_rows distinct data rows below its header, every cell filled."""
    want = want_count("table:row_count", "num_rows", num_rows)
    table, why = _the_table(response)
    if table is None:
        return CheckResult(False, why)
    empty = _full_rows(table)
    if empty:
        return CheckResult(False, f"data row(s) {empty[:5]} have empty cells")
    if len({tuple(_unmark(c).casefold() for c in row) for row in table.rows}) != len(table.rows):
        return CheckResult(False, "a data row is repeated")
    n = len(table.rows)
    return CheckResult(n == want, f"the table has {n} distinct data row(s), need exactly {want}")


@checker("table:given_columns")
def check_table_columns_named(response: str, *, columns: list[str]) -> CheckResult:
    """Exactly one markdown table whose header cells are the given names, in order (case-insensitive, bold
    allowed), with at least one data row and every cell filled."""
    cid = "table:given_columns"
    names = want_str_list(cid, "columns", columns)
    table, why = _the_table(response)
    if table is None:
        return CheckResult(False, why)
    got = [_unmark(c).casefold() for c in table.header]
    if got != [n.strip().casefold() for n in names]:
        return CheckResult(False, f"the header is {[_unmark(c) for c in table.header][:6]}, need {names}")
    empty = _full_rows(table)
    if empty:
        return CheckResult(False, f"data row(s) {empty[:5]} have empty cells")
    return CheckResult(True, f"the table's columns are {names}, with {len(table.rows)} data row(s)")


def _sort_key(cell: str) -> str:
    return " ".join(views.WORD.findall(views.fold(_unmark(cell)).casefold()))


@checker("table:sorted_rows")
def check_table_sorted(response: str, *, order: str) -> CheckResult:
    """Exactly one markdown table with at least 3 data rows whose first-column entries are distinct and in
    alphabetical order ("A to Z") or reverse alphabetical order ("Z to A"), compared case-insensitively."""
    if order not in SORT_ORDERS:
        raise fail("table:sorted_rows", f"'order' must be one of {list(SORT_ORDERS)}, got {order!r}")
    table, why = _the_table(response)
    if table is None:
        return CheckResult(False, why)
    keys = [_sort_key(row[0]) for row in table.rows]
    if len(keys) < 3:
        return CheckResult(False, f"the table has {len(keys)} data row(s), need at least 3 to show an order")
    if not all(keys) or len(set(keys)) != len(keys):
        return CheckResult(False, "first-column entries must be distinct words")
    wanted = sorted(keys, reverse=order == "Z to A")
    if keys != wanted:
        bad = next(k for k, (a, b) in enumerate(zip(keys, wanted, strict=True)) if a != b)
        return CheckResult(False, f"row {bad + 1} ({short(table.rows[bad][0])}) breaks the {order} order")
    return CheckResult(True, f"{len(keys)} rows sorted {order} by the first column")


@checker("table:bold_first_column")
def check_table_bold_first(response: str) -> CheckResult:
    """Exactly one markdown table with at least 2 data rows; every data row's first cell is wholly in bold
    (`**...**` or `__...__`) with content inside, and every cell is filled."""
    table, failed = _filled_table(response, 2)
    if table is None:
        return failed
    for k, row in enumerate(table.rows, 1):
        m = _BOLD.match(row[0])
        if not m or not views.has_content(m.group(2)) or "**" in m.group(2):
            return CheckResult(False, f"row {k}'s first cell is not wholly bold: {short(row[0])}")
    return CheckResult(True, f"all {len(table.rows)} first-column cells are bold")


@checker("table:total_row")
def check_table_total(response: str) -> CheckResult:
    """Exactly one markdown table with at least 3 data rows; the last data row's first cell reads "Total"
    (case-insensitive, bold allowed) and another of its cells holds a number; no other row is a total."""
    table, why = _the_table(response)
    if table is None:
        return CheckResult(False, why)
    if len(table.rows) < 3:
        return CheckResult(False, f"the table has {len(table.rows)} data row(s), need 2 or more above the total")
    firsts = [_unmark(row[0]).casefold() for row in table.rows]
    if firsts[-1] != "total":
        return CheckResult(False, f"the last row starts with {short(table.rows[-1][0])}, not 'Total'")
    if "total" in firsts[:-1]:
        return CheckResult(False, "more than one row is labelled 'Total'")
    if not any(_DIGIT.search(c) for c in table.rows[-1][1:]):
        return CheckResult(False, "the Total row holds no number")
    empty = [k for k in _full_rows(table) if k != len(table.rows)]  # the Total row may leave cells empty
    if empty:
        return CheckResult(False, f"data row(s) {empty[:5]} have empty cells")
    return CheckResult(True, f"the table ends with a Total row below {len(table.rows) - 1} rows")


@checker("table:cell_word_limit")
def check_table_cell_words(response: str, *, max_words: int) -> CheckResult:
    """Exactly one markdown table with at least 2 data rows, every cell filled and no cell (header included)
    longer than max_words words."""
    want = want_count("table:cell_word_limit", "max_words", max_words)
    table, failed = _filled_table(response, 2)
    if table is None:
        return failed
    for cell in [*table.header, *(c for row in table.rows for c in row)]:
        n = views.word_count(views.fold(cell))
        if n > want:
            return CheckResult(False, f"a cell has {n} words (at most {want}): {short(cell)}")
    return CheckResult(True, f"every cell has at most {want} word(s)")
