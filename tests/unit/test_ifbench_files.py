"""`complexify ifeval` on IFBench files: string keys, kwargs rows holding every argument name with nulls, and the
bundled IFBench test set with its sample answers scored by the real CLI process, with the reference's verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.checks.registry import load_checkers
from pipeline.errors import UserInputError
from pipeline.verify.ifeval import LOOSE_FILE, STRICT_FILE, evaluate_files

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "ifbench"
IFBENCH_INPUT = DATA / "IFBench_test.jsonl"
IFBENCH_SAMPLES = DATA / "sample_output.jsonl"
# every argument name IFBench's kwargs rows list, as in its test file (null where the instruction does not use it)
ARG_NAMES = sorted(json.loads(IFBENCH_INPUT.read_text(encoding="utf-8").splitlines()[0])["kwargs"][0])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _union(**given: object) -> dict[str, object]:
    """A kwargs row as IFBench writes it: every argument name, null unless given."""
    return {name: given.get(name) for name in sorted({*ARG_NAMES, *given})}


def test_the_union_row_names_many_arguments() -> None:
    assert {"N", "keyword1", "prompt_to_repeat", "small_n", "num_words"} <= set(ARG_NAMES)


def test_string_keys_and_null_unions_score_like_integer_keys(tmp_path: Path) -> None:
    responses = [{"prompt": "p1", "response": "<<T>>\nno commas here"}, {"prompt": "p2", "response": "a, b"}]
    rows = [
        {"key": "0", "prompt": "p1", "instruction_id_list": ["detectable_format:title", "punctuation:no_comma"],
         "kwargs": [_union(), _union()]},
        {"key": "1", "prompt": "p2", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [_union()]},
    ]  # fmt: skip
    plain = [
        {**r, "key": int(r["key"]), "kwargs": [{} for _ in r["instruction_id_list"]]} for r in rows
    ]  # the same items as IFEval writes them
    resp = _write(tmp_path / "resp.jsonl", responses)
    evaluate_files(_write(tmp_path / "bench.jsonl", rows), resp, tmp_path / "a", lambda _: None)
    evaluate_files(_write(tmp_path / "eval.jsonl", plain), resp, tmp_path / "b", lambda _: None)
    for name in (STRICT_FILE, LOOSE_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    strict = _rows(tmp_path / "a" / STRICT_FILE)
    assert [r["follow_instruction_list"] for r in strict] == [[True, True], [False]]


def test_string_keys_are_named_as_given_in_warnings_and_errors(tmp_path: Path) -> None:
    resp = _write(tmp_path / "resp.jsonl", [{"prompt": "p", "response": "x"}])
    warned: list[str] = []
    row = {"key": "k-7", "prompt": "p", "instruction_id_list": ["keywords:letter_frequency"],
           "kwargs": [_union(let_frequency=1, let_relation="at least")]}  # fmt: skip
    evaluate_files(_write(tmp_path / "in.jsonl", [row]), resp, tmp_path / "o", lambda _: None, warned.append)
    assert len(warned) == 1 and "key k-7:" in warned[0] and "letter=None" in warned[0]
    bad = {**row, "kwargs": [_union(let_frequency="one", let_relation="at least", letter="a")]}
    with pytest.raises(UserInputError, match=r"in\.jsonl:1: key k-7: .*'let_frequency'"):
        evaluate_files(_write(tmp_path / "in.jsonl", [bad]), resp, tmp_path / "o", lambda _: None)


def test_an_unknown_id_in_an_ifbench_file_is_a_clear_error(tmp_path: Path) -> None:
    row = {"key": "3", "prompt": "p", "instruction_id_list": ["count:no_such_check"], "kwargs": [_union()]}
    resp = _write(tmp_path / "resp.jsonl", [{"prompt": "p", "response": "x"}])
    with pytest.raises(UserInputError, match=r"in\.jsonl:1: unknown instruction id 'count:no_such_check'"):
        evaluate_files(_write(tmp_path / "in.jsonl", [row]), resp, tmp_path / "o", lambda _: None)
    assert not (tmp_path / "o").exists()


def test_the_bundled_ifbench_files_are_whole() -> None:
    inputs, samples = _rows(IFBENCH_INPUT), _rows(IFBENCH_SAMPLES)
    assert len(inputs) == 294 and len(samples) == 294
    assert all(isinstance(r["key"], str) for r in inputs)
    assert {r["prompt"] for r in inputs} == {r["prompt"] for r in samples}
    assert len({i for r in inputs for i in r["instruction_id_list"]}) == 57


def test_every_ifbench_id_has_its_reference_exact_checker() -> None:
    """The 57 ids of the test set and custom:character_reverse (the 58th, not in it), each checked by a checker
    of a pipeline/checks/ifbench_* module (the reference's semantics)."""
    ids = {i for r in _rows(IFBENCH_INPUT) for i in r["instruction_id_list"]} | {"custom:character_reverse"}
    modules = {cid: chk.fn.__module__ for cid, chk in load_checkers().items()}
    assert len(ids) == 58
    assert {i: modules.get(i) for i in ids if not modules.get(i, "").startswith("pipeline.checks.ifbench_")} == {}


def test_the_cli_scores_every_ifbench_id_of_the_bundled_test_set(tmp_path: Path) -> None:
    """The real `complexify ifeval` process on IFBench's test file and sample answers: both result files hold a
    verdict for every instruction of every prompt, in input order, and every IFBench id is scored."""
    inputs = _rows(IFBENCH_INPUT)
    ids = {i for r in inputs for i in r["instruction_id_list"]}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "ifeval", "--input-data", str(IFBENCH_INPUT),
         "--input-response-data", str(IFBENCH_SAMPLES), "--output-dir", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "warning" not in proc.stderr  # IFBench's own file needs no resolving
    for name in (STRICT_FILE, LOOSE_FILE):
        results = _rows(out / name)
        assert [r["prompt"] for r in results] == [r["prompt"] for r in inputs]
        assert [r["instruction_id_list"] for r in results] == [r["instruction_id_list"] for r in inputs]
        assert all(len(r["follow_instruction_list"]) == len(r["instruction_id_list"]) for r in results)
        scored = {i for r in results for i in r["instruction_id_list"]}
        assert scored == ids
        assert f"{out / name} Accuracy Scores:" in proc.stdout
    strict, loose = _rows(out / STRICT_FILE), _rows(out / LOOSE_FILE)
    # loose never fails what strict passes
    for s, lo in zip(strict, loose, strict=True):
        pairs = zip(s["follow_instruction_list"], lo["follow_instruction_list"], strict=True)
        assert all(lo_ok or not s_ok for s_ok, lo_ok in pairs)
    assert any(any(r["follow_instruction_list"]) for r in strict)  # sample answers do pass some checks
    # the same verdicts as IFBench's own evaluator (benchmarks/ifbench_checkers.py --write-reference wrote them;
    # null where the reference needs NLTK data it cannot have offline)
    reference = {r["key"]: r for r in _rows(DATA / "reference_verdicts.jsonl")}
    compared = 0
    for row, s_out, lo_out in zip(inputs, strict, loose, strict=True):
        ref = reference[row["key"]]
        assert ref["instruction_id_list"] == row["instruction_id_list"]
        for k, iid in enumerate(row["instruction_id_list"]):
            for mode, ours in (("strict", s_out), ("loose", lo_out)):
                if ref[mode][k] is not None:
                    compared += 1
                    assert ours["follow_instruction_list"][k] == ref[mode][k], (row["key"], iid, mode)
    assert compared > 0


def test_ifbench_float_counts_are_the_integers_they_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.checks.registry import CHECKERS, Checker, CheckResult
    from pipeline.verify.ifeval_compat import resolve

    def toy(response: str, *, n: int, share: float) -> CheckResult:
        return CheckResult(isinstance(n, int) and len(response.split()) >= n, f"share {share!r}")

    monkeypatch.setitem(CHECKERS, "toy:count", Checker("toy:count", toy, frozenset({"n", "share"}), frozenset({"n"})))
    got = resolve("toy:count", {"n": 5.0, "share": 30.0}, key="0", index=0)
    assert got.kwargs == {"n": 5, "share": 30.0} and type(got.kwargs["n"]) is int and got.notes == ()
    assert type(got.kwargs["share"]) is float  # the checker takes a float: left as given
    assert resolve("toy:count", {"n": 2.5, "share": 1}, key="0", index=0).kwargs == {"n": 2.5, "share": 1}
    # IFEval's ids keep their documented handling: a float count is read as an integer with a note
    ifeval = resolve("keywords:frequency", {"frequency": 2.0, "relation": "at least", "keyword": "x"}, key=1, index=0)
    assert ifeval.kwargs["frequency"] == 2 and ifeval.notes


def test_float_counts_in_an_ifbench_file_are_scored_without_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.checks.registry import CHECKERS, Checker, CheckResult

    def toy(response: str, *, n: int) -> CheckResult:
        return CheckResult(len(response.split()) >= n, f"need {n!r} words")

    monkeypatch.setitem(CHECKERS, "toy:count", Checker("toy:count", toy, frozenset({"n"}), frozenset({"n"})))
    rows = [{"key": "0", "prompt": "p", "instruction_id_list": ["toy:count"], "kwargs": [_union(n=3.0)]}]
    resp = _write(tmp_path / "resp.jsonl", [{"prompt": "p", "response": "one two three"}])
    warned: list[str] = []
    evaluate_files(_write(tmp_path / "in.jsonl", rows), resp, tmp_path / "o", lambda _: None, warned.append)
    assert warned == []
    assert _rows(tmp_path / "o" / STRICT_FILE)[0]["follow_instruction_list"] == [True]
