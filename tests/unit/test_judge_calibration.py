"""Judge calibration: the numbers on worked examples, routing, the config, the gold file, and the gate's routes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.checks.registry import CheckResult
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Check, JudgeProbe, Response, Verdict, VerificationPlan
from pipeline.run.config import ConfigError, GateConfig, parse_config
from pipeline.run.gate import gate, gating_verdict
from pipeline.run.judge_routing import check_calibration_config, judge_routes
from pipeline.verify.judge_calibration import (
    DimensionCalibration,
    LabelledScore,
    RoutingRule,
    auto_route,
    is_sampled,
    judge_score,
    margin_for_precision,
    precision_at,
    resolve_routes,
    summarize,
    ungated_checks,
)
from pipeline.verify.judge_gold import GoldFileError, load_gold
from pipeline.verify.plan import score

# --- the numbers -------------------------------------------------------------------------------------------

# Scores (log P(YES) - log P(NO)) with their code labels: at margin 0 the judge says YES to the five positive
# scores, of which 4 are labelled True (precision 0.8); above 0.5 only 3.0, 2.0 and 1.0 remain, all True.
PAIRS = [(3.0, True), (2.0, True), (1.0, True), (0.5, False), (0.2, True), (-0.5, True), (-1.0, False), (-4.0, False)]


def test_precision_on_a_worked_example() -> None:
    assert precision_at(PAIRS, 0.0) == pytest.approx(4 / 5)
    assert precision_at(PAIRS, 0.5) == 1.0
    assert precision_at(PAIRS, 3.0) is None  # nothing is above the largest score: no YES, no precision


def test_the_95_margin_is_the_smallest_that_reaches_the_target() -> None:
    assert margin_for_precision(PAIRS) == 0.5  # 0 and 0.2 give 0.8 and 0.75
    assert margin_for_precision(PAIRS, target=0.8) == 0.0
    assert margin_for_precision([(2.0, False), (1.0, True)]) is None  # the top score is wrong: no margin reaches 95%
    assert margin_for_precision([]) is None
    assert margin_for_precision([(1.0, True), (math.nan, False)]) == 0.0  # an unusable answer is never YES


def test_judge_score_follows_the_judges_decision_rule() -> None:
    assert judge_score(-0.1, -2.1) == pytest.approx(2.0)
    assert math.isnan(judge_score(-math.inf, -math.inf)) and math.isnan(judge_score(math.nan, -1.0))
    assert judge_score(-0.1, -math.inf) == math.inf


def test_summarize_counts_per_dimension() -> None:
    pairs = [LabelledScore("Length", s, s > 0, label) for s, label in PAIRS]
    pairs.append(LabelledScore("Topic", -1.0, False, True, gold=True))
    length, topic = summarize(pairs)
    assert (length.dimension, length.n, length.gold, length.positives, length.judged_yes, length.true_yes) == (
        "Length",
        8,
        0,
        5,
        5,
        4,
    )
    assert length.precision == pytest.approx(0.8) and length.recall == pytest.approx(0.8) and length.margin_95 == 0.5
    assert (topic.n, topic.gold, topic.precision, topic.recall, topic.margin_95) == (1, 1, None, 0.0, None)


# --- routing -----------------------------------------------------------------------------------------------


def cal(precision: float | None, n: int = 50) -> DimensionCalibration:
    return DimensionCalibration("Topic", n, 0, n // 2, 10, 0, precision, 0.5, None)


@pytest.mark.parametrize(
    ("calibration", "route"),
    [(cal(0.95), "gate"), (cal(0.9), "gate"), (cal(0.8), "reward-only"), (cal(0.5), "report-only"),
     (cal(None), "report-only"), (cal(0.2, n=5), "gate"), (None, "gate")],
    ids=["precise", "at-threshold", "reward", "imprecise", "never-yes", "too-few", "unmeasured"],
)  # fmt: skip
def test_auto_route_by_precision_and_sample_count(calibration: DimensionCalibration | None, route: str) -> None:
    assert auto_route(calibration, RoutingRule(min_samples=20, min_precision=0.9, min_reward_precision=0.7)) == route


def test_fixed_routes_win_and_auto_uses_the_numbers() -> None:
    routes = resolve_routes(
        ["Topic", "Sentiment", "Length"],
        {"Sentiment": "report-only", "Topic": "auto"},
        "reward-only",
        [cal(0.5)],
        RoutingRule(),
    )
    assert routes == {"Length": "reward-only", "Sentiment": "report-only", "Topic": "report-only"}


def test_calibration_share_is_a_fixed_function_of_the_instruction_and_check() -> None:
    picks = [is_sampled(f"fp{i}", "c1", 0.2) for i in range(2000)]
    assert picks == [is_sampled(f"fp{i}", "c1", 0.2) for i in range(2000)]  # no randomness between calls or runs
    assert 0.17 < sum(picks) / len(picks) < 0.23
    assert not any(is_sampled(f"fp{i}", "c1", 0.0) for i in range(200))
    assert all(is_sampled(f"fp{i}", "c1", 1.0) for i in range(200))


# --- config and gold file ------------------------------------------------------------------------------------


def test_calibration_config_defaults_and_bad_values() -> None:
    cal_cfg = parse_config({"samples": 1}).models.judge.calibration
    assert (cal_cfg.share, cal_cfg.default_route, cal_cfg.gold_file) == (0.2, "gate", None)
    with pytest.raises(
        ConfigError, match=r"models\.judge\.calibration\.share: Input should be less than or equal to 1"
    ):
        parse_config({"samples": 1, "models": {"judge": {"calibration": {"share": 1.5}}}})
    with pytest.raises(
        ConfigError, match=r"routes\.Topic: Input should be 'gate', 'reward-only', 'report-only' or 'auto'"
    ):
        parse_config({"samples": 1, "models": {"judge": {"calibration": {"routes": {"Topic": "maybe"}}}}})
    with pytest.raises(ConfigError, match=r"min_reward_precision \(0\.8\) is above min_precision \(0\.6\)"):
        parse_config(
            {"samples": 1, "models": {"judge": {"calibration": {"min_precision": 0.6, "min_reward_precision": 0.8}}}}
        )


def test_routes_must_name_known_dimensions() -> None:
    cfg = parse_config({"samples": 1, "models": {"judge": {"calibration": {"routes": {"Topicc": "gate"}}}}})
    with pytest.raises(ConfigError, match=r"unknown dimension 'Topicc'; known: .*Topic"):
        check_calibration_config(cfg, load_taxonomy())


GOOD = {
    "instruction": "Write about rain.",
    "response": "Rain is lovely.",
    "question": "Is the tone positive?",
    "label": True,
    "dimension": "Sentiment",
}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], "line 1: not valid JSON"),
        ([json.dumps({**GOOD, "label": "yes"})], "line 1: label must be true or false, got 'yes'"),
        (["", json.dumps({k: v for k, v in GOOD.items() if k != "question"})], "line 2: missing question"),
        ([json.dumps({**GOOD, "dimension": "Mood"})], "line 1: unknown dimension 'Mood'; known: "),
        ([json.dumps({**GOOD, "answer": 1})], "line 1: unknown field answer"),
        ([json.dumps({**GOOD, "response": " "})], "line 1: response must be a non-empty string"),
        ([json.dumps([GOOD])], "line 1: expected a JSON object"),
        ([""], "has no examples"),
    ],
    ids=["json", "label", "missing", "dimension", "extra", "empty-response", "not-object", "no-examples"],
)
def test_gold_file_errors_name_the_line_and_the_fix(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(GoldFileError, match=message):
        load_gold(path, load_taxonomy().dimensions)


def test_gold_file_loads_and_a_missing_one_is_a_config_problem(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "label": False}) + "\n", encoding="utf-8")
    assert [(e.line, e.label, e.dimension) for e in load_gold(path)] == [
        (1, True, "Sentiment"),
        (3, False, "Sentiment"),
    ]
    cfg = parse_config(
        {"samples": 1, "models": {"judge": {"calibration": {"gold_file": str(tmp_path / "none.jsonl")}}}}
    )
    with pytest.raises(GoldFileError, match=r"none\.jsonl not found; fix models\.judge\.calibration\.gold_file"):
        check_calibration_config(cfg, load_taxonomy())


def test_auto_routes_come_from_the_gold_numbers() -> None:
    cfg = parse_config(
        {"samples": 1, "models": {"judge": {"calibration": {"default_route": "auto", "min_samples": 4}}}}
    )
    # Sentiment: the judge says YES to 4 gold examples, only 2 of them right (precision 0.5): report-only.
    gold = [
        JudgeProbe(check_id=f"gold:{i}", dimension="Sentiment", question="q", logprob_yes=-0.1, logprob_no=-3.0,
                   judged_yes=True, label=i % 2 == 0, source="gold")
        for i in range(4)
    ]  # fmt: skip
    routes = judge_routes(cfg, ["Sentiment", "Topic"], gold)
    assert routes == {"Sentiment": "report-only", "Topic": "gate"}  # Topic has no numbers: the untrusted route


# --- the gate follows the routes -------------------------------------------------------------------------------

PLAN = VerificationPlan(
    checks=[
        Check(id="c1", kind="code", checker="length:max_words", dimension="Length"),
        Check(id="c2", kind="judge", question="Is it about rain?", dimension="Topic"),
        Check(id="c3", kind="code", checker="case:lowercase", dimension="Language Style", depends_on=["c2"]),
    ]
)


def verdict(c1: bool, c2: bool, c3: bool) -> Verdict:
    return score(PLAN, {"c1": CheckResult(c1, ""), "c2": CheckResult(c2, "judge"), "c3": CheckResult(c3, "")})


def test_a_failed_judge_check_rejects_only_when_its_dimension_gates() -> None:
    failed_judge = verdict(True, False, True)
    response = Response(text="a plain answer about rain and the way it falls on the roof.")
    for routes, kept in [
        ({"Topic": "gate"}, False),
        ({"Topic": "reward-only"}, True),
        ({"Topic": "report-only"}, True),
        ({}, False),
    ]:
        ok, reasons = gate(
            response, failed_judge, GateConfig(), plan=PLAN, ungated=ungated_checks(PLAN.checks, routes)
        )
        assert ok is kept, (routes, reasons)
    # the stored verdict keeps the judge check, and its dependent c3 is blocked there; the gate's view is not
    assert not failed_judge.checks[2].gated
    view = gating_verdict(failed_judge, PLAN, frozenset({"c2"}))
    assert [c.check_id for c in view.checks] == ["c1", "c3"] and view.all_pass
    # a code check still rejects whatever the routes say
    ok, reasons = gate(response, verdict(False, True, True), GateConfig(), plan=PLAN, ungated=frozenset({"c2"}))
    assert not ok and reasons == ["failed_check:c1"]


def test_an_instruction_left_with_no_gating_check_is_rejected() -> None:
    plan = VerificationPlan(checks=[Check(id="c1", kind="judge", question="Is it kind?", dimension="Sentiment")])
    v = score(plan, {"c1": CheckResult(True, "judge")})
    ok, reasons = gate(
        Response(text="a kind and thoughtful answer."), v, GateConfig(), plan=plan, ungated=frozenset({"c1"})
    )
    assert not ok and reasons == ["no_gating_checks"]
