"""The bundled seed files: size, valid fields, task-type coverage, no duplicates, tags for the clash rules."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.models import SeedTags
from pipeline.seeding.load import load_seed_file, normalize_text
from pipeline.seeding.select import dedup_exact

BUNDLED = Path(__file__).resolve().parents[2] / "seeds" / "complexify-seeds.jsonl"
ANSWER_SEEDS = BUNDLED.with_name("complexify-answer-seeds.jsonl")
TASK_TYPES = {
    "Fundamental Language Ability",
    "Advanced Chinese Understanding",
    "Open-ended Questions",
    "Practical Writing",
    "Creative Writing",
    "Professional Writing",
    "Custom Writing",
    "Logical Reasoning",
    "Task-oriented Role Play",
    "Professional Knowledge",
}
LANGUAGES = {"en", "zh", "es", "fr", "de"}
# Seeds carry no format constraints; the composer adds those. These phrases would betray one.
FORMAT_HINTS = re.compile(
    r"\b(in (at most|at least|exactly|no more than) \d+ words|bullet points?|in json|markdown)\b", re.I
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in BUNDLED.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_at_least_500_seeds_that_load(rows: list[dict]) -> None:
    assert len(rows) >= 500
    assert len(load_seed_file(BUNDLED)) == len(rows)


def test_fields_are_valid(rows: list[dict]) -> None:
    for r in rows:
        assert set(r) <= {"id", "text", "task_type", "language", "source", "meta", "tags"}, r["id"]
        assert re.fullmatch(r"cx-\d{4}", r["id"]), r["id"]
        assert r["task_type"] in TASK_TYPES, r["id"]
        assert r["language"] in LANGUAGES, r["id"]
        assert r["source"] == "complexify", r["id"]
        assert r["text"] == normalize_text(r["text"]) and len(r["text"]) >= 10, r["id"]
        assert not FORMAT_HINTS.search(r["text"]), r["id"]


def test_every_task_type_has_at_least_30(rows: list[dict]) -> None:
    counts = Counter(r["task_type"] for r in rows)
    assert set(counts) == TASK_TYPES
    assert min(counts.values()) >= 30, counts


def test_chinese_understanding_is_mostly_chinese(rows: list[dict]) -> None:
    acu = [r for r in rows if r["task_type"] == "Advanced Chinese Understanding"]
    assert sum(r["language"] == "zh" for r in acu) >= 0.8 * len(acu)
    for r in rows:
        if r["language"] == "zh":
            assert re.search(r"[\u4e00-\u9fff]", r["text"]), r["id"]


def test_ids_unique_and_no_exact_duplicates(rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    _, drops = dedup_exact(load_seed_file(BUNDLED))
    assert drops == []


def test_logical_reasoning_seeds_carry_their_answer(rows: list[dict]) -> None:
    lr = [r for r in rows if r["task_type"] == "Logical Reasoning"]
    assert lr and all(r.get("meta", {}).get("answer") for r in lr)


@pytest.mark.parametrize("path", [BUNDLED, ANSWER_SEEDS], ids=["seeds", "answer-seeds"])
def test_every_seed_is_tagged_with_a_form(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        tags = SeedTags.model_validate(r["tags"])  # unknown tags or forms raise
        assert tags.form is not None, r["id"]
    assert all(s.tags is not None for s in load_seed_file(path))


def test_tags_follow_the_task(rows: list[dict]) -> None:
    forms = Counter(r["tags"]["form"] for r in rows)
    assert len(forms) >= 8, forms  # the clash rules see a spread of answer forms
    for r in rows:
        form, text = r["tags"]["form"], r["text"].lower()
        if form in ("poem", "haiku", "limerick"):
            assert re.search(r"poem|poema|lullaby|haiku|limerick|sonnet|诗", text), r["id"]
            assert r["tags"].get("max_words"), r["id"]  # verse is short: long-answer constraints clash with it
        if r["task_type"] == "Logical Reasoning":
            assert form == "short_answer" and r["tags"]["max_words"] <= 300, r["id"]
