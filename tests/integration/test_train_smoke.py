"""`complexify train-smoke` for real: TRL in the training environment (`make train-env`), the bundled 135M model,
a folder built by the publisher and read back with `datasets`.

GRPO: two steps over `rl` (2 prompts x 2 completions of at most 32 tokens each); every reward the trainer got
is recorded, recomputed here with `score_response`, and its per-step mean is the `reward_mean` printed.
SFT: three steps on one fixed batch of `sft` rows, whose loss must fall. Each run takes about a minute on a
quiet 2-core machine (the model loads in seconds; a GRPO step generates 4 short completions).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.train.launch import train_python
from pipeline.verify.reward import score_response
from tests.helpers.published import published_folder

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 900  # a bound for a loaded machine; the runs take about a minute each on a quiet one
GRPO_LINE = re.compile(r"^step (\d+) reward_mean (-?\d+\.\d+)$")
SFT_LINE = re.compile(r"^step (\d+) loss (\d+\.\d+)$")


def train_smoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "train-smoke", *args],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert train_python().exists(), f"{train_python()} missing: `make test` builds it with `make train-env`"
    return published_folder(tmp_path_factory.mktemp("published") / "ds").folder


def test_grpo_steps_log_our_rewards(published: Path, tmp_path: Path) -> None:
    proc = train_smoke(
        "--published", str(published), "--method", "grpo", "--steps", "2", "--output-dir", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = {int(m[1]): float(m[2]) for line in proc.stdout.splitlines() if (m := GRPO_LINE.match(line))}
    assert sorted(printed) == [1, 2], proc.stdout
    rows = [json.loads(line) for line in (tmp_path / "rewards.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 4, "2 steps of 2 prompts x 2 completions"
    for row in rows:
        assert -2.0 <= row["reward"] <= 2.0, row
        assert score_response(row["completion"], row["ground_truth"]).score == row["reward"], row
    for step, mean in printed.items():
        got = [r["reward"] for r in rows if r["step"] == step]
        assert len(got) == 4 and mean == pytest.approx(sum(got) / len(got), abs=1e-5), (step, got, mean)


def test_sft_loss_falls_on_a_fixed_batch(published: Path, tmp_path: Path) -> None:
    proc = train_smoke("--published", str(published), "--method", "sft", "--steps", "3", "--output-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = {int(m[1]): float(m[2]) for line in proc.stdout.splitlines() if (m := SFT_LINE.match(line))}
    assert sorted(losses) == [1, 2, 3], proc.stdout
    assert losses[3] < losses[1], losses


def test_a_folder_that_is_not_published_data_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a dataset\n")
    proc = train_smoke("--published", str(tmp_path), "--method", "grpo", "--steps", "1")
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(tmp_path) in errors[0] and "Traceback" not in proc.stderr, proc.stderr
