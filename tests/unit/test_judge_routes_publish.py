"""Report-only judge routes reach the published rewards: their checks leave the `rl` ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline import store
from pipeline.models import Check, Sample, VerificationPlan
from pipeline.publish.dataset import publish_run, rl_rows
from pipeline.verify.plan import without_checks
from pipeline.verify.reward import compute_score
from tests.unit.test_publish import samples  # noqa: F401  (the module fixture: kept answers to t:lower instructions)

JUDGE = Check(id="j1", kind="judge", question="Is the answer polite?", dimension="Style")


def with_judge_check(sample: Sample) -> Sample:
    """The sample with a judge check (dimension Style) that its code check depends on."""
    plan = sample.instruction.plan
    checks = [JUDGE, *(c.model_copy(update={"depends_on": [*c.depends_on, "j1"]}) for c in plan.checks)]
    return sample.model_copy(
        update={"instruction": sample.instruction.model_copy(update={"plan": VerificationPlan(checks=checks)})}
    )


def test_without_checks_drops_the_checks_and_the_dependencies_on_them() -> None:
    plan = VerificationPlan(checks=[JUDGE, Check(id="c1", kind="code", checker="t:lower", depends_on=["j1"])])
    left = without_checks(plan, lambda c: c.kind == "judge")
    assert [(c.id, c.depends_on) for c in left.checks] == [("c1", [])]
    assert without_checks(plan, lambda c: False) is plan


def test_report_only_judge_checks_leave_the_reward(samples) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sample = with_judge_check(samples.kept[0])
    [counted] = rl_rows([sample])
    [reported] = rl_rows([sample], None, {"Style"})
    assert [c["id"] for c in json.loads(counted["ground_truth"])["plan"]["checks"]] == ["j1", "c1"]
    assert [c["id"] for c in json.loads(reported["ground_truth"])["plan"]["checks"]] == ["c1"]
    assert (counted["n_checks"], reported["n_checks"]) == (2, 1)
    answer = sample.response.text
    # without a judge the judge check counts as unsatisfied and gates the code check; report-only, it is gone
    assert (
        compute_score("complexify", answer, counted["ground_truth"])
        < compute_score("complexify", answer, reported["ground_truth"])
        == 2.0
    )


def test_publish_reads_the_routes_the_run_recorded(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    kept = [with_judge_check(s) for s in samples.kept]
    root = tmp_path / "out"
    fp = kept[0].run_fingerprint
    run = store.open_run(root, fp, {"name": "routes"})
    store.write_batch(run, 0, [s.instruction for s in kept], kept, [])
    store.refresh_catalog(root)
    store.write_judge_routes(run, {"Style": "report-only", "Format": "gate"})
    store.write_judge_routes(run, {"Style": "gate"})  # recorded once: the first process's routes stay
    assert store.read_judge_routes(run) == {"Format": "gate", "Style": "report-only"}
    out = tmp_path / "hub"
    publish_run(root, fp, "org/routes", out=out, dry_run=True)
    rows = pq.read_table(next((out / "data" / "rl").glob("*.parquet"))).to_pylist()
    assert rows and all(json.loads(r["ground_truth"])["plan"]["checks"][0]["id"] == "c1" for r in rows)
    assert all(r["n_checks"] == 1 for r in rows)


@pytest.mark.parametrize("routes", [{}, {"Style": "reward-only"}, {"Style": "gate"}])
def test_other_routes_keep_the_judge_check_in_the_reward(samples, routes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sample = with_judge_check(samples.kept[0])
    [row] = rl_rows([sample], None, {d for d, r in routes.items() if r == "report-only"})
    assert row["n_checks"] == 2
