"""LLM throughput: our engine against a vLLM server vs vLLM's own offline `LLM.chat`, and vs concurrency.

    .venv/bin/python benchmarks/llm_throughput.py                 # defaults: 64 prompts x 128 tokens, 3 repeats
    .venv/bin/python benchmarks/llm_throughput.py --endpoint http://127.0.0.1:8000 --skip-offline

Same prompts and sampling parameters on both sides (temperature 0.7, `ignore_eos` so every request
produces exactly `--max-tokens` tokens). (a) runs in the worker environment as a subprocess: this same
file with `--offline-worker` under .venv-vllm/bin/python (stdlib and vllm only, hence the lazy imports
and the __main__ guard vLLM's spawned engine process needs). (b) starts one worker (after (a) has
finished, so they never share the CPU) and sends the prompts through pipeline.llm with the request
cache off. Prints output tokens/s for both, the ratio (b)/(a), and (b) at several concurrencies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOPICS = [
    "a lighthouse keeper", "a lost umbrella", "the first snow", "a robot gardener", "an old map", "a quiet library",
    "a street musician", "a paper boat", "the last train", "a curious cat", "a broken clock", "a desert well",
    "a kite festival", "a night market", "a mountain hut", "a secret recipe",
]  # fmt: skip


def build_prompts(n: int) -> list[list[dict[str, str]]]:
    """Deterministic, varied chat prompts (different prefixes, so no request is a pure prefix-cache hit)."""
    styles = ["a short story", "a poem", "a diary entry", "a news report"]
    return [
        [
            {
                "role": "user",
                "content": f"Write {styles[i % len(styles)]} about {TOPICS[i % len(TOPICS)]} (variant {i}).",
            }
        ]
        for i in range(n)
    ]


# ---------------------------------------------------------------------- (a) offline, in the worker env


def offline_worker(args: argparse.Namespace) -> None:
    """Runs under .venv-vllm: time LLM.chat over the prompts, print one JSON line per repeat."""
    from vllm import LLM, SamplingParams

    prompts = json.loads(Path(args.prompts).read_text())
    llm = LLM(model=args.model, max_model_len=2048, dtype="bfloat16", enforce_eager=True)
    params = SamplingParams(temperature=args.temperature, top_p=1.0, max_tokens=args.max_tokens, ignore_eos=True)
    llm.chat(prompts[:4], SamplingParams(max_tokens=8), use_tqdm=False)  # warm-up
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        outs = llm.chat(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - t0
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        print("RESULT " + json.dumps({"tokens": tokens, "seconds": seconds}), flush=True)


def run_offline(model_dir: str, prompts: list[list[dict[str, str]]], args: argparse.Namespace) -> list[float]:
    from pipeline.llm.paths import vllm_python

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    cmd = [
        str(vllm_python()), __file__, "--offline-worker", "--model", model_dir, "--prompts", f.name,
        "--max-tokens", str(args.max_tokens), "--temperature", str(args.temperature), "--repeats", str(args.repeats),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    os.unlink(f.name)
    if proc.returncode != 0:
        sys.exit(f"offline run failed:\n{proc.stderr[-3000:]}")
    rates = []
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT ") :])
            rates.append(r["tokens"] / r["seconds"])
    return rates


# ---------------------------------------------------------------------- (b) our engine against a server


def run_engine(
    url: str, model: str, prompts: list[list[dict[str, str]]], concurrency: int, args: argparse.Namespace
) -> float:
    """Output tokens/s of one batch through pipeline.llm (no request cache), `concurrency` in flight."""
    from pipeline.llm.engine import open_engine
    from pipeline.llm.records import ChatRequest, SamplingParams

    params = SamplingParams(temperature=args.temperature, top_p=1.0, max_tokens=args.max_tokens, ignore_eos=True)
    requests = [ChatRequest.of(p, sampling=params) for p in prompts]
    with open_engine([url], model, cache_path=None, max_concurrency=concurrency) as eng:
        t0 = time.perf_counter()
        results = eng.generate(requests)
        seconds = time.perf_counter() - t0
    return sum(r.completion_tokens for r in results) / seconds


def main() -> None:
    p = argparse.ArgumentParser(description="LLM throughput: engine vs offline vLLM, and vs concurrency.")
    p.add_argument("--offline-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", default=None, help="model folder (default: the prepared bundled model)")
    p.add_argument("--prompts", default=None, help=argparse.SUPPRESS)
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--concurrency", default="1,4,16,64", help="sweep, comma separated ('' to skip)")
    p.add_argument("--endpoint", default=None, help="use this running server instead of starting one")
    p.add_argument("--skip-offline", action="store_true")
    p.add_argument("--json", dest="json_out", default=None, help="also write the numbers to this file")
    args = p.parse_args()
    if args.offline_worker:
        offline_worker(args)
        return

    from pipeline.llm.model_prep import prepare_default_model
    from pipeline.llm.workers import WorkerOptions, start_workers, stop_workers

    model_dir = args.model or str(prepare_default_model())
    prompts = build_prompts(args.requests)
    report: dict[str, Any] = {"requests": args.requests, "max_tokens": args.max_tokens, "repeats": args.repeats}
    print(
        f"{args.requests} prompts x {args.max_tokens} tokens "
        f"(ignore_eos, temperature {args.temperature}), {args.repeats} repeats"
    )

    if not args.skip_offline:
        t0 = time.perf_counter()
        offline = run_offline(model_dir, prompts, args)
        report["offline_tok_s"] = offline
        print(
            f"(a) offline LLM.chat:        median {statistics.median(offline):7.1f} tok/s  "
            f"runs {[round(x, 1) for x in offline]}  ({time.perf_counter() - t0:.0f} s incl. load)"
        )

    state = Path(tempfile.mkdtemp()) / "state.json"
    try:
        if args.endpoint:
            from pipeline.llm.openai_engine import normalize_endpoint
            from pipeline.llm.workers import check_health

            url = normalize_endpoint(args.endpoint)
            if not check_health(url):
                sys.exit(f"{url} is not healthy")
            model = None
        else:
            t0 = time.perf_counter()
            rec = start_workers(1, WorkerOptions(model=model_dir), state_file=state)[0]
            url, model = rec.url, rec.served_name
            print(f"server up in {time.perf_counter() - t0:.0f} s at {url}")
        run_engine(url, model, prompts[:4], 4, argparse.Namespace(**{**vars(args), "max_tokens": 8}))  # warm-up
        served = [run_engine(url, model, prompts, args.requests, args) for _ in range(args.repeats)]
        report["engine_tok_s"] = served
        print(
            f"(b) engine -> vLLM server:   median {statistics.median(served):7.1f} tok/s  "
            f"runs {[round(x, 1) for x in served]}  (concurrency {args.requests})"
        )
        if "offline_tok_s" in report:
            ratio = statistics.median(served) / statistics.median(report["offline_tok_s"])
            report["ratio"] = ratio
            print(f"ratio (b)/(a): {ratio:.3f}  (goal >= 0.90)")
        sweep: dict[int, float] = {}
        for c in [int(x) for x in args.concurrency.split(",") if x.strip()]:
            n = min(args.requests, max(8, 4 * c))  # enough requests to keep c in flight, few when c is small
            sweep[c] = run_engine(url, model, prompts[:n], c, args)
            print(f"    concurrency {c:>3}: {sweep[c]:7.1f} tok/s  ({n} requests)")
        report["concurrency_tok_s"] = sweep
    finally:
        stop_workers(state_file=state)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
