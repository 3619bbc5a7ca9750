"""`complexify train-smoke` refuses what it cannot run before starting the training environment: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.train.launch import MAX_STEPS, SmokeError, smoke_command


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "train-smoke", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_missing_training_environment_names_the_make_target(tmp_path: Path) -> None:
    proc = cli("--published", str(tmp_path), env={"COMPLEXIFY_TRAIN_PYTHON": str(tmp_path / "nope" / "python")})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "make train-env" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_published_folder_is_named(tmp_path: Path) -> None:
    proc = cli("--published", str(tmp_path / "absent"), env={})
    assert proc.returncode == 2 and str(tmp_path / "absent") in proc.stderr and "complexify publish" in proc.stderr


@pytest.mark.parametrize("steps", [0, -1, MAX_STEPS + 1])
def test_steps_out_of_range(tmp_path: Path, steps: int) -> None:
    with pytest.raises(SmokeError, match="--steps"):
        smoke_command(tmp_path, "grpo", steps, tmp_path, tmp_path, 0)


def test_unknown_method_is_a_usage_error(tmp_path: Path) -> None:
    proc = cli("--published", str(tmp_path), "--method", "dpo", env={})
    assert proc.returncode == 2 and "dpo" in proc.stderr


def test_command_runs_the_smoke_module_with_absolute_paths(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("")
    os.environ["COMPLEXIFY_TRAIN_PYTHON"] = str(fake)
    try:
        cmd = smoke_command(Path(os.path.relpath(tmp_path)), "sft", 3, tmp_path, Path(os.path.relpath(tmp_path)), 7)
    finally:
        del os.environ["COMPLEXIFY_TRAIN_PYTHON"]
    assert cmd[:3] == [str(fake), "-m", "pipeline.train.smoke"]
    assert cmd[cmd.index("--published") + 1] == str(tmp_path.resolve())
    assert cmd[cmd.index("--output-dir") + 1] == str(tmp_path.resolve())
    assert cmd[cmd.index("--method") + 1] == "sft" and cmd[cmd.index("--seed") + 1] == "7"
