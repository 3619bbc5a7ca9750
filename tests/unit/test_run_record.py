"""A stored run is read from its own records: its quota plan in run.json and its batch manifests. Publishing it and
`complexify stats` never parse its recorded config again, so a config schema that changed since (an option added
that every config must now give, an option dropped) cannot make an old run unreadable (scripted model, no server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model

from pipeline import store
from pipeline.config_base import ConfigModel
from pipeline.run import config as run_config
from pipeline.run.config import ConfigError, RunConfig, parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.stages import Models
from tests.helpers.scripted_chat import answering_from

ANSWERS = (
    "# Overview\n\n*first highlight* and *second highlight*\n\n1. first item\n2. second item\n\nP.S. that is all",
    "here is a short answer in lowercase words only",
    "Here Is A Short Answer In Title Case\nP.S. That Is All",
)


scripted_chat = answering_from(ANSWERS)


def grid_config(out: Path) -> dict[str, Any]:
    return {
        "name": "recorded", "samples": 2, "mix": {"Single": 1}, "compose": {"checkers": "code"},
        "models": {"rewriter": {"enabled": False}, "responder": {"n": 3}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False}, "repair_rounds": 0, "attempts_factor": 4, "batch_size": 2,
        "batches_in_flight": 1, "grid": {"renderings": ["prose", "numbered"]}, "random_seed": 1,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]}, "output_dir": str(out),
    }  # fmt: skip


@pytest.fixture()
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> store.RunPaths:
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    with open_run_context(
        parse_config(grid_config(tmp_path / "out")), log=lambda line: None, models=Models(scripted_chat, None)
    ) as ctx:
        run_locally(ctx)
        return ctx.run


def a_schema_that_changed(monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """Today's config schema, changed since the run was stored: a new option every config must give, or an option
    dropped (the stored config then names a key the schema does not know)."""
    if change == "option added":
        newer = create_model("RunConfig", __base__=RunConfig, safety_margin=(int, ...))
    else:
        kept: dict[str, Any] = {n: (f.annotation, f) for n, f in RunConfig.model_fields.items() if n != "name"}
        newer = create_model("RunConfig", __base__=ConfigModel, **kept)
    monkeypatch.setattr(run_config, "RunConfig", newer)


@pytest.mark.parametrize("change", ["option added", "option dropped"])
def test_publish_and_stats_read_the_runs_records_not_its_config(
    stored: store.RunPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    from pipeline.cli.store import grid_tables
    from pipeline.publish.dataset import publish_run

    a_schema_that_changed(monkeypatch, change)
    with pytest.raises(ConfigError):  # the stored config no longer reads with today's schema
        run_config.parse_config(stored.info["config"], "run.json")
    result = publish_run(stored.root, stored.fingerprint, "org/recorded", out=tmp_path / "hub", dry_run=True)
    card = (result.built.folder / "README.md").read_text(encoding="utf-8")
    assert "## Grid cells" in card and "| Single/prose |" in card and "| Single/numbered |" in card
    [table] = grid_tables(stored.root, stored.fingerprint)
    assert table.row_count == 2  # one row per grid cell, its quota and budget from the run record
