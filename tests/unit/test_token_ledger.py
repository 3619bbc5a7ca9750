"""The token ledger: every batch manifest records what each stage's requests to each role's model cost, one function
sums a run's, and a run interrupted after a batch and resumed records exactly what the same run left alone does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pipeline import store
from pipeline.models import Response
from pipeline.run.config import RoleConfig, parse_config
from pipeline.run.generate import open_run_context, run_batches, run_locally
from pipeline.run.stages import Models
from pipeline.run.usage import Meter, metered_models, metering, stage
from pipeline.store.manifest import UsageRow
from pipeline.store.usage import ModelPrice, UsageTable, money, prices_of, run_usage, usage_lines
from pipeline.verify.judge import LLMJudge
from tests.helpers.scripted_chat import answering_from

ANSWERS = (
    "here is a short answer in lowercase words only",
    "### Part 1\nfirst part of the answer\n### Part 2\nsecond part of the answer",
    "Here Is A Short Answer In Title Case\nP.S. That Is All",
    "### Case A\nthe first case applies here",
)
scripted = answering_from(ANSWERS)


def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
    """The scripted model, with prompt tokens: a word per token of the conversation, shared over its n answers."""
    out = []
    for conv, answers in zip(conversations, scripted(conversations, role, n), strict=True):
        words = len(" ".join(m["content"] for m in conv).split())
        out.append([r.model_copy(update={"prompt_tokens": words // n}) for r in answers])
    return out


def config(out: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "ledger",
        "samples": 6,
        "mix": {"Single": 2, "And_1": 1, "Chain_1": 1},
        "compose": {"checkers": "code"},
        "models": {"rewriter": {"enabled": True}, "responder": {"n": 2}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False},
        "repair_rounds": 1,
        "attempts_factor": 2,
        "batch_size": 3,
        "batches_in_flight": 2,
        "random_seed": 11,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(out),
        **extra,
    }


def run_alone(out: Path) -> store.RunPaths:
    cfg = parse_config(config(out))
    with open_run_context(cfg, log=lambda line: None, models=Models(chat=chat, judge=None)) as ctx:
        run_locally(ctx)
        assert ctx.ledger.usage == run_usage(store.manifests(ctx.run))  # the live sum is the stored one
        return ctx.run


def run_interrupted(out: Path, after: int) -> store.RunPaths:
    """The same run stopped right after batch `after` is saved (the batches after it in flight are lost), then
    resumed to the end."""
    cfg = parse_config(config(out))
    with (
        open_run_context(cfg, log=lambda line: None, models=Models(chat=chat, judge=None)) as ctx,
        ThreadPoolExecutor(max_workers=cfg.batches_in_flight) as pool,
    ):
        for result in run_batches(ctx, lambda batch: pool.submit(ctx.process, batch)):
            ctx.save(result)
            if result.index == after:
                break  # what was in flight is thrown away, as when the process is killed
    assert store.done_batches(ctx.run) == set(range(after + 1))
    with open_run_context(cfg, log=lambda line: None, models=Models(chat=chat, judge=None)) as ctx:
        run_locally(ctx)
        return ctx.run


def per_batch(run: store.RunPaths) -> list[list[dict[str, Any]]]:
    return [[r.model_dump() for r in m.usage or ()] for m in store.manifests(run)]


def test_every_batch_records_its_ledger_per_stage_role_and_model(tmp_path: Path) -> None:
    run = run_alone(tmp_path / "out")
    manifests = store.manifests(run)
    assert manifests and all(m.usage for m in manifests)
    table = run_usage(manifests)
    assert table.batches == len(manifests) and table.unknown_batches == 0
    stages = {(r.stage, r.role) for r in table.rows}
    assert {("rewrite", "rewriter"), ("respond", "responder"), ("repair", "responder")} <= stages
    total = table.total()
    # every candidate's generated tokens are in the ledger, with the rewrites' beside them
    candidates = [*store.load_samples(run), *store.load_samples(run, kept=False)]
    respond_and_repair = sum(r.generated_tokens for r in table.rows if r.role == "responder")
    assert respond_and_repair == sum(s.response.completion_tokens for s in candidates)
    assert total.generated_tokens > respond_and_repair and total.prompt_tokens > 0
    rewrites = next(r for r in table.rows if r.stage == "rewrite")
    # one rewrite per instruction
    assert rewrites.requests == sum(c.instructions for m in manifests for c in m.categories.values())


@pytest.mark.parametrize("after", [0, 1])
def test_a_run_interrupted_after_a_batch_and_resumed_records_what_one_left_alone_does(
    tmp_path: Path, after: int
) -> None:
    alone = run_alone(tmp_path / "alone")
    resumed = run_interrupted(tmp_path / "resumed", after)
    assert len(store.manifests(alone)) > after + 1, "the run is too short to interrupt"
    # batch by batch: nothing counted twice (the batch lost in flight is done again, counted once), nothing lost
    assert per_batch(resumed) == per_batch(alone)
    assert run_usage(store.manifests(resumed)) == run_usage(store.manifests(alone))


def test_a_manifest_without_a_ledger_is_unknown_not_zero() -> None:
    row = UsageRow(stage="respond", role="responder", model="m", requests=2, prompt_tokens=10, generated_tokens=30)
    table = UsageTable().plus([row]).plus(None)
    assert (table.batches, table.unknown_batches) == (1, 1)
    assert table.cost({"m": ModelPrice(1.0, 2.0)}) is None  # a batch's usage is unknown: so is the run's cost
    assert any("unknown for 1 batch" in line for line in usage_lines(table, {}))


def test_money_needs_a_price_for_every_model_and_is_never_guessed() -> None:
    rows = [
        UsageRow(stage="respond", role="responder", model="a", prompt_tokens=1_000_000, generated_tokens=2_000_000),
        UsageRow(stage="verify", role="judge", model="b", requests=5, prompt_tokens=500),
    ]
    table = UsageTable().plus(rows)
    priced = {"a": ModelPrice(prompt=0.5, generated=2.0), "b": ModelPrice(prompt=1.0, generated=1.0)}
    assert table.cost(priced) == pytest.approx(0.5 + 4.0 + 0.0005)
    assert table.cost({"a": priced["a"]}) is None
    assert money(table.cost({})) == "unknown"
    lines = usage_lines(table, {"a": priced["a"]}, markdown=True)
    assert lines[0].startswith("| stage |") and any("no price for b" in line for line in lines)
    assert prices_of({"prices": {"a": {"prompt": 0.5, "generated": 2}, "bad": "x"}}) == {"a": ModelPrice(0.5, 2.0)}
    assert prices_of({}) == {} and prices_of(None) == {}


class Scorer:
    def yes_no_logprobs(self, conversations: Sequence[list[dict[str, str]]]) -> list[tuple[float, float]]:
        digest = [hashlib.sha256(c[-1]["content"].encode()).digest()[0] for c in conversations]
        return [(float("-inf"), float("-inf")) if d % 5 == 0 else (-0.1, -2.0) for d in digest]


def test_judge_questions_count_under_the_stage_that_asked_them() -> None:
    models = metered_models(Models(chat=chat, judge=LLMJudge(Scorer())), "judge-model")
    assert models.judge is not None
    questions = [[{"role": "user", "content": f"question {i}"}] for i in range(20)]
    with metering(Meter()) as meter:
        with stage("fidelity"):
            scores = models.judge.scorer.yes_no_logprobs(questions)
        with stage("respond", "responder"):
            models.chat(questions[:3], RoleConfig(model="resp"), 2)
    failed = sum(1 for y, _ in scores if y == float("-inf"))
    rows = {(r.stage, r.role, r.model): r for r in meter.rows()}
    assert rows["fidelity", "judge", "judge-model"].requests == 20
    assert rows["fidelity", "judge", "judge-model"].failures == failed
    assert rows["respond", "responder", "resp"].requests == 3
    assert rows["respond", "responder", "resp"].generated_tokens == 3 * 2 * 7
    # outside a meter nothing is counted and nothing breaks
    assert models.chat(questions[:1], RoleConfig(model="resp"), 1)


def test_stats_the_summary_and_the_report_show_the_same_ledger(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.run.report import format_summary, report_markdown

    out = tmp_path / "out"
    cfg = parse_config(config(out))
    with open_run_context(cfg, log=lambda line: None, models=Models(chat=chat, judge=None)) as ctx:
        summary = run_locally(ctx)
    total = run_usage(store.manifests(ctx.run)).total()
    assert summary.as_dict()["usage"]["total"] == total.model_dump() and summary.as_dict()["usage"]["cost"] is None
    assert "tokens by stage, role and model" in format_summary(summary)
    assert f"| all | all | all | {total.requests} | {total.prompt_tokens} |" in report_markdown(summary)
    shown = CliRunner().invoke(app, ["stats", "--root", str(out)], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    assert "tokens of run" in shown.output and str(total.generated_tokens) in shown.output
    assert "no price for default" in shown.output


def test_the_engine_reports_judge_tokens_cache_hits_and_retries_into_the_ledger(tmp_path: Path) -> None:
    import httpx

    from pipeline.llm.cache import RequestCache
    from pipeline.run.serving import engine_chat_fn
    from tests.unit.test_llm_engine_logic import FakeServers, completion, engine

    failures = iter([503, 500])

    def server(body: dict[str, Any]) -> httpx.Response:
        if body.get("max_tokens") == 1:  # a YES/NO question
            top = [{"token": "Yes", "logprob": -0.5}, {"token": " no", "logprob": -1.5}]
            choice = {"index": 0, "logprobs": {"content": [{"token": "Yes", "logprob": -0.5, "top_logprobs": top}]}}
            usage = {"prompt_tokens": 9, "completion_tokens": 1}
            return httpx.Response(200, json={"choices": [choice], "usage": usage})
        status = next(failures, None)
        return httpx.Response(status, text="busy") if status else completion(body)

    fake = FakeServers({"a.test": server})
    with engine(fake, ["http://a.test:1"], cache=RequestCache(tmp_path / "c.sqlite")) as eng:
        models = metered_models(Models(chat=engine_chat_fn({"m": eng}), judge=LLMJudge(eng)), "m")
        assert models.judge is not None
        question = [[{"role": "user", "content": "ok?"}]]
        with metering(Meter()) as meter:
            with stage("verify"):
                models.judge.scorer.yes_no_logprobs(question)
                models.judge.scorer.yes_no_logprobs(question)  # the request cache answers it
            with stage("respond", "responder"):
                models.chat([[{"role": "user", "content": "hi"}]], RoleConfig(model="m"), 2)
    rows = {(r.stage, r.role): r for r in meter.rows()}
    judge = rows["verify", "judge"]
    assert (judge.requests, judge.prompt_tokens, judge.generated_tokens, judge.cached) == (2, 18, 2, 1)
    respond = rows["respond", "responder"]
    assert (respond.requests, respond.prompt_tokens, respond.generated_tokens) == (1, 5, 6)
    assert (respond.retries, respond.cached) == (2, 0)  # two tries failed (503, 500) before the answer
