"""A check nobody decided is never counted as passed: verdicts, gates, rewards and the run configuration."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline.checks.registry import CheckResult
from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import Check, Response, Seed, VerificationPlan
from pipeline.run.config import ConfigError, GateConfig, RunConfig, load_config, parse_config
from pipeline.run.gate import gate
from pipeline.run.identity import config_hash
from pipeline.verify.plan import JudgeQuery, verify_response
from pipeline.verify.reward import GROUND_TRUTH_FORMAT, compute_score, make_trl_reward, score_response

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "taxonomy"
CALM = "THE SEA IS CALM TODAY."
PLAN = VerificationPlan(
    checks=[
        Check(id="c1", kind="judge", question="Does the response describe a calm sea?"),
        Check(id="c2", kind="code", checker="t:upper"),
    ]
)


def yes_judge(queries: Sequence[JudgeQuery]) -> list[CheckResult]:
    return [CheckResult(True, "judge P(yes)=0.99") for _ in queries]


def test_a_skipped_check_is_never_passed() -> None:
    v = verify_response(CALM, PLAN)
    assert v.skipped == ["c1"] and not v.all_pass
    assert (v.n_checks, v.n_passed) == (2, 1)
    assert v.drfr == 0.5 and v.raif == 0.5  # the undecided check counts as unsatisfied, not as absent
    assert v.checks[0].skipped and not v.checks[0].passed and not v.checks[0].gated
    decided = verify_response(CALM, PLAN, judge=yes_judge)
    assert decided.all_pass and decided.skipped == [] and decided.raif == 2.0


def test_only_undecided_checks_score_as_nothing_passed() -> None:
    plan = VerificationPlan(checks=[Check(id="c1", kind="judge", question="Is it calm?")])
    v = verify_response(CALM, plan)
    assert not v.all_pass and v.n_checks == 1 and v.drfr == 0.0 and v.raif == -2.0


def test_dependents_of_an_undecided_check_keep_their_own_result() -> None:
    plan = VerificationPlan(
        checks=[
            Check(id="c1", kind="judge", question="Is it calm?"),
            Check(id="c2", kind="code", checker="t:upper", depends_on=["c1"]),
        ]
    )
    v = verify_response(CALM, plan)
    assert v.checks[1].gated and "gated" not in v.checks[1].evidence and not v.all_pass


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (GateConfig(), ["judge_skipped:c1"]),
        (GateConfig(score="drfr", threshold=0.5), ["judge_skipped:c1"]),
        (GateConfig(score="raif", threshold=0.0), ["judge_skipped:c1"]),
        (GateConfig(score="drfr", threshold=0.9), ["score_below_threshold:drfr=0.500<0.9", "judge_skipped:c1"]),
    ],
    ids=["all_pass", "drfr-met", "raif-met", "drfr-below"],
)
def test_gate_rejects_a_sample_with_an_undecided_check(cfg: GateConfig, expected: list[str]) -> None:
    kept, reasons = gate(Response(text=CALM), verify_response(CALM, PLAN), cfg)
    assert not kept and reasons == expected
    kept, reasons = gate(Response(text=CALM), verify_response(CALM, PLAN, judge=yes_judge), cfg)
    assert kept and reasons == []


def test_rewards_report_the_skip_and_do_not_count_it_as_passed() -> None:
    gt = json.dumps(
        {"format": GROUND_TRUTH_FORMAT, "instruction": "Describe the sea.", "plan": PLAN.model_dump(mode="json")}
    )
    result = score_response(CALM, gt)
    assert result.judge_skipped and result.score == 0.5
    assert compute_score("complexify", CALM, gt) == 0.5
    assert compute_score("complexify", CALM, gt, {"score": "all_pass"}) == 0.0
    assert make_trl_reward(score="all_pass")(["p"], [CALM], [gt]) == [0.0]
    assert make_trl_reward(score="drfr")(["p"], [CALM], [gt]) == [0.5]
    assert make_trl_reward(judge=yes_judge)(["p"], [CALM], [gt]) == [2.0]


def test_config_rejects_judge_checked_constraints_without_a_judge() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"samples": 5, "compose": {"checkers": "any"}, "models": {"judge": {"enabled": False}}}, "cfg.yaml"
        )
    text = str(err.value)
    assert isinstance(err.value, UserInputError)  # the CLI exits with code 2
    assert "cfg.yaml" in text and "compose.checkers" in text and "models.judge.enabled is false" in text
    assert "compose.drop_judge_specs: true" in text and "compose.checkers: code" in text
    with pytest.raises(ConfigError, match=r"models\.judge\.enabled is false"):
        parse_config({"samples": 5, "models": {"judge": {"enabled": False}}})  # checkers defaults to any


def test_drop_judge_specs_composes_code_checks_only_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    no_judge = {"judge": {"enabled": False}}
    with caplog.at_level(logging.WARNING, logger="pipeline.run.config"):
        cfg = parse_config({"samples": 5, "compose": {"drop_judge_specs": True}, "models": no_judge})
    assert "judge-checked ones are dropped" in caplog.text
    assert cfg.compose.checkers == "code"
    code_only = parse_config({"samples": 5, "compose": {"checkers": "code"}, "models": no_judge})
    assert config_hash(cfg) == config_hash(code_only)  # the same dataset, so the same run
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seed = Seed(id="s", text="Describe a lighthouse.")

    def kinds(run: RunConfig) -> set[str]:
        opts = run.compose
        return {
            c.kind
            for i in range(40)
            for c in compose_instruction(seed, "And_1", tax, random_seed=i, options=opts).plan.checks
        }

    assert kinds(cfg) == {"code"}
    assert kinds(parse_config({"samples": 5})) == {"code", "judge"}  # the same draws keep judge checks by default
    with pytest.raises(ConfigError, match="drop_judge_specs"):
        parse_config({"samples": 5, "compose": {"drop_judge_specs": "yes"}})


def test_run_refuses_such_a_config_with_exit_code_2(tmp_path: Path) -> None:
    cfg = tmp_path / "no-judge.yaml"
    cfg.write_text("samples: 3\ncompose: {checkers: any}\nmodels: {judge: {enabled: false}}\n")
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "models.judge.enabled is false" in out.stderr and "drop_judge_specs" in out.stderr


@pytest.mark.parametrize("name", ["default.yaml", "smoke.yaml", "gpu-example.yaml"])
def test_bundled_configs_still_load(name: str) -> None:
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.compose.checkers == "code" or cfg.models.judge.enabled
