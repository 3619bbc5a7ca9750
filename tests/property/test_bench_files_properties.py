"""Files `bench` reads: any JSON (or a valid file with any one value replaced) is read or refused with a
UserInputError, never another exception."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bench.compare import load_side
from pipeline.bench.files import VERDICTS
from pipeline.bench.score import verdicts_bytes
from pipeline.bench.suite import SuiteItem, read_suite, suite_text
from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import Seed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)

_ESTIMATE = {"value": 0.5, "low": 0.25, "high": 0.75}
_ROW = {"name": "And_1", "items": 2, "checks": 4, "all_pass": _ESTIMATE, "drfr": _ESTIMATE}
REPORT: dict[str, Any] = {
    "meta": {"suite": "s", "suite_sha256": "ab" * 32, "model": "m"},
    "overall": {**_ROW, "name": "overall"},
    "categories": [_ROW],
}

_SEED = Seed(id="s1", text="Describe a lighthouse at dusk.")
_INSTRUCTION = compose_instruction(
    _SEED, "And_1", load_taxonomy(), random_seed=1, options=ComposeOptions(checkers="code")
)
_ITEM = SuiteItem(id="s/And_1/000", suite="s", category="And_1", instruction=_INSTRUCTION)
SUITE_LINE: dict[str, Any] = json.loads(suite_text([_ITEM]))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path inside a JSON value (the root too)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replaced(base: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(base)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return out


REPORT_PATHS = list(_paths(REPORT))
SUITE_PATHS = list(_paths(SUITE_LINE))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REPORT_PATHS), json_values)
def test_a_report_with_any_value_replaced_is_read_or_refused(path: tuple[Any, ...], new: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / VERDICTS).write_bytes(verdicts_bytes([]))
        (folder / "report.json").write_text(json.dumps(_replaced(REPORT, path, new)))
        try:
            side = load_side(folder)
        except UserInputError as exc:
            assert "report.json" in str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(side.label, str) and isinstance(side.suite_sha256, str)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SUITE_PATHS), json_values)
def test_a_suite_line_with_any_value_replaced_is_read_or_refused(path: tuple[Any, ...], new: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite.jsonl"
        suite.write_text(json.dumps(_replaced(SUITE_LINE, path, new)) + "\n")
        try:
            items = read_suite(suite)
        except UserInputError as exc:
            assert str(exc).startswith(f"{suite}:1: ") and "\n" not in str(exc)
        else:
            assert len(items) == 1 and items[0].instruction.plan.checks


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_json_line_as_a_suite_is_refused(value: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite.jsonl"
        suite.write_text(json.dumps(value) + "\n")
        try:
            read_suite(suite)
        except UserInputError as exc:
            assert str(suite) in str(exc)
        else:
            raise AssertionError("a random JSON value was read as a suite item")
