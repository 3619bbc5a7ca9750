"""Pass rate by hardening round on a real worker: how much harder each round makes the instructions.

Runs `complexify run` on a small config with hardening on (an instruction whose first answers pass more
often than the threshold is made harder by one of the hardening moves, then is answered again), then reads the
run's statistics: per round, instructions, the responder's first answers and the share that passed every check.

    .venv/bin/python benchmarks/hardening_rounds.py                       # starts the bundled local worker
    .venv/bin/python benchmarks/hardening_rounds.py --endpoint http://127.0.0.1:8000/v1
    .venv/bin/python benchmarks/hardening_rounds.py --moves constraint chain_step selection_level
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import store  # noqa: E402
from pipeline.construct.hardening import MOVES  # noqa: E402

CONFIG = {
    "name": "hardening-bench",
    "samples": 8,
    "mix": {"Single": 1, "And_1": 1},
    "compose": {"checkers": "code", "and_size": [2, 2]},
    "seeds": {"sources": [{"path": str(ROOT / "seeds" / "complexify-seeds.jsonl")}]},
    "models": {
        "rewriter": {"enabled": False},
        "responder": {"n": 4, "sampling": {"temperature": 0.8, "max_tokens": 128}},
        "judge": {"enabled": False},
    },
    "hardening": {"enabled": True, "threshold": 0.25, "rounds": 2},
    "fidelity": {"enabled": False},  # the pass rate of the constraint checks is what hardening is about
    "repair_rounds": 0,
    "attempts_factor": 3,
    "batch_size": 8,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", help="an OpenAI-compatible vLLM server; default: start the bundled local worker")
    parser.add_argument("--seed", type=int, default=0, help="the run's random_seed")
    parser.add_argument(
        "--moves",
        nargs="+",
        choices=MOVES,
        default=["constraint"],
        help="hardening moves the run may use (default: constraint)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hardening-bench-") as tmp:
        out = Path(tmp) / "out"
        config = {**CONFIG, "output_dir": str(out), "random_seed": args.seed}
        config["hardening"] = {**CONFIG["hardening"], "moves": args.moves}  # type: ignore[dict-item]
        config["workers"] = {"local": 0, "endpoints": [args.endpoint]} if args.endpoint else {"local": 1}
        path = Path(tmp) / "hardening.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "run", "--config", str(path), "--no-progress"], cwd=ROOT
        )
        if proc.returncode not in (0, 3):
            sys.exit(f"the run failed with exit {proc.returncode}")
        [run] = store.list_runs(out)
        with store.open_catalog(out) as con:
            stats = store.run_stats(con, run.fingerprint)
        rounds = stats.hardening_rounds()
        # which categories each round's instructions have: the structural moves change the category
        shapes = {
            k: {r.category: r.instructions for r in stats.rows if r.level == "hardening_round" and r.key == str(k)}
            for k in rounds
        }
    print(f"hardening moves: {', '.join(args.moves)}")
    print(f"{'round':>5} {'instructions':>12} {'first answers':>14} {'pass rate':>10} {'kept':>5}")
    for k, r in rounds.items():
        cats = ", ".join(f"{c} x{n}" for c, n in sorted(shapes[k].items()) if n)
        print(f"{k:>5} {r.instructions:>12} {r.checks:>14} {r.pass_rate:>10.1%} {r.kept:>5}   {cats}")
    print("pass rate by round: " + " -> ".join(f"{r.pass_rate:.1%}" for r in rounds.values()))


if __name__ == "__main__":
    main()
