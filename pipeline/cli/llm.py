"""`complexify model ...` and `complexify workers ...` commands; `register(app)` adds them to the main CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import InferenceError, UserInputError

model_app = typer.Typer(help="Prepare and locate the models the workers serve.", no_args_is_help=True)
workers_app = typer.Typer(help="Start, inspect and stop local vLLM workers.", no_args_is_help=True)

StateOpt = Annotated[
    Path | None,
    typer.Option("--state-file", help="Worker state file (default: ~/.cache/complexify/workers/state.json)."),
]


@model_app.command("prepare")
def model_prepare(
    model: Annotated[
        str, typer.Argument(help="'default' (the bundled SmolLM2-135M-Instruct) or a model folder.")
    ] = "default",
    force: Annotated[bool, typer.Option(help="Convert again even if the folder exists.")] = False,
) -> None:
    """Make the model usable by workers (converts the bundled model once) and print its folder."""
    from pipeline.llm.model_prep import DEFAULT_ALIASES, prepare_default_model, resolve_model

    if model in DEFAULT_ALIASES:
        typer.echo(str(prepare_default_model(force=force)))
        return
    resolved = resolve_model(model)
    if not resolved.local:
        raise UserInputError(
            f"{model!r} is a hub id: vLLM fetches it itself when a hub is reachable; nothing to prepare"
        )
    typer.echo(resolved.source)


@model_app.command("path")
def model_path(
    model: Annotated[str, typer.Argument(help="'default' or a model folder.")] = "default",
) -> None:
    """Print the folder of a prepared model; exit 1 if the bundled model is not prepared yet."""
    from pipeline.llm.model_prep import DEFAULT_ALIASES, ModelPrepError, default_model_dir, is_prepared, resolve_model

    if model in DEFAULT_ALIASES:
        folder = default_model_dir()
        if not is_prepared(folder):
            raise ModelPrepError(f"the default model is not prepared yet ({folder}); run `complexify model prepare`")
        typer.echo(str(folder))
        return
    typer.echo(resolve_model(model, prepare=False).source)


@workers_app.command("up")
def workers_up(
    n: Annotated[int, typer.Option("-n", "--num", help="Number of workers.")] = 1,
    model: Annotated[str, typer.Option(help="'default', a model folder, or a hub id.")] = "default",
    max_model_len: Annotated[int, typer.Option(help="vLLM --max-model-len.")] = 2048,
    kv_cache_gib: Annotated[int, typer.Option(help="VLLM_CPU_KVCACHE_SPACE (CPU builds).")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for health.")] = 900.0,
    port: Annotated[
        int | None,
        typer.Option(help="Port of the first worker (the k-th gets PORT+k), e.g. to keep a restarted worker's URL."),
    ] = None,
    extra: Annotated[list[str] | None, typer.Option("--arg", help="Extra vLLM server argument (repeatable).")] = None,
    cpu_binding: Annotated[
        str,
        typer.Option(
            help="How a CPU worker uses the cores: all (default), vllm, split or none (README, CPU workers)."
        ),
    ] = "all",
    state_file: StateOpt = None,
) -> None:
    """Start N vLLM servers on loopback ports (reusing healthy ones) and print their URLs."""
    from pipeline.llm.cpu_binding import CPU_BINDINGS
    from pipeline.llm.workers import WorkerOptions, start_workers

    if n < 1:
        raise UserInputError(f"--num must be at least 1, got {n}")
    if max_model_len < 64:
        raise UserInputError(f"--max-model-len must be at least 64, got {max_model_len}")
    if port is not None and not 1 <= port <= 65535 - (n - 1):
        raise UserInputError(f"--port must leave room for {n} port(s) within 1-65535, got {port}")
    if cpu_binding not in CPU_BINDINGS:
        raise UserInputError(f"--cpu-binding must be one of {', '.join(CPU_BINDINGS)}, got {cpu_binding!r}")
    opts = WorkerOptions(
        model=model,
        max_model_len=max_model_len,
        kv_cache_gib=kv_cache_gib,
        startup_timeout_s=timeout,
        port=port,
        extra_args=tuple(extra or ()),
        cpu_binding=cpu_binding,
    )
    for rec in start_workers(n, opts, state_file=state_file):
        typer.echo(f"{rec.url}  model={rec.served_name}  pid={rec.pid}")


@workers_app.command("status")
def workers_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    state_file: StateOpt = None,
) -> None:
    """List recorded workers with liveness and health; exit 1 if any recorded worker is unhealthy."""
    from pipeline.llm.workers import describe, to_json, worker_status

    statuses = worker_status(state_file=state_file)
    typer.echo(to_json(statuses) if as_json else describe(statuses))
    bad = [s for s in statuses if not s.healthy]
    if bad:
        raise InferenceError(
            f"{len(bad)} of {len(statuses)} recorded worker(s) not healthy: {', '.join(s.record.url for s in bad)}"
        )


@workers_app.command("down")
def workers_down(state_file: StateOpt = None) -> None:
    """Stop every recorded worker's process group (SIGTERM, then SIGKILL) and clear the state file."""
    from pipeline.llm.workers import stop_workers

    stopped = stop_workers(state_file=state_file)
    typer.echo(f"stopped {len(stopped)} worker(s)")


def register(app: typer.Typer) -> None:
    """Add the `model` and `workers` command groups to the main CLI."""
    app.add_typer(model_app, name="model")
    app.add_typer(workers_app, name="workers")
