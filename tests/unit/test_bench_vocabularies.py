"""IFBench-style suites: `bench make --vocabulary ifbench` composes from that vocabulary's constraints only, items
record the vocabularies, and the report (and the evaluate flow's suite) names them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.bench.report import build_report, report_markdown
from pipeline.bench.score import read_responses, score_answers
from pipeline.bench.suite import (
    SuiteItem,
    make_suite,
    read_suite,
    suite_text,
    suite_vocabularies,
    vocabularies_line,
    write_suite,
)
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import Seed
from pipeline.run.config import ROOT
from tests.helpers.bench_cli import complexify

FIXTURE = ROOT / "tests" / "fixtures" / "taxonomy"
IFBENCH_IN_FIXTURE = ("t:lower", "t:words", "t:end")  # moved to the ifbench vocabulary in the copy below
SEEDS = [Seed(id=f"s{k}", text=f"Describe place number {k} that you would like to visit.") for k in range(12)]


@pytest.fixture(scope="module")
def taxonomy(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The fixture taxonomy with three of its code-checked specs in the `ifbench` vocabulary."""
    root = tmp_path_factory.mktemp("tax")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    path = root / "constraints" / "mini.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in doc["constraints"]:
        if entry["id"] in IFBENCH_IN_FIXTURE:
            entry["vocabulary"] = "ifbench"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_taxonomy(root, check_checkers=False)


def _spec_ids(item: SuiteItem) -> set[str]:
    return {c.checker for c in item.instruction.plan.checks if c.checker}


def test_an_ifbench_suite_holds_only_ifbench_constraints_and_records_it(taxonomy) -> None:  # type: ignore[no-untyped-def]
    result = make_suite(
        "ib", 3, 0, seeds=SEEDS, taxonomy=taxonomy, vocabularies=["ifbench"], categories=["Single", "And_1"]
    )
    assert [i.category for i in result.items] == ["Single"] * 3 + ["And_1"] * 3
    for item in result.items:
        assert _spec_ids(item) and _spec_ids(item) <= set(IFBENCH_IN_FIXTURE), _spec_ids(item)
        assert item.vocabularies == ["ifbench"]
    assert suite_vocabularies(result.items) == ["ifbench"]
    assert "vocabularies: ifbench (held out from training: IFBench-style)" in result.describe()
    again = make_suite(
        "ib", 3, 0, seeds=SEEDS, taxonomy=taxonomy, vocabularies=["ifbench"], categories=["Single", "And_1"]
    )
    assert suite_text(again.items) == suite_text(result.items)


def test_the_default_suite_leaves_the_held_out_vocabulary_out(taxonomy) -> None:  # type: ignore[no-untyped-def]
    result = make_suite("d", 4, 0, seeds=SEEDS, taxonomy=taxonomy, categories=["Single", "And_1"])
    for item in result.items:
        assert not _spec_ids(item) & set(IFBENCH_IN_FIXTURE)
        assert item.vocabularies is not None and "ifbench" not in item.vocabularies
    assert "held out from training" not in result.describe()


def test_bad_vocabularies_and_categories_are_user_errors(taxonomy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserInputError, match=r"--vocabulary: unknown vocabulary 'nope'; allowed: ifeval, ifbench"):
        make_suite("x", 1, 0, seeds=SEEDS, taxonomy=taxonomy, vocabularies=["nope"])
    with pytest.raises(UserInputError, match="--vocabulary ifeval: the taxonomy has no code-checkable constraint"):
        make_suite("x", 1, 0, seeds=SEEDS, taxonomy=taxonomy, vocabularies=["ifeval"])
    with pytest.raises(UserInputError, match="--category 'Bogus_9': known categories: Single"):
        make_suite("x", 1, 0, seeds=SEEDS, taxonomy=taxonomy, categories=["Bogus_9"])


