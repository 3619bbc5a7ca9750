"""The benchmark commands as library calls: make a suite, answer and score it, score outside answers.

Each writes its outputs into one folder: responses.jsonl (from `run_suite`), verdicts.parquet, report.json and
report.md, each whole or not at all, and never over those of an earlier command unless `force` (see
`pipeline.bench.files`). The CLI and the Prefect flow (flows/evaluate.py) both call these.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.bench.answer import AnswerSettings, EngineSettings, answers_bytes, answers_of, generate, serve
from pipeline.bench.exclusion import RunIndex, index_runs
from pipeline.bench.files import RESPONSES, RUN_FILES, SCORE_FILES, VERDICTS, check_no_results, write_results
from pipeline.bench.report import build_report, report_files
from pipeline.bench.score import ScoredAnswer, read_responses, score_answers, verdicts_bytes
from pipeline.bench.suite import SuiteItem, SuiteResult, make_suite, read_suite, suite_vocabularies, write_suite
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.llm.paths import default_cache_db
from pipeline.run.preflight import check_output_dir
from pipeline.seeding.load import load_seed_file
from pipeline.seeding.select import drop_empty
from pipeline.verify.plan import JudgeFn

# A progress display: (description, total) -> a context whose value is called with each step's size.
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
Log = Callable[[str], None]


@contextlib.contextmanager
def no_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress display that shows nothing."""
    yield lambda k: None


@dataclass(frozen=True)
class Outcome:
    """What a bench command produced."""

    folder: Path
    report: dict[str, Any]
    scored: list[ScoredAnswer]


def make(
    name: str,
    per_category: int,
    random_seed: int,
    out: Path,
    *,
    seeds_path: Path,
    exclude_roots: Sequence[Path] = (),
    checkers: str = "code",
    vocabularies: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
) -> SuiteResult:
    """Build a suite (excluding the runs under `exclude_roots`) and write it to `out`: constraints of `vocabularies`
    (default: the composer's), items of `categories` (default: all ten)."""
    try:
        seeds, _ = drop_empty(load_seed_file(seeds_path))
    except RecursionError:
        fix = 'seed lines are JSON objects like {"id": "s1", "text": "<task>"}'
        raise UserInputError(f"{seeds_path}: JSON nested too deeply to read; {fix}") from None
    if not seeds:
        raise UserInputError(f"{seeds_path} holds no seed with text; fill in the 'text' field")
    index: RunIndex | None = index_runs(exclude_roots) if exclude_roots else None
    result = make_suite(
        name, per_category, random_seed, seeds=seeds, taxonomy=load_taxonomy(), exclude=index, checkers=checkers,
        vocabularies=vocabularies, **({"categories": categories} if categories else {}),
    )  # fmt: skip
    write_suite(out, result.items)
    return result


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def suite_meta(path: Path, items: Sequence[SuiteItem]) -> dict[str, Any]:
    return {
        "suite": ",".join(sorted({i.suite for i in items})),
        "suite_file": str(path),
        "suite_sha256": file_sha256(path),
        "vocabularies": suite_vocabularies(items),
    }


def _warn_unjudged(items: Sequence[SuiteItem], judge: JudgeFn | None, log: Log) -> None:
    n = sum(c.kind == "judge" for i in items for c in i.instruction.plan.checks)
    if n and judge is None:
        log(
            f"warning: the suite has {n} judge checks and no judge (--judge-endpoint): "
            "they are skipped and count as unsatisfied"
        )


def _finish(folder: Path, scored: list[ScoredAnswer], meta: dict[str, Any]) -> Outcome:
    report = build_report(scored, meta)
    write_results(folder, {VERDICTS: verdicts_bytes(scored), **report_files(report)})
    return Outcome(folder, report, scored)


def run_suite(
    suite_path: Path,
    out: Path,
    settings: AnswerSettings,
    *,
    endpoint: str | None = None,
    model: str | None = None,
    local: bool = False,
    use_cache: bool = True,
    max_concurrency: int = 64,
    request_timeout_s: float | None = None,
    judge: JudgeFn | None = None,
    progress: ProgressFactory = no_progress,
    log: Log = print,
    force: bool = False,
) -> Outcome:
    """Answer every suite item through the engine, verify the answers and write the report into `out`.

    `out` holding results of an earlier command is refused unless `force` (before any request is sent)."""
    items = read_suite(suite_path)
    check_output_dir(out, "--out")
    check_no_results(out, RUN_FILES, force=force)
    _warn_unjudged(items, judge, log)
    with serve(endpoint, model, local=local, log=log) as (endpoints, served):
        engine = EngineSettings(
            endpoints, served, cache_path=default_cache_db() if use_cache else None, max_concurrency=max_concurrency,
            **({"request_timeout_s": request_timeout_s} if request_timeout_s is not None else {}),
        )  # fmt: skip
        with progress("answering", len(items)) as step:
            generation = generate([i.instruction.prompt for i in items], settings, engine, progress=step)
    answers = answers_of([i.id for i in items], generation, settings.samples)
    write_results(out, {RESPONSES: answers_bytes(answers)})  # kept even if verifying fails: they cost the most
    with progress("verifying", len(answers)) as step:
        scored = score_answers(items, answers, reasoning=settings.reasoning, judge=judge, progress=step)
    meta = {
        **suite_meta(suite_path, items),
        "model": generation.model,
        "endpoint": endpoints[0] if endpoint is not None else "local",
        "source": "bench run",
        **asdict(settings),
        "judge": judge is not None,
        "generation": {
            "seconds": round(generation.seconds, 3),
            "requests": len(generation.results),
            "cached_requests": generation.cached,
            "rejected_requests": generation.failed,
            "completion_tokens": generation.completion_tokens,
        },
    }
    return _finish(out, scored, meta)


def score_files(
    suite_path: Path,
    responses_path: Path,
    out: Path,
    *,
    reasoning: bool = False,
    model: str | None = None,
    judge: JudgeFn | None = None,
    progress: ProgressFactory = no_progress,
    log: Log = print,
    force: bool = False,
) -> Outcome:
    """Score answers produced anywhere (JSONL with `id` and `response` per line) against the suite.

    `out` holding results of an earlier command is refused unless `force`."""
    items = read_suite(suite_path)
    answers = read_responses(responses_path, items)
    check_output_dir(out, "--out")
    check_no_results(out, SCORE_FILES, force=force)
    _warn_unjudged(items, judge, log)
    with progress("verifying", len(answers)) as step:
        scored = score_answers(items, answers, reasoning=reasoning, judge=judge, progress=step)
    meta = {
        **suite_meta(suite_path, items),
        "model": model or responses_path.stem,
        "source": "bench score",
        "responses_file": str(responses_path),
        "reasoning": reasoning,
        "judge": judge is not None,
    }
    return _finish(out, scored, meta)
