from __future__ import annotations

import pytest

from pipeline import spans
from pipeline.checks.registry import run_check

RESPONSE = """### Part 1
first part text

### Part 2
### Case B
second part, case b
### Part 2.1
nested one
### Part 2.2
nested two

### Part 3
the end"""


def test_part_scope_numbering() -> None:
    assert spans.part_scope("response", 2) == "part:2"
    assert spans.part_scope("part:2", 1) == "part:2.1"
    assert spans.part_scope("part:2.1", 3) == "part:2.1.3"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("part:1", "first part text"),
        ("part:2.1", "nested one"),
        ("part:2.2", "nested two"),
        ("part:3", "the end"),
        ("part:2", "second part, case b\n\nnested one\n\nnested two"),  # a marker acts as a paragraph break
    ],
)
def test_extract_span_strips_markers(scope: str, expected: str) -> None:
    assert spans.extract_span(RESPONSE, scope) == expected


def test_raw_scope_keeps_markers_and_missing_part_is_none() -> None:
    raw = spans.extract_span(RESPONSE, "raw:part:2")
    assert raw is not None and raw.startswith("### Case B")
    assert spans.extract_span(RESPONSE, "part:4") is None
    whole = spans.extract_span(RESPONSE, "response")
    assert whole is not None and "###" not in whole and "the end" in whole


@pytest.mark.parametrize("line", ["### Part 1", "## part 1:", "**Part 1**", "Part 1", "#Part 1"])
def test_marker_variants_are_recognised(line: str) -> None:
    assert spans.extract_span(f"{line}\nhello", "part:1") == "hello"


def test_unknown_scope_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        spans.extract_span("x", "section:1")


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("### Case B\nanswer", True),
        ("### Case A\nanswer", False),
        ("answer without a case line", False),
        ("### Case A\nx\n### Case B\ny", False),
        ("### Case Z\n### Case B\nanswer", True),  # labels of other selections are ignored
    ],
)
def test_selected_case(text: str, passed: bool) -> None:
    assert run_check("structure:selected_case", text, {"expected": "B", "labels": ["A", "B"]}).passed is passed


def test_selected_case_rejects_bad_kwargs() -> None:
    from pipeline.errors import CheckerArgumentError

    with pytest.raises(CheckerArgumentError):
        run_check("structure:selected_case", "x", {"expected": "C", "labels": ["A", "B"]})
    with pytest.raises(CheckerArgumentError):
        run_check("structure:selected_case", "x", {"expected": "A"})
