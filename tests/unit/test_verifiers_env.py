"""The `verifiers` environment's own logic, without `verifiers`: its input checks and its per-check diagnostics.

Bad input fails when the environment loads, naming the fix, because verifiers turns a reward function that
raises into a silent 0.0. The environment itself, run by verifiers, is tested in
tests/integration/test_verifiers_env.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

from pipeline.errors import UserInputError
from pipeline.models import VerificationPlan
from pipeline.train import verifiers_env
from pipeline.train.verifiers_env import FULL_MARKS, diagnostics, load_environment
from pipeline.verify.reward import score_response
from tests.helpers import golden_rewards as golden
from tests.helpers.published import published_folder

CHAIN = golden.ground_truth("chain")


def test_full_marks_are_the_score_of_an_answer_meeting_every_check() -> None:
    answer = "We rowed down the river at dawn and saw herons."
    for kind, full in FULL_MARKS.items():
        assert score_response(answer, golden.ground_truth("and"), score=kind).score == full  # type: ignore[arg-type]


def test_diagnostics_tell_a_passed_check_from_one_that_counts() -> None:
    # Part 1 misses the river, so part 2's checks are gated off even where they pass on their own.
    result = score_response(
        "### Part 1\nThe lake was wide.\n\n### Part 2\nWe went home. The end.", CHAIN, score="drfr"
    )
    d = diagnostics(result, golden_plan("chain"))
    assert d["reward"] == result.score == 0.0 and d["checks_satisfied"] == 0 and d["n_checks"] == 3
    by_id = {c["check_id"]: c for c in d["checks"]}
    assert by_id["c1"]["passed"] is False and by_id["c1"]["checker"] == "keywords:existence"
    assert by_id["c3"]["passed"] is True and by_id["c3"]["satisfied"] is False and by_id["c3"]["depends_on"] == ["c1"]
    assert all(c["evidence"] for c in d["checks"])


def golden_plan(name: str) -> Any:
    return VerificationPlan.model_validate(golden.PLANS[name]).checks


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_folder(tmp_path_factory.mktemp("published") / "ds").folder


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": "pass_at_1"}, "score must be one of all_pass, drfr, raif"),
        ({"masked_score": float("nan")}, "masked_score must be a finite number"),
        ({"contrast": True}, "has no baseline_mean_satisfied, which contrast=true needs"),
    ],
)
def test_bad_modes_fail_at_load_naming_the_fix(published: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        load_environment(str(published), **kwargs)


def test_a_missing_folder_or_config_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist; run `complexify publish --out DIR` first"):
        load_environment(str(tmp_path / "nowhere"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.csv").write_text("a\n1\n")
    with pytest.raises(UserInputError, match="has no `rl` config"):
        load_environment(str(tmp_path / "other"))


def test_a_malformed_ground_truth_fails_at_load_naming_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = datasets.Dataset.from_list(
        [
            {"id": "good", "prompt": [{"role": "user", "content": "x"}], "ground_truth": CHAIN},
            {"id": "broken", "prompt": [{"role": "user", "content": "y"}], "ground_truth": "{not json"},
        ]
    )
    monkeypatch.setattr(verifiers_env, "load_config_rows", lambda published, config: rows)
    with pytest.raises(UserInputError, match=r"rl row broken of folder: ground_truth is not valid JSON"):
        load_environment("folder")
