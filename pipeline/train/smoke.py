"""A few TRL training steps on a published folder: GRPO over `rl` with complexify's reward, or SFT over `sft`.

Runs in the training environment (`make train-env`, see `pipeline.train.launch`), started by
`complexify train-smoke`. It prints one line per optimizer step on stdout (`step K reward_mean X` for GRPO,
`step K loss X` for SFT), shows a progress bar on stderr, and writes every reward it computed to
`<output-dir>/rewards.jsonl` (step, completion, ground truth, reward), so what the trainer saw can be
checked against `pipeline.verify.reward.score_response` afterwards. Bad input exits 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.train.launch import CONFIG_FOR_METHOD, METHODS, SmokeError
from pipeline.verify.reward import completion_text, make_trl_reward

# Small enough for a 2-core CPU: a step of GRPO generates GENERATIONS short completions per prompt.
GENERATIONS = 2
PROMPTS_PER_STEP = 2
MAX_COMPLETION_TOKENS = 32
SFT_BATCH_ROWS = 4
SFT_MAX_LENGTH = 384


class RecordingReward:
    """complexify's TRL reward, recording each (completion, ground truth, reward) it returns."""

    def __init__(self, log_path: Path) -> None:
        self._reward = make_trl_reward()
        self.__name__ = self._reward.__name__
        self._log = log_path.open("w", encoding="utf-8")
        self.step = 0

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], ground_truth: Sequence[str], **kwargs: Any
    ) -> list[float]:
        rewards = self._reward(prompts, completions, ground_truth, **kwargs)
        for completion, gt, value in zip(completions, ground_truth, rewards, strict=True):
            row = {"step": self.step, "completion": completion_text(completion), "ground_truth": gt, "reward": value}
            self._log.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._log.flush()
        return rewards

    def close(self) -> None:
        self._log.close()


def load_config_rows(published: Path, config: str) -> Any:
    """The `train` split of one config of a published folder, read with `datasets` as a user would."""
    import datasets

    if not published.is_dir():
        raise SmokeError(f"published folder {published} does not exist; run `complexify publish --out DIR` first")
    try:
        names = datasets.get_dataset_config_names(str(published))
    except Exception as exc:  # a folder that is not a dataset: datasets raises several kinds
        raise SmokeError(f"{published} is not a published dataset folder ({exc})") from exc
    if config not in names:
        raise SmokeError(
            f"{published} has no `{config}` config (it has: {', '.join(sorted(names)) or 'none'}); "
            f"publish a run whose kept samples fill it"
        )
    rows = datasets.load_dataset(str(published), config, split="train")
    if len(rows) == 0:
        raise SmokeError(f"the `{config}` config of {published} has no rows")
    return rows


def _step_printer(method: str, total: int, recorder: RecordingReward | None) -> Any:
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    key = "reward" if method == "grpo" else "loss"

    class StepPrinter(TrainerCallback):
        """One stdout line per logged step; a progress bar on stderr."""

        def __init__(self) -> None:
            self.bar = tqdm(total=total, desc=f"train-smoke {method}", unit="step", file=sys.stderr)
            self.seen: set[int] = set()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if recorder is not None:
                recorder.step = state.global_step + 1

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            value = (logs or {}).get(key)
            if value is None or state.global_step in self.seen:
                return
            self.seen.add(state.global_step)
            self.bar.update(1)
            name = "reward_mean" if method == "grpo" else "loss"
            self.bar.write(f"step {state.global_step} {name} {value:.6f}", file=sys.stdout)
            sys.stdout.flush()

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.close()

    return StepPrinter()


def _model_and_tokenizer(model_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (model_dir / "config.json").is_file():
        raise SmokeError(f"model folder {model_dir} has no config.json; run `make model` or pass --model DIR")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Float32 on CPU: bfloat16 training there is slow and its loss too coarse to see a small batch being learnt.
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    return model, tokenizer


def _trainer_args(out: Path, steps: int, seed: int) -> dict[str, Any]:
    """What both trainers share: CPU, float32, a log per step (our lines), nothing saved or reported."""
    return {
        "output_dir": str(out / "trainer"), "max_steps": steps, "logging_steps": 1, "save_strategy": "no",
        "report_to": [], "use_cpu": True, "bf16": False, "seed": seed, "disable_tqdm": True,
    }  # fmt: skip


def _quiet(trainer: Any) -> None:
    """Our step lines replace the trainer's own printed log dicts."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def run_grpo(published: Path, model_dir: Path, steps: int, out: Path, seed: int) -> None:
    from trl import GRPOConfig, GRPOTrainer

    rows = load_config_rows(published, CONFIG_FOR_METHOD["grpo"])
    model, tokenizer = _model_and_tokenizer(model_dir)
    recorder = RecordingReward(out / "rewards.jsonl")
    config = GRPOConfig(
        **_trainer_args(out, steps, seed),
        per_device_train_batch_size=PROMPTS_PER_STEP * GENERATIONS,
        num_generations=GENERATIONS,
        max_completion_length=MAX_COMPLETION_TOKENS,
        learning_rate=1e-6,
        gradient_checkpointing=False,  # it turns the generation cache off: each new token re-reads the prompt
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[recorder],
        args=config,
        train_dataset=rows,
        processing_class=tokenizer,
        callbacks=[_step_printer("grpo", steps, recorder)],
    )
    _quiet(trainer)
    try:
        trainer.train()
    finally:
        recorder.close()


def run_sft(published: Path, model_dir: Path, steps: int, out: Path, seed: int) -> None:
    from trl import SFTConfig, SFTTrainer

    rows = load_config_rows(published, CONFIG_FOR_METHOD["sft"])
    # One fixed small batch, seen every step: its loss must go down if the rows are usable training data.
    batch = rows.select(range(min(SFT_BATCH_ROWS, len(rows)))).select_columns(["messages"])
    model, tokenizer = _model_and_tokenizer(model_dir)
    config = SFTConfig(
        **_trainer_args(out, steps, seed),
        per_device_train_batch_size=len(batch),
        learning_rate=1e-4,
        max_length=SFT_MAX_LENGTH,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=batch,
        processing_class=tokenizer,
        callbacks=[_step_printer("sft", steps, None)],
    )
    _quiet(trainer)
    trainer.train()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train.smoke", description=__doc__)
    parser.add_argument("--published", type=Path, required=True)
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import datasets

    datasets.disable_progress_bars()  # the step bar is the one to watch
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        run = run_grpo if args.method == "grpo" else run_sft
        run(args.published, args.model, args.steps, args.output_dir, args.seed)
    except SmokeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
