"""The embedding test's threshold holds the precision and recall BENCHMARKS.md reports on the labelled set.

Runs the bundled all-MiniLM-L6-v2 on CPU (about 10 s): the numbers are the model's, not a stub's.
"""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.run.config import FidelityConfig
from pipeline.verify.fidelity import EmbeddingRelevance, text_language
from pipeline.verify.fidelity_calibration import (
    LabelledAnswer,
    calibrate_threshold,
    load_labelled,
    off_task_metrics,
    score_labelled,
)

# BENCHMARKS.md, "Task fidelity: embedding threshold": off-task answers rejected at the shipped threshold.
REPORTED_PRECISION = 0.969
REPORTED_RECALL = 0.953
TOLERANCE = 0.02  # CPU float differences move a score or two across the threshold, not more


@pytest.fixture(scope="module")
def scored() -> tuple[list[LabelledAnswer], list[float]]:
    rows = [r for r in load_labelled() if text_language(r.task) in (None, "en")]
    return rows, score_labelled(rows, EmbeddingRelevance())


def test_the_labelled_set_covers_both_labels_and_the_known_hacks() -> None:
    rows = load_labelled()
    kinds = Counter((r.on_task, r.kind) for r in rows)
    assert len(rows) >= 150 and len({r.task for r in rows}) >= 40
    assert sum(r.on_task for r in rows) >= 100 and sum(not r.on_task for r in rows) >= 100
    for kind in ("constraint_only", "formatted_story", "wrong_task", "echo", "filler"):
        assert kinds[(False, kind)] >= 5, kind
    for kind in ("on_task", "on_task_formatted", "on_task_short", "on_task_repeat"):
        assert kinds[(True, kind)] >= 5, kind


def test_the_shipped_threshold_rejects_off_task_answers_as_reported(
    scored: tuple[list[LabelledAnswer], list[float]],
) -> None:
    rows, scores = scored
    m = off_task_metrics(scores, [r.on_task for r in rows], FidelityConfig().threshold)
    assert m.precision >= REPORTED_PRECISION - TOLERANCE, m
    assert m.recall >= REPORTED_RECALL - TOLERANCE, m


def test_the_shipped_threshold_is_the_calibrated_one(scored: tuple[list[LabelledAnswer], list[float]]) -> None:
    """Editing the labelled set (or the scoring) without rerunning benchmarks/fidelity_calibration.py fails here."""
    rows, scores = scored
    best = calibrate_threshold(scores, [r.on_task for r in rows])
    assert abs(best.threshold - FidelityConfig().threshold) <= 0.01, best


def test_the_answers_that_motivated_the_gate_are_rejected(scored: tuple[list[LabelledAnswer], list[float]]) -> None:
    rows, scores = scored
    threshold = FidelityConfig().threshold
    by_text = {r.response: s for r, s in zip(rows, scores, strict=True)}
    quoted = next(r for r in rows if r.kind == "constraint_only" and "deadline and sunlight" in r.response)
    saber = next(
        r for r in rows if r.kind == "formatted_story" and "in-game saber" in r.response and "release notes" in r.task
    )
    assert by_text[quoted.response] < threshold and by_text[saber.response] < threshold
    # ... while an on-task answer with the same words and formatting is kept
    homework = next(r for r in rows if r.kind == "on_task_formatted" and r.task == quoted.task)
    assert by_text[homework.response] >= threshold
