"""Checkers: structure of composed responses (which Selection case was followed).

Hardening against gamed answers (see `views`): the case line is read in the visible answer outside
fenced code blocks, and the followed case needs content under its line (a fenced block counts: a case may be
answered with JSON, CSV or code alone).
"""

from __future__ import annotations

from pipeline.checks import views
from pipeline.checks.registry import CheckResult, checker
from pipeline.errors import CheckerArgumentError
from pipeline.spans import markers, strip_markers


@checker("structure:selected_case")
def check_selected_case(response: str, *, expected: str, labels: list[str]) -> CheckResult:
    """The span names exactly one of this Selection's cases (`### Case X`), the correct one, and text follows it."""
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise CheckerArgumentError(
            f"structure:selected_case: 'labels' must be a non-empty list of strings, got {labels!r}"
        )
    if not isinstance(expected, str) or expected not in labels:
        raise CheckerArgumentError(f"structure:selected_case: expected {expected!r} is not one of the labels {labels}")
    wanted = {x.upper() for x in labels}
    visible = views.visible(response)
    text = views.unfenced(visible)  # line for line the visible text, fenced lines blank
    found = [(label, end) for kind, label, _, end in markers(text) if kind == "case" and label in wanted]
    named = sorted({label for label, _ in found})
    if not named:
        return CheckResult(False, f"no case line found (expected '### Case {expected}')")
    if len(named) > 1:
        return CheckResult(False, f"several cases followed: {', '.join(named)}; only case {expected} applies")
    if named[0] != expected.upper():
        return CheckResult(False, f"followed case {named[0]}, but the condition selects case {expected}")
    end = found[0][1]
    line = text.count("\n", 0, end)
    below = [text[end:].split("\n", 1)[0], *visible.split("\n")[line + 1 :]]
    if not views.WORD.search(strip_markers("\n".join(below))):
        return CheckResult(False, f"case {expected} is named but nothing follows its line")
    return CheckResult(True, f"followed case {expected}")
