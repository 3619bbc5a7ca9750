"""Budget stops: a run whose token ledger meets `budget.max_generated_tokens` (or `budget.max_cost` at the config's
prices) plans no further batch, saves the batches in flight and ends with exit 3, saying what it met."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipeline import store
from pipeline.errors import UserInputError
from pipeline.run.config import DEFAULT_MODEL, parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.preflight import check_budget
from pipeline.run.report import RunSummary
from pipeline.run.stages import Models
from pipeline.store.usage import run_usage
from tests.helpers.scripted_chat import answering_from

chat = answering_from(("here is a short answer in lowercase words only", "HERE IS AN ANSWER IN CAPITAL LETTERS"))
MODEL = DEFAULT_MODEL  # the name a role gives its model is what prices are keyed by


def config(out: Path, budget: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "budget",
        "samples": 40,  # far more than the budget buys: the budget ends the run
        "mix": {"Single": 1, "And_1": 1},
        "compose": {"checkers": "code"},
        "models": {"rewriter": {"enabled": True}, "responder": {"n": 2}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False},
        "repair_rounds": 1,
        "batch_size": 2,
        "batches_in_flight": 1,
        "random_seed": 3,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(out),
        "budget": budget,
        **extra,
    }


def run(cfg: dict[str, Any], logged: list[str] | None = None) -> tuple[RunSummary, store.RunPaths]:
    log = logged.append if logged is not None else lambda line: None
    with open_run_context(parse_config(cfg), log=log, models=Models(chat=chat, judge=None)) as ctx:
        return run_locally(ctx), ctx.run


def generated(manifests: list[Any]) -> list[int]:
    return [run_usage([m]).total().generated_tokens for m in manifests]


@pytest.mark.parametrize("window", [1, 2])
def test_a_run_stops_within_the_batches_in_flight_of_its_token_budget(tmp_path: Path, window: int) -> None:
    budget = 150
    logged: list[str] = []
    summary, stored = run(config(tmp_path / "out", {"max_generated_tokens": budget}, batches_in_flight=window), logged)
    per_batch = generated(store.manifests(stored))
    assert summary.kept < summary.target, "the quotas were met before the budget: the test proves nothing"
    assert summary.stopped_by is not None and "budget.max_generated_tokens" in summary.stopped_by
    # it names what the ledger held when it was met (the batches then in flight were saved after)
    assert any(f"met: {sum(per_batch[: len(per_batch) - k])} tokens" in summary.stopped_by for k in range(window))
    assert sum(per_batch) >= budget  # it went on until the budget was met ...
    assert sum(per_batch[:-window]) < budget  # ... and stopped within the batches in flight when it was
    assert summary.usage.total().generated_tokens == sum(per_batch)
    said = [line for line in logged if "no further batch is planned" in line]
    assert len(said) == 1 and said[0].startswith(summary.stopped_by)
    assert f"stopped: {summary.stopped_by}" in logged[-1]  # the summary ends with it


def test_a_resumed_run_keeps_to_its_budget_and_a_larger_one_goes_on(tmp_path: Path) -> None:
    first, stored = run(config(tmp_path / "out", {"max_generated_tokens": 100}))
    batches = len(store.manifests(stored))
    again, _ = run(config(tmp_path / "out", {"max_generated_tokens": 100}))
    assert again.stopped_by == first.stopped_by and len(store.manifests(stored)) == batches  # nothing planned
    more, resumed = run(config(tmp_path / "out", {"max_generated_tokens": 300}))
    assert resumed.fingerprint == stored.fingerprint  # the same run: the budget is not part of its identity
    assert len(store.manifests(stored)) > batches and more.usage.total().generated_tokens >= 300


def test_a_money_budget_stops_at_the_configs_prices(tmp_path: Path) -> None:
    prices = {MODEL: {"prompt": 0.0, "generated": 1000.0}}  # 0.001 per generated token
    summary, stored = run(config(tmp_path / "out", {"max_cost": 0.1}, prices=prices))
    assert summary.stopped_by is not None and "budget.max_cost" in summary.stopped_by
    spent = run_usage(store.manifests(stored)).total().generated_tokens / 1000
    assert spent >= 0.1 and spent - generated(store.manifests(stored))[-1] / 1000 < 0.1


def test_a_money_budget_without_prices_is_bad_input(tmp_path: Path) -> None:
    cfg = parse_config(config(tmp_path / "out", {"max_cost": 1.0}))
    with pytest.raises(UserInputError, match=r"budget.max_cost needs a price for every model .* add it under prices"):
        check_budget(cfg)
    priced = {MODEL: {"prompt": 1, "generated": 2}}
    check_budget(parse_config(config(tmp_path / "out", {"max_cost": 1.0}, prices=priced)))


def test_the_run_command_exits_3_naming_the_budget_it_met(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.generate
    from pipeline.cli import app

    path = tmp_path / "budget.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path / "out", {"max_generated_tokens": 60})))

    def generate(config_path: str, output_dir: str | None = None, **_: Any) -> dict[str, Any]:
        return run(parse_config(yaml.safe_load(Path(config_path).read_text())).model_dump())[0].as_dict()

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    monkeypatch.setattr(flows.generate, "generate", generate)
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "stopped: budget.max_generated_tokens met" in result.output
    assert "rerun with a larger budget" in result.output
