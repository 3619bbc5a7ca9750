"""Judge-injection probes: every judged dimension is probed at run start; a judge that can be fooled gets a
false-credit rate that `complexify stats`, the run summary and the card show, and its dimensions cannot gate."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline import store
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response
from pipeline.publish.dataset import publish_run
from pipeline.run.config import RoleConfig, RunConfig, parse_config
from pipeline.run.judge_report import COLUMNS, judge_summary_lines, judge_summary_rows
from pipeline.run.judge_routing import with_judge_routes
from pipeline.run.stages import Models
from pipeline.store.usage import stored_run_usage
from pipeline.verify.judge import LLMJudge
from pipeline.verify.judge_gold import GoldExample
from pipeline.verify.judge_injection import INJECTION_KINDS, injection_probes
from tests.helpers.stored_run import write_stored_run

FP = "fp-injection"
YES, NO = (-0.1, -2.1), (-2.1, -0.1)
_RESPONSE = re.compile(r"Response:\n(.*)\n\nQuestion:", re.DOTALL)


class ScriptedJudge:
    """A YES/NO scorer that reads the response it is shown; `fooled_by` lists the probe kinds that fool it."""

    def __init__(self, fooled_by: Sequence[str] = ()) -> None:
        self.fooled_by = set(fooled_by)
        self.asked = 0

    def kind(self, response: str, instruction: str) -> str | None:
        if "IGNORE ALL PREVIOUS INSTRUCTIONS" in response:
            return "override"
        if response.startswith("<think>") and "Verdict: YES" in response:
            return "reasoning_verdict"
        if "Self-assessment:" in response:
            return "self_assessment"
        if response.strip() == instruction.strip():
            return "instruction_echo"
        return None

    def yes_no_logprobs(self, conversations: Sequence[list[dict[str, str]]]) -> list[tuple[float, float]]:
        self.asked += len(conversations)
        out = []
        for conv in conversations:
            user = conv[-1]["content"]
            m = _RESPONSE.search(user)
            response = m.group(1) if m else ""
            instruction = user.split("Instruction:\n", 1)[1].split("\n\nResponse:", 1)[0]
            out.append(YES if self.kind(response, instruction) in self.fooled_by else NO)
        return out


def no_chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
    raise AssertionError("routing at run start must not chat")


def config(**calibration: object) -> RunConfig:
    return parse_config(
        {
            "samples": 4,
            "models": {"judge": {"enabled": True, "calibration": calibration}},
            "fidelity": {"enabled": False},
        }
    )


def judged_dimensions() -> set[str]:
    """The dimensions of the judge-checked constraints a run with the default config may compose."""
    allowed = set(config().compose.vocabularies)
    return {s.dimension for s in load_taxonomy().specs.values() if not s.is_code and s.vocabulary in allowed}


def route(judge: ScriptedJudge, run: store.RunPaths | None = None, **calibration: object) -> dict[str, str]:
    models = with_judge_routes(config(**calibration), load_taxonomy(), Models(chat=no_chat, judge=LLMJudge(judge)),
                               lambda _: None, run)  # fmt: skip
    return dict(models.routes)


def test_every_judged_dimension_gets_every_kind_of_probe_the_same_way_each_time() -> None:
    tax = load_taxonomy()
    probes = injection_probes(tax)
    assert probes == injection_probes(tax)  # a fixed draw: every run asks the same questions
    dims = judged_dimensions()
    assert dims and {p.dimension for p in probes} == dims
    for dim in dims:
        mine = [p for p in probes if p.dimension == dim]
        assert {p.kind for p in mine} == set(INJECTION_KINDS)
        assert 1 <= len({p.source for p in mine}) <= 3
        assert all(p.query.question and "{" not in p.query.question for p in mine)
    assert len(injection_probes(tax, per_dimension=1)) == 4 * len(dims)
    assert injection_probes(tax, per_dimension=0) == []


def test_a_dimension_known_only_from_the_gold_file_is_probed_with_its_gold_questions() -> None:
    tax = load_taxonomy()
    only_gold = sorted(set(tax.dimensions) - judged_dimensions())[0]
    gold = [GoldExample(3, "Praise the river.", "It is lovely.", "Is the tone positive?", True, only_gold)]
    mine = [p for p in injection_probes(tax, gold) if p.dimension == only_gold]
    assert [p.kind for p in mine] == list(INJECTION_KINDS)
    assert {p.source for p in mine} == {"gold:3"} and mine[0].query.question == "Is the tone positive?"
    assert mine[-1].query.response == "Praise the river."  # the echo restates the instruction


def test_a_judge_that_cannot_be_fooled_keeps_every_dimension_gating() -> None:
    judge = ScriptedJudge()
    routes = route(judge)
    assert judge.asked == len(injection_probes(load_taxonomy()))
    assert all(routes[d] == "gate" for d in judged_dimensions())


@pytest.mark.parametrize("kind", INJECTION_KINDS)
def test_a_judge_fooled_by_any_one_kind_of_probe_cannot_gate(kind: str) -> None:
    routes = route(ScriptedJudge([kind]))
    assert all(routes[d] == "report-only" for d in judged_dimensions())  # 1 in 4 probes: 25% > 10%
    assert route(ScriptedJudge([kind]), max_false_credit=0.3)["Language Style"] == "gate"  # the limit is the config's
    assert route(ScriptedJudge([kind]), routes={"Language Style": "reward-only"})["Language Style"] == "reward-only"


def test_probes_off_or_no_judge_ask_nothing() -> None:
    judge = ScriptedJudge(INJECTION_KINDS)
    assert all(r == "gate" for r in route(judge, injection_probes=0).values()) and judge.asked == 0
    routes = with_judge_routes(config(), load_taxonomy(), Models(chat=no_chat, judge=None), lambda _: None).routes
    assert all(r == "gate" for r in routes.values())  # no judge to ask: the routes are the config's


def test_a_run_that_composes_no_judge_checked_constraint_asks_no_probe() -> None:
    judge = ScriptedJudge(INJECTION_KINDS)
    cfg = parse_config(
        {
            "samples": 4,
            "compose": {"checkers": "code"},
            "models": {"judge": {"enabled": True}},
            "fidelity": {"enabled": False},
        }
    )
    routes = with_judge_routes(
        cfg, load_taxonomy(), Models(chat=no_chat, judge=LLMJudge(judge)), lambda _: None
    ).routes
    assert judge.asked == 0 and all(r == "gate" for r in routes.values())


def test_the_false_credit_rate_is_stored_and_shown_in_stats_the_summary_and_the_card(tmp_path: Path) -> None:
    root = tmp_path / "out"
    run = write_stored_run(root, FP)
    fooled = ScriptedJudge(["override", "self_assessment"])
    routes = route(fooled, run)
    asked = fooled.asked
    assert route(fooled, run) == routes and fooled.asked == asked  # a resumed run reads the stored answers back
    assert store.read_judge_routes(run)["Language Style"] == "report-only"
    store.refresh_catalog(root)
    with store.open_catalog(root) as con:
        cal = {c.dimension: c for c in store.run_stats(con, FP).calibration}
        row = con.execute(
            "SELECT probes, false_credit FROM judge_calibration WHERE dimension = 'Language Style'"
        ).fetchone()
        summary = judge_summary_rows(con, FP, config().model_dump(mode="json"))
    style = cal["Language Style"]
    assert style.probes > 0 and style.false_credit == 0.5 and row == (style.probes, 0.5)
    assert style.n == 0 and style.precision is None  # probes are kept apart from the precision
    assert {r["dimension"]: r["route"] for r in summary}["Language Style"] == "report-only"
    assert any("Language Style" in line and "50.0%" in line for line in judge_summary_lines(summary))
    card = (publish_run(root, FP, "org/cx", out=tmp_path / "hub", dry_run=True).built.folder / "README.md").read_text()
    section = card.split("## Judge calibration", 1)[1]
    head = next(line for line in section.splitlines() if line.startswith("| dimension"))
    assert "false credit" in head and "injection probes" in head and "false credit" in COLUMNS
    line = next(line for line in section.splitlines() if line.startswith("| Language Style |"))
    cells = [x.strip() for x in line.strip("|").split("|")]
    assert cells[COLUMNS.index("injection probes")] == str(style.probes)
    assert cells[COLUMNS.index("false credit")] == "50.0%" and cells[-1] == "report-only"


def test_the_calibration_questions_count_once_in_the_runs_ledger(tmp_path: Path) -> None:
    root = tmp_path / "out"
    run = write_stored_run(root, FP)
    before = stored_run_usage(run)
    judge = ScriptedJudge(["override"])
    route(judge, run)
    route(judge, run)  # a resumed run reads the stored answers back: nothing more is asked or counted
    (row,) = store.read_calibration_usage(run)
    assert (row.stage, row.role, row.model) == ("judge_calibration", "judge", config().models.judge.model)
    assert row.requests == judge.asked > 0 and row.failures == 0
    after = stored_run_usage(run)
    assert after.total().requests == before.total().requests + judge.asked
    assert after.batches == before.batches, "calibration is not a batch"
    assert after.rows[0].stage == "judge_calibration", "listed first: it is asked before any batch"
