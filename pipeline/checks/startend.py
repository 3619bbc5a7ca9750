"""Checkers: start/end family (IFEval `startend:*`, exact strict semantics)."""

from __future__ import annotations

from pipeline.checks.ifeval_args import want_str
from pipeline.checks.registry import CheckResult, checker


@checker("startend:end_checker")
def check_end_checker(response: str, *, end_phrase: str) -> CheckResult:
    """After stripping whitespace and double quotes, the response ends with the phrase (case-insensitive)."""
    phrase = want_str("startend:end_checker", "end_phrase", end_phrase).strip().lower()
    text = response.strip().strip('"').lower()
    if text.endswith(phrase):
        return CheckResult(True, f"ends with {end_phrase.strip()!r}")
    return CheckResult(False, f"does not end with {end_phrase.strip()!r}; ends with {text[-40:]!r}")


@checker("startend:quotation")
def check_quotation(response: str) -> CheckResult:
    """The stripped response is longer than one character and starts and ends with a double quote."""
    text = response.strip()
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        return CheckResult(True, "wrapped in double quotation marks")
    return CheckResult(False, "not wrapped in double quotation marks")
