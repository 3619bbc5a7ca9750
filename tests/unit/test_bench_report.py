"""The bench report's numbers and layout, `bench score`'s input errors, and `bench compare`'s paired table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.bench.report import TABLE2_COLUMNS, build_report, report_markdown
from pipeline.bench.score import CheckRow, ScoredAnswer
from pipeline.construct.compose import CATEGORIES
from tests.helpers.bench_cli import complexify


def _answer(
    item: str, category: str, passed: int, checks: int, sample: int = 0, dims: tuple[str, ...] = ("Length",)
) -> ScoredAnswer:
    rows = [
        CheckRow(f"c{k}", "code", f"chk:{dims[k % len(dims)]}", dims[k % len(dims)], k < passed, k < passed, False)
        for k in range(checks)
    ]
    comp = {"Single": []}.get(category, [category.split("_")[0]] if "and" not in category else ["Chain", "Selection"])
    return ScoredAnswer(
        item, sample, category, comp, 1, passed == checks, passed / checks, checks, passed, 0, None, "stop", rows
    )


def test_report_numbers_and_table2_layout() -> None:
    scored = []
    for cat in CATEGORIES:  # per category: one item passing 2/2 checks, one passing 1/2
        scored += [_answer(f"{cat}/0", cat, 2, 2), _answer(f"{cat}/1", cat, 1, 2)]
    report = build_report(scored, {"model": "m", "suite": "s"})
    assert [r["name"] for r in report["categories"]] == CATEGORIES
    for row in report["categories"]:
        assert row["items"] == 2 and row["all_pass"]["value"] == 0.5 and row["drfr"]["value"] == 0.75
        assert 0.0 <= row["all_pass"]["low"] <= 0.5 <= row["all_pass"]["high"] <= 1.0
    assert report["overall"]["items"] == 20 and report["overall"]["drfr"]["value"] == 0.75
    assert report["table2"]["columns"] == [*TABLE2_COLUMNS, "overall"]
    assert TABLE2_COLUMNS == (
        "And_1", "Chain_1", "Chain_2", "Selection_1", "Selection_2", "Selection_3",
        "Selection_and_Chain_2", "Selection_and_Chain_3",
    )  # fmt: skip
    md = report_markdown(report)
    assert (
        "| metric | And_1 | Chain_1 | Chain_2 | Selection_1 | Selection_2 | Selection_3 "
        "| Selection_and_Chain_2 | Selection_and_Chain_3 | overall |" in md
    )
    assert "| DRFR | 75.00 | 75.00 | 75.00 | 75.00 | 75.00 | 75.00 | 75.00 | 75.00 | 75.00 |" in md
    assert "| all-pass | 50.00 |" in md
    rows = [
        line.split(" | ")[0].lstrip("| ")
        for line in md.split("## Per category")[1].split("##")[0].splitlines()
        if line.startswith("| ")
    ]
    assert rows == ["category", *CATEGORIES, "overall"]
    assert [r["name"] for r in report["compositions"]] == ["Single", "And", "Chain", "Selection"]
    assert {r["name"] for r in report["dimensions"]} == {"Length"}
    assert report["checkers"][0]["name"] == "chk:Length" and report["checkers"][0]["checks"] == 40


def test_samples_average_into_pass_at_1_and_missing_columns_show_a_dash() -> None:
    scored = [
        _answer("a", "And_1", 2, 2, sample=0),
        _answer("a", "And_1", 0, 2, sample=1),
        _answer("b", "Chain_1", 1, 2),
    ]
    report = build_report(scored, {})
    cats = {r["name"]: r for r in report["categories"]}
    assert cats["And_1"]["all_pass"]["value"] == 0.5 and cats["And_1"]["drfr"]["value"] == 0.5
    assert report["meta"]["samples_per_item"] == 2 and report["meta"]["answers"] == 3
    assert report["table2"]["all_pass"]["Selection_3"] is None
    assert "| all-pass | 50.00 | 0.00 | - |" in report_markdown(report)


def test_dimension_rates_are_micro_averaged_per_check() -> None:
    scored = [
        _answer("a", "And_1", 1, 2, dims=("Length", "Keywords")),
        _answer("b", "And_1", 2, 2, dims=("Length", "Keywords")),
    ]
    dims = {r["name"]: r for r in build_report(scored, {})["dimensions"]}
    assert dims["Length"]["pass_rate"]["value"] == 1.0 and dims["Keywords"]["pass_rate"]["value"] == 0.5


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "suite.jsonl"
    assert complexify("bench", "make", "--suite", "r", "-n", "1", "--seed", "1", "--out", str(path)).code == 0
    return path


def _ids(suite: Path) -> list[str]:
    return [json.loads(line)["id"] for line in suite.read_text().splitlines()]


def _score(suite: Path, lines: list[str], tmp_path: Path, name: str = "resp"):  # type: ignore[no-untyped-def]
    responses = tmp_path / f"{name}.jsonl"
    responses.write_text("\n".join(lines) + "\n")
    return complexify(
        "bench", "score", "--suite", str(suite), "--responses", str(responses), "--out", str(tmp_path / name)
    )


def test_score_input_errors_are_exit_2(suite: Path, tmp_path: Path) -> None:
    ids = _ids(suite)
    good = [json.dumps({"id": i, "response": "an answer"}) for i in ids]
    result = _score(
        suite,
        [*good, json.dumps({"id": "r/Nope/000", "response": "x"}), json.dumps({"id": "zz", "response": "y"})],
        tmp_path,
    )
    assert (
        result.code == 2
        and "2 line(s) name item ids that are not in the suite" in result.err
        and "'r/Nope/000'" in result.err
    )
    result = _score(suite, [*good[:3], "{not json", *good[3:]], tmp_path)
    assert result.code == 2 and "resp.jsonl:4: not valid JSON" in result.err
    result = _score(suite, [*good[:2], json.dumps({"id": ids[2]}), *good[3:]], tmp_path)
    assert result.code == 2 and "resp.jsonl:3: field(s) response missing" in result.err
    result = _score(suite, good[:7], tmp_path)
    assert result.code == 2 and f"3 of {len(ids)} suite items have no response" in result.err
    result = _score(suite, [*good, json.dumps({"id": ids[0], "response": "again", "sample": 0})], tmp_path)
    assert result.code == 2 and "a second response for item" in result.err
    assert not (tmp_path / "resp" / "report.json").exists()


def test_score_then_compare_writes_reports_table_and_figure(suite: Path, tmp_path: Path) -> None:
    ids = _ids(suite)
    empty = _score(suite, [json.dumps({"id": i, "response": "x"}) for i in ids], tmp_path, "weak")
    assert empty.code == 0, empty.err
    # the second "model" answers with two samples per item, one of them the same weak answer
    lines = [json.dumps({"id": i, "response": r}) for i in ids for r in ("x", "### Part 1\nHello there. Thank you.")]
    two = _score(suite, lines, tmp_path, "other")
    assert two.code == 0, two.err
    report = json.loads((tmp_path / "other" / "report.json").read_text())
    assert report["meta"]["samples_per_item"] == 2 and report["meta"]["items"] == len(ids)
    for name in ("verdicts.parquet", "report.json", "report.md"):
        assert (tmp_path / "weak" / name).is_file()
    result = complexify(
        "bench", "compare", str(tmp_path / "weak"), str(tmp_path / "other"), "--out", str(tmp_path / "cmp")
    )
    assert result.code == 0, result.err
    assert "## A = weak, B = other (10 paired items)" in result.out and "| overall | 10 |" in result.out
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    overall = data["comparisons"][0]["rows"][-1]["drfr"]
    assert overall["low"] <= overall["value"] <= overall["high"] and 0 <= overall["p_value"] <= 1
    assert complexify("bench", "compare", str(tmp_path / "weak")).code == 2
    assert complexify("bench", "compare", str(tmp_path / "weak"), str(tmp_path / "nothing")).code == 2
