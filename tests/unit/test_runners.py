"""The runner side of scale-out without a server: one queue per run, shared storage, clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.runner import batch_task
from pipeline.errors import UserInputError
from pipeline.run.runners import RunAddress, process_served
from pipeline.run.stages import ComposedBatch, Provenance

ROOT = Path(__file__).resolve().parents[2]


def test_each_run_has_its_own_queue_and_storage_in_its_folder(tmp_path: Path) -> None:
    a, b = RunAddress(tmp_path, "a" * 16), RunAddress(tmp_path, "b" * 16)
    task_a, task_b = batch_task(a), batch_task(b)
    assert task_a.task_key != task_b.task_key  # a runner of run b never takes a batch of run a
    assert batch_task(a).task_key == task_a.task_key  # coordinator and runner agree
    # a task worker serves copies made with with_options: they must keep the run's key
    assert task_a.with_options(persist_result=True).task_key == task_a.task_key
    assert task_a.result_storage == tmp_path / "runs" / ("a" * 16) / "tasks"


def test_a_batch_of_a_run_this_process_does_not_serve_is_refused() -> None:
    batch = ComposedBatch(index=4, instructions=())
    provenance = Provenance("run-x", "f" * 16, {}, {})
    with pytest.raises(UserInputError, match=r"batch 4 belongs to run f{16}, which this runner does not serve"):
        process_served(batch, provenance)


@pytest.mark.parametrize("args", [["runner"], ["run", "--runners"]], ids=["runner", "coordinator"])
def test_scale_out_without_a_prefect_server_is_bad_input(args: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect"), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"})
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args, "--config", "configs/smoke.yaml",
         "--output-dir", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-2000:]
    assert "PREFECT_API_URL=http://HOST:4200/api" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out" / "runs").exists()  # refused before the run folder exists
