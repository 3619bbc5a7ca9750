"""Benchmark: our 25 IFEval checkers vs lm-eval's, verdict agreement and checks per second.

    .venv/bin/python benchmarks/checkers_vs_lmeval.py [--cases 5000] [--seed 0] [--rounds 1]

Both sides evaluate the same generated cases (benchmarks/ifeval_cases.py) one instruction at a time
through their public evaluation functions (ours: `evaluate_instruction`; lm-eval:
`test_instruction_following_strict/loose`), after warming up langdetect and Punkt. Our memo caches are
cleared before each mode, so repeated texts within a mode (loose variants) are the only cache hits. That
includes the fast tokenizers' per-word and per-sentence-end memos, so each mode starts from cold memos and
profits only from words and contexts seen earlier in the same mode, as a fresh verification run would.

On a shared machine the two sides run at different moments and other jobs skew either one; `--rounds N`
repeats the whole comparison N times and times each side by its fastest round (as `timeit` does), printing
every round's ratio as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ifeval_compare
from ifeval_cases import generate_cases
from ifeval_compare import compare

from pipeline.checks import text as text_helpers

# run_ours calls this before each timed mode; it also forgets the fast tokenizers' word and context memos.
ifeval_compare.clear_caches = text_helpers.clear_memos


def _best(timings: list[dict[str, Any]], key: str, iid: str | None = None) -> float:
    """The fastest time of one side over the rounds (whole mode, or one instruction id)."""
    return min(t[key][iid] if iid else t[key] for t in timings)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--rounds", type=int, default=1,
        help="compare this many times (lm-eval then ours, alternating); each side is timed by its fastest round",
    )  # fmt: skip
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    cases = list(generate_cases(args.cases, seed=args.seed))
    rounds = [compare(cases) for _ in range(args.rounds)]
    cmp, ours, ref = rounds[0], [c.ours_s for c in rounds], [c.ref_s for c in rounds]
    per = len(cases) // 25
    print(
        f"{len(cases)} cases ({per} per instruction id), seed {args.seed}; verdicts compared in strict and loose mode"
    )
    if args.rounds > 1:
        print(f"{args.rounds} rounds; times below are each side's fastest round")
    head = f"{'instruction id':<46} {'agree':>11}  {'ours/s':>9} {'lm-eval/s':>9} {'ratio':>6}   (strict mode)"
    print("\n" + head)
    print("-" * len(head))
    for iid in sorted(cmp.total):
        n = cmp.total[iid]
        agree = min(c.agree[iid] for c in rounds)
        o, r = _best(ours, "strict_per_id", iid), _best(ref, "strict_per_id", iid)
        print(f"{iid:<46} {agree:>5}/{n:<5}  {n / o:>9.0f} {n / r:>9.0f} {r / o:>5.1f}x")
    print()
    for mode in ("strict", "loose"):
        o, r = _best(ours, f"{mode}_s"), _best(ref, f"{mode}_s")
        line = (
            f"{mode:<6} ours {len(cases) / o:>9.0f} checks/s   "
            f"lm-eval {len(cases) / r:>9.0f} checks/s   ratio {r / o:.1f}x"
        )
        if args.rounds > 1:
            line += (
                "   (rounds: "
                + ", ".join(f"{c.ref_s[f'{mode}_s'] / c.ours_s[f'{mode}_s']:.1f}x" for c in rounds)
                + ")"
            )
        print(line)
    agreed, total = min(sum(c.agree.values()) for c in rounds), sum(cmp.total.values())
    print(
        f"\nagreement: {agreed}/{total} = {100 * agreed / max(1, total):.2f}%"
        + (" in every round" if args.rounds > 1 else "")
    )
    mismatches = [m for c in rounds for m in c.mismatches]
    for m in mismatches[:5]:
        print("MISMATCH", m)
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
