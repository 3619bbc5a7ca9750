"""Checkers for the fixture taxonomy's test-only ids (t:*), registered on import."""

from __future__ import annotations

import re

from pipeline.checks.registry import CHECKERS, CheckResult, checker


def _register() -> None:
    if "t:lower" in CHECKERS:
        return

    @checker("t:lower")
    def lower(response: str) -> CheckResult:
        return CheckResult(
            response == response.lower(), "lowercase" if response == response.lower() else "has capitals"
        )

    @checker("t:upper")
    def upper(response: str) -> CheckResult:
        return CheckResult(response == response.upper(), "")

    @checker("t:words")
    def words(response: str, *, relation: str, num_words: int) -> CheckResult:
        n = len(re.findall(r"\w+", response))
        ok = n < num_words if relation == "less than" else n >= num_words
        return CheckResult(ok, f"found {n} words")

    @checker("t:kw")
    def kw(response: str, *, keywords: list[str]) -> CheckResult:
        return CheckResult(all(k.lower() in response.lower() for k in keywords), "")

    @checker("t:forbid")
    def forbid(response: str, *, forbidden_words: list[str]) -> CheckResult:
        return CheckResult(not any(re.search(rf"\b{re.escape(w)}\b", response, re.I) for w in forbidden_words), "")

    @checker("t:json")
    def json_(response: str) -> CheckResult:
        import json

        try:
            json.loads(response)
        except ValueError:
            return CheckResult(False, "not JSON")
        return CheckResult(True, "")

    @checker("t:repeat")
    def repeat(response: str, *, prompt_to_repeat: str) -> CheckResult:
        return CheckResult(response.lower().startswith(prompt_to_repeat.lower()), "")

    @checker("t:end")
    def end(response: str, *, end_phrase: str) -> CheckResult:
        return CheckResult(response.rstrip().endswith(end_phrase), "")

    @checker("t:para")
    def para(response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str) -> CheckResult:
        ps = [p for p in response.split("\n\n") if p.strip()]
        ok = len(ps) == num_paragraphs and ps[nth_paragraph - 1].split()[0].lower() == first_word
        return CheckResult(ok, f"{len(ps)} paragraphs")


_register()
