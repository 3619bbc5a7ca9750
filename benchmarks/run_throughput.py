"""Pipeline vs raw vLLM over a whole multi-batch run: output tokens/s of `complexify run`'s engine (several
batches in flight, rewrites, answers, verification, repairs, shards) against the very same chat requests
sent all at once straight to the engine.

    .venv/bin/python benchmarks/run_throughput.py --whole-run [--endpoint http://127.0.0.1:PORT] [--rounds 3]

(b) runs the whole run (`pipeline.run.generate.run_locally`, request cache empty) and records every chat request
it makes; (a) sends those requests in one `SyncEngine.generate` call with the same concurrency limit.
The two alternate per round; medians and the ratio are printed, the last line being
`whole-run ratio: X` (pipeline output tok/s over raw). `--in-flight 1` shows a run that waits for each
batch to finish before starting the next. Without --endpoint a local worker with the bundled model is
started (and stopped) for the benchmark.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pipeline.llm.engine import SyncEngine, open_engine
from pipeline.llm.records import ChatRequest, SamplingParams
from pipeline.models import Response
from pipeline.run.config import RoleConfig, RunConfig, parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.stages import Messages, Models

ROOT = Path(__file__).resolve().parent.parent


def run_config(endpoint: str, out: str, args: argparse.Namespace, in_flight: int) -> RunConfig:
    sampling = {"temperature": 0.8, "max_tokens": args.max_tokens}
    return parse_config(
        {
            "name": "bench-whole-run",
            "samples": args.samples,
            "mix": {"Single": 2, "And_1": 1, "Chain_1": 1, "Selection_1": 1},
            "compose": {"checkers": "code", "and_size": [2, 2], "chain_steps": [2, 2]},
            "models": {
                "rewriter": {"enabled": True, "sampling": sampling},
                "judge": {"enabled": False},
                "responder": {"n": args.n, "sampling": sampling},
            },
            "repair_rounds": 1,
            "attempts_factor": args.attempts_factor,
            "batch_size": args.batch_size,
            "batches_in_flight": in_flight,
            "workers": {"local": 0, "endpoints": [endpoint], "max_concurrency": args.concurrency},
            "output_dir": out,
            "random_seed": args.seed,
        }
    )


def whole_run(
    endpoint: str, args: argparse.Namespace, in_flight: int, seed: int
) -> tuple[float, list[ChatRequest], int, int]:
    """Wall time of a whole run, the chat requests it made, its output tokens and its batches."""
    requests: list[ChatRequest] = []
    tokens = [0]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COMPLEXIFY_REQUEST_CACHE"] = str(Path(tmp) / "requests.sqlite")  # empty: every request is real
        cfg = run_config(
            endpoint, str(Path(tmp) / "out"), argparse.Namespace(**{**vars(args), "seed": seed}), in_flight
        )
        t0 = time.perf_counter()
        with open_run_context(cfg, log=lambda line: None) as ctx:
            inner = ctx.models.chat

            def recording(convs: Sequence[Messages], role: RoleConfig, n: int) -> list[list[Response]]:
                s = role.sampling
                params = SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens)
                requests.extend(ChatRequest.of(list(c), sampling=params, n=n) for c in convs)
                out = inner(convs, role, n)
                tokens[0] += sum(r.completion_tokens for rs in out for r in rs)
                return out

            ctx.models = Models(chat=recording, judge=ctx.models.judge)
            run_locally(ctx)
            batches = len(ctx.done)
        wall = time.perf_counter() - t0
    return wall, requests, tokens[0], batches


def raw(engine: SyncEngine, requests: list[ChatRequest]) -> tuple[float, int]:
    t0 = time.perf_counter()
    results = engine.generate(requests)
    return time.perf_counter() - t0, sum(r.completion_tokens for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--whole-run", action="store_true", help="measure a whole multi-batch run (the only mode)")
    ap.add_argument("--endpoint", default=None)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--attempts-factor", type=float, default=2.5)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=192, help="the cap; answers stop early or run to it (long tail)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--in-flight", type=int, default=3, help="batches_in_flight of the run")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not args.whole_run:
        ap.error("pass --whole-run")

    with ExitStack() as stack:
        endpoint = args.endpoint
        if endpoint is None:
            from pipeline.llm.workers import WorkerOptions, local_workers

            endpoint = stack.enter_context(local_workers(1, WorkerOptions(model="default")))[0].url
        engine = stack.enter_context(open_engine([endpoint], None, cache_path=None, max_concurrency=args.concurrency))
        engine.generate([ChatRequest.of([{"role": "user", "content": "Hello"}])])  # warm-up
        rows: list[dict[str, Any]] = []
        for r in range(args.rounds):
            wall, requests, tokens, batches = whole_run(endpoint, args, args.in_flight, seed=r)
            raw_wall, raw_tokens = raw(engine, requests)
            rows.append({"pipe": tokens / wall, "raw": raw_tokens / raw_wall, "wall": wall, "raw_wall": raw_wall})
            print(
                f"round {r + 1}: {batches} batches, {len(requests)} requests; "
                f"run {wall:.1f} s {tokens / wall:.0f} tok/s, "
                f"raw {raw_wall:.1f} s {raw_tokens / raw_wall:.0f} tok/s, "
                f"ratio {rows[-1]['pipe'] / rows[-1]['raw']:.2f}",
                flush=True,
            )

    ratios = [row["pipe"] / row["raw"] for row in rows]
    print(
        f"\nmedians of {args.rounds} rounds, batches_in_flight={args.in_flight}, "
        f"batch_size={args.batch_size}, n={args.n}"
    )
    print(f"raw (all requests at once):  {statistics.median(row['raw'] for row in rows):8.1f} output tok/s")
    print(f"whole run (complexify run):  {statistics.median(row['pipe'] for row in rows):8.1f} output tok/s")
    print(f"whole-run ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