def test_a_suite_from_before_vocabularies_still_reads_and_says_so(tmp_path: Path, taxonomy) -> None:  # type: ignore[no-untyped-def]
    items = make_suite("old", 1, 0, seeds=SEEDS, taxonomy=taxonomy, categories=["Single"]).items
    old = [
        {k: v for k, v in json.loads(line).items() if k != "vocabularies"} for line in suite_text(items).splitlines()
    ]
    assert all("vocabularies" not in row for row in old)
    parsed = [SuiteItem.model_validate(row) for row in old]
    assert suite_vocabularies(parsed) is None
    assert vocabularies_line(None).startswith("vocabularies: not recorded")


def test_the_report_names_the_suite_vocabulary(tmp_path: Path, taxonomy) -> None:  # type: ignore[no-untyped-def]
    from pipeline.bench.evaluate import suite_meta

    items = make_suite(
        "ib", 2, 0, seeds=SEEDS, taxonomy=taxonomy, vocabularies=["ifbench"], categories=["Single"]
    ).items
    path = tmp_path / "suite.jsonl"
    write_suite(path, items)
    meta = suite_meta(path, items)
    assert meta["vocabularies"] == ["ifbench"]
    scored = _scored(items, tmp_path)
    report = build_report(scored, meta)
    assert report["meta"]["vocabularies"] == ["ifbench"]
    assert "Constraint vocabularies: ifbench (held out from training: IFBench-style)." in report_markdown(report)


def _scored(items: list[SuiteItem], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Score a blank-ish answer per item with the fixture checkers registered by the test suite."""
    import tests.helpers.fixture_checkers  # noqa: F401  (registers the t:* checkers)

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"id": i.id, "response": "a short answer."}) + "\n" for i in items))
    return score_answers(items, read_responses(answers, items))


def test_bench_make_and_score_an_ifbench_suite_from_the_bundled_taxonomy(tmp_path: Path) -> None:
    """The CLI end to end: an IFBench-style suite of the bundled `ifbench` constraints, scored, reported."""
    suite = tmp_path / "ifbench-suite.jsonl"
    made = complexify(
        "bench", "make", "--suite", "ifb", "-n", "3", "--vocabulary", "ifbench", "--category", "Single",
        "--out", str(suite),
    )  # fmt: skip
    assert made.code == 0, made.err
    assert "vocabularies: ifbench (held out from training: IFBench-style)" in made.out
    items = read_suite(suite)
    vocab = {s.id: s.vocabulary for s in load_taxonomy().specs.values()}
    assert len(items) == 3 and all(vocab[c] == "ifbench" for i in items for c in _spec_ids(i))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"id": i.id, "response": "A short answer."}) + "\n" for i in items))
    scored = complexify(
        "bench", "score", "--suite", str(suite), "--responses", str(answers), "--out", str(tmp_path / "r"),
        "--no-progress",
    )  # fmt: skip
    assert scored.code == 0, scored.err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["vocabularies"] == ["ifbench"]
    assert "Constraint vocabularies: ifbench" in (tmp_path / "r" / "report.md").read_text()
    bad = complexify("bench", "make", "--suite", "x", "-n", "1", "--vocabulary", "nope", "--out", str(suite))
    assert bad.code == 2 and "unknown vocabulary 'nope'" in bad.err and "Traceback" not in bad.err


def test_the_evaluate_flow_makes_an_ifbench_suite(tmp_path: Path, taxonomy, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import flows.evaluate as flow
    from pipeline.bench import evaluate

    monkeypatch.setattr(evaluate, "load_taxonomy", lambda: taxonomy)
    monkeypatch.setattr(evaluate, "load_seed_file", lambda path: SEEDS)
    out = tmp_path / "suite.jsonl"
    line = flow.make_suite.fn("nightly", 2, 0, out, [], "code", ["ifbench"], ["Single"])
    assert "vocabularies: ifbench" in line
    assert suite_vocabularies(read_suite_unchecked(out)) == ["ifbench"]


def read_suite_unchecked(path: Path) -> list[SuiteItem]:
    """The suite's items without checking their checkers (the fixture's are not registered here)."""
    return [SuiteItem.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]
