"""Verify answers with their items' plans: one scored row per (item, sample), stored as verdicts.parquet.

Responses from anywhere (`bench score`) are read from JSONL, one object per line with `id` and `response`
(and optionally `sample`, an integer; lines without one are numbered in file order per item). A line that
is not such an object, an id the suite does not know, or a suite item without any response is an error that
names the line and the fix, so a report never silently covers fewer items than the suite.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.bench.answer import Answer
from pipeline.bench.files import parse_json
from pipeline.bench.suite import SuiteItem
from pipeline.errors import UserInputError
from pipeline.models import Verdict
from pipeline.verify.plan import JudgeFn, verify_response
from pipeline.verify.reward import strip_reasoning

JUDGE = "judge"  # the checker name under which judge checks are reported


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One check's outcome on one answer, with what the report groups it by."""

    check_id: str
    kind: str
    checker: str
    dimension: str
    passed: bool
    gated: bool
    skipped: bool


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    """The verdict of one answer (item, sample) in a flat form the report and Parquet both use."""

    item_id: str
    sample: int
    category: str
    composition: list[str]
    depth: int
    all_pass: bool
    drfr: float
    n_checks: int
    n_passed: int
    n_skipped: int
    failure: str | None
    finish_reason: str | None
    checks: list[CheckRow] = field(default_factory=list)


_CHECK = pa.struct(
    [
        ("check_id", pa.string()), ("kind", pa.string()), ("checker", pa.string()), ("dimension", pa.string()),
        ("passed", pa.bool_()), ("gated", pa.bool_()), ("skipped", pa.bool_()),
    ]
)  # fmt: skip
SCHEMA = pa.schema(
    [
        ("item_id", pa.string()), ("sample", pa.int32()), ("category", pa.string()),
        ("composition", pa.list_(pa.string())), ("depth", pa.int32()), ("all_pass", pa.bool_()),
        ("drfr", pa.float64()), ("n_checks", pa.int32()),
        ("n_passed", pa.int32()), ("n_skipped", pa.int32()), ("failure", pa.string()), ("finish_reason", pa.string()),
        ("checks", pa.list_(_CHECK)),
    ]
)  # fmt: skip


def _scored(item: SuiteItem, answer: Answer, verdict: Verdict) -> ScoredAnswer:
    ins = item.instruction
    by_id = {c.id: c for c in ins.plan.checks}
    rows = []
    for v in verdict.checks:
        c = by_id[v.check_id]
        rows.append(
            CheckRow(
                check_id=c.id,
                kind=c.kind,
                checker=c.checker or JUDGE,
                dimension=c.dimension or "unknown",
                passed=v.passed,
                gated=v.gated,
                skipped=v.skipped,
            )
        )
    return ScoredAnswer(
        item_id=item.id,
        sample=answer.sample,
        category=item.category,
        composition=list(ins.composition),
        depth=ins.depth,
        all_pass=verdict.all_pass,
        drfr=verdict.drfr,
        n_checks=verdict.n_checks,
        n_passed=verdict.n_passed,
        n_skipped=len(verdict.skipped),
        failure=answer.failure,
        finish_reason=answer.finish_reason,
        checks=rows,
    )


def _unanswered(item: SuiteItem, answer: Answer) -> ScoredAnswer:
    """A request the server rejected: nothing was checked, so every check counts as unsatisfied."""
    checks = [
        CheckRow(c.id, c.kind, c.checker or JUDGE, c.dimension or "unknown", passed=False, gated=False, skipped=False)
        for c in item.instruction.plan.checks
    ]
    ins = item.instruction
    return ScoredAnswer(
        item.id, answer.sample, item.category, list(ins.composition), ins.depth, all_pass=False, drfr=0.0,
        n_checks=len(checks), n_passed=0, n_skipped=0, failure=answer.failure, finish_reason=None, checks=checks,
    )  # fmt: skip


