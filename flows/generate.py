"""The generation run as a Prefect flow: thin wiring around pipeline.run.generate, pipeline.store and the workers.

`complexify run --config FILE` calls `generate` in-process (a temporary local Prefect server); the
`generate` deployment in prefect.yaml runs the same flow on a process work pool. With `runners=True` the
flow is the run's coordinator: it plans, composes and saves every batch and hands the processing to
runners (Prefect task workers, flows/runner.py) on any machine sharing the output root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.logs import one_line_for_known_errors
from flows.prefect_server import tie_prefect_temporary_server
from flows.runner import hand_out_to_runners, require_api_server
from pipeline.run.config import RunConfig, load_config, parse_config
from pipeline.run.driver import DEFAULT_BATCH_DEADLINE_S, Pending
from pipeline.run.generate import RunContext, open_run_context, run_batches
from pipeline.run.report import RunSummary, report_markdown
from pipeline.run.runners import RunAddress
from pipeline.run.stages import BatchResult, ComposedBatch
from pipeline.run.stopping import stop_on_signals

# A one-off local run starts Prefect's temporary API server on first use; tied to this process, a killed
# run does not leave it behind. Registers a server class only: nothing starts here (see pipeline/llm/proc.py).
tie_prefect_temporary_server()
one_line_for_known_errors()


# No retries here: the engine retries each request's transient failures (README, "Talking to the models"); a batch
# that fails after them fails the run, and a rerun resumes it.
@task(cache_policy=NO_CACHE, log_prints=True)
def run_batch(batch: ComposedBatch, ctx: RunContext) -> BatchResult:
    """Rewrite, answer, verify, gate and repair one composed batch."""
    return ctx.process(batch)


@task(cache_policy=NO_CACHE)
def save_batch(result: BatchResult, ctx: RunContext) -> dict[str, int]:
    """Cap to quota and write the batch's shards atomically."""
    return ctx.save(result)


def _resolve_config(config_path: str | None, config: dict[str, Any] | None) -> RunConfig:
    if (config_path is None) == (config is None):
        raise ValueError("give exactly one of config_path or config")
    return load_config(config_path) if config_path is not None else parse_config(config, "<inline config>")


@flow(name="generate", log_prints=True)
def generate(
    config_path: str | None = None,
    config: dict[str, Any] | None = None,
    output_dir: str | None = None,
    show_progress: bool = False,
    runners: bool = False,
    batch_deadline_s: float = DEFAULT_BATCH_DEADLINE_S,
) -> dict[str, Any]:
    """Produce the configured number of verified samples; resumes the run of the same config and inputs.

    Batches run as tasks, exactly `batches_in_flight` at a time (a task runner of that many threads, whatever
    the flow's own task runner is), and are saved in order. Scale-out (`runners`):
    the batches go to runners (`complexify runner` with the same config, on any machine sharing the output
    root and this Prefect server); a batch not finished `batch_deadline_s` after it was handed out (its
    runner died, say) is handed out again, and the first result wins.
    """
    logger = get_run_logger()
    cfg = _resolve_config(config_path, config)
    if output_dir is not None:
        cfg = cfg.model_copy(update={"output_dir": output_dir})
    if runners:
        require_api_server("run --runners")  # before the run folder exists
    with (
        stop_on_signals(),
        # entered before the run's models: on the way out the engines close first, ending what a batch still asks
        ThreadPoolTaskRunner[BatchResult](max_workers=cfg.batches_in_flight) as batches,
        open_run_context(cfg, log=logger.info, show_progress=show_progress, with_models=not runners) as ctx,
    ):
        if runners:
            address = RunAddress(ctx.run.root, ctx.run.fingerprint)
            with hand_out_to_runners(address, ctx.provenance, deadline_s=batch_deadline_s, log=logger.info) as submit:
                _save_all(ctx, submit)
        else:
            # quote(): the context holds engines and seeds; Prefect must not walk it looking for futures
            _save_all(ctx, lambda batch: batches.submit(run_batch, {"batch": batch, "ctx": quote(ctx)}))
        summary = ctx.finish()
    publish_summary_artifacts(summary)
    return summary.as_dict()


def _save_all(ctx: RunContext, submit: Callable[[ComposedBatch], Pending[BatchResult]]) -> None:
    """Drive the run with `submit` and save every finished batch, in order; after each one the run's progress
    artifact shows the progress line (kept, instructions, rate, elapsed time, the same ETA)."""
    progress = _progress_artifact(ctx)
    for result in run_batches(ctx, submit):
        save_batch(result, quote(ctx))  # type: ignore[call-overload]
        progress()


def _progress_artifact(ctx: RunContext) -> Callable[[], None]:
    """A progress artifact for the run (kept samples of the target, in percent, described by the progress line);
    the returned function brings it up to date."""

    def state() -> tuple[float, str]:
        target = sum(ctx.ledger.quotas.values())
        line = ctx.live.line() if ctx.live is not None else ""
        return (100.0 * ctx.kept_so_far() / target if target else 100.0), line

    percent, line = state()
    artifact = create_progress_artifact(percent, key="generate-progress", description=line)

    def update() -> None:
        now, text = state()
        update_progress_artifact(artifact, now, description=text)  # type: ignore[arg-type]  # sync here

    return update


def publish_summary_artifacts(summary: RunSummary) -> None:
    """The run's summary in the Prefect UI: a Markdown report and a per-category table."""
    rows = [r.as_dict() for r in summary.categories]
    create_markdown_artifact(
        report_markdown(summary), key="generate-summary", description=f"complexify run {summary.run_id}"
    )
    table = [
        {**{k: v for k, v in r.items() if k != "reject_reasons"}, "reject_reasons": json.dumps(r["reject_reasons"])}
        for r in rows
    ]
    create_table_artifact(
        table, key="generate-categories", description="quota, kept, yield and reject reasons per category"
    )
    usage = summary.as_dict()["usage"]
    create_table_artifact(
        [*usage["rows"], {**usage["total"], "cost": usage["cost"]}],
        key="generate-usage",
        description="tokens per stage, role and model, the whole run (last row: the total; cost None: unknown)",
    )
