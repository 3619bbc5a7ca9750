"""`complexify ifeval` runs on items whose kwargs the reference accepts but our taxonomy never generates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import CheckerArgumentError
from pipeline.verify.ifeval import evaluate_instruction
from pipeline.verify.ifeval_compat import resolve
from tests.helpers.bench_cli import complexify

# (instruction id, kwargs, response, expected strict verdict) for values outside our checkers' ranges.
ODD: list[tuple[str, dict[str, Any], str, bool]] = [
    (
        "keywords:letter_frequency",
        {"letter": "#", "let_frequency": 3, "let_relation": "at least"},
        "## one # two",
        True,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "#", "let_frequency": 3, "let_relation": "less than"},
        "## one # two",
        False,
    ),
    ("keywords:letter_frequency", {"letter": "É", "let_frequency": 2, "let_relation": "at least"}, "été", True),
    ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 2, "let_relation": "at least"}, "Abba ab", True),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": -2, "capital_relation": "less than"},
        "NO WAY",
        False,
    ),
    ("change_case:capital_word_frequency", {"capital_frequency": -2, "capital_relation": "at least"}, "no way", True),
    ("startend:end_checker", {"end_phrase": "   "}, "anything at all", True),
    ("detectable_content:postscript", {"postscript_marker": ""}, "no postscript here", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2.5}, "* a\n* b", False),
    ("length_constraints:number_words", {"num_words": 2.5, "relation": "at least"}, "one two", False),
    ("length_constraints:number_words", {"num_words": 2.5, "relation": "at least"}, "one two three", True),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 0, "nth_paragraph": 1, "first_word": "a"},
        "a b",
        False,
    ),
    ("keywords:existence", {"keywords": ["", "river"]}, "the river", True),
    ("detectable_format:multiple_sections", {"section_spliter": " ", "num_sections": 2}, "part 1 and part 2", True),
]
# Values the reference redraws at random: decided by a seeded draw, so only determinism can be asserted.
DRAWN: list[tuple[str, dict[str, Any]]] = [
    ("length_constraints:number_words", {"num_words": -5, "relation": None}),
    ("keywords:existence", {"keywords": []}),
    ("keywords:letter_frequency", {"letter": "", "let_frequency": None, "let_relation": "at least"}),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 9, "first_word": None}),
    ("detectable_format:multiple_sections", {"section_spliter": None, "num_sections": -1}),
    ("language:response_language", {}),
    ("keywords:frequency", {"keyword": "", "frequency": None, "relation": None}),
]


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rows, answers = [], []
    cases = [(iid, kw, text) for iid, kw, text, _ in ODD] + [(iid, kw, "Some answer text.") for iid, kw in DRAWN]
    for key, (iid, kw, text) in enumerate(cases, start=1):
        rows.append({"key": key, "prompt": f"prompt {key}", "instruction_id_list": [iid], "kwargs": [kw]})
        answers.append({"prompt": f"prompt {key}", "response": text})
    rows.append({"key": 999, "prompt": "plain", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]})
    answers.append({"prompt": "plain", "response": "no commas here"})
    inp, resp = tmp_path / "in.jsonl", tmp_path / "resp.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    resp.write_text("".join(json.dumps(r) + "\n" for r in answers))
    return inp, resp


def test_out_of_taxonomy_kwargs_warn_once_per_item_and_exit_0(tmp_path: Path) -> None:
    inp, resp = _files(tmp_path)
    result = complexify(
        "ifeval", "--input-data", str(inp), "--input-response-data", str(resp), "--output-dir", str(tmp_path / "a")
    )
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(ODD) + len(DRAWN)  # one per odd item, none for the plain one
    assert all(f"key {k}:" in w for k, w in enumerate(warnings, start=1))
    assert "letter='#' is not a-z" in warnings[0] and "counting that character" in warnings[0]
    strict = [json.loads(line) for line in (tmp_path / "a" / "eval_results_strict.jsonl").read_text().splitlines()]
    for (iid, _, _, expected), row in zip(ODD, strict, strict=False):
        assert row["follow_instruction_list"] == [expected], iid
    assert strict[-1]["follow_instruction_list"] == [True]
    again = complexify(
        "ifeval", "--input-data", str(inp), "--input-response-data", str(resp), "--output-dir", str(tmp_path / "b")
    )
    assert again.code == 0
    for name in ("eval_results_strict.jsonl", "eval_results_loose.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(("iid", "kwargs"), DRAWN)
def test_draws_are_seeded_by_item_and_fall_in_the_reference_ranges(iid: str, kwargs: dict[str, Any]) -> None:
    kw = {k: v for k, v in kwargs.items() if v is not None}
    first, second = resolve(iid, kw, key=7, index=0), resolve(iid, kw, key=7, index=0)
    assert (
        first.kwargs == second.kwargs and first.notes and all("(seeded)" in n or "decided" in n for n in first.notes)
    )
    if "num_words" in first.kwargs:
        assert 100 <= first.kwargs["num_words"] <= 500
    if "relation" in first.kwargs:
        assert first.kwargs["relation"] in ("less than", "at least")
    if "nth_paragraph" in first.kwargs:
        assert 1 <= first.kwargs["nth_paragraph"] <= 4


def test_valid_kwargs_pass_through_untouched() -> None:
    kw = {"letter": "z", "let_frequency": 2, "let_relation": "at least"}
    resolved = resolve("keywords:letter_frequency", kw, key=1, index=0)
    assert resolved.kwargs == kw and not resolved.notes and resolved.verdict is None


def test_the_checker_itself_keeps_rejecting_what_the_taxonomy_never_generates() -> None:
    # The file evaluator resolves such kwargs; the checker (and the lm-eval comparison that calls it) still
    # refuses them.
    with pytest.raises(CheckerArgumentError, match="single letter"):
        evaluate_instruction(
            "keywords:letter_frequency", {"letter": "#", "let_frequency": 1, "let_relation": "at least"}, "#"
        )


def test_what_the_reference_cannot_run_stays_an_error(tmp_path: Path) -> None:
    inp, resp = tmp_path / "in.jsonl", tmp_path / "resp.jsonl"
    inp.write_text(
        json.dumps(
            {
                "key": 1,
                "prompt": "p",
                "instruction_id_list": ["length_constraints:number_words"],
                "kwargs": [{"num_words": 3, "relation": "about"}],
            }
        )
        + "\n"
    )
    resp.write_text(json.dumps({"prompt": "p", "response": "x"}) + "\n")
    result = complexify(
        "ifeval", "--input-data", str(inp), "--input-response-data", str(resp), "--output-dir", str(tmp_path / "o")
    )
    assert result.code == 2 and "in.jsonl:1: key 1" in result.err


def test_generation_options_need_exactly_one_source(tmp_path: Path) -> None:
    inp, resp = _files(tmp_path)
    both = complexify(
        "ifeval",
        "--input-data",
        str(inp),
        "--input-response-data",
        str(resp),
        "--endpoint",
        "http://127.0.0.1:9",
        "--output-dir",
        str(tmp_path / "o"),
    )
    neither = complexify("ifeval", "--input-data", str(inp), "--output-dir", str(tmp_path / "o"))
    assert both.code == neither.code == 2 and "--input-response-data FILE" in neither.err
