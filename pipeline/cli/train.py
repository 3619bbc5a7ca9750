"""`complexify train-smoke`: a few TRL steps over a published folder, the first thing to try after publishing."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipeline.llm.model_prep import default_model_dir
from pipeline.train.launch import run_smoke, smoke_command


class Method(StrEnum):
    grpo = "grpo"
    sft = "sft"


def register(app: typer.Typer) -> None:
    """Add the `train-smoke` command to the main CLI."""

    @app.command("train-smoke")
    def train_smoke(
        published: Annotated[Path, typer.Option("--published", help="A folder `complexify publish` wrote.")],
        method: Annotated[
            Method, typer.Option(help="grpo: the `rl` config with complexify's reward; sft: the `sft` config.")
        ] = Method.grpo,
        steps: Annotated[int, typer.Option(help="Optimizer steps (one line each).")] = 3,
        model: Annotated[
            Path | None, typer.Option(help="A Hugging Face model folder (default: the bundled model, `make model`).")
        ] = None,
        output_dir: Annotated[
            Path | None,
            typer.Option(
                "--output-dir", help="Keep the trainer's files and rewards.jsonl here (default: a temp dir)."
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the trainer.")] = 0,
    ) -> None:
        """Run a few GRPO or SFT steps with TRL on a published folder, printing one line per step."""
        model_dir = model or default_model_dir()
        with tempfile.TemporaryDirectory(prefix="complexify-train-") as tmp:
            out = output_dir or Path(tmp)
            code = run_smoke(smoke_command(published, method.value, steps, model_dir, out, seed))
        if code:
            raise typer.Exit(code)
