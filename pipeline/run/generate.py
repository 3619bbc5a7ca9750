"""A generation run: open what it needs (seeds, taxonomy, store, lock, models), plan its batches and drive
them through the stages with several in flight, save them in order, and summarise.

No Prefect here: flows/generate.py submits each batch as a task, `batches_in_flight` at a time, through `run_batches`,
or hands it to runners on other processes and machines (pipeline/run/runners.py, flows/runner.py), and
`run_locally` does the same with a plain thread pool.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from pipeline import store
from pipeline.construct.options import describe_vocabularies, held_out_warnings
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.models import Instruction, Seed
from pipeline.run.budget import budget_reached, run_prices
from pipeline.run.config import ROOT, ConfigError, RunConfig, seed_token_budget
from pipeline.run.driver import WAIT, Pending, Wait, drive
from pipeline.run.estimate import PLAN_KEY, plan_record
from pipeline.run.identity import (
    changed_inputs,
    config_hash,
    role_models,
    run_fingerprint,
    run_inputs,
    template_hashes,
)
from pipeline.run.judge_report import judge_summary_rows
from pipeline.run.ledger import RUN_INFO_KEY, Ledger, Request
from pipeline.run.planning import hardener, open_ledger, quota_plan, seed_order
from pipeline.run.preflight import preflight
from pipeline.run.progress import RunProgress, report_every, worst_tokens_per_instruction
from pipeline.run.quota import cap_to_grid, cap_to_quota
from pipeline.run.report import (
    RunSummary,
    category_report,
    format_summary,
    hardening_report,
    ledger_grid_report,
    plan_report,
    reasoning_report,
    student_report,
)
from pipeline.run.runlock import hold_run_lock
from pipeline.run.services import open_run_services
from pipeline.run.stages import BatchResult, BatchSpec, ComposedBatch, Models, Provenance, compose_stage, process_batch
from pipeline.seeding.select import prepare_seeds
from pipeline.store.usage import UsageTable


@dataclass
class RunContext:
    """One run while it runs. Planning, composing (hardened children too) and saving happen on the driving thread
    only, so the ledger and the fingerprints seen need no lock; `process` runs anywhere. A run whose batches go to
    runners has no models of its own (`models` None): the runners process its batches."""

    cfg: RunConfig
    seeds: list[Seed]
    taxonomy: Taxonomy
    models: Models | None
    run: store.RunPaths
    provenance: Provenance
    ledger: Ledger
    done: set[int]
    log: Callable[[str], None]
    progress: Callable[[int], None] | None = None
    live: RunProgress | None = None  # the progress line's numbers (made from the ledger when not given)
    totals: Counter[str] = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)  # instruction fingerprints already in the run
    parents: dict[str, Instruction] = field(default_factory=dict)  # proved easy, their follow-up not yet planned
    stopped_by: str | None = None  # the budget the run met (pipeline/run/budget.py): nothing more is planned

    def __post_init__(self) -> None:
        self.order = seed_order(len(self.seeds), self.cfg.random_seed)
        self.harden = hardener(self.cfg, self.taxonomy, self.seeds)
        if self.live is None:
            generated = self.models.generated if self.models is not None else None
            self.live = RunProgress(self.ledger, worst_tokens_per_instruction(self.cfg), generated)

    def usage(self) -> UsageTable:
        """The run's token ledger: its saved batches, and the judge's calibration questions at run start (which a
        runner may ask after the coordinator started, so they are read from the run folder each time)."""
        return self.ledger.usage.with_rows(store.read_calibration_usage(self.run))

    def pending_indices(self) -> Iterator[int]:
        """The run's batch indices that are not done yet, in order."""
        return (i for i in count() if i not in self.done)

    def plan(self, index: int) -> ComposedBatch | Wait | None:
        """The batch at `index` as the ledger plans it, composed: the harder children of the instructions that proved
        easy first, then fresh instructions. WAIT when only a batch in flight can tell; None when nothing is left,
        or once the run's ledger meets its budget (the batches in flight are still saved)."""
        if self.stopped_by is None:
            self.stopped_by = budget_reached(self.cfg, self.usage())
            if self.stopped_by is not None:
                self.log(f"{self.stopped_by}: no further batch is planned; the batches in flight are saved")
        if self.stopped_by is not None:
            return None
        draft = self.ledger.plan(index, self._child)
        if draft is None or draft is WAIT:
            return draft
        children = [child for _, child in draft.follow_ups]
        self.seen.update(c.fingerprint for c in children)
        spec = BatchSpec(index, tuple((slot.position, slot.cell) for slot in draft.fresh))
        fresh = compose_stage(spec, self.seeds, self.order, self.taxonomy, self.cfg, self.seen).instructions
        self.ledger.composed(index, [*children, *fresh])
        return ComposedBatch(index, (*children, *fresh))

    def _child(self, request: Request, taken: set[str]) -> Instruction | None:
        """The harder child of a request's instruction, through the duplicate check (the run's fingerprints and
        the children already in the batch)."""
        return self.harden(self.parents[request.parent_id], _Either(self.seen, taken))

    def process(self, batch: ComposedBatch) -> BatchResult:
        """Rewrite, answer, verify, gate, repair and select one batch (the part that calls the models)."""
        if self.models is None:
            raise RuntimeError("this run hands its batches to runners; it has no models to process them itself")
        return process_batch(batch, self.cfg, self.models, self.provenance)

    def kept_so_far(self) -> int:
        return sum(min(self.ledger.kept[c], q) for c, q in self.ledger.quotas.items())

    def save(self, result: BatchResult) -> dict[str, int]:
        """Cap to quota (or to the grid's cells), write the batch's shards and its manifest with every slot's outcome
        atomically, and record the outcomes in the ledger; one progress line per batch."""
        index, ledger = result.index, self.ledger
        filled = Counter(ledger.kept)
        if self.cfg.grid.enabled():
            capped, cells = cap_to_grid(result, ledger.quotas, filled, ledger.targets(index), self.cfg, self.taxonomy)
        else:
            capped, cells = cap_to_quota(result, ledger.quotas, filled)
        slots = ledger.outcomes(index, capped.kept, capped.rejects, cells, result.harden)
        store.write_batch(
            self.run, index, capped.instructions, capped.kept, capped.rejects, slots, ledger.dropped(index),
            result.usage,
        )  # fmt: skip
        ledger.saved(index, slots, result.usage)
        self.parents.update((ins.id, ins) for ins in capped.instructions if ins.id in result.harden)
        self.done.add(index)
        stats = {"instructions": len(capped.instructions), "kept": len(capped.kept), "rejected": len(capped.rejects)}
        self.totals.update(stats)
        self.totals.update(capped.stats)
        self.totals.update(hardened=ledger.follow_ups(index), harden_requested=len(result.harden))
        self.totals.update(f"hardening_{d.reason}" for d in ledger.dropped(index))
        live = self.live
        assert live is not None
        live.batch_saved(len(capped.instructions))
        per_cat = ", ".join(f"{r.category} {r.kept}/{r.quota}" for r in sorted(ledger.summary(), key=str))
        if self.cfg.grid.enabled():
            rows = ledger.cells()
            per_cat += f"; grid cells met {sum(r.met for r in rows)}/{len(rows)}"
        self.log(
            f"batch {index}: kept {len(capped.kept)} of {len(capped.instructions)} instructions ({per_cat}); "
            f"{live.line()}"
        )
        if self.progress is not None:
            self.progress(self.kept_so_far())
        return stats

    def finish(self) -> RunSummary:
        """Refresh the catalog and return (and log) the run's summary."""
        root = self.cfg.resolve(self.cfg.output_dir)
        store.refresh_catalog(root)
        quota = self.ledger.summary()
        con = store.open_catalog(root, refresh=False)
        try:
            categories = category_report(con, self.run.fingerprint, quota)
            calibration = judge_summary_rows(con, self.run.fingerprint, self.cfg.model_dump(mode="json"))
            hardening = hardening_report(con, self.run.fingerprint)
        finally:
            con.close()
        summary = RunSummary(
            run_id=self.run.run_id,
            config_hash=config_hash(self.cfg),
            run_fingerprint=self.run.fingerprint,
            output_dir=str(root),
            target=sum(self.ledger.quotas.values()),
            kept=sum(r.kept for r in quota),
            quota=quota,
            categories=categories,
            totals={k: v for k, v in self.totals.items() if v},
            student=student_report(self.cfg, self.totals),
            reasoning=reasoning_report(self.cfg, self.totals),
            judge_calibration=calibration,
            hardening=hardening,
            grid=ledger_grid_report(self.ledger),
            usage=self.usage(),
            prices=run_prices(self.cfg),
            stopped_by=self.stopped_by,
            plan=plan_report(self.run.info.get(PLAN_KEY), self.ledger),
        )
        self.log(format_summary(summary))
        return summary


