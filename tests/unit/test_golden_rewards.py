"""Every reward surface reproduces the golden reward file exactly, and scoring never changes its inputs.

`tests/data/golden_rewards.jsonl` (made by `tests/helpers/golden_rewards.py`, hand-checked) holds rows of
response x ground truth x reward mode -> expected reward. The surfaces: `score_response`, the TRL reward
(string and chat completions, in one batch per mode, and the default `reward` object), verl's `compute_score`,
the `rl` config's ground truths as a publish writes them and `datasets` reads them back, and the `gym` config
(NeMo Gym's all-pass rule on its `instruction_id_list` / `kwargs`, and its `ground_truth`).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pipeline.checks.registry import run_check_closed
from pipeline.models import Instruction, Response, RolloutSummary, Sample, StudentEval, Task, VerificationPlan
from pipeline.publish.dataset import build_dataset_folder
from pipeline.publish.gym import gym_reward
from pipeline.verify.plan import verify_response
from pipeline.verify.reward import compute_score, make_trl_reward, reward, score_response
from pipeline.verify.tripwires import load_suite
from tests.helpers import golden_rewards as golden

ROWS: list[dict[str, Any]] = [json.loads(line) for line in golden.OUT.read_text(encoding="utf-8").splitlines()]


def by_mode() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in ROWS:
        groups[json.dumps(row["mode"], sort_keys=True)].append(row)
    return groups


def test_the_file_is_what_the_script_writes() -> None:
    assert golden.OUT.read_text(encoding="utf-8") == golden.render(), "run python -m tests.helpers.golden_rewards"


def test_the_file_covers_every_mode_format_and_structure_with_hand_rows() -> None:
    hand = [r for r in ROWS if r["source"] == "hand"]
    assert len(hand) * 3 >= len(ROWS), "at least a third of the rows are reasoned by hand"
    assert all(r["why"].strip() for r in ROWS)
    assert {r["id"].split(":")[1] for r in hand} == set(golden.MODES), "every mode has hand-checked rows"
    names = {r["id"].split(":")[0] for r in ROWS}
    assert {f"and/format_{f}" for f in golden.FORMATS} <= names
    assert {n.split("/")[0] for n in names} == {"and", "chain", "selection", "nested", "judge"}
    assert any(r["response"] is None for r in ROWS) and any(r["response"] == "" for r in ROWS)
    assert {r["expected"] for r in ROWS} >= {-2.0, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0}


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_score_response_reproduces_the_row(row: dict[str, Any]) -> None:
    m = row["mode"]
    got = score_response(
        row["response"], row["ground_truth"], score=m["score"], strip_think=m["strip_think"],
        judge=golden.judge_saying(m["judge"]), contrast=m["contrast"], masked_score=m["masked_score"],
    ).score  # fmt: skip
    assert got == pytest.approx(row["expected"], abs=1e-12), row["why"]


@pytest.mark.parametrize("chat", [False, True], ids=["text", "chat"])
def test_trl_reward_reproduces_every_row_in_one_batch_per_mode(chat: bool) -> None:
    for key, rows in by_mode().items():
        m = json.loads(key)
        fn = make_trl_reward(
            score=m["score"],
            strip_think=m["strip_think"],
            judge=golden.judge_saying(m["judge"]),
            contrast=m["contrast"],
            masked_score=m["masked_score"],
        )
        completions: list[Any] = [
            [{"role": "assistant", "content": r["response"] or ""}] if chat else r["response"] for r in rows
        ]
        prompts = [[{"role": "user", "content": golden.INSTRUCTION}] for _ in rows]
        got = fn(prompts, completions, [r["ground_truth"] for r in rows], id=[r["id"] for r in rows])
        assert got == pytest.approx([r["expected"] for r in rows], abs=1e-12), key


def test_the_default_trl_reward_is_the_raif_mode() -> None:
    rows = [r for r in ROWS if r["mode"] == golden.mode("raif")]
    got = reward([golden.INSTRUCTION] * len(rows), [r["response"] for r in rows], [r["ground_truth"] for r in rows])
    assert got == pytest.approx([r["expected"] for r in rows], abs=1e-12)


@pytest.mark.parametrize("row", [r for r in ROWS if r["mode"]["judge"] is None], ids=lambda r: r["id"])
def test_verl_compute_score_reproduces_the_row(row: dict[str, Any]) -> None:
    m = row["mode"]
    info = {k: m[k] for k in ("score", "strip_think", "contrast", "masked_score")}
    got = compute_score("complexify", row["response"], row["ground_truth"], info)
    assert got == pytest.approx(row["expected"], abs=1e-12), row["why"]


def _instruction(plan: str) -> Instruction:
    return Instruction(
        id=f"golden-{plan}",
        seed_id="golden",
        seed_text=golden.INSTRUCTION,
        tree=Task(task=golden.INSTRUCTION),
        category=plan,
        composition=[],
        depth=0,
        prompt=golden.INSTRUCTION,
        plan=VerificationPlan.model_validate(golden.PLANS[plan]),
        taxonomy_version="golden",
        fingerprint=f"fp-{plan}",
    )


def _sample(ins: Instruction) -> Sample:
    return Sample(
        id=f"{ins.id}-k0",
        instruction=ins,
        response=Response(text="reference", model="m"),
        verdict=verify_response("reference", ins.plan),
        kept=True,
        run_id="golden",
        run_fingerprint="fp",
    )


def test_the_published_rl_ground_truths_read_back_through_datasets_reproduce_the_file(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    kept = [_sample(_instruction(plan)) for plan in golden.PLANS]
    built = build_dataset_folder(kept, [], tmp_path / "hub", repo_id="org/golden", run_info={})
    rl = datasets.load_dataset(str(built.folder), "rl", split="train", cache_dir=str(tmp_path / "hf-cache"))
    published = {row["id"]: row["ground_truth"] for row in rl}
    assert set(published) == {f"golden-{p}" for p in golden.PLANS}
    checked = 0
    for row in ROWS:
        m = row["mode"]
        if m["contrast"]:
            continue  # the run measured no student, so published ground truths carry no baseline
        gt = published[json.loads(row["ground_truth"])["instruction_id"]]
        assert json.loads(gt)["plan"] == VerificationPlan.model_validate(
            golden.PLANS[row["id"].split("/")[0]]
        ).model_dump(mode="json")
        got = make_trl_reward(
            score=m["score"],
            strip_think=m["strip_think"],
            judge=golden.judge_saying(m["judge"]),
            masked_score=m["masked_score"],
        )([golden.INSTRUCTION], [row["response"]], [gt])
        assert got == pytest.approx([row["expected"]], abs=1e-12), row["id"]
        if m["judge"] is None:
            info = {"score": m["score"], "strip_think": m["strip_think"]}
            assert compute_score("complexify", row["response"], gt, info) == pytest.approx(row["expected"], abs=1e-12)
        checked += 1
    assert checked > len(ROWS) // 2


def test_the_contrast_rows_reproduce_the_file_through_a_measured_runs_rl_ground_truths(tmp_path: Path) -> None:
    """A run that measured the student publishes its baseline in the ground truth: the contrast modes read it."""
    datasets = pytest.importorskip("datasets")
    kept = []
    for plan, baseline in golden.BASELINES.items():
        if baseline is None:
            continue
        summary = RolloutSummary(k=2, pass_rate=0.0, mean_satisfied=baseline, best_satisfied=int(baseline))
        kept.append(
            _sample(_instruction(plan)).model_copy(update={"student": StudentEval(model="s", baseline=summary)})
        )
    built = build_dataset_folder(kept, [], tmp_path / "hub", repo_id="org/golden", run_info={})
    rl = datasets.load_dataset(str(built.folder), "rl", split="train", cache_dir=str(tmp_path / "hf-cache"))
    published = {row["id"]: row["ground_truth"] for row in rl}
    rows = [r for r in ROWS if r["mode"]["contrast"]]
    assert rows and {json.loads(r["ground_truth"])["instruction_id"] for r in rows} == set(published)
    for r in rows:
        gt = published[json.loads(r["ground_truth"])["instruction_id"]]
        m = r["mode"]
        info = {k: m[k] for k in ("score", "strip_think", "contrast", "masked_score")}
        assert compute_score("complexify", r["response"], gt, info) == pytest.approx(r["expected"], abs=1e-12), r["id"]
        fn = make_trl_reward(score=m["score"], contrast=True, masked_score=m["masked_score"])
        assert fn([golden.INSTRUCTION], [r["response"]], [gt]) == pytest.approx([r["expected"]], abs=1e-12)


def test_the_gym_config_reproduces_the_file_with_its_all_pass_rule_and_its_ground_truth(tmp_path: Path) -> None:
    """Only the And plan has whole-response IFEval checks alone: NeMo Gym's server can verify it, the others not."""
    datasets = pytest.importorskip("datasets")
    kept = [_sample(_instruction(plan)) for plan in golden.PLANS]
    built = build_dataset_folder(kept, [], tmp_path / "hub", repo_id="org/golden", run_info={})
    gym = datasets.load_dataset(str(built.folder), "gym", split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert [r["instruction_id"] for r in gym] == ["golden-and"]
    row = gym[0]
    plan = golden.PLANS["and"]["checks"]
    assert row["instruction_id_list"] == [c["checker"] for c in plan]
    assert [{k: v for k, v in kw.items() if v is not None} for kw in row["kwargs"]] == [c["kwargs"] for c in plan]
    assert row["responses_create_params"] == {"input": [{"role": "user", "content": golden.INSTRUCTION}]}
    assert row["grading_mode"] == "binary"
    gym.to_json(tmp_path / "if.jsonl")  # what the server reads
    line = json.loads((tmp_path / "if.jsonl").read_text().splitlines()[0])
    assert line["instruction_id_list"] == row["instruction_id_list"] and isinstance(line["id"], int)
    checked = 0
    for r in ROWS:
        m = r["mode"]
        if not r["id"].startswith("and/") or m["contrast"] or m["judge"] is not None:
            continue
        info = {"score": m["score"], "strip_think": m["strip_think"]}
        assert compute_score("complexify", r["response"], row["ground_truth"], info) == pytest.approx(r["expected"])
        if m["score"] == "all_pass" and m["strip_think"]:
            assert gym_reward(row, r["response"]) == r["expected"], r["id"]
            checked += 1
        if m["score"] == "drfr" and m["strip_think"]:
            assert gym_reward({**row, "grading_mode": "fraction"}, r["response"]) == r["expected"], r["id"]
            checked += 1
    assert checked >= 40


def test_scoring_never_changes_the_ground_truth_or_its_kwargs() -> None:
    for row in ROWS:
        m = row["mode"]
        as_dict = json.loads(row["ground_truth"])
        before = copy.deepcopy(as_dict)
        score_response(
            row["response"],
            as_dict,
            score=m["score"],
            strip_think=m["strip_think"],
            judge=golden.judge_saying(m["judge"]),
            contrast=m["contrast"],
            masked_score=m["masked_score"],
        )
        assert as_dict == before, row["id"]
    yes = golden.judge_saying("yes")
    for plan in golden.PLANS:
        ins = _instruction(plan)
        dumped = ins.plan.model_dump(mode="json")
        for row in ROWS:
            if row["id"].startswith(f"{plan}/"):
                verify_response(row["response"] or "", ins.plan, instruction=ins.prompt, judge=yes)
        assert ins.plan.model_dump(mode="json") == dumped, plan


def test_no_checker_changes_its_kwargs() -> None:
    """Every case of the adversarial suite, run through its checker: the kwargs objects are unchanged after."""
    for case in load_suite():
        kwargs = copy.deepcopy(case.kwargs)
        run_check_closed(case.checker, case.response, kwargs)
        assert kwargs == case.kwargs, f"{case.family}[{case.index}] {case.checker} changed its kwargs"
