"""How a CPU vLLM worker should use the cores: the same fixed requests served under each CPU binding.

    .venv/bin/python benchmarks/worker_binding.py                      # every binding, 2 rounds
    .venv/bin/python benchmarks/worker_binding.py --bindings vllm,split --rounds 3 --json out.json

For each binding of `pipeline.llm.workers.CPU_BINDINGS` (vllm: vLLM's own choice, which leaves one core to
the API server; all: compute threads on every core; split: as vllm, with the API server and the scheduler
pinned to the core left over; none: no pinning), one worker with the bundled model is started, then:

- idle: the CPU time its processes use over `--idle-s` seconds with no request (a busy wait shows here);
- quiet: `--requests` chat prompts x `--max-tokens` new tokens (`ignore_eos`, temperature 0.7, all in
  flight at once, request cache off), output tokens/s, `--repeats` times;
- loaded: the same while `--load` other processes spin on the CPU, as on a shared machine;
- with `--whole-run`: the job `make run` runs (configs/default.yaml, in-process, empty request cache) against
  the worker: its wall time and generated tokens/s, with the pipeline's own work (verification, embeddings,
  shards) sharing the cores as it does in a real run.

Bindings take turns within each round (the order rotates per round), so slow phases of a shared machine
fall on all of them. Prints medians per binding and each one's ratio to vLLM's own binding.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.llm_throughput import build_prompts
from pipeline.llm.cpu_binding import CPU_BINDINGS
from pipeline.llm.engine import open_engine
from pipeline.llm.model_prep import prepare_default_model
from pipeline.llm.proc import group_members
from pipeline.llm.records import ChatRequest, SamplingParams
from pipeline.llm.workers import WorkerOptions, WorkerRecord, start_workers, stop_workers
from pipeline.run.config import parse_config
from pipeline.run.generate import open_run_context, run_locally

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


def group_cpu_s(rec: WorkerRecord) -> float:
    """CPU seconds (user + system) used so far by the worker's live processes."""
    total = 0
    for pid in group_members(rec.group, rec.start_ticks):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def affinities(rec: WorkerRecord) -> dict[str, str]:
    """Process name -> the cores it may run on, for the worker's processes."""
    out = {}
    for pid in group_members(rec.group, rec.start_ticks):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            cores = sorted(os.sched_getaffinity(pid))
        except OSError:
            continue
        out[f"{name}[{pid}]"] = ",".join(map(str, cores))
    return out


def _spin(stop: Any) -> None:
    while not stop.is_set():
        pass


@contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """`processes` busy loops on the CPU for the duration of the block."""
    stop = multiprocessing.Event()
    procs = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(processes)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        stop.set()
        for p in procs:
            p.join(5)


def tokens_per_s(url: str, model: str, requests: list[ChatRequest]) -> float:
    with open_engine([url], model, cache_path=None, max_concurrency=len(requests), adaptive_concurrency=False) as eng:
        t0 = time.perf_counter()
        results = eng.generate(requests)
        seconds = time.perf_counter() - t0
    return sum(r.completion_tokens for r in results) / seconds


def whole_run(url: str) -> dict[str, float]:
    """configs/default.yaml against `url`, in-process, from an empty request cache: wall time and tokens/s."""
    import yaml

    tmp = Path(tempfile.mkdtemp())
    old_cache = os.environ.get("COMPLEXIFY_REQUEST_CACHE")
    os.environ["COMPLEXIFY_REQUEST_CACHE"] = str(tmp / "requests.sqlite")
    try:
        data = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
        data.update(workers={"local": 0, "endpoints": [url]}, output_dir=str(tmp / "out"))
        t0 = time.perf_counter()
        with open_run_context(parse_config(data), log=lambda line: None) as ctx:
            run_locally(ctx)
            assert ctx.models is not None and ctx.models.generated is not None
            tokens = ctx.models.generated()
        wall = time.perf_counter() - t0
    finally:
        if old_cache is None:
            os.environ.pop("COMPLEXIFY_REQUEST_CACHE", None)
        else:
            os.environ["COMPLEXIFY_REQUEST_CACHE"] = old_cache
        shutil.rmtree(tmp, ignore_errors=True)
    return {"wall_s": wall, "tok_s": tokens / wall}


