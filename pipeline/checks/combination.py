"""Checkers: combination family (IFEval `combination:*`, exact strict semantics)."""

from __future__ import annotations

from pipeline.checks.ifeval_args import want_str
from pipeline.checks.registry import CheckResult, checker

SEPARATOR = "******"


@checker("combination:two_responses")
def check_two_responses(response: str) -> CheckResult:
    """Two different non-empty answers separated by ******; empty pieces are allowed only at the ends."""
    pieces = response.split(SEPARATOR)
    last = len(pieces) - 1
    answers = []
    for i, piece in enumerate(pieces):
        if piece.strip():
            answers.append(piece)
        elif i not in (0, last):
            return CheckResult(False, f"empty answer between {SEPARATOR} separators")
    if len(answers) != 2:
        return CheckResult(False, f"found {len(answers)} answer(s) separated by {SEPARATOR}, need exactly 2")
    if answers[0].strip() == answers[1].strip():
        return CheckResult(False, "the two answers are identical")
    return CheckResult(True, f"two different answers separated by {SEPARATOR}")


@checker("combination:repeat_prompt")
def check_repeat_prompt(response: str, *, prompt_to_repeat: str) -> CheckResult:
    """The response starts with the request, compared case-insensitively after stripping both."""
    prompt = want_str("combination:repeat_prompt", "prompt_to_repeat", prompt_to_repeat)
    head = prompt.strip().lower()
    if response.strip().lower().startswith(head):
        return CheckResult(True, "starts by repeating the request")
    got = response.strip()[: min(len(head), 60)]
    return CheckResult(False, f"does not start with the request; starts with {got!r}")
