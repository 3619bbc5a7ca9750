"""`complexify bench`: make a held-out suite, run or score it, compare results; `register(app)` adds it.

The library modules are imported inside the commands, as in the other command modules: importing them
(Arrow, the taxonomy graph, the HTTP engine) takes about a second that every other command should not pay.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.cli.options import Concurrency, MaxTokens, RequestTimeout, Temperature, UseCache
from pipeline.errors import UserInputError


class Checkers(StrEnum):
    code = "code"
    any = "any"


@contextlib.contextmanager
def _bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(f"{description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k: bar.advance(task, k)


def _progress(enabled: bool) -> Any:
    from pipeline.bench.evaluate import no_progress

    return _bar if enabled and sys.stderr.isatty() else no_progress


@contextlib.contextmanager
def _judge(endpoint: str | None, model: str | None) -> Iterator[Any]:
    """An LLM judge for judge checks on `endpoint`, or None (judge checks are then skipped)."""
    if endpoint is None:
        yield None
        return
    from pipeline.bench.answer import guarded_judge
    from pipeline.llm.engine import open_engine
    from pipeline.llm.paths import default_cache_db
    from pipeline.verify.judge import LLMJudge

    with open_engine([endpoint], model, cache_path=default_cache_db()) as engine:
        yield guarded_judge(LLMJudge(engine), endpoint)


def _echo_done(outcome: Any) -> None:
    from pipeline.bench.report import summary_line

    typer.echo(f"{summary_line(outcome.report)}; wrote {outcome.folder / 'report.md'}")


def register(app: typer.Typer) -> None:
    """Add the `bench` command group to the main CLI."""
    bench = typer.Typer(
        help="Fresh, decontaminated complex-instruction benchmarks and ComplexBench-shaped reports for any endpoint.",
        no_args_is_help=True,
    )
    app.add_typer(bench, name="bench")

    @bench.command("make")
    def make(
        suite: Annotated[str, typer.Option("--suite", help="Suite name (part of every item id), e.g. heldout-v1.")],
        n: Annotated[int, typer.Option("-n", help="Items per category.", min=1)],
        out: Annotated[Path, typer.Option("--out", help="Suite file to write (JSONL).")],
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same arguments, same file).")] = 0,
        exclude_run: Annotated[
            list[Path] | None,
            typer.Option(
                "--exclude-run",
                help="Output root of a data run; no item shares a seed, fingerprint or 8-gram with its runs.",
            ),
        ] = None,
        checkers: Annotated[
            Checkers, typer.Option(help="'code': only code-checkable constraints; 'any': judge questions too.")
        ] = Checkers.code,
        seeds: Annotated[Path | None, typer.Option(help="Seed file or folder (default: the bundled seeds).")] = None,
        vocabulary: Annotated[
            list[str] | None,
            typer.Option(
                "--vocabulary",
                help="Compose from the constraints of this taxonomy vocabulary (repeatable; default: those a "
                "training run composes). 'ifbench' alone makes an IFBench-style suite of the held-out types.",
            ),
        ] = None,
        category: Annotated[
            list[str] | None,
            typer.Option("--category", help="Make items of this category only (repeatable; default: all ten)."),
        ] = None,
    ) -> None:
        """Make a held-out suite: N items per category with their verification plans."""
        from pipeline.bench.evaluate import make as make_suite
        from pipeline.run.config import ROOT

        result = make_suite(
            suite, n, seed, out, seeds_path=seeds or ROOT / "seeds" / "complexify-seeds.jsonl",
            exclude_roots=exclude_run or [], checkers=checkers.value, vocabularies=vocabulary, categories=category,
        )  # fmt: skip
        typer.echo(f"wrote {out}: {result.describe()}")

    @bench.command("run")
    def run(
        suite: Annotated[Path, typer.Option("--suite", help="Suite file from `bench make`.")],
        out: Annotated[
            Path, typer.Option("--out", help="Folder for responses.jsonl, verdicts.parquet, report.json, report.md.")
        ],
        endpoint: Annotated[
            str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000.")
        ] = None,
        local: Annotated[bool, typer.Option("--local", help="Start a local vLLM worker for this command.")] = False,
        model: Annotated[
            str | None,
            typer.Option(help="Served model name (default: the endpoint's first; with --local: the bundled model)."),
        ] = None,
        reasoning: Annotated[
            bool, typer.Option("--reasoning", help="The model reasons first; strip its reasoning before checking.")
        ] = False,
        samples: Annotated[
            int, typer.Option(help="Answers per item; the report gives pass@1 averaged over them.", min=1)
        ] = 1,
        max_tokens: MaxTokens = 1024,
        temperature: Temperature = 0.0,
        sampling_seed: Annotated[
            int | None, typer.Option("--sampling-seed", help="Per-request sampling seed sent to the server.")
        ] = None,
        concurrency: Concurrency = 64,
        request_timeout: RequestTimeout = None,
        cache: UseCache = True,
        judge_endpoint: Annotated[
            str | None, typer.Option(help="Server for the yes/no judge of judge checks (default: skip them).")
        ] = None,
        judge_model: Annotated[str | None, typer.Option(help="Judge model name on --judge-endpoint.")] = None,
        progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
        force: Annotated[
            bool, typer.Option("--force", help="Replace the results an earlier command left in --out.")
        ] = False,
    ) -> None:
        """Answer a suite with a model endpoint, verify the answers, write the report."""
        from pipeline.bench.answer import AnswerSettings
        from pipeline.bench.evaluate import run_suite

        settings = AnswerSettings(
            max_tokens=max_tokens, temperature=temperature, samples=samples, seed=sampling_seed, reasoning=reasoning
        )
        with _judge(judge_endpoint, judge_model) as judge:
            outcome = run_suite(
                suite, out, settings, endpoint=endpoint, model=model, local=local, use_cache=cache,
                max_concurrency=concurrency, request_timeout_s=request_timeout, judge=judge,
                progress=_progress(progress), log=lambda m: typer.echo(m, err=True), force=force,
            )  # fmt: skip
        gen = outcome.report["meta"]["generation"]
        typer.echo(
            f"answered {gen['requests']} items in {gen['seconds']:.1f} s "
            f"({gen['cached_requests']} from the request cache, "
            f"{gen['rejected_requests']} rejected, {gen['completion_tokens']} completion tokens)",
            err=True,
        )
        _echo_done(outcome)

    @bench.command("score")
    def score(
        suite: Annotated[Path, typer.Option("--suite", help="Suite file from `bench make`.")],
        responses: Annotated[
            Path, typer.Option("--responses", help='JSONL, one {"id": ITEM_ID, "response": TEXT} per line.')
        ],
        out: Annotated[Path, typer.Option("--out", help="Folder for verdicts.parquet, report.json, report.md.")],
        model: Annotated[
            str | None, typer.Option(help="Model name shown in the report (default: the responses file name).")
        ] = None,
        reasoning: Annotated[
            bool, typer.Option("--reasoning", help="Strip reasoning from the responses before checking.")
        ] = False,
        judge_endpoint: Annotated[
            str | None, typer.Option(help="Server for the yes/no judge of judge checks (default: skip them).")
        ] = None,
        judge_model: Annotated[str | None, typer.Option(help="Judge model name on --judge-endpoint.")] = None,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
        force: Annotated[
            bool, typer.Option("--force", help="Replace the results an earlier command left in --out.")
        ] = False,
    ) -> None:
        """Score answers produced anywhere else against a suite; same report as `bench run`."""
        from pipeline.bench.evaluate import score_files

        with _judge(judge_endpoint, judge_model) as judge:
            outcome = score_files(
                suite, responses, out, reasoning=reasoning, model=model, judge=judge, progress=_progress(progress),
                log=lambda m: typer.echo(m, err=True), force=force,
            )  # fmt: skip
        _echo_done(outcome)

    @bench.command("compare")
    def compare(
        folders: Annotated[
            list[Path], typer.Argument(help="Result folders of `bench run`/`bench score`; the first is the baseline.")
        ],
        out: Annotated[
            Path | None, typer.Option("--out", help="Also write compare.md, compare.json and compare.png here.")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Replace the comparison an earlier command left in --out.")
        ] = False,
    ) -> None:
        """Side-by-side per-category rates with paired differences, bootstrap intervals and sign tests."""
        from pipeline.bench.compare import compare_sides, comparison_files, comparison_markdown, load_side
        from pipeline.bench.files import COMPARE_FILES, check_no_results, write_results
        from pipeline.run.preflight import check_output_dir

        if len(folders) < 2:
            raise UserInputError("give at least two result folders: DIR_A DIR_B [...]")
        if out is not None:
            check_output_dir(out, "--out")
            check_no_results(out, COMPARE_FILES, force=force)
        sides = [load_side(f) for f in folders]
        result = compare_sides(sides)
        typer.echo(comparison_markdown(result))
        if out is None:
            typer.echo("(pass --out DIR to save the table and the per-category figure)", err=True)
            return
        write_results(out, comparison_files(result, sides))
        typer.echo(f"wrote {', '.join(str(out / name) for name in COMPARE_FILES)}", err=True)
