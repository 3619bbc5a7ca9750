"""`complexify ifeval`: Google's IFEval `evaluation_main` with our checkers; `register(app)` adds it.

It scores IFBench files too (AllenAI's `evaluation_lib`: the same formats, string keys).

With `--endpoint URL` (or `--local`) it first answers the input prompts through the engine, writes them as
`input_response_data.jsonl` in the output folder, and then scores them, all in one command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.options import Concurrency, MaxTokens, RequestTimeout, Temperature, UseCache
from pipeline.errors import UserInputError

RESPONSES_FILE = "input_response_data.jsonl"


def register(app: typer.Typer) -> None:
    """Add the `ifeval` command to the main CLI."""

    @app.command("ifeval")
    def ifeval(
        input_data: Annotated[
            Path,
            typer.Option(
                "--input-data", help="IFEval or IFBench input JSONL: key, prompt, instruction_id_list, kwargs."
            ),
        ],
        output_dir: Annotated[
            Path, typer.Option("--output-dir", help="Where eval_results_strict.jsonl and eval_results_loose.jsonl go.")
        ],
        input_response_data: Annotated[
            Path | None,
            typer.Option("--input-response-data", help="Responses JSONL: prompt, response (scores these)."),
        ] = None,
        endpoint: Annotated[
            str | None,
            typer.Option(
                help="Answer the prompts with this OpenAI-compatible server first, e.g. http://127.0.0.1:8000."
            ),
        ] = None,
        local: Annotated[
            bool, typer.Option("--local", help="Answer with a local vLLM worker started for this command.")
        ] = False,
        model: Annotated[
            str | None,
            typer.Option(help="Served model name (default: the endpoint's first; with --local: the bundled model)."),
        ] = None,
        max_tokens: MaxTokens = 1024,
        temperature: Temperature = 0.0,
        reasoning: Annotated[
            bool, typer.Option("--reasoning", help="The model reasons first; strip its reasoning before scoring.")
        ] = False,
        concurrency: Concurrency = 64,
        request_timeout: RequestTimeout = None,
        cache: UseCache = True,
    ) -> None:
        """Score responses on IFEval or IFBench (strict and loose) as their evaluators do; or answer, then score."""
        from pipeline.run.preflight import check_output_dir
        from pipeline.verify.ifeval import evaluate_files, read_input_data

        generating = endpoint is not None or local
        if generating == (input_response_data is not None):
            raise UserInputError(
                "give --input-response-data FILE to score answers, or --endpoint URL (or --local) to make them"
            )
        check_output_dir(output_dir, "--output-dir")  # before scoring, so a bad path costs nothing
        if generating:
            inputs = read_input_data(input_data)  # bad input fails before any worker starts
            input_response_data = _answer(
                [i.prompt for i in inputs], output_dir, endpoint, model, local, max_tokens, temperature, reasoning,
                concurrency, cache, request_timeout,
            )  # fmt: skip
        assert input_response_data is not None
        evaluate_files(input_data, input_response_data, output_dir, echo=typer.echo)


def _answer(
    prompts: list[str],
    output_dir: Path,
    endpoint: str | None,
    model: str | None,
    local: bool,
    max_tokens: int,
    temperature: float,
    reasoning: bool,
    concurrency: int,
    cache: bool,
    request_timeout_s: float | None,
) -> Path:
    """Answer every prompt once and write the responses file evaluation_main reads."""
    from pipeline.bench.answer import AnswerSettings, EngineSettings, generate, serve
    from pipeline.llm.paths import default_cache_db
    from pipeline.verify.reward import strip_reasoning

    settings = AnswerSettings(max_tokens=max_tokens, temperature=temperature, reasoning=reasoning)
    unique = list(dict.fromkeys(prompts))
    with serve(endpoint, model, local=local, log=lambda m: typer.echo(m, err=True)) as (endpoints, served):
        engine = EngineSettings(
            endpoints, served, cache_path=default_cache_db() if cache else None, max_concurrency=concurrency,
            **({"request_timeout_s": request_timeout_s} if request_timeout_s is not None else {}),
        )  # fmt: skip
        result = generate(unique, settings, engine)
    lines = []
    for prompt, res in zip(unique, result.results, strict=True):
        text = res.completions[0].text if res.ok else ""  # a rejected prompt (too long) is answered with nothing
        lines.append(
            json.dumps(
                {"prompt": prompt, "response": strip_reasoning(text) if reasoning else text}, ensure_ascii=False
            )
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / RESPONSES_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(
        f"answered {len(unique)} prompts with {result.model} in {result.seconds:.1f} s "
        f"({result.cached} from the request cache, {result.failed} rejected); wrote {path}",
        file=sys.stderr,
    )
    return path