def score_answers(
    items: Sequence[SuiteItem],
    answers: Sequence[Answer],
    *,
    reasoning: bool = False,
    judge: JudgeFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ScoredAnswer]:
    """Verify every answer against its item's plan (reasoning stripped first when `reasoning`), in answer order."""
    by_id = {i.id: i for i in items}
    out = []
    for answer in answers:
        item = by_id[answer.id]
        if answer.failure is not None:
            out.append(_unanswered(item, answer))
        else:
            text = strip_reasoning(answer.response) if reasoning else answer.response
            verdict = verify_response(text, item.instruction.plan, instruction=item.instruction.prompt, judge=judge)
            out.append(_scored(item, answer, verdict))
        if progress is not None:
            progress(1)
    return out


# --- responses from anywhere ------------------------------------------------------------------------


def _answer_from_line(path: Path, n: int, line: str, next_sample: Counter[str]) -> Answer:
    hint = 'each line must be a JSON object like {"id": "<suite item id>", "response": "<answer text>"}'
    row = parse_json(line, f"{path}:{n}", hint)
    if not isinstance(row, dict):
        raise UserInputError(f"{path}:{n}: {hint}, got {type(row).__name__}")
    item_id, response = row.get("id"), row.get("response")
    if not isinstance(item_id, str) or not isinstance(response, str):
        missing = [k for k, v in (("id", item_id), ("response", response)) if not isinstance(v, str)]
        raise UserInputError(f"{path}:{n}: field(s) {', '.join(missing)} missing or not a string; {hint}")
    sample = row.get("sample")
    if sample is None:
        sample = next_sample[item_id]
    elif isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise UserInputError(f"{path}:{n}: 'sample' must be an integer >= 0, got {sample!r}")
    next_sample[item_id] = max(next_sample[item_id], sample + 1)
    failure = row.get("failure")
    return Answer(id=item_id, sample=sample, response=response, failure=failure if isinstance(failure, str) else None)


def read_responses(path: Path, items: Sequence[SuiteItem]) -> list[Answer]:
    """Read and check a responses file against the suite (see the module docstring for the rules)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"responses file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"responses file {path}: cannot read it as UTF-8 text ({exc})") from None
    known = {i.id for i in items}
    answers: list[Answer] = []
    unknown: list[tuple[int, str]] = []
    seen: dict[tuple[str, int], int] = {}
    next_sample: Counter[str] = Counter()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        answer = _answer_from_line(path, n, line, next_sample)
        if answer.id not in known:
            unknown.append((n, answer.id))
            continue
        key = (answer.id, answer.sample)
        if key in seen:
            raise UserInputError(
                f"{path}:{n}: a second response for item {answer.id!r} sample {answer.sample} "
                f"(first on line {seen[key]})"
            )
        seen[key] = n
        answers.append(answer)
    if unknown:
        n, first = unknown[0]
        raise UserInputError(
            f"{path}: {len(unknown)} line(s) name item ids that are not in the suite (first: line {n}, id {first!r}); "
            "score responses against the suite they answer"
        )
    missing = [i.id for i in items if i.id not in next_sample]
    if missing:
        raise UserInputError(
            f"{path}: {len(missing)} of {len(items)} suite items have no response (first: {missing[0]!r}); "
            "answer every item of the suite"
        )
    return answers


# --- verdicts.parquet -------------------------------------------------------------------------------


def _row(s: ScoredAnswer) -> dict[str, Any]:
    row = asdict(s)
    row["checks"] = [asdict(c) for c in s.checks]
    return row


def verdicts_bytes(scored: Sequence[ScoredAnswer]) -> bytes:
    """verdicts.parquet's content: one row per answer, the checks as a list of structs."""
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([_row(s) for s in scored], schema=SCHEMA), sink)
    return sink.getvalue()


def read_verdicts(path: Path) -> list[ScoredAnswer]:
    """Read verdicts.parquet back (for `bench compare`)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise UserInputError(
            f"{path}: cannot read verdicts ({exc}); give a folder written by `bench run` or `bench score`"
        ) from None
    missing = set(SCHEMA.names) - set(table.column_names)
    if missing:
        raise UserInputError(f"{path}: not a bench verdicts file (missing columns {sorted(missing)})")
    out = []
    for row in table.to_pylist():
        checks = [CheckRow(**c) for c in row.pop("checks") or []]
        out.append(ScoredAnswer(**{k: row[k] for k in SCHEMA.names if k != "checks"}, checks=checks))
    return out
