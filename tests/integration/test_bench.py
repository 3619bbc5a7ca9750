"""`complexify bench` end to end on the real bundled worker: make -> run -> run again -> compare; ifeval answering.

Bounded for a 2-core CPU: 2 items per category, answers capped at 64 tokens, a fresh request cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.construct.compose import CATEGORIES
from tests.helpers.bench_cli import complexify


@pytest.fixture()
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "requests.sqlite"
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(path))
    return path


def _rates(report: dict) -> list[float]:  # type: ignore[type-arg]
    rows = [*report["categories"], report["overall"], *report["compositions"]]
    values = [r[m][k] for r in rows for m in ("all_pass", "drfr") for k in ("value", "low", "high")]
    values += [
        r["pass_rate"][k] for key in ("dimensions", "checkers") for r in report[key] for k in ("value", "low", "high")
    ]
    return values


@pytest.mark.timeout(300)
def test_make_run_compare_on_the_bundled_worker(vllm_endpoint, tmp_path: Path, fresh_cache: Path) -> None:  # type: ignore[no-untyped-def]
    suite = tmp_path / "suite.jsonl"
    made = complexify(
        "bench", "make", "--suite", "it", "-n", "2", "--seed", "0", "--checkers", "code", "--out", str(suite)
    )
    assert made.code == 0, made.err
    common = [
        "--suite",
        str(suite),
        "--endpoint",
        vllm_endpoint.url,
        "--model",
        vllm_endpoint.model,
        "--max-tokens",
        "64",
    ]

    first = complexify("bench", "run", *common, "--out", str(tmp_path / "greedy"))
    assert first.code == 0, first.err
    assert "all-pass" in first.out and "DRFR" in first.out  # the summary line
    report = json.loads((tmp_path / "greedy" / "report.json").read_text())
    assert [r["name"] for r in report["categories"]] == CATEGORIES
    assert report["overall"]["items"] == 2 * len(CATEGORIES)
    assert report["meta"]["generation"]["requests"] == 2 * len(CATEGORIES)
    assert all(0.0 <= v <= 1.0 for v in _rates(report))
    assert "| metric | And_1 | Chain_1 | Chain_2 |" in (tmp_path / "greedy" / "report.md").read_text()
    answers = [json.loads(line) for line in (tmp_path / "greedy" / "responses.jsonl").read_text().splitlines()]
    assert len(answers) == 2 * len(CATEGORIES) and any(a["response"].strip() for a in answers)

    # the same answers scored from the file give the same report numbers
    rescored = complexify(
        "bench", "score", "--suite", str(suite), "--responses", str(tmp_path / "greedy" / "responses.jsonl"),
        "--out", str(tmp_path / "rescored"),
    )  # fmt: skip
    assert rescored.code == 0, rescored.err
    again = json.loads((tmp_path / "rescored" / "report.json").read_text())
    assert again["categories"] == report["categories"] and again["overall"] == report["overall"]

    second = complexify("bench", "run", *common, "--temperature", "0.9", "--out", str(tmp_path / "warm"))
    assert second.code == 0, second.err
    warm = json.loads((tmp_path / "warm" / "report.json").read_text())
    assert warm["meta"]["generation"]["cached_requests"] == 0  # another temperature is another request

    compared = complexify(
        "bench", "compare", str(tmp_path / "greedy"), str(tmp_path / "warm"), "--out", str(tmp_path / "cmp")
    )
    assert compared.code == 0, compared.err
    assert "B - A" in compared.out and "| overall | 20 |" in compared.out
    png = (tmp_path / "cmp" / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.timeout(120)
def test_ifeval_answers_and_scores_in_one_command(vllm_endpoint, tmp_path: Path, fresh_cache: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {
            "key": 1,
            "prompt": "Write one sentence about rivers. Do not use any commas.",
            "instruction_id_list": ["punctuation:no_comma"],
            "kwargs": [{}],
        },
        {
            "key": 2,
            "prompt": "Name a color, in lowercase letters only.",
            "instruction_id_list": ["change_case:english_lowercase"],
            "kwargs": [{}],
        },
        {
            "key": 3,
            "prompt": "Say hello.",
            "instruction_id_list": ["keywords:letter_frequency"],
            "kwargs": [{"letter": "!", "let_frequency": 1, "let_relation": "less than"}],
        },
    ]
    inp = tmp_path / "input_data.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = complexify(
        "ifeval", "--input-data", str(inp), "--endpoint", vllm_endpoint.url, "--model", vllm_endpoint.model,
        "--max-tokens", "32", "--output-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "prompt-level strict" in result.out and "warning:" in result.err  # key 3's '!' is outside a-z
    answered = [json.loads(line) for line in (tmp_path / "out" / "input_response_data.jsonl").read_text().splitlines()]
    assert [a["prompt"] for a in answered] == [r["prompt"] for r in rows]
    strict = (tmp_path / "out" / "eval_results_strict.jsonl").read_text().splitlines()
    assert len(strict) == 3