@dataclass(frozen=True)
class _Either:
    """Fingerprints in either of two sets (the run's, and those of the children planned into a batch so far)."""

    first: set[str]
    second: set[str]

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self.first or fingerprint in self.second


def run_batches(ctx: RunContext, submit: Callable[[ComposedBatch], Pending[BatchResult]]) -> Iterator[BatchResult]:
    """The run's batches, finished, in order, with `cfg.batches_in_flight` submitted at a time; save each one
    (ctx.save) before taking the next, since the batches planned after it depend on what it kept."""
    for finished in drive(ctx.pending_indices(), ctx.plan, submit, window=ctx.cfg.batches_in_flight):
        yield finished.result


def run_locally(ctx: RunContext) -> RunSummary:
    """Drive the whole run on a plain thread pool (no Prefect) and return its summary."""
    with ThreadPoolExecutor(max_workers=ctx.cfg.batches_in_flight, thread_name_prefix="batch") as pool:
        for result in run_batches(ctx, lambda batch: pool.submit(ctx.process, batch)):
            ctx.save(result)
    return ctx.finish()


# --- opening a run ----------------------------------------------------------------------------------------


def _existing_run(root: Path, fingerprint: str) -> store.RunPaths | None:
    try:
        return store.load_run(root, fingerprint)
    except store.RunNotFoundError:
        return None


