"""Argument validation for the IFEval-exact checkers: malformed kwargs raise, they never become a verdict.

Where IFEval's reference silently replaces a missing or negative argument by a random one, we raise
`CheckerArgumentError` instead: a verdict against a value nobody asked for is worse than an error.
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import CheckerArgumentError

RELATIONS = ("less than", "at least")


def fail(checker_id: str, message: str) -> CheckerArgumentError:
    """Build the error for `checker_id` (callers `raise fail(...)` so the raise stays visible)."""
    return CheckerArgumentError(f"{checker_id}: {message}")


def want_int(checker_id: str, name: str, value: Any, *, minimum: int = 0) -> int:
    """An integer >= minimum (bools are rejected: they are ints to Python but never a count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(checker_id, f"{name!r} must be an integer, got {value!r}")
    if value < minimum:
        raise fail(checker_id, f"{name!r} must be >= {minimum}, got {value}")
    return value


def want_relation(checker_id: str, name: str, value: Any) -> str:
    """One of IFEval's two comparison relations."""
    if value not in RELATIONS:
        raise fail(checker_id, f"{name!r} must be one of {list(RELATIONS)}, got {value!r}")
    return value


def want_str(checker_id: str, name: str, value: Any, *, allow_blank: bool = False) -> str:
    """A string; unless `allow_blank`, one with some non-whitespace content."""
    if not isinstance(value, str):
        raise fail(checker_id, f"{name!r} must be a string, got {value!r}")
    if not allow_blank and not value.strip():
        raise fail(checker_id, f"{name!r} must be a non-empty string")
    return value


def want_str_list(checker_id: str, name: str, value: Any) -> list[str]:
    """A non-empty list (or tuple) of non-blank strings."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise fail(checker_id, f"{name!r} must be a list of strings, got {value!r}")
    if not value:
        raise fail(checker_id, f"{name!r} must not be empty")
    for item in value:
        want_str(checker_id, f"{name}[]", item)
    return list(value)


def relation_holds(relation: str, count: int, threshold: int) -> bool:
    """IFEval's comparison: 'less than' is count < threshold, 'at least' is count >= threshold."""
    return count < threshold if relation == "less than" else count >= threshold


def need(relation: str, threshold: int) -> str:
    """Evidence tail such as 'need at least 300'."""
    return f"need {relation} {threshold}"
