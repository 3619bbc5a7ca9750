"""Arguments used as regular expressions run in bounded time: a catastrophic pattern fails its check at once.

IFEval uses keywords, forbidden words, section splitters and postscript markers as regexes; an `rl` row
or an IFEval input with `(a+)+c` must not stall a trainer or the evaluator. Plain arguments keep the
reference's `re` semantics exactly (see tests/unit/test_checks_ifeval.py for the verdicts).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.checks.guards import GUARDS
from pipeline.checks.patterns import arg_pattern, is_plain
from pipeline.checks.registry import load_checkers, run_check, run_check_closed
from pipeline.errors import CheckerArgumentError
from pipeline.verify.ifeval import check_instruction, evaluate_files
from pipeline.verify.reward import GROUND_TRUTH_FORMAT, compute_score
from pipeline.verify.tripwires import load_suite

VALID: dict[str, dict[str, Any]] = {}
for _case in load_suite():
    if _case.kind == "positive":
        VALID.setdefault(_case.checker, _case.kwargs)
STRING_ARGS = sorted(
    (cid, name)
    for cid, kwargs in VALID.items()
    if cid in load_checkers()
    for name, value in kwargs.items()
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
)
EVIL = ["(a+)+c", "(a|aa)+c", "(a|a)" * 24 + "c", "(?:a*)*c", "(a+)+$"]
TEXT = "a" * 5000
LIMIT_S = 1.0  # of this thread's CPU time: wall time on a shared 2-core machine adds the wait for a core


class Timer:
    """CPU time this thread spends inside the block (time.thread_time)."""

    def __enter__(self) -> Timer:
        self.start = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.thread_time() - self.start


IFEVAL_IDS = set(GUARDS)  # the 25 IFEval ids


def _with(cid: str, name: str, pattern: str) -> dict[str, Any]:
    kwargs = dict(VALID[cid])
    kwargs[name] = [pattern] if isinstance(kwargs[name], list) else pattern
    return kwargs


def _ground_truth(cid: str, kwargs: dict[str, Any]) -> str:
    check = {"id": "c1", "kind": "code", "checker": cid, "kwargs": kwargs}
    return json.dumps({"format": GROUND_TRUTH_FORMAT, "instruction": "Write.", "plan": {"checks": [check]}})


def test_string_arguments_are_covered() -> None:
    ids = {cid for cid, _ in STRING_ARGS}
    assert {
        "keywords:forbidden_words",
        "keywords:existence",
        "keywords:frequency",
        "detectable_format:multiple_sections",
    } <= ids
    assert {"detectable_content:postscript", "guard:multiple_sections", "startend:end_checker"} <= ids


@pytest.mark.parametrize(("cid", "name"), STRING_ARGS)
@pytest.mark.parametrize("pattern", EVIL[:3])
def test_a_catastrophic_argument_finishes_within_a_second_in_the_reward(cid: str, name: str, pattern: str) -> None:
    gt = _ground_truth(cid, _with(cid, name, pattern))
    compute_score("complexify", TEXT, _ground_truth(cid, VALID[cid]))  # NLTK's import on first use is not timed
    with Timer() as t:
        compute_score("complexify", TEXT, gt)
    assert t.seconds < LIMIT_S, (cid, name, pattern)


@pytest.mark.parametrize(("cid", "name"), [(c, n) for c, n in STRING_ARGS if c in IFEVAL_IDS])
@pytest.mark.parametrize("pattern", EVIL)
def test_a_catastrophic_argument_finishes_within_a_second_in_the_ifeval_evaluator(
    cid: str, name: str, pattern: str
) -> None:
    kwargs = _with(cid, name, pattern)
    for loose in (False, True):
        with Timer() as t:
            try:
                check_instruction(cid, kwargs, TEXT + "\n" + TEXT + "\n" + TEXT, loose)
            except CheckerArgumentError:
                pass  # a value this argument never takes (a relation, a language): refused at once
        assert t.seconds < LIMIT_S, (cid, name, pattern, loose)


@pytest.mark.parametrize(
    ("cid", "kwargs"),
    [
        ("keywords:forbidden_words", {"forbidden_words": ["(a+)+c"]}),
        ("keywords:existence", {"keywords": ["river", "(a|aa)+c"]}),
        ("keywords:frequency", {"keyword": "(a+)+c", "frequency": 1, "relation": "less than"}),
        ("detectable_format:multiple_sections", {"section_spliter": "(a+)+c", "num_sections": 1}),
        ("detectable_content:postscript", {"postscript_marker": "(a+)+c"}),
        ("guard:forbidden_words", {"forbidden_words": ["(a+)+c"]}),
        ("guard:multiple_sections", {"section_spliter": "(a+)+c", "num_sections": 1}),
    ],
)
def test_a_pattern_too_slow_fails_closed_with_evidence(cid: str, kwargs: dict[str, Any]) -> None:
    result = run_check(cid, TEXT, kwargs)
    assert result.passed is False and result.evidence.startswith("pattern too slow"), result


def test_an_invalid_pattern_is_malformed_kwargs() -> None:
    with pytest.raises(CheckerArgumentError, match="invalid pattern"):
        run_check("keywords:forbidden_words", "text", {"forbidden_words": ["(unclosed"]})
    assert "invalid pattern" in run_check_closed("keywords:existence", "text", {"keywords": ["a)"]}).evidence


def test_the_ifeval_evaluator_finishes_on_an_input_file_with_catastrophic_kwargs(tmp_path: Any) -> None:
    rows = [
        {"key": 1, "prompt": "p1", "instruction_id_list": ["keywords:forbidden_words"],
         "kwargs": [{"forbidden_words": ["(a+)+c"]}]},
        {"key": 2, "prompt": "p2", "instruction_id_list": ["keywords:existence"],
         "kwargs": [{"keywords": ["", "(a+)+c"]}]},
        {"key": 3, "prompt": "p3", "instruction_id_list": ["detectable_format:multiple_sections"],
         "kwargs": [{"section_spliter": "(a|aa)+c", "num_sections": 1}]},
    ]  # fmt: skip
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "resp.jsonl").write_text(
        "".join(json.dumps({"prompt": r["prompt"], "response": TEXT}) + "\n" for r in rows)
    )
    with Timer() as t:
        scores = evaluate_files(
            tmp_path / "in.jsonl", tmp_path / "resp.jsonl", tmp_path / "out", echo=lambda _: None, warn=lambda _: None
        )
    assert t.seconds < 3 * LIMIT_S
    assert scores["strict"].instruction_correct == 0  # fail closed: none of the three is decided as followed


# --- plain arguments keep the reference's semantics -------------------------------------------------------


@pytest.mark.parametrize(
    ("piece", "plain"),
    [
        ("river", True), ("c.t", True), ("P.S.", True), ("Section", True), ("don't", True), (r"\bx\b", True),
        ("[ab]c", True), ("(?=a)a", True), ("(a)\\1", True), ("free coffee", True),
        ("a|b", True), ("a+", False), ("a?", False), ("a{2}", False), ("ab|c", False), ("(ab|b)", False), ("(", False),
        ("(?(1)a|b)", False), ("x" * 200, False),
    ],
)  # fmt: skip
def test_plain_arguments(piece: str, plain: bool) -> None:
    assert is_plain(piece) is plain


KWARG_ALPHABET = st.text(alphabet="ab .|()*+?[]\\^$-{}2", max_size=12)
SHORT_TEXT = st.text(alphabet="ab .\n-2S", max_size=30)
BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reference(cid: str, pattern: str, text: str) -> Any:
    """IFEval's own computation for one argument (plain `re`, as in its instructions.py)."""
    if cid == "keywords:existence":
        return re.search(pattern, text, flags=re.IGNORECASE) is not None
    if cid == "keywords:forbidden_words":
        return re.search(r"\b" + pattern + r"\b", text, flags=re.IGNORECASE) is not None
    if cid == "keywords:frequency":
        return len(re.findall(pattern, text, flags=re.IGNORECASE))
    if cid == "detectable_content:postscript":
        return bool(re.findall(r"\s*" + pattern + r".*$", text, flags=re.MULTILINE))
    return len(re.split(r"\s?" + pattern + r"\s?\d+\s?", text)) - 1


