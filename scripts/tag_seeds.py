"""Tag the bundled seeds with the form of their answer and its natural length (the `tags` field).

The composer's seed-clash rules (pipeline/construct/feasibility.py) read these tags. The rules below are the whole
tagging: rerun after adding seeds (`.venv/bin/python scripts/tag_seeds.py`); ids, order and every other
field stay as they are, and a second run changes nothing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pipeline.models import SeedTags

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

Rule = tuple[re.Pattern[str], str, int | None, int | None]  # (pattern over the text, form, min_words, max_words)
_WRITE = r"\b(write|draft|compose|give|prepare|escribe|écris|écrivez|schreibe|schreiben)\b[^.?!:]*"
# Forms the text names outright; they win over the task type.
SHAPE_RULES: list[Rule] = [
    (re.compile(r"\bhaiku\b", re.I), "haiku", None, 25),
    (re.compile(r"\blimerick\b", re.I), "limerick", None, 60),
    (re.compile(_WRITE + r"\bshort poem\b", re.I), "poem", None, 150),
    (re.compile(_WRITE + r"\b(poem|poema|poème|gedicht|lullaby|sonnet)\b|写一首.*诗", re.I), "poem", None, 300),
    (re.compile(r"\b(caption|slogan|tagline|motto)\b|in (one|a single) sentence\b", re.I), "short_text", None, 60),
    (
        re.compile(
            r"^(correct|rewrite|shorten|convert|turn|change|make|punctuate|combine|fix|expand)\b[^.?!:]*"
            r"\b(sentences?|message|note|headline|this|the following)\b|^(corrigez|corrige|reescribe|korrigiere)\b",
            re.I,
        ),
        "sentence_edit",
        None,
        120,
    ),
]
# Forms a writing task names; they apply after the task types that fix the form.
WRITING_RULES: list[Rule] = [
    (re.compile(_WRITE + r"\b(story|cuento|histoire|geschichte)\b", re.I), "story", None, None),
    (re.compile(_WRITE + r"\b(speech|toast|vows?)\b", re.I), "speech", None, None),
    (
        re.compile(
            _WRITE + r"\b(letter|e-?mail|note|message|notice|memo|invitation|reminder|correo|lettre|brief)\b", re.I
        ),
        "letter",
        None,
        None,
    ),
]
# Task types whose form does not depend on the wording, then the fallbacks for the others.
FIXED_TYPES: dict[str, tuple[str, int | None, int | None]] = {
    "Logical Reasoning": ("short_answer", None, 250),
    "Task-oriented Role Play": ("dialogue", None, None),
    "Professional Writing": ("document", 60, None),
    "Professional Knowledge": ("explanation", None, None),
    "Advanced Chinese Understanding": ("explanation", None, None),
}
FALLBACK_TYPES: dict[str, tuple[str, int | None, int | None]] = {
    "Open-ended Questions": ("essay", None, None),
    "Custom Writing": ("short_text", None, None),
    "Practical Writing": ("letter", None, None),
    "Creative Writing": ("story", None, None),
}
ANSWER_SEEDS = ("short_answer", None, 150)  # seeds with one right answer: a number or a short phrase


def _first(rules: list[Rule], text: str) -> tuple[str, int | None, int | None] | None:
    return next(((f, lo, hi) for pat, f, lo, hi in rules if pat.search(text)), None)


def tags_for(row: dict[str, Any]) -> dict[str, Any]:
    """The tags one seed gets from the rules above (only the keys that are set)."""
    text, kind = row["text"], row.get("task_type") or ""
    form = (
        _first(SHAPE_RULES, text)
        or (ANSWER_SEEDS if row.get("answer") is not None else None)
        or FIXED_TYPES.get(kind)
        or _first(WRITING_RULES, text)
        or FALLBACK_TYPES.get(kind)
        or ("explanation", None, None)
    )
    name, lo, hi = form
    tags = SeedTags(form=name, min_words=lo, max_words=hi)  # type: ignore[arg-type]  # names come from the rules
    return tags.model_dump(exclude_none=True)


def tag_file(path: Path) -> int:
    """Rewrite one JSONL seed file with fresh tags; returns how many rows changed."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    changed = 0
    for row in rows:
        tags = tags_for(row)
        if row.get("tags") != tags:
            row["tags"] = tags
            changed += 1
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return changed


def main(paths: list[str]) -> None:
    for p in paths or sorted(str(p) for p in SEEDS.glob("*.jsonl")):
        print(f"{p}: {tag_file(Path(p))} row(s) retagged")


if __name__ == "__main__":
    main(sys.argv[1:])
