"""Checks fail closed: an error, unknown id, malformed kwargs or missing span is a failed check naming the
error, never a pass and never an exception that stops a batch; every checker answers in bounded time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.checks.registry import CheckResult, checker, load_checkers, run_check, run_check_closed
from pipeline.models import Check, VerificationPlan
from pipeline.verify.plan import run_code_check, verify_response
from pipeline.verify.tripwires import load_suite

# Valid kwargs per checker, taken from the adversarial suite's positives (every checker has one).
VALID: dict[str, dict[str, Any]] = {}
for _case in load_suite():
    if _case.kind == "positive":
        VALID.setdefault(_case.checker, _case.kwargs)
IDS = sorted(cid for cid, chk in load_checkers().items() if chk.fn.__module__.startswith("pipeline.checks."))
WITH_PARAMS = [cid for cid in IDS if VALID[cid]]
# Invalid for every parameter of every checker: not a non-blank string, not a list of such, not an int >= 1.
GARBAGE = st.sampled_from([None, {}, 1.5, -5, True, [1, 2], b"x", ("a", 3), object(), float("nan"), [None]])
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MB = 1_000_000
# Units repeated to a megabyte: prose, markdown structure, whitespace, and the brackets, quotes and
# markers that regexes backtrack on.
UNITS = ["Word, word. ", "|-|\n* \n- a\n1. a\n# h\n### Part 1\n", "\n \t\u200b", '[<<{"*_`P.S. ', "好。咖啡 "]


def _is_failure(result: Any) -> bool:
    return isinstance(result, CheckResult) and result.passed is False and bool(result.evidence)


def test_every_checker_has_valid_kwargs_here() -> None:
    assert set(IDS) <= set(VALID), sorted(set(IDS) - set(VALID))


# --- malformed requests: failed checks with the error as evidence -----------------------------------------


@pytest.mark.parametrize(
    ("checker_id", "kwargs", "needle"),
    [
        ("no:such_checker", {}, "no checker registered"),
        (None, {}, "must be a string"),
        (42, {}, "must be a string"),
        ("punctuation:no_comma", {"extra": 1}, "unknown argument"),
        ("keywords:frequency", {"keyword": "a", "frequency": 1}, "missing argument"),
        ("keywords:frequency", ["keyword", "frequency"], "must be a mapping"),
        ("count:numbers", {"N": "3"}, "must be an integer"),
        ("structure:selected_case", {"expected": "C", "labels": ["A", "B"]}, "not one of the labels"),
    ],
)
def test_a_malformed_request_is_a_failed_check(checker_id: Any, kwargs: Any, needle: str) -> None:
    result = run_check_closed(checker_id, "Some text. Section 1 here.", kwargs)
    assert _is_failure(result) and needle in result.evidence, result
    assert result.evidence.startswith("check error:")


@pytest.mark.parametrize("cid", IDS)
def test_a_response_that_is_not_text_is_a_failed_check(cid: str) -> None:
    for response in (None, b"bytes", 3, ["a list"]):
        result = run_check_closed(cid, response, VALID[cid])
        assert _is_failure(result), (cid, response, result)
        assert "must be text" in result.evidence


@pytest.mark.parametrize("cid", WITH_PARAMS)
@FUZZ
@given(data=st.data(), bad=GARBAGE)
def test_a_wrong_kwarg_type_is_a_failed_check(cid: str, data: st.DataObject, bad: Any) -> None:
    kwargs = dict(VALID[cid])
    name = data.draw(st.sampled_from(sorted(kwargs)))
    kwargs[name] = bad
    result = run_check_closed(cid, "Some text. Is it? 1. a\n* b\n### Case B\nMore text.", kwargs)
    assert _is_failure(result), (cid, name, bad, result)
    assert result.evidence.startswith("check error:")


def test_a_checker_that_raises_fails_and_one_that_returns_junk_fails() -> None:
    registry = load_checkers()

    @checker("t:fail_closed_raises")
    def raises(response: str) -> CheckResult:
        raise IndexError("boom")

    @checker("t:fail_closed_junk")
    def junk(response: str) -> CheckResult:
        return True  # type: ignore[return-value]

    try:
        result = run_check("t:fail_closed_raises", "x")
        assert _is_failure(result) and "IndexError: boom" in result.evidence
        assert _is_failure(run_check_closed("t:fail_closed_raises", "x"))
        result = run_check("t:fail_closed_junk", "x")
        assert _is_failure(result) and "not a CheckResult" in result.evidence
    finally:
        registry.pop("t:fail_closed_raises", None)
        registry.pop("t:fail_closed_junk", None)


def test_evidence_of_an_error_stays_short() -> None:
    result = run_check_closed("no:" + "x" * 5000, "text")
    assert _is_failure(result) and len(result.evidence) <= 320


# --- plans: a bad check fails alone, the batch goes on -----------------------------------------------------


def test_a_plan_with_broken_checks_scores_them_failed_and_runs_the_rest() -> None:
    good = Check(id="c6", kind="code", checker="punctuation:no_comma")
    plan = VerificationPlan(
        checks=[
            Check(id="c1", kind="code", checker="no:such_checker"),
            Check(id="c2", kind="code", checker=None),
            Check(id="c3", kind="code", checker="count:numbers", kwargs={"N": "three"}),
            Check(id="c4", kind="code", checker="punctuation:no_comma", scope="part:3"),
            Check(id="c5", kind="code", checker="punctuation:no_comma", scope="section:1"),
            good,
        ]
    )
    verdict = verify_response("A calm answer without any commas.", plan)
    by_id = {v.check_id: v for v in verdict.checks}
    for cid in ("c1", "c2", "c3", "c4", "c5"):
        assert not by_id[cid].passed and by_id[cid].evidence, cid
    assert "not found" in by_id["c4"].evidence and "unknown scope" in by_id["c5"].evidence
    assert by_id["c6"].passed and verdict.n_passed == 1 and not verdict.all_pass


def test_a_missing_or_empty_span_is_a_failed_check() -> None:
    check = Check(
        id="c1", kind="code", checker="keywords:forbidden_words", kwargs={"forbidden_words": ["x"]}, scope="part:2"
    )
    assert _is_failure(run_code_check(check, "### Part 1\nhello"))
    assert _is_failure(run_code_check(check, "### Part 1\nhello\n### Part 2\n   \n"))


# --- any input: a verdict, never an exception, in bounded time -------------------------------------------


@pytest.mark.parametrize("cid", IDS)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_get_a_verdict(cid: str, data: bytes) -> None:
    fn = load_checkers()[cid].fn
    assert _is_failure(run_check_closed(cid, data, VALID[cid]))  # bytes are not a response
    for text in (data.decode("utf-8", "surrogateescape"), data.decode("latin-1")):
        result = fn(text, **VALID[cid])  # the checker itself must not raise on any text
        assert isinstance(result, CheckResult) and isinstance(result.passed, bool) and result.evidence


@pytest.mark.parametrize("cid", IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400))
def test_random_text_gets_a_verdict(cid: str, text: str) -> None:
    result = load_checkers()[cid].fn(text, **VALID[cid])
    assert isinstance(result, CheckResult) and isinstance(result.passed, bool) and result.evidence
    assert len(result.evidence) < 400


def _bound(size: int) -> float:
    """Seconds a checker may take on `size` characters: linear in the size, with slack for a shared machine."""
    return 2.0 + 10.0 * size / MB


@pytest.mark.parametrize("cid", IDS)
def test_megabyte_inputs_answer_in_linear_time(cid: str) -> None:
    fn = load_checkers()[cid].fn
    for unit in UNITS:
        text = (unit * (MB // len(unit) + 1))[:MB]
        start = time.perf_counter()
        result = fn(text, **VALID[cid])
        elapsed = time.perf_counter() - start
        assert isinstance(result, CheckResult) and len(result.evidence) < 400
        assert elapsed < _bound(len(text)), f"{cid} took {elapsed:.1f}s on a megabyte of {unit!r}"