def _ours(cid: str, pattern: str, text: str) -> Any:
    if cid == "keywords:existence":
        return arg_pattern(cid, "k", pattern, flags=re.IGNORECASE).search(text)
    if cid == "keywords:forbidden_words":
        return arg_pattern(cid, "k", pattern, r"\b" + pattern + r"\b", re.IGNORECASE).search(text)
    if cid == "keywords:frequency":
        return arg_pattern(cid, "k", pattern, flags=re.IGNORECASE).count(text)
    if cid == "detectable_content:postscript":
        from pipeline.checks.detectable import _custom_postscript

        return _custom_postscript(cid, pattern, text)
    from pipeline.checks.detectable import section_pattern

    return len(section_pattern(cid, pattern).split(text)) - 1


CIDS = st.sampled_from(
    [
        "keywords:existence",
        "keywords:forbidden_words",
        "keywords:frequency",
        "detectable_content:postscript",
        "detectable_format:multiple_sections",
    ]
)


@BOUNDED
@pytest.mark.filterwarnings("ignore::FutureWarning")  # drawn patterns like "[--" are valid but odd
@given(cid=CIDS, pattern=KWARG_ALPHABET, text=SHORT_TEXT)
def test_any_argument_gives_the_reference_verdict_on_short_text(cid: str, pattern: str, text: str) -> None:
    """Short texts cannot make the reference backtrack for long: our answer is the reference's, or both refuse."""
    try:
        expected = _reference(cid, pattern, text)
    except re.error:
        with pytest.raises(CheckerArgumentError):
            _ours(cid, pattern, text)
        return
    assert _ours(cid, pattern, text) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.filterwarnings("ignore::FutureWarning")
