"""The IFEval evaluator: Google's file formats, strict vs loose, null kwargs, input errors, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import UserInputError
from pipeline.verify.ifeval import evaluate_files, evaluate_instruction, loose_variants

INPUTS = [
    {"key": 1, "prompt": "Write a title.", "instruction_id_list": ["detectable_format:title", "punctuation:no_comma"],
     "kwargs": [{"num_highlights": None}, {}]},
    {"key": 2, "prompt": "Bullets please.", "instruction_id_list": ["detectable_format:number_bullet_lists"],
     "kwargs": [{"num_bullets": 2, "keywords": None}]},
    {"key": 3, "prompt": "Quote it.", "instruction_id_list": ["startend:quotation"], "kwargs": [{}]},
]  # fmt: skip
RESPONSES = [
    {"prompt": "Write a title.", "response": "<<Rain>>\nIt rains, a lot.\nReally, yes."},  # title ok, comma fails
    {"prompt": "Bullets please.", "response": "Here you go:\n* one\n* two\n* three"},  # 3 bullets: strict fails
    {"prompt": "Quote it.", "response": 'Sure:\n"quoted"'},  # loose passes without the first line
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(tmp_path: Path) -> tuple[dict, list[str]]:
    printed: list[str] = []
    scores = evaluate_files(
        _write(tmp_path / "in.jsonl", INPUTS),
        _write(tmp_path / "resp.jsonl", RESPONSES),
        tmp_path / "out",
        printed.append,
    )
    return scores, printed


def test_output_files_have_the_reference_layout(tmp_path: Path) -> None:
    _run(tmp_path)
    lines = (tmp_path / "out" / "eval_results_strict.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == [
        "follow_all_instructions",
        "follow_instruction_list",
        "instruction_id_list",
        "prompt",
        "response",
    ]
    assert first == {
        "follow_all_instructions": False,
        "follow_instruction_list": [True, False],
        "instruction_id_list": ["detectable_format:title", "punctuation:no_comma"],
        "prompt": "Write a title.",
        "response": "<<Rain>>\nIt rains, a lot.\nReally, yes.",
    }
    assert lines[0].startswith('{"follow_all_instructions": false, "follow_instruction_list": [true, false]')


def test_strict_and_loose_scores(tmp_path: Path) -> None:
    scores, printed = _run(tmp_path)
    strict = [json.loads(x)["follow_instruction_list"] for x in (tmp_path / "out/eval_results_strict.jsonl").open()]
    loose = [json.loads(x)["follow_instruction_list"] for x in (tmp_path / "out/eval_results_loose.jsonl").open()]
    assert strict == [[True, False], [False], [False]]
    # loose: dropping the first line leaves 2 bullets and a quoted text; the comma stays
    assert loose == [[True, False], [True], [True]]
    assert scores["strict"].prompt_level == 0.0 and scores["strict"].instruction_level == 0.25
    assert scores["loose"].prompt_level == 2 / 3 and scores["loose"].instruction_level == 0.75
    assert "prompt-level: 0.0" in printed and "instruction-level: 0.75" in printed
    assert "detectable_format:number_bullet_lists 1.0" in printed
    assert printed[-1].startswith(
        "prompt-level strict 0.0000  instruction-level strict 0.2500  prompt-level loose 0.6667"
    )


def test_loose_variants_follow_the_reference_order() -> None:
    v = loose_variants("*a*\nb\n*c*")
    assert v == ["*a*\nb\n*c*", "a\nb\nc", "b\n*c*", "*a*\nb", "b", "b\nc", "a\nb", "b"]


def test_strict_fails_blank_responses_and_loose_skips_blank_variants() -> None:
    assert evaluate_instruction("punctuation:no_comma", {}, "   ") is False
    assert evaluate_instruction("punctuation:no_comma", {}, "   ", loose=True) is False
    assert evaluate_instruction("punctuation:no_comma", None, "ok") is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"key": 1, "prompt": "p"\n', "in.jsonl:1: not valid JSON"),
        (
            '\n{"key": 1, "prompt": "p", "instruction_id_list": ["x:y"], "kwargs": [{}]}\n',
            "in.jsonl:2: unknown instruction id 'x:y'",
        ),
        ('{"key": 1, "prompt": "p", "instruction_id_list": [], "kwargs": [{}]}\n', "1 kwargs"),
        ('{"key": [1], "prompt": "p", "instruction_id_list": [], "kwargs": []}\n', "'key' must be an integer or a"),
        ("[1]\n", "must be a JSON object"),
    ],
)
def test_bad_input_files_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "in.jsonl").write_text(content)
    _write(tmp_path / "resp.jsonl", RESPONSES)
    with pytest.raises(UserInputError, match=message.replace("[", r"\[").replace("(", r"\(")):
        evaluate_files(tmp_path / "in.jsonl", tmp_path / "resp.jsonl", tmp_path / "out", lambda _: None)


def test_bad_kwargs_and_missing_responses_are_user_errors(tmp_path: Path) -> None:
    bad = [{**INPUTS[1], "kwargs": [{"num_bullets": "two"}]}]
    _write(tmp_path / "resp.jsonl", RESPONSES)
    with pytest.raises(UserInputError, match=r"in\.jsonl:1: key 2: .*'num_bullets' must be an integer"):
        evaluate_files(_write(tmp_path / "in.jsonl", bad), tmp_path / "resp.jsonl", tmp_path / "out", lambda _: None)
    _write(tmp_path / "resp.jsonl", RESPONSES[:1])
    with pytest.raises(UserInputError, match="no response for 2 prompt"):
        evaluate_files(
            _write(tmp_path / "in.jsonl", INPUTS), tmp_path / "resp.jsonl", tmp_path / "out", lambda _: None
        )


def test_cli_runs_and_maps_bad_input_to_exit_2(tmp_path: Path) -> None:
    from pipeline.cli import main

    args = ["ifeval", "--input-data", str(_write(tmp_path / "in.jsonl", INPUTS)),
            "--input-response-data", str(_write(tmp_path / "resp.jsonl", RESPONSES)),
            "--output-dir", str(tmp_path / "o")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "eval_results_loose.jsonl").is_file()
    assert "instruction-level: 0.25" in result.output
    (tmp_path / "in.jsonl").write_text("not json\n")
    import sys

    old = sys.argv
    sys.argv = ["complexify", *args]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = old
    assert exc.value.code == 2