def select_seeds(
    cfg: RunConfig, existing: store.RunPaths | None, log: Callable[[str], None]
) -> tuple[list[Seed], list[dict[str, str]]]:
    """The run's seeds: those recorded in the run when it resumes, else loaded and selected now."""
    recorded = store.recorded_seeds(existing) if existing is not None else None
    if recorded is not None:
        seeds, drops = recorded
        log(f"{len(seeds)} seeds recorded in the run ({len(drops)} dropped at selection)")
        return seeds, drops
    kept, dropped = prepare_seeds(cfg.seeds, base=ROOT, max_tokens=seed_token_budget(cfg))
    if not kept:
        raise ConfigError("no seeds left after loading and filtering; check seeds.sources")
    drops = [{k: str(v) for k, v in asdict(d).items()} for d in dropped]
    reasons = ", ".join(f"{r}={k}" for r, k in sorted(Counter(d["reason"] for d in drops).items()))
    log(f"{len(kept)} seeds ready ({len(drops)} dropped{': ' + reasons if reasons else ''})")
    return kept, drops


def describe_sibling_runs(root: Path, fingerprint: str, inputs: dict[str, Any]) -> list[str]:
    """When earlier runs of the same config exist with other inputs, say what changed (a new run starts)."""
    out = []
    for other in store.list_runs(root) if (root / "runs").is_dir() else []:
        old = other.info.get("inputs")
        if other.fingerprint == fingerprint or not isinstance(old, dict) or old.get("config") != inputs["config"]:
            continue
        changed = ", ".join(changed_inputs(old, inputs))
        out.append(f"inputs changed since run {other.fingerprint} ({changed}): starting a new run beside it")
    return out


