"""Calibrating the embedding test of task fidelity on a labelled set of on-task and off-task answers
(`taxonomy/fidelity/labelled.jsonl`; `benchmarks/fidelity_calibration.py` prints the numbers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from pipeline.project import TAXONOMY_DIR
from pipeline.verify.fidelity import RelevanceScorer, relevance

LABELLED = TAXONOMY_DIR / "fidelity" / "labelled.jsonl"
# The calibrated threshold catches as many off-task answers as it can while its rejections stay at least this
# precise and it rejects at most this share of on-task answers: a wrongly rejected answer costs yield (and, if
# one kind of task is hit more than others, skews the data), a kept off-task answer costs the data itself.
MIN_PRECISION = 0.95
MAX_ON_TASK_REJECTED = 0.05


@dataclass(frozen=True, slots=True)
class LabelledAnswer:
    """One labelled row: an answer to `task` (asked as `prompt`, with constraints) that does or does not do it."""

    task: str
    prompt: str
    response: str
    on_task: bool
    kind: str
    language: str = "en"


def load_labelled(path: Path = LABELLED) -> list[LabelledAnswer]:
    """The labelled set (JSONL: task, prompt, response, on_task, kind, language)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(LabelledAnswer(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(
                f"{path}: line {n}: not a labelled answer ({exc}); see taxonomy/fidelity/README.md"
            ) from exc
    return rows


def score_labelled(rows: Sequence[LabelledAnswer], scorer: RelevanceScorer) -> list[float]:
    """The embedding test's score of every row, computed as a run computes it (one batch per task and prompt)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for k, r in enumerate(rows):
        groups.setdefault((r.task, r.prompt), []).append(k)
    scores = [0.0] * len(rows)
    for (task, prompt), ks in groups.items():
        _, got = relevance(task, prompt, [rows[k].response for k in ks], scorer)
        for k, score in zip(ks, got, strict=True):
            scores[k] = score
    return scores


@dataclass(frozen=True, slots=True)
class DetectorMetrics:
    """How well `score < threshold` finds the off-task answers of a labelled set."""

    threshold: float
    flagged: int  # answers the detector rejects
    caught: int  # ... of which are off-task
    off_task: int
    on_task: int

    @property
    def precision(self) -> float:
        return self.caught / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.caught / self.off_task if self.off_task else 1.0

    @property
    def rejected_on_task(self) -> int:
        return self.flagged - self.caught


def off_task_metrics(scores: Sequence[float], on_task: Sequence[bool], threshold: float) -> DetectorMetrics:
    """Precision and recall of rejecting the answers scoring below `threshold` as off-task."""
    flagged = [not ok for s, ok in zip(scores, on_task, strict=True) if s < threshold]
    return DetectorMetrics(threshold, len(flagged), sum(flagged), on_task.count(False), on_task.count(True))


def calibrate_threshold(
    scores: Sequence[float],
    on_task: Sequence[bool],
    *,
    min_precision: float = MIN_PRECISION,
    max_on_task_rejected: float = MAX_ON_TASK_REJECTED,
) -> DetectorMetrics:
    """The threshold that catches the most off-task answers with precision >= `min_precision` while rejecting at
    most `max_on_task_rejected` of the on-task ones; of those, the lowest (fewest on-task answers rejected).
    Candidates lie midway between consecutive distinct scores, rounded to 3 decimals, so the chosen one keeps
    the largest margin its rejected set allows."""
    values = sorted(set(scores))
    candidates = [round((a + b) / 2, 3) for a, b in pairwise(values)]
    measured = [off_task_metrics(scores, on_task, t) for t in candidates]
    good = [
        m
        for m in measured
        if m.flagged and m.precision >= min_precision and m.rejected_on_task <= max_on_task_rejected * m.on_task
    ]
    if not good:
        raise ValueError(
            f"no threshold reaches precision {min_precision} while rejecting at most {max_on_task_rejected:.0%} of "
            "on-task answers on this labelled set; add labelled rows or relax the targets"
        )
    return min(good, key=lambda m: (-m.recall, m.threshold))