@given(cid=CIDS, pattern=KWARG_ALPHABET, unit=st.sampled_from(["a", "ab", " ", "a ", "2", "a2 "]))
def test_any_argument_finishes_within_a_second_on_long_text(cid: str, pattern: str, unit: str) -> None:
    kwargs: dict[str, Any] = {
        "keywords:existence": {"keywords": [pattern]},
        "keywords:forbidden_words": {"forbidden_words": [pattern]},
        "keywords:frequency": {"keyword": pattern, "frequency": 2, "relation": "at least"},
        "detectable_content:postscript": {"postscript_marker": pattern},
        "detectable_format:multiple_sections": {"section_spliter": pattern, "num_sections": 2},
    }[cid]
    with Timer() as t:
        run_check_closed(cid, unit * (5000 // len(unit)), kwargs)
    assert t.seconds < LIMIT_S


def test_the_ifeval_command_finishes_on_catastrophic_kwargs(tmp_path: Any) -> None:
    rows = [
        {
            "key": 1,
            "prompt": "p1",
            "instruction_id_list": ["keywords:forbidden_words"],
            "kwargs": [{"forbidden_words": ["(a+)+c"]}],
        }
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "resp.jsonl").write_text(json.dumps({"prompt": "p1", "response": TEXT}) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "ifeval", "--input-data", str(tmp_path / "in.jsonl"),
         "--input-response-data", str(tmp_path / "resp.jsonl"), "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    strict = json.loads((tmp_path / "out" / "eval_results_strict.jsonl").read_text())
    assert strict["follow_instruction_list"] == [False]


def test_each_check_gets_a_budget_of_its_own() -> None:
    """A check that ran out of time leaves nothing behind: the next bounded pattern is decided as usual."""
    assert run_check("keywords:forbidden_words", TEXT, {"forbidden_words": ["(a+)+c"]}).evidence.startswith(
        "pattern too slow"
    )
    assert run_check("keywords:existence", "The river.", {"keywords": ["ri?ver"]}).passed
    assert check_instruction("keywords:existence", {"keywords": ["(a|aa)+c"]}, TEXT, loose=True).passed is False
    assert check_instruction("keywords:existence", {"keywords": ["ri?ver"]}, "The river.", loose=True).passed
    gt = _ground_truth("keywords:existence", {"keywords": ["(a+)+c"]})
    assert compute_score("complexify", TEXT, gt) == -2.0
    assert (
        compute_score("complexify", "The river.", _ground_truth("keywords:existence", {"keywords": ["ri?ver"]})) == 2.0
    )
