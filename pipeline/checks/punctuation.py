"""Checkers: punctuation family (IFEval `punctuation:no_comma`, exact strict semantics)."""

from __future__ import annotations

from pipeline.checks.registry import CheckResult, checker


@checker("punctuation:no_comma")
def check_no_comma(response: str) -> CheckResult:
    """No ASCII comma; like IFEval, other commas such as the full-width one are not counted."""
    count = response.count(",")
    if count:
        return CheckResult(False, f"found {count} comma(s)")
    return CheckResult(True, "no commas")