@contextmanager
def open_run_context(
    cfg: RunConfig,
    *,
    log: Callable[[str], None] = print,
    show_progress: bool = False,
    with_models: bool = True,
    models: Models | None = None,
) -> Iterator[RunContext]:
    """Everything a run needs, opened in order: seeds and taxonomy, checks, the run folder and its lock,
    resume state, then workers and engines. Nothing is created before the inputs pass their checks.

    `with_models=False` opens no workers or engines: the run's batches are processed by runners. `models`
    answers with these instead of the config's workers (your own chat function, say).
    """
    taxonomy = load_taxonomy()
    root = cfg.resolve(cfg.output_dir)
    inputs = run_inputs(cfg)
    fp = run_fingerprint(cfg, inputs)
    seeds, drops = select_seeds(cfg, _existing_run(root, fp), log)
    preflight(cfg, taxonomy=taxonomy, seeds=seeds)  # before the run folder exists
    vocab = cfg.compose
    for line in [*held_out_warnings(vocab.vocabularies), describe_vocabularies(vocab.vocabularies)]:
        log(line)
    info = {
        "name": cfg.name,
        "config": cfg.model_dump(mode="json"),
        "inputs": inputs,
        "models": role_models(cfg),
        "template_hashes": template_hashes(),
        "taxonomy_version": taxonomy.version,
        # what the dataset card says of its constraint types (a held-out vocabulary opted in is named there)
        "vocabularies": {"composed": vocab.vocabularies, "held_out": vocab.held_out, "opted_in": vocab.opted_in},
        RUN_INFO_KEY: quota_plan(cfg).to_json(),  # the run's quotas and budgets: resume and reports read these
        PLAN_KEY: plan_record(cfg),  # what `complexify plan` expects of it: the summary compares (new runs only)
    }
    for message in describe_sibling_runs(root, fp, inputs):
        log(message)
    run = store.open_run(root, fp, info)
    store.record_seeds(run, seeds, drops)  # once: a resumed run reads them back
    with ExitStack() as stack:
        stack.enter_context(hold_run_lock(run.dir))  # before reading what is done
        for message in store.set_aside_damaged_batches(run):  # no longer done: redone
            log(f"warning: {message}")
        done = store.done_batches(run)
        ledger = open_ledger(cfg, run)
        if done:
            log(
                f"resuming run {run.run_id}: {len(done)} batches done, {sum(ledger.kept.values())} samples kept so far"
            )
        if with_models or models is not None:  # workers, engines, judge, embedder, judge routes
            models = stack.enter_context(open_run_services(cfg, taxonomy, log, run=run, models=models))
        live = RunProgress(ledger, worst_tokens_per_instruction(cfg), models.generated if models is not None else None)
        if show_progress:
            progress = stack.enter_context(_progress_bar(live, sum(ledger.quotas.values())))
        else:  # no terminal to redraw: the same line in the log, from the start, every PROGRESS_LOG_S seconds
            progress = None
            stack.enter_context(report_every(live, PROGRESS_LOG_S, log))
        provenance = Provenance(run.run_id, run.fingerprint, role_models(cfg), template_hashes())
        ctx = RunContext(cfg, seeds, taxonomy, models, run, provenance, ledger, done, log, progress, live)
        ctx.seen.update(store.instruction_fingerprints(run))
        waiting = ledger.pending_parents()  # proved easy in a saved batch; their follow-ups are still to be planned
        if waiting:
            ctx.parents.update((i.id, i) for i in store.load_instructions(run) if i.id in waiting)
        if progress is not None:
            progress(ctx.kept_so_far())
        yield ctx


PROGRESS_LOG_S = 30.0  # without a terminal, the progress line is logged this often


class _LiveColumn(ProgressColumn):
    """The run's progress line, re-read at every refresh (its rate and ETA move between batches)."""

    def __init__(self, live: RunProgress) -> None:
        super().__init__()
        self.live = live

    def render(self, task: Task) -> Text:
        return Text(self.live.line())


@contextmanager
def _progress_bar(live: RunProgress, total: int) -> Iterator[Callable[[int], None]]:
    with Progress(TextColumn("samples"), BarColumn(bar_width=24), _LiveColumn(live), refresh_per_second=2) as bar:
        task_id = bar.add_task("kept", total=total)
        yield lambda done: bar.update(task_id, completed=done)