def measure(binding: str, model_dir: str, requests: list[ChatRequest], args: argparse.Namespace) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp()) / "state.json"
    t0 = time.perf_counter()
    (rec,) = start_workers(1, WorkerOptions(model=model_dir, cpu_binding=binding), state_file=state)
    out: dict[str, Any] = {"start_s": time.perf_counter() - t0}
    try:
        time.sleep(2)  # let start-up work settle
        before = group_cpu_s(rec)
        time.sleep(args.idle_s)
        out["idle_cpu_pct"] = 100 * (group_cpu_s(rec) - before) / args.idle_s
        out["affinity"] = affinities(rec)
        tokens_per_s(rec.url, rec.served_name, requests[:4])  # warm-up
        if args.whole_run:
            out["run"] = [whole_run(rec.url)]
            return out
        out["quiet"] = [tokens_per_s(rec.url, rec.served_name, requests) for _ in range(args.repeats)]
        if args.load:
            with cpu_load(args.load):
                out["loaded"] = [tokens_per_s(rec.url, rec.served_name, requests) for _ in range(args.repeats)]
    finally:
        stop_workers(state_file=state)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="Throughput of one CPU vLLM worker under each CPU binding.")
    p.add_argument("--bindings", default=",".join(CPU_BINDINGS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="measurements per binding, round and load")
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--idle-s", type=float, default=10.0)
    p.add_argument("--load", type=int, default=1, help="spinning processes for the loaded measurement (0: skip it)")
    p.add_argument(
        "--whole-run", action="store_true", help="measure the default run's job instead of the fixed requests"
    )
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args()
    bindings = [b.strip() for b in args.bindings.split(",") if b.strip()]
    unknown = sorted(set(bindings) - set(CPU_BINDINGS))
    if unknown:
        sys.exit(f"unknown binding(s) {unknown}; choose from {', '.join(CPU_BINDINGS)}")

    model_dir = str(prepare_default_model())
    params = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=args.max_tokens, ignore_eos=True)
    requests = [ChatRequest.of(m, sampling=params) for m in build_prompts(args.requests)]
    print(
        f"{os.cpu_count()} cores; {args.requests} prompts x {args.max_tokens} tokens, "
        f"{args.rounds} rounds x {args.repeats} repeats, load {args.load}"
    )
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in bindings}
    for r in range(args.rounds):
        order = bindings[r % len(bindings) :] + bindings[: r % len(bindings)]
        for binding in order:
            result = measure(binding, model_dir, requests, args)
            runs[binding].append(result)
            if args.whole_run:
                run = result["run"][0]
                print(
                    f"round {r + 1} {binding:<6} default run {run['wall_s']:.0f} s, {run['tok_s']:.1f} tok/s",
                    flush=True,
                )
                continue
            loaded = f", loaded {[round(x, 1) for x in result.get('loaded', [])]}" if args.load else ""
            print(
                f"round {r + 1} {binding:<6} quiet {[round(x, 1) for x in result['quiet']]}{loaded} tok/s; "
                f"idle {result['idle_cpu_pct']:.1f}% CPU; up in {result['start_s']:.0f} s; {result['affinity']}",
                flush=True,
            )

    def median_of(binding: str, phase: str) -> float:
        values = [x for run in runs[binding] for x in run.get(phase, [])]
        return statistics.median(values) if values else float("nan")

    base = "vllm" if "vllm" in bindings else bindings[0]
    if args.whole_run:
        print(f"\n{'binding':<8}{'run wall s':>12}{'tok/s':>9}{'vs ' + base:>10}")
        medians = {
            b: (
                statistics.median(x["run"][0]["wall_s"] for x in runs[b]),
                statistics.median(x["run"][0]["tok_s"] for x in runs[b]),
            )
            for b in bindings
        }
        for b, (wall, rate) in medians.items():
            print(f"{b:<8}{wall:>12.0f}{rate:>9.1f}{rate / medians[base][1]:>10.2f}")
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2))
        return
    print(
        f"\n{'binding':<8}{'quiet tok/s':>13}{'vs ' + base:>10}{'loaded tok/s':>14}{'vs ' + base:>10}{'idle CPU':>10}"
    )
    summary: dict[str, Any] = {}
    for b in bindings:
        quiet, loaded = median_of(b, "quiet"), median_of(b, "loaded")
        idle = statistics.median(run["idle_cpu_pct"] for run in runs[b])
        summary[b] = {"quiet_tok_s": quiet, "loaded_tok_s": loaded, "idle_cpu_pct": idle}
        print(
            f"{b:<8}{quiet:>13.1f}{quiet / median_of(base, 'quiet'):>10.2f}"
            f"{loaded:>14.1f}{loaded / median_of(base, 'loaded'):>10.2f}{idle:>9.1f}%"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "runs": runs, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
