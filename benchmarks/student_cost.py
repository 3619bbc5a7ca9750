"""What the student's k rollouts per instruction cost: generated tokens per kept sample of the same run
with and without the student (configs/raif-smoke.yaml, or another config). `--no-band` keeps the student
but drops the difficulty band, isolating the rollouts' own cost from the answers the band throws away.

    .venv/bin/python -m benchmarks.student_cost [--endpoint http://127.0.0.1:PORT] [--rounds 3] [--samples 6]

Per round (random_seed = round) the config runs twice with `run_locally` and an empty request cache: as
given (student on, its band on) and with `models.student.enabled: false` and no band. Every chat request
is counted by role, so the tokens are the generated tokens the server reported: the responder's (answers
and repairs) and the student's (k plain + k reasoning rollouts). Extra cost = (all tokens per kept sample
with the student) - (responder tokens per kept sample without it): the rollouts themselves plus the
answers spent on instructions the band then drops. Pooled over the rounds (sums of tokens over sums of
kept samples), printed last. Without --endpoint a local worker with the bundled model is started (and
stopped) for the benchmark.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.models import Response
from pipeline.run.config import RoleConfig, StudentConfig, parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.stages import Messages

ROOT = Path(__file__).resolve().parent.parent


def one_run(data: dict[str, Any], student: bool, band: bool = True) -> dict[str, float]:
    """Kept samples and generated tokens by role of one run of `data` (student on or off, band on or off)."""
    data = {**data, "models": {**data["models"], "student": {**data["models"]["student"], "enabled": student}}}
    if not (student and band):
        data.pop("difficulty", None)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COMPLEXIFY_REQUEST_CACHE"] = str(Path(tmp) / "requests.sqlite")  # empty: every request is real
        cfg = parse_config({**data, "output_dir": str(Path(tmp) / "out")})
        tokens: Counter[str] = Counter()
        with open_run_context(cfg, log=lambda line: None) as ctx:
            models = ctx.models
            assert models is not None, "the run opened no models"
            chat = models.chat

            def counting(conversations: Sequence[Messages], role: RoleConfig, n: int) -> list[list[Response]]:
                answers = chat(conversations, role, n)
                kind = "student" if isinstance(role, StudentConfig) else "other"
                tokens[kind] += sum(r.completion_tokens for rs in answers for r in rs)
                return answers

            ctx.models = replace(models, chat=counting)
            summary = run_locally(ctx)
    return {"kept": summary.kept, "other": tokens["other"], "student": tokens["student"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "raif-smoke.yaml"))
    ap.add_argument("--endpoint", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=None, help="override the config's samples")
    ap.add_argument("--no-band", action="store_true", help="student on but no difficulty band: the rollouts' own cost")
    args = ap.parse_args()
    base = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    if args.samples:
        base["samples"] = args.samples
    rows = []
    with ExitStack() as stack:
        endpoint = args.endpoint
        if endpoint is None:
            from pipeline.llm.workers import WorkerOptions, local_workers

            endpoint = stack.enter_context(local_workers(1, WorkerOptions(model="default")))[0].url
        base["workers"] = {"local": 0, "endpoints": [endpoint]}
        for r in range(args.rounds):
            data = {**base, "random_seed": r}
            on, off = one_run(data, student=True, band=not args.no_band), one_run(data, student=False)
            rows.append((on, off))
            print(
                f"round {r + 1}: with student kept {on['kept']:.0f}, responder {on['other']:.0f} + student "
                f"{on['student']:.0f} tokens; without kept {off['kept']:.0f}, {off['other']:.0f} tokens",
                flush=True,
            )
    # Pooled over the rounds (a tiny run may keep nothing, so per-round ratios can be undefined).
    kept_on, kept_off = sum(on["kept"] for on, _ in rows), sum(off["kept"] for _, off in rows)
    responder_on = sum(on["other"] for on, _ in rows)
    student = sum(on["student"] for on, _ in rows)
    without = sum(off["other"] for _, off in rows) / max(kept_off, 1)
    with_student = (responder_on + student) / max(kept_on, 1)
    print(f"\npooled over {args.rounds} rounds{', no band' if args.no_band else ''}: generated tokens per kept sample")
    print(f"without the student ({kept_off:.0f} kept):   {without:8.0f}")
    print(
        f"with the student ({kept_on:.0f} kept):      {with_student:8.0f}  "
        f"(responder {responder_on / max(kept_on, 1):.0f} "
        f"+ student rollouts {student / max(kept_on, 1):.0f})"
    )
    print(f"extra cost of the student:        {with_student - without:8.0f}  ({with_student / max(without, 1):.2f}x)")


if __name__ == "__main__":
    main()
