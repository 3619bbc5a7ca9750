"""`bench run` throughput against the raw engine on the same prompts (how much the benchmark machinery costs).

    .venv/bin/python benchmarks/bench_throughput.py --endpoint http://127.0.0.1:8000
    .venv/bin/python benchmarks/bench_throughput.py --local            # starts one bundled worker for the run

A suite of `--per-category` items per category is made in a temporary folder. Then, alternately and
`--repeats` times each after one warm-up pass of each, (a) the raw engine (`open_engine(...).generate`,
request cache off) answers its prompts, and (b) `pipeline.bench.evaluate.run_suite` (request cache off)
answers the same prompts with the same sampling parameters, verifies every answer and writes responses,
verdicts and the report. Greedy sampling, so both sides generate the same tokens. Prints items/s and
completion tokens/s of both, the ratio (b)/(a), and how (b)'s time splits into generation and
verification + report.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.bench.answer import AnswerSettings  # noqa: E402
from pipeline.bench.evaluate import make, run_suite  # noqa: E402
from pipeline.bench.suite import read_suite  # noqa: E402
from pipeline.llm.engine import open_engine  # noqa: E402
from pipeline.llm.records import ChatRequest  # noqa: E402
from pipeline.llm.workers import WorkerOptions, local_workers  # noqa: E402


def raw_pass(endpoint: str, prompts: list[str], settings: AnswerSettings, concurrency: int) -> tuple[float, int]:
    """Seconds and completion tokens for the raw engine answering every prompt once."""
    requests = [ChatRequest.of([{"role": "user", "content": p}], sampling=settings.sampling()) for p in prompts]
    with open_engine([endpoint], None, cache_path=None, max_concurrency=concurrency) as engine:
        _ = engine.model  # model lookup outside the timed part, as run_suite's engine does it before its first request
        start = time.perf_counter()
        results = engine.generate(requests)
        seconds = time.perf_counter() - start
    return seconds, sum(r.completion_tokens for r in results)


def bench_pass(
    endpoint: str, suite: Path, out: Path, settings: AnswerSettings, concurrency: int
) -> tuple[float, int, float]:
    """Seconds, completion tokens and generation seconds of a whole `bench run` (cache off)."""
    start = time.perf_counter()
    outcome = run_suite(
        suite, out, settings, endpoint=endpoint, use_cache=False, max_concurrency=concurrency, log=lambda m: None
    )
    seconds = time.perf_counter() - start
    gen = outcome.report["meta"]["generation"]
    return seconds, gen["completion_tokens"], gen["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", help="OpenAI-compatible server (default: --local)")
    parser.add_argument("--local", action="store_true", help="start one local worker with the bundled model")
    parser.add_argument("--per-category", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if (args.endpoint is None) == (not args.local):
        parser.error("give --endpoint URL or --local")
    settings = AnswerSettings(max_tokens=args.max_tokens, temperature=0.0)
    with contextlib.ExitStack() as stack:
        endpoint = args.endpoint
        if endpoint is None:
            endpoint = stack.enter_context(local_workers(1, WorkerOptions()))[0].url
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-throughput-")))
        suite = tmp / "suite.jsonl"
        make("throughput", args.per_category, 0, suite, seeds_path=ROOT / "seeds" / "complexify-seeds.jsonl")
        prompts = [i.instruction.prompt for i in read_suite(suite)]
        print(
            f"{len(prompts)} items, max_tokens {args.max_tokens}, greedy, "
            f"concurrency {args.concurrency}, endpoint {endpoint}"
        )
        # Warm-up of both sides: the server's prefix cache, and the checkers' one-time loads (Punkt, langdetect).
        raw_pass(endpoint, prompts, settings, args.concurrency)
        bench_pass(endpoint, suite, tmp / "warm-up", settings, args.concurrency)
        raw, bench = [], []
        for k in range(args.repeats):
            raw.append(raw_pass(endpoint, prompts, settings, args.concurrency))
            bench.append(bench_pass(endpoint, suite, tmp / f"run-{k}", settings, args.concurrency))
            r, b = raw[-1], bench[-1]
            print(
                f"repeat {k + 1}: raw {len(prompts) / r[0]:.2f} items/s ({r[1] / r[0]:.1f} tok/s); "
                f"bench run {len(prompts) / b[0]:.2f} items/s "
                f"({b[1] / b[0]:.1f} tok/s; generation {b[2]:.2f} s of {b[0]:.2f} s); "
                f"ratio {r[0] / b[0]:.3f}"
            )
    raw_s = statistics.median(r[0] for r in raw)
    bench_s = statistics.median(b[0] for b in bench)
    overhead = statistics.median(b[0] - b[2] for b in bench)
    print(f"median: raw engine {raw_s:.2f} s, bench run {bench_s:.2f} s for {len(prompts)} items")
    print(f"bench run / raw engine throughput ratio: {raw_s / bench_s:.3f}  (verification + report: {overhead:.2f} s)")


if __name__ == "__main__":
    main()
