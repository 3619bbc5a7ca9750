"""Start a training smoke run in the training environment and pass its lines through (`complexify train-smoke`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.errors import UserInputError
from pipeline.project import ROOT

METHODS = ("grpo", "sft")
CONFIG_FOR_METHOD = {"grpo": "rl", "sft": "sft"}
MAX_STEPS = 1000


class SmokeError(UserInputError):
    """A training smoke run cannot start (no environment, folder, config or model); the message says the fix."""


def train_python() -> Path:
    """Python of the training environment; $COMPLEXIFY_TRAIN_PYTHON overrides (e.g. a GPU install with TRL)."""
    override = os.environ.get("COMPLEXIFY_TRAIN_PYTHON")
    return Path(override) if override else ROOT / ".venv-train" / "bin" / "python"


def smoke_command(published: Path, method: str, steps: int, model: Path, output_dir: Path, seed: int) -> list[str]:
    """The command line of one smoke run; checks what can be checked without TRL."""
    if method not in METHODS:
        raise SmokeError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise SmokeError(f"--steps must be between 1 and {MAX_STEPS}, got {steps}")
    if not published.is_dir():
        raise SmokeError(f"published folder {published} does not exist; run `complexify publish --out DIR` first")
    python = train_python()
    if not python.exists():
        raise SmokeError(f"training environment missing: {python} does not exist; run `make train-env`")
    return [
        str(python), "-m", "pipeline.train.smoke", "--published", str(published.resolve()), "--method", method,
        "--steps", str(steps), "--model", str(model), "--output-dir", str(output_dir.resolve()), "--seed", str(seed),
    ]  # fmt: skip


def run_smoke(command: list[str]) -> int:
    """Run the smoke command with this checkout importable; its stdout and stderr go straight to ours."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK"):
        env.setdefault(name, "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Spinning OpenMP threads on a busy machine made a CPU step 10x slower (measured); passive ones wait politely.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.stdout.flush()
    return subprocess.run(command, env=env, check=False).returncode
