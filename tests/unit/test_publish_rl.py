"""The student-measurement configs: `rl` baseline columns, `sft_reasoning`, `contrast`, and the difficulty and
reasoning-outcome statistics that `complexify stats` and the dataset card show from one query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import store
from pipeline.checks.registry import CheckResult
from pipeline.cli.store import stats_for
from pipeline.errors import ComplexifyError
from pipeline.models import Instruction, ReasoningQuality, Rollout, RolloutSummary, Sample, StudentEval, Verdict
from pipeline.publish import dataset as publish
from pipeline.publish.rl import contrast_pair
from pipeline.store.schema import SAMPLES_SCHEMA
from pipeline.verify.plan import score
from pipeline.verify.reward import compute_score
from tests.helpers.stored_run import answered, fixture_instructions
from tests.unit.test_statistics import markdown_table

FP = "fp-student"
# one kind of instruction per case, in this order; see `measured` for what each case stores
CASES = ("helped", "tied", "unmeasured", "expert", "shallow", "mostly")
THINK = "The reply needs every constraint: count the words, end with the phrase, keep the tone."


def rollout(ins: Instruction, satisfied: int, reasoning: str | None = None) -> Rollout:
    n = len(ins.plan.checks)
    return Rollout(
        text=f"answer satisfying {satisfied}", reasoning=reasoning, with_reasoning=reasoning is not None,
        satisfied=satisfied, total=n, passed=satisfied == n,
    )  # fmt: skip


def summary(satisfied: list[int], n: int) -> RolloutSummary:
    return RolloutSummary(
        k=len(satisfied), pass_rate=sum(s == n for s in satisfied) / len(satisfied),
        mean_satisfied=mean(satisfied), best_satisfied=max(satisfied),
    )  # fmt: skip


def student(ins: Instruction, base: list[int], think: list[int]) -> StudentEval:
    n = len(ins.plan.checks)
    b, r = summary(base, n), summary(think, n)
    outcome: Literal["helped", "tied", "hurt"] = (
        "helped" if r.mean_satisfied > b.mean_satisfied else "hurt" if r.mean_satisfied < b.mean_satisfied else "tied"
    )
    rollouts = [rollout(ins, s) for s in base] + [rollout(ins, s, THINK) for s in think]
    return StudentEval(model="student-small", baseline=b, reasoning=r, outcome=outcome, rollouts=rollouts)


def all_pass(ins: Instruction) -> Verdict:
    """A verdict that passed every check (the kept expert answer of the `expert` and `shallow` cases)."""
    return score(ins.plan, {c.id: CheckResult(True) for c in ins.plan.checks})


def measured(case: str, ins: Instruction, kept: Sample, rejected: Sample) -> tuple[Sample, Sample]:
    """The kept and rejected sample of one instruction with what the run side would store for `case`."""
    n = len(ins.plan.checks)
    quality = ReasoningQuality(prompt_similarity=0.4, addressed=2, addressable=2, words=40, shallow=False)
    ev: StudentEval | None = None
    update: dict[str, object] = {}
    if case == "helped":  # never solved without reasoning, solved once with it: a student-chosen contrast row
        ev = student(ins, [0, 0], [n, 0])
        update = {"response": kept.response.model_copy(update={"reasoning": THINK}), "reasoning_quality": quality}
    elif case == "tied":  # always solved: nothing beats the baseline; its trace was never measured
        ev = student(ins, [n, n], [n, n])
        update = {"response": kept.response.model_copy(update={"reasoning": THINK})}
    elif case in ("expert", "shallow"):  # the student never solves it; the expert answer (all pass) has reasoning
        ev = student(ins, [0, 0], [0, 0])
        q = quality if case == "expert" else quality.model_copy(update={"shallow": True, "prompt_similarity": 0.97})
        update = {
            "response": kept.response.model_copy(update={"reasoning": THINK, "model": "expert-big"}),
            "reasoning_quality": q, "verdict": all_pass(ins),
        }  # fmt: skip
    elif case == "mostly":  # solved 3 times in 4 without reasoning: the best baseline cannot be beaten
        ev = student(ins, [n, n, n, 0], [n, n, n, n])
    return kept.model_copy(update={"student": ev, **update}), rejected.model_copy(update={"student": ev})


def case_of() -> dict[str, str]:
    """The case of each instruction of the stored run, by instruction id."""
    return {ins.id: CASES[i % len(CASES)] for i, ins in enumerate(fixture_instructions(12))}


def band(rate: float) -> str:
    """The difficulty band of a pass rate, written out independently of the SQL."""
    for upper, label in ((0, "0 (never solved)"), (0.25, "(0, 0.25]"), (0.5, "(0.25, 0.5]"), (0.75, "(0.5, 0.75]")):
        if rate <= upper:
            return label
    return "(0.75, 1)" if rate < 1 else "1 (always solved)"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stored run of 12 instructions, two of each case, in two batches, with a fresh catalog."""
    out = tmp_path_factory.mktemp("out")
    run = store.open_run(out, FP, {"name": "student"})
    instructions = fixture_instructions(12)
    for b in range(2):
        group = instructions[b * 6 : (b + 1) * 6]
        kept, rejects = [], []
        for case, ins, k, r in zip(CASES, group, *answered(group, FP, b), strict=True):
            k2, r2 = measured(case, ins, k, r)
            kept.append(k2)
            rejects.append(r2)
        store.write_batch(run, b, group, kept, rejects)
    store.refresh_catalog(out)
    return out


