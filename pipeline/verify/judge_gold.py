"""The gold file of judge calibration: judged examples of soft constraints, which no code can check.

One JSON object per line: `instruction`, `response`, `question` (a yes/no question about the response),
`label` (true: the right answer is YES) and `dimension` (a taxonomy dimension, e.g. "Sentiment"). The judge
scores them at run start, and their pairs join the code-labelled ones of that dimension.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserInputError
from pipeline.models import JudgeProbe
from pipeline.verify.judge import YesNoScorer
from pipeline.verify.judge_calibration import ask, judge_score
from pipeline.verify.plan import JudgeQuery

GOLD_FIELDS = ("instruction", "response", "question", "label", "dimension")


class GoldFileError(UserInputError):
    """The gold file is missing or malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True, slots=True)
class GoldExample:
    """One judged example: the judge is right when it answers `question` with YES exactly when `label`."""

    line: int
    instruction: str
    response: str
    question: str
    label: bool
    dimension: str


def _example(data: object, line: int, dimensions: Collection[str]) -> GoldExample:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object with {', '.join(GOLD_FIELDS)}")
    missing = [f for f in GOLD_FIELDS if f not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}; every line needs {', '.join(GOLD_FIELDS)}")
    extra = sorted(set(data) - set(GOLD_FIELDS))
    if extra:
        raise ValueError(f"unknown field {', '.join(extra)} (check the spelling); fields: {', '.join(GOLD_FIELDS)}")
    for name in ("instruction", "response", "question", "dimension"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise ValueError(f"{name} must be a non-empty string")
    if not isinstance(data["label"], bool):
        raise ValueError(f"label must be true or false, got {data['label']!r}")
    if dimensions and data["dimension"] not in dimensions:
        raise ValueError(f"unknown dimension {data['dimension']!r}; known: {', '.join(sorted(dimensions))}")
    return GoldExample(line, data["instruction"], data["response"], data["question"], data["label"], data["dimension"])


def load_gold(path: Path, dimensions: Collection[str] = ()) -> list[GoldExample]:
    """The examples of a gold file; raises GoldFileError naming the line and what to fix (blank lines are skipped)."""
    if not path.is_file():
        raise GoldFileError(f"judge gold file {path} not found; fix models.judge.calibration.gold_file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise GoldFileError(f"judge gold file {path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    out = []
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            out.append(_example(json.loads(text), n, dimensions))
        except json.JSONDecodeError as exc:
            raise GoldFileError(
                f"judge gold file {path}, line {n}: not valid JSON ({exc.msg}); one object per line"
            ) from None
        except ValueError as exc:
            raise GoldFileError(f"judge gold file {path}, line {n}: {exc}") from None
    if not out:
        raise GoldFileError(f"judge gold file {path} has no examples; add JSON lines or remove gold_file")
    return out


def score_gold(examples: Sequence[GoldExample], scorer: YesNoScorer, *, margin: float) -> list[JudgeProbe]:
    """Ask the judge every gold question; each answer is a calibration pair of its dimension."""
    queries = [JudgeQuery(f"gold:{e.line}", e.instruction, e.response, e.question) for e in examples]
    scores = ask(scorer, queries)
    return [
        JudgeProbe(
            check_id=q.check_id,
            dimension=e.dimension,
            question=e.question,
            logprob_yes=lp_yes,
            logprob_no=lp_no,
            judged_yes=judge_score(lp_yes, lp_no) > margin,
            label=e.label,
            source="gold",
        )
        for e, q, (lp_yes, lp_no) in zip(examples, queries, scores, strict=True)
    ]
