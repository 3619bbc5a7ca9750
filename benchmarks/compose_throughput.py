"""Composer throughput: instructions per second per category on the bundled taxonomy.

Prints, per category, the median over repeats of instructions/s for full composition (tree + plan +
rendered prompt) and the share of that time spent compiling the plan, side by side.

    .venv/bin/python benchmarks/compose_throughput.py [--n 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.plans import compile_plan
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="instructions per category per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    tax = load_taxonomy()
    seed = Seed(id="bench", text="Explain how vaccines train the immune system.")
    print(
        f"taxonomy {tax.version}: {len(tax.specs)} specs; {args.n} instructions x {args.repeats} repeats per category"
    )
    print(f"{'category':<24}{'instr/s (any)':>15}{'instr/s (code)':>16}{'plan share':>12}{'checks/instr':>14}")
    totals = []
    for cat in CATEGORIES:
        rates: dict[str, list[float]] = {"any": [], "code": []}
        plan_share: list[float] = []
        checks = 0
        for r in range(args.repeats):
            for mode in ("any", "code"):
                opts = ComposeOptions(checkers=mode)  # type: ignore[arg-type]
                t0 = time.perf_counter()
                batch = [
                    compose_instruction(seed, cat, tax, random_seed=f"{r}:{i}", options=opts) for i in range(args.n)
                ]
                elapsed = time.perf_counter() - t0
                rates[mode].append(args.n / elapsed)
                if mode == "any":
                    t1 = time.perf_counter()
                    for ins in batch:
                        compile_plan(ins.tree, tax)
                    plan_share.append((time.perf_counter() - t1) / elapsed)
                    checks = sum(len(i.plan.checks) for i in batch) // len(batch)
        med_any = statistics.median(rates["any"])
        totals.append(med_any)
        print(
            f"{cat:<24}{med_any:>15.0f}{statistics.median(rates['code']):>16.0f}"
            f"{statistics.median(plan_share):>11.1%}{checks:>14}"
        )
    print(f"{'median over categories':<24}{statistics.median(totals):>15.0f}")


if __name__ == "__main__":
    main()