@pytest.fixture(scope="module")
def built(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`complexify publish --dry-run` of the run, as a user runs it."""
    out = tmp_path_factory.mktemp("hub") / "ds"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "pipeline.cli", "publish", "--root", str(root), "--run", FP, "--repo-id", "org/cx",
           "--out", str(out), "--dry-run"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True)
    assert "dry run: nothing uploaded" in done.stdout and "contrast: 4 rows" in done.stdout
    return out


def load(folder: Path, config: str, cache: Path) -> Any:
    import datasets

    return datasets.load_dataset(str(folder), config, split="train", cache_dir=str(cache))


def test_rl_rows_carry_the_students_baseline(root: Path, built: Path, tmp_path: Path) -> None:
    run = store.find_run(root, FP)
    kept = store.load_samples(run)
    rl = load(built, "rl", tmp_path / "cache")
    cases = case_of()
    # a run that measured difficulty publishes measured instructions only
    assert sorted(rl["id"]) == sorted(s.instruction.id for s in kept if cases[s.instruction.id] != "unmeasured")
    assert len(rl) == 10
    evals = {s.instruction.id: s.student for s in kept}
    for row in rl:
        ev = evals[row["id"]]
        assert ev is not None and 0.0 <= row["baseline_pass_rate"] <= 1.0
        assert (row["baseline_model"], row["baseline_rollouts"]) == (ev.model, ev.baseline.k)
        assert (row["baseline_pass_rate"], row["baseline_mean_satisfied"]) == (
            ev.baseline.pass_rate,
            ev.baseline.mean_satisfied,
        )
        assert json.loads(row["ground_truth"])["baseline_mean_satisfied"] == row["baseline_mean_satisfied"]
        assert compute_score(row["data_source"], "", row["ground_truth"]) == -2.0  # the reward still reads it


def test_sft_reasoning_keeps_measured_deep_traces_only(root: Path, built: Path, tmp_path: Path) -> None:
    rows = load(built, "sft_reasoning", tmp_path / "cache")
    kept = {s.id: s for s in store.load_samples(store.find_run(root, FP))}
    deep = {i for i, s in kept.items() if s.reasoning_quality is not None and not s.reasoning_quality.shallow}
    with_trace = {i for i, s in kept.items() if s.response.reasoning}
    assert set(rows["id"]) == deep and len(deep) == 4 and len(with_trace) == 8  # shallow and unmeasured left out
    for row in rows:
        user, assistant = row["messages"]
        s = kept[row["id"]]
        assert user == {"role": "user", "content": s.instruction.prompt}
        assert assistant["role"] == "assistant"
        assert assistant["content"] == f"<think>\n{THINK}\n</think>\n\n{s.response.text}"
        assert row["reasoning_words"] == 40 and row["constraints_addressed"] == 2


def test_contrast_pairs_a_winning_reasoning_completion_with_a_failing_one(built: Path, tmp_path: Path) -> None:
    rows = load(built, "contrast", tmp_path / "cache")
    cases = case_of()
    assert sorted(cases[i] for i in rows["instruction_id"]) == ["expert", "expert", "helped", "helped"]
    for row in rows:
        assert row["chosen_score"] > row["rejected_score"]
        assert row["chosen_has_reasoning"] and row["chosen_satisfied"] > row["baseline_best_satisfied"]
        assert row["rejected_satisfied"] < row["n_checks"]
        assert row["chosen"][1]["content"].startswith("<think>\n")
        assert row["rejected_has_reasoning"] is False  # ties go to the answer without reasoning
        expected = "student" if cases[row["instruction_id"]] == "helped" else "expert"
        assert row["chosen_source"] == expected and row["rejected_source"] == "student"
        assert (row["chosen_score"], row["rejected_score"]) == (2.0, -2.0)


def test_a_run_without_measurements_has_null_baselines_and_no_student_configs(tmp_path: Path) -> None:
    ins = fixture_instructions(4)
    kept, rejects = answered(ins, "fp-plain", 0)
    out = publish.build_dataset_folder(kept, rejects, tmp_path / "ds", repo_id="org/cx", run_info={}).folder
    rl = load(out, "rl", tmp_path / "cache")
    assert len(rl) == 4 and set(rl["baseline_pass_rate"]) == {None} and set(rl["baseline_model"]) == {None}
    assert all("baseline_mean_satisfied" not in json.loads(gt) for gt in rl["ground_truth"])
    assert not (out / "data" / "contrast").exists() and not (out / "data" / "sft_reasoning").exists()
    with pytest.raises(ValueError, match="contrast"):
        load(out, "contrast", tmp_path / "cache")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "config_name: contrast" not in card and "`contrast` is not in this build: the run did not measure" in card
    assert "## Difficulty for the student" not in card and not (out / "figures" / "difficulty.png").exists()


def test_stats_card_and_records_agree_on_difficulty_and_outcomes(root: Path, built: Path) -> None:
    run = store.find_run(root, FP)
    samples = [*store.load_samples(run), *store.load_samples(run, kept=False)]
    evals = {s.instruction.id: (s.instruction.category, s.student) for s in samples if s.student is not None}
    stats = stats_for(root, FP)
    # the query counts what the records hold
    bands = Counter(band(ev.baseline.pass_rate) for _, ev in evals.values())
    assert {k: r.instructions for k, r in stats.difficulty().items() if r.instructions} == dict(bands)
    outcomes = Counter((cat, ev.outcome) for cat, ev in evals.values())
    for cat in stats.level("category"):
        got = {k: r.instructions for k, r in stats.reasoning_outcomes(cat).items() if r.instructions}
        assert got == {o: n for (c, o), n in outcomes.items() if c == cat}
    assert stats.difficulty()["0 (never solved)"].kept == 6 and stats.difficulty()["0 (never solved)"].candidates == 12

    # `complexify stats` prints the same numbers
    env = {**os.environ, "COLUMNS": "200"}
    printed = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "stats", "--root", str(root), "--run", FP],
        capture_output=True, text=True, env=env, timeout=180, check=True,
    ).stdout  # fmt: skip
    section = printed.split("student difficulty", 1)[1]
    cli = {}
    for line in section.split("reasoning outcome per category", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 5 and cells[1].isdigit():
            cli[cells[0]] = cells[1]
    n = len(evals)
    assert cli == {**{k: str(r.instructions) for k, r in stats.difficulty().items()}, "total": str(n)}
    outcome_rows = {}
    for line in section.split("reasoning outcome per category", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 5 and cells[1].isdigit():
            outcome_rows[cells[0]] = cells[1:]
    total = Counter(o for _, o in outcomes.elements())
    assert outcome_rows["total"][0] == str(n)
    assert outcome_rows["total"][1].startswith(f"{total['helped']} (")

    # the card shows the same table and the figures drawn from it
    card = (built / "README.md").read_text(encoding="utf-8")
    table = markdown_table(card, "## Difficulty for the student")
    assert {k: v[0] for k, v in table.items()} == {k: str(r.instructions) for k, r in stats.difficulty().items()}
    shares = markdown_table(card, "## Did reasoning help?")
    assert shares["all"] == [f"{total[o] / n:.1%}" for o in ("helped", "tied", "hurt")]
    for cat in stats.level("category"):
        m = sum(v for (c, _), v in outcomes.items() if c == cat)
        assert shares[cat] == [f"{outcomes[(cat, o)] / m:.1%}" for o in ("helped", "tied", "hurt")]
    assert "2 kept answers to instructions the student was not measured on are left out" in card
    for name in ("difficulty", "reasoning_outcome"):
        assert f"![{name}](figures/{name}.png)" in card
        png = (built / "figures" / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert "- config_name: contrast" in card and "- config_name: sft_reasoning" in card


@settings(max_examples=200, deadline=None)
@given(
    base=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    think=st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=4),
)
def test_every_contrast_pair_is_strictly_ordered(base: list[int], think: list[tuple[int, bool]]) -> None:
    ins = fixture_instructions(1)[0]
    n = len(ins.plan.checks)
    base = [min(s, n) for s in base]
    rollouts = [rollout(ins, s) for s in base] + [rollout(ins, min(s, n), THINK if r else None) for s, r in think]
    ev = StudentEval(model="m", baseline=summary(base, n), rollouts=rollouts)
    pair = contrast_pair(ev, [])
    winners = [r for r in rollouts if r.reasoning and r.satisfied > max(base)]
    assert (pair is not None) == bool(winners)  # a baseline rollout always fails below a winner
    if pair is not None:
        chosen, rejected = pair
        assert chosen.score > rejected.score and chosen.has_reasoning and not rejected.passed
        assert chosen.satisfied == max(r.satisfied for r in winners)


def test_a_baseline_pass_rate_outside_0_1_is_a_clear_error(tmp_path: Path) -> None:
    ins = fixture_instructions(1)
    kept, rejects = answered(ins, "fp-bad", 0)
    bad = student(ins[0], [0, 0], [0]).model_copy(
        update={"baseline": summary([0], 1).model_copy(update={"pass_rate": 1.5})}
    )
    with pytest.raises(ComplexifyError, match=r"baseline pass rate 1\.5 is outside \[0, 1\]"):
        publish.build_dataset_folder(
            [kept[0].model_copy(update={"student": bad})], rejects, tmp_path / "ds", repo_id="o/c", run_info={}
        )


def test_shards_written_before_the_student_columns_still_give_statistics(tmp_path: Path) -> None:
    import duckdb
    import pyarrow.parquet as pq

    from pipeline.store.catalog import _create_views
    from pipeline.store.schema import instructions_to_table, samples_to_table

    ins = fixture_instructions(3)
    kept, rejects = answered(ins, "fp-old", 0)
    student_columns = [c for c in SAMPLES_SCHEMA.names if c.startswith(("baseline_", "reasoning_", "student"))]
    files = {
        "instructions": tmp_path / "i.parquet",
        "samples": tmp_path / "s.parquet",
        "rejects": tmp_path / "r.parquet",
    }
    pq.write_table(instructions_to_table(ins, run_id="r", run_fingerprint="fp-old", batch=0), files["instructions"])
    for kind, group in (("samples", kept), ("rejects", rejects)):
        old = samples_to_table(group, batch=0).drop_columns(student_columns)  # as an older writer left it
        pq.write_table(old, files[kind])
    with duckdb.connect() as con:
        _create_views(con, {kind: [path] for kind, path in files.items()})
        stats = store.run_stats(con, "fp-old")
    assert stats.total().kept == 3 and stats.difficulty() == {} and stats.reasoning_outcomes() == {}
