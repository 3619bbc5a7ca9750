"""Under Prefect the run's progress artifact carries the progress line, its ETA included, updated after each batch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import flows.generate
from pipeline.run.config import parse_config
from pipeline.run.generate import open_run_context, run_batches
from pipeline.run.stages import Models
from tests.helpers.scripted_chat import answering_from

chat = answering_from(("here is a short answer in lowercase words only", "HERE IS AN ANSWER IN CAPITAL LETTERS"))


def test_the_progress_artifact_shows_the_progress_line_and_its_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[tuple[str, float, str]] = []
    monkeypatch.setattr(
        flows.generate, "create_progress_artifact",
        lambda progress, key=None, description=None: shown.append(("create", progress, description)) or "id",
    )  # fmt: skip
    monkeypatch.setattr(
        flows.generate, "update_progress_artifact",
        lambda artifact, progress, description=None: shown.append(("update", progress, description)),
    )  # fmt: skip
    cfg: dict[str, Any] = {
        "samples": 4, "mix": {"Single": 1}, "compose": {"checkers": "code"},
        "models": {"rewriter": {"enabled": False}, "responder": {"n": 1}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False}, "repair_rounds": 0, "batch_size": 2, "batches_in_flight": 1,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]}, "output_dir": str(tmp_path / "out"),
    }  # fmt: skip
    with (
        open_run_context(parse_config(cfg), log=lambda line: None, models=Models(chat=chat, judge=None)) as ctx,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        update = flows.generate._progress_artifact(ctx)
        for result in run_batches(ctx, lambda batch: pool.submit(ctx.process, batch)):
            ctx.save(result)
            update()
            assert ctx.live is not None
            line = ctx.live.line()
            assert shown[-1][2] is not None
            # the same line the terminal shows, its ETA included (the elapsed time may tick between the two reads)
            assert shown[-1][2].split(" | ")[:3] == line.split(" | ")[:3] and " | ETA " in shown[-1][2]
            assert shown[-1][1] == pytest.approx(100 * ctx.kept_so_far() / 4)
    assert shown[0][0] == "create" and shown[0][1] == 0.0 and len(shown) >= 2
