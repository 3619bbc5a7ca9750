"""Calibrate the task-fidelity embedding threshold on labelled answers: precision, recall of rejecting off-task ones.

    .venv/bin/python benchmarks/fidelity_calibration.py [--labelled taxonomy/fidelity/labelled.jsonl] \
        [--min-precision 0.95] [--max-on-task-rejected 0.05]

Scores every labelled answer as a run does (`pipeline.verify.fidelity_calibration.score_labelled`: the answer's
own words against the seed task, with the bundled all-MiniLM-L6-v2), then prints, for the off-task detector
`score < threshold`: a sweep of thresholds, the calibrated one (most off-task answers caught with precision
>= --min-precision and at most --max-on-task-rejected of the on-task answers rejected; then the lowest), its
misses and false rejections by kind, a leave-one-task-out estimate
(the threshold chosen without each task, applied to it) and the shipped config default for comparison.
Rows whose task is not English are left out, as a run leaves them out (the model is English-only).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.run.config import FidelityConfig
from pipeline.verify.fidelity import EmbeddingRelevance, text_language
from pipeline.verify.fidelity_calibration import (
    LABELLED,
    MAX_ON_TASK_REJECTED,
    MIN_PRECISION,
    DetectorMetrics,
    LabelledAnswer,
    calibrate_threshold,
    load_labelled,
    off_task_metrics,
    score_labelled,
)

SWEEP = (0.10, 0.15, 0.20, 0.225, 0.25, 0.275, 0.30, 0.35, 0.40)


def line(m: DetectorMetrics, label: str = "") -> str:
    return (
        f"{m.threshold:>9.3f}  {m.precision:>9.3f}  {m.recall:>6.3f}  {m.caught:>3}/{m.off_task:<3} off-task caught  "
        f"{m.rejected_on_task:>2}/{m.on_task} on-task rejected  {label}"
    )


def leave_one_task_out(
    rows: list[LabelledAnswer], scores: list[float], min_precision: float, max_rejected: float
) -> DetectorMetrics:
    """Pooled counts over tasks, each scored with the threshold calibrated on all other tasks."""
    flagged = caught = 0
    for task in dict.fromkeys(r.task for r in rows):
        train = [(s, r.on_task) for s, r in zip(scores, rows, strict=True) if r.task != task]
        t = calibrate_threshold(
            [s for s, _ in train],
            [ok for _, ok in train],
            min_precision=min_precision,
            max_on_task_rejected=max_rejected,
        ).threshold
        held = [(s, r.on_task) for s, r in zip(scores, rows, strict=True) if r.task == task]
        m = off_task_metrics([s for s, _ in held], [ok for _, ok in held], t)
        flagged += m.flagged
        caught += m.caught
    on_task = [r.on_task for r in rows]
    return DetectorMetrics(float("nan"), flagged, caught, on_task.count(False), on_task.count(True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", type=Path, default=LABELLED)
    ap.add_argument("--min-precision", type=float, default=MIN_PRECISION)
    ap.add_argument("--max-on-task-rejected", type=float, default=MAX_ON_TASK_REJECTED)
    args = ap.parse_args()
    every = load_labelled(args.labelled)
    rows = [r for r in every if text_language(r.task) in (None, "en")]
    start = time.perf_counter()
    scores = score_labelled(rows, EmbeddingRelevance())
    elapsed = time.perf_counter() - start
    on_task = [r.on_task for r in rows]
    print(
        f"{len(rows)} English rows of {len(every)} ({on_task.count(True)} on-task, {on_task.count(False)} off-task, "
        f"{len({r.task for r in rows})} tasks) scored in {elapsed:.1f}s; "
        f"{len(every) - len(rows)} non-English rows left out\n"
    )
    print(f"{'threshold':>9}  {'precision':>9}  {'recall':>6}")
    for t in SWEEP:
        print(line(off_task_metrics(scores, on_task, t)))
    best = calibrate_threshold(
        scores, on_task, min_precision=args.min_precision, max_on_task_rejected=args.max_on_task_rejected
    )
    shipped = off_task_metrics(scores, on_task, FidelityConfig().threshold)
    print()
    target = f"precision >= {args.min_precision}, on-task rejected <= {args.max_on_task_rejected:.0%}"
    print(line(best, f"<- calibrated ({target})"))
    print(line(shipped, "<- shipped default (pipeline/run/config.py FidelityConfig.threshold)"))
    loo = leave_one_task_out(rows, scores, args.min_precision, args.max_on_task_rejected)
    print(
        f"leave one task out: precision {loo.precision:.3f}, recall {loo.recall:.3f} "
        f"({loo.caught}/{loo.off_task} caught, "
        f"{loo.rejected_on_task}/{loo.on_task} on-task rejected)"
    )
    missed = Counter(r.kind for s, r in zip(scores, rows, strict=True) if not r.on_task and s >= best.threshold)
    wrongly = Counter(r.kind for s, r in zip(scores, rows, strict=True) if r.on_task and s < best.threshold)
    total = Counter(r.kind for r in rows)
    print("\nat the calibrated threshold, by kind:")
    for kind in sorted(total):
        labelled_on_task = any(r.on_task for r in rows if r.kind == kind)
        what = f"{wrongly[kind]} rejected (on-task)" if labelled_on_task else f"{missed[kind]} not caught (off-task)"
        print(f"  {kind:<20} {total[kind]:>3} rows, {what}")
    print(f"\nfidelity:\n  threshold: {best.threshold}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
