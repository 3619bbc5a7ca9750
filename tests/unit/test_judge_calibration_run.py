"""The verify stage with a YES/NO scorer standing in for the judge: calibration questions are asked, leave every
verdict as the code made it, and their pairs reach the shards, the DuckDB catalog, `complexify stats` and the card."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import store
from pipeline.cli import app
from pipeline.construct.compose import compose_batch
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Seed
from pipeline.publish import dataset as publish
from pipeline.run.config import RoleConfig, RunConfig, parse_config
from pipeline.run.judge_report import judge_summary_lines, judge_summary_rows
from pipeline.run.judge_routing import with_judge_routes
from pipeline.run.stages import Judged, Models, Provenance, to_sample, verify_stage
from pipeline.verify.judge import LLMJudge
from pipeline.verify.judge_calibration import DimensionCalibration, LabelledScore, judge_score, summarize
from pipeline.verify.judge_gold import GOLD_FIELDS

FP = "fpcalib01"
ANSWERS = ["a plain lowercase answer about the river, calm and slow.", "The River. It FLOWS; rivers are long!"]


class HashScorer:
    """A judge stand-in: YES (+2 nats) or NO (-2 nats) by a hash of the conversation, so answers vary but repeat."""

    def __init__(self) -> None:
        self.asked = 0

    def yes_no_logprobs(self, conversations: Sequence[list[dict[str, str]]]) -> list[tuple[float, float]]:
        self.asked += len(conversations)
        out = []
        for conv in conversations:
            yes = hashlib.sha256(conv[-1]["content"].encode()).digest()[0] % 3 != 0
            out.append((-0.1, -2.1) if yes else (-2.1, -0.1))
        return out


def no_chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
    raise AssertionError("the verify stage must not chat")


def config(share: float, **calibration: object) -> RunConfig:
    """Judge-injection probes off unless asked for (tests/unit/test_judge_injection.py covers them)."""
    calibration = {"injection_probes": 0, **calibration}
    return parse_config(
        {
            "samples": 4,
            "models": {"judge": {"enabled": True, "calibration": {"share": share, **calibration}}},
            "fidelity": {"enabled": False},
        }
    )


@pytest.fixture(scope="module")
def judged() -> tuple[list[Judged], list[Judged]]:
    """The same candidates verified with calibration on every code check (share 1) and with calibration off."""
    cfg = config(1.0)
    seeds = [Seed(id=f"s{i}", text=f"Describe river number {i}.") for i in range(4)]
    instructions = compose_batch(
        seeds, 8, load_taxonomy(), mix={"Single": 1, "And_1": 2, "Chain_1": 1}, random_seed=7, options=cfg.compose
    )
    pairs = [(ins, Response(text=t, candidate=k)) for ins in instructions for k, t in enumerate(ANSWERS)]
    models = Models(chat=no_chat, judge=LLMJudge(HashScorer()))
    with_cal, _ = verify_stage(pairs, models, cfg)
    without, _ = verify_stage(pairs, models, config(0.0))
    return with_cal, without


def test_calibration_questions_leave_verdicts_and_gate_decisions_alone(
    judged: tuple[list[Judged], list[Judged]],
) -> None:
    with_cal, without = judged
    assert any(j.verdict.calibration for j in with_cal) and not any(j.verdict.calibration for j in without)
    for a, b in zip(with_cal, without, strict=True):
        assert a.verdict.model_copy(update={"calibration": []}) == b.verdict
        assert (a.kept, a.reasons) == (b.kept, b.reasons)


def test_every_probe_is_a_code_check_labelled_by_its_code_verdict(judged: tuple[list[Judged], list[Judged]]) -> None:
    for j in judged[0]:
        plan = {c.id: c for c in j.instruction.plan.checks}
        own = {v.check_id: v.passed for v in j.verdict.checks}
        for p in j.verdict.calibration:
            check = plan[p.check_id]
            assert check.kind == "code" and check.checker != "structure:selected_case"
            assert p.label == own[p.check_id] and p.dimension == check.dimension and p.source == "code"
            assert p.judged_yes == (judge_score(p.logprob_yes, p.logprob_no) > 0)
            assert p.question.startswith("Does the response meet this requirement exactly:")


@pytest.fixture(scope="module")
def root(judged: tuple[list[Judged], list[Judged]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    run = store.open_run(out, FP, {"name": "calibration", "config": config(1.0).model_dump(mode="json")})
    samples = [to_sample(j, Provenance("run-c", FP, {"judge": "hash"}, {})) for j in judged[0]]
    # one kept sample at least, so the run can be published (which answers pass does not matter here)
    samples[0] = samples[0].model_copy(update={"kept": True, "reject_reasons": []})
    instructions = list({s.instruction.id: s.instruction for s in samples}.values())
    store.write_batch(run, 0, instructions, [s for s in samples if s.kept], [s for s in samples if not s.kept])
    store.refresh_catalog(out)
    return out


def expected(judged: tuple[list[Judged], list[Judged]]) -> list[DimensionCalibration]:
    probes = [p for j in judged[0] for p in j.verdict.calibration]
    return summarize(
        LabelledScore(p.dimension, judge_score(p.logprob_yes, p.logprob_no), p.judged_yes, p.label) for p in probes
    )


def test_the_pairs_land_in_the_catalog_and_its_calibration_table(
    root: Path, judged: tuple[list[Judged], list[Judged]]
) -> None:
    want = expected(judged)
    assert len(want) >= 3  # several dimensions were calibrated
    with store.open_catalog(root) as con:
        n_pairs = con.execute("SELECT count(*) FROM (SELECT unnest(judge_calibration) FROM candidates)").fetchone()
        table = con.execute(
            "SELECT dimension, n, precision, recall, margin_95 FROM judge_calibration "
            "WHERE run_fingerprint = ? ORDER BY dimension",
            [FP],
        ).fetchall()
        stats = store.run_stats(con, FP)
    assert n_pairs == (sum(len(j.verdict.calibration) for j in judged[0]),)
    assert table == [(c.dimension, c.n, c.precision, c.recall, c.margin_95) for c in want]
    assert list(stats.calibration) == want
    # the records read back from the shards carry the same probes
    back = store.load_samples(store.find_run(root, FP)) + store.load_samples(store.find_run(root, FP), kept=False)
    made = {f"{j.instruction.id}-r0-k{j.response.candidate}": j.verdict.calibration for j in judged[0]}
    assert {s.id: s.verdict.calibration for s in back} == made


def test_stats_and_the_card_print_the_judge_calibration(
    root: Path, judged: tuple[list[Judged], list[Judged]], tmp_path: Path
) -> None:
    want = expected(judged)
    result = CliRunner().invoke(app, ["stats", "--root", str(root), "--run", FP], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    section = result.output.split("judge calibration", 1)[1]
    for c in want:
        line = next(line for line in section.splitlines() if f" {c.dimension} " in line)
        assert f"{c.n}" in line and (f"{c.precision:.1%}" if c.precision is not None else "-") in line
    card = (
        publish.publish_run(root, FP, "org/cx", out=tmp_path / "hub", dry_run=True).built.folder / "README.md"
    ).read_text()
    rows = [line for line in card.split("## Judge calibration", 1)[1].splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(want)
    for row, c in zip(rows, want, strict=True):
        cells = [x.strip() for x in row.strip("|").split("|")]
        assert cells[:2] == [c.dimension, str(c.n)]
        assert cells[5] == ("-" if c.precision is None else f"{c.precision:.1%}")
        assert cells[6] == ("-" if c.recall is None else f"{c.recall:.1%}")


def test_a_gold_file_is_scored_once_stored_and_joins_the_calibration(root: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    rows = [{"instruction": "Praise the river.", "response": f"The river is lovely {i}.",
             "question": "Is the tone positive?", "label": i % 2 == 0, "dimension": "Sentiment"}
            for i in range(6)]  # fmt: skip
    assert set(rows[0]) == set(GOLD_FIELDS)
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    cfg = config(1.0, gold_file=str(gold), default_route="auto", min_samples=3)
    scorer = HashScorer()
    run = store.find_run(root, FP)
    models = with_judge_routes(cfg, load_taxonomy(), Models(chat=no_chat, judge=LLMJudge(scorer)), lambda _: None, run)
    assert scorer.asked == 6 and store.read_judge_gold(run) is not None
    again = with_judge_routes(cfg, load_taxonomy(), Models(chat=no_chat, judge=LLMJudge(scorer)), lambda _: None, run)
    assert scorer.asked == 6 and again.routes == models.routes  # a resumed run reads the stored scores back
    with store.open_catalog(root) as con:
        sentiment = {c.dimension: c for c in store.run_stats(con, FP).calibration}["Sentiment"]
        gold_rows = con.execute("SELECT count(*) FROM judge_gold").fetchone()
    assert (sentiment.gold, gold_rows) == (6, (6,))
    assert models.routes["Sentiment"] in ("gate", "reward-only", "report-only")


def test_the_run_summary_shows_the_same_numbers(root: Path, judged: tuple[list[Judged], list[Judged]]) -> None:
    with store.open_catalog(root) as con:
        rows = judge_summary_rows(con, FP, config(1.0).model_dump(mode="json"))
        stats = store.run_stats(con, FP)
    assert [{k: v for k, v in r.items() if k != "route"} for r in rows] == [asdict(c) for c in stats.calibration]
    assert all(r["route"] == "gate" for r in rows)  # fewer than min_samples (20) questions per dimension: untrusted
    lines = judge_summary_lines(rows)
    assert lines[0].startswith("judge calibration") and len(lines) == len(rows) + 2
    for line, c in zip(lines[2:], stats.calibration, strict=True):
        assert line.split()[0] == c.dimension.split()[0] and f"{c.n}" in line.split()
