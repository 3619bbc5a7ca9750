"""Fuzzing the structured-output checkers (pipeline/checks/tables.py, blocks.py, shapes.py): any text gets a verdict
without an exception, pathological texts are checked quickly, and answers built to a shape pass exactly the
constraint of that shape."""

from __future__ import annotations

import csv
import io
import json
import string
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.checks.registry import CHECKERS, CheckResult, load_checkers, run_check
from tests.unit.test_checks_shapes import CASES

IDS = sorted(CASES)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
markdownish = st.lists(
    st.sampled_from(
        ["\n", "\n\n", " ", "  ", "* ", "- ", "1. ", "2) ", "# ", "## ", "|", "|---|", "```", "```json\n", "~~~",
         "{", "}", "[", "]", '"', ":", ",", "?", "*", "**", "_", ">", "[ ] ", "[x] ", "Total", "1999", "plan",
         "word", "<!--", "-->", "<think>", "</think>", "\u200b", "\uff1f"]
    ),
    max_size=80,
).map("".join)  # fmt: skip
words = st.text(string.ascii_lowercase, min_size=2, max_size=8)


def _shape(result: CheckResult) -> None:
    assert isinstance(result, CheckResult) and isinstance(result.passed, bool)
    assert isinstance(result.evidence, str) and 0 < len(result.evidence) < 400


@pytest.mark.parametrize("cid", IDS)
@FUZZ
@given(text=st.one_of(st.text(max_size=300), markdownish))
def test_any_text_gets_a_verdict_without_an_exception(cid: str, text: str) -> None:
    load_checkers()
    _shape(CHECKERS[cid].fn(text, **CASES[cid][0]))  # the checker itself, not the fail-closed wrapper


@pytest.mark.parametrize("cid", IDS)
def test_pathological_texts_are_quick(cid: str) -> None:
    nested = "\n".join("  " * i + "- x" for i in range(2000))
    for text in [
        "",
        "*a " * 40_000,
        "_a_" * 40_000,
        "| a " * 30_000 + "\n|---|\n" + "| b |\n" * 20_000,
        "```json\n" + "[" * 50_000 + "\n```",
        "```json\n" + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "\n```",
        nested,
        "# h\n" * 20_000,
        "> q\n" * 20_000,
        "**" * 50_000,
    ]:
        start = time.perf_counter()
        _shape(run_check(cid, text, CASES[cid][0]))
        assert time.perf_counter() - start < 5, f"{cid} is too slow on a {len(text)}-char response"


@FUZZ
@given(rows=st.lists(st.tuples(words, words), min_size=1, max_size=8, unique=True), extra=st.integers(1, 3))
def test_a_table_of_n_rows_passes_n_and_no_other_count(rows: list[tuple[str, str]], extra: int) -> None:
    table = "| Key | Value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    assert run_check("table:row_count", table, {"num_rows": len(rows)}).passed
    assert not run_check("table:row_count", table, {"num_rows": len(rows) + extra}).passed
    assert run_check("table:given_columns", table, {"columns": ["key", "VALUE"]}).passed
    padded = table + f"\n| {rows[0][0]} | {rows[0][1]} |"
    assert not run_check("table:row_count", padded, {"num_rows": len(rows) + 1}).passed  # a repeated row


@FUZZ
@given(keys=st.lists(words, min_size=2, max_size=6, unique=True))
def test_sorted_items_pass_and_reversed_items_fail(keys: list[str]) -> None:
    ordered = sorted(keys)
    assert run_check("list:alphabetical_items", "\n".join(f"- {k}" for k in ordered), {"min_items": len(keys)}).passed
    backwards = "\n".join(f"- {k}" for k in reversed(ordered))
    assert not run_check("list:alphabetical_items", backwards, {"min_items": 2}).passed
    table = "| Name | N |\n|---|---|\n" + "\n".join(f"| {k} | 1 |" for k in ordered)
    assume(len(keys) >= 3)
    assert run_check("table:sorted_rows", table, {"order": "A to Z"}).passed
    assert not run_check("table:sorted_rows", table, {"order": "Z to A"}).passed


HEADER = ["alpha", "beta", "gamma"]
csv_fields = st.text(string.ascii_letters + ' ,"', min_size=1, max_size=10).filter(lambda s: any(map(str.isalpha, s)))

csv_rows = st.lists(
    st.lists(csv_fields, min_size=3, max_size=3).filter(lambda r: [f.strip().casefold() for f in r] != HEADER),
    min_size=1,
    max_size=6,
    unique_by=lambda r: tuple(f.strip().casefold() for f in r),  # the checker's row identity
)


@FUZZ
@given(fields=csv_rows)
def test_csv_written_by_the_csv_module_passes(fields: list[list[str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(fields)
    block = f"Data:\n```csv\n{out.getvalue()}```"
    assert run_check("csv:fenced_block", block, {"num_columns": 3, "num_rows": len(fields)}).passed
    assert not run_check("csv:fenced_block", block, {"num_columns": 3, "num_rows": len(fields) + 1}).passed


json_scalars = st.one_of(st.integers(-999, 999), words, st.booleans())


@FUZZ
@given(
    objs=st.lists(st.fixed_dictionaries({"name": words, "score": json_scalars}), min_size=1, max_size=6).filter(
        lambda objs: len({json.dumps(o, sort_keys=True).casefold() for o in objs}) == len(objs)
    ),
    indent=st.sampled_from([None, 2]),
)
def test_json_built_by_json_dumps_passes(objs: list[dict[str, Any]], indent: int | None) -> None:
    block = f"```json\n{json.dumps(objs, indent=indent)}\n```"
    assert run_check("json:array_of_objects", block, {"num_items": len(objs)}).passed
    assert not run_check("json:array_of_objects", block, {"num_items": len(objs) + 1}).passed
    wrapped = f"```json\n{json.dumps({'result': objs[0]['score'], 'items': objs}, indent=indent)}\n```"
    kind = {bool: "boolean", int: "number", str: "string"}[type(objs[0]["score"])]
    assert run_check("json:typed_value", wrapped, {"key": "result", "value_type": kind}).passed


@FUZZ
@given(depth=st.integers(1, 6), marker=st.sampled_from(["-", "*", "+", "1."]), step=st.integers(2, 4))
def test_a_list_nested_d_levels_is_d_deep(depth: int, marker: str, step: int) -> None:
    text = "\n".join(" " * (step * i) + f"{marker} item{i}" for i in range(depth))
    assert run_check("list:nesting_depth", text, {"depth": depth}).passed
    assert not run_check("list:nesting_depth", text, {"depth": depth + 1}).passed
