"""The runner side of a scaled-out run: processes batches its coordinator planned and composed.

A scaled-out run has one coordinator (`complexify run --runners`) that plans, composes and saves every
batch, and any number of runners (`complexify runner`, same config, same output root) that rewrite,
answer, verify, gate and repair the batches it hands out. Only the coordinator writes shards, so no
instruction or sample can be stored twice, and the quotas stay global. No Prefect here: flows/runner.py
serves `process_served` as a Prefect task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.run.config import RunConfig
from pipeline.run.identity import run_fingerprint
from pipeline.run.judge_routing import existing_run
from pipeline.run.services import open_run_services
from pipeline.run.stages import BatchResult, ComposedBatch, Models, Provenance, process_batch

TASKS_DIR = "tasks"  # under the run folder: the batches handed out and the results runners hand back


@dataclass(frozen=True)
class RunAddress:
    """Where a coordinator and its runners meet: the run's folder on the shared output root."""

    root: Path
    fingerprint: str

    @property
    def tasks_dir(self) -> Path:
        """Parameters and results of the run's handed-out batches, readable by every runner and the coordinator."""
        return self.root / "runs" / self.fingerprint / TASKS_DIR

    @property
    def queue(self) -> str:
        """Name of the run's queue of batches: runners of other runs never take them."""
        return f"batch_{self.fingerprint[:16]}"


def address_of(cfg: RunConfig) -> RunAddress:
    """The address of the run `cfg` makes (the same on every machine with the same checkout and inputs)."""
    return RunAddress(cfg.resolve(cfg.output_dir).resolve(), run_fingerprint(cfg))


@dataclass(frozen=True)
class BatchProcessor:
    """What a runner needs to process the batches of one run: its config and its models."""

    cfg: RunConfig
    models: Models

    def process(self, batch: ComposedBatch, provenance: Provenance) -> BatchResult:
        """Rewrite, answer, verify, gate, repair and select one batch (what `RunContext.process` does locally)."""
        return process_batch(batch, self.cfg, self.models, provenance)


# The runs this process serves, by run fingerprint; the Prefect task finds its processor here.
_SERVED: dict[str, BatchProcessor] = {}


@contextmanager
def serve_run(cfg: RunConfig, log: Callable[[str], None]) -> Iterator[RunAddress]:
    """Open the models of the run of `cfg` (starting local workers if it asks for them) and serve its batches
    from this process while the block runs."""
    address = address_of(cfg)
    if address.fingerprint in _SERVED:
        raise UserInputError(f"this process already serves run {address.fingerprint}; start one runner per process")
    # the judge routes come from the gold numbers the coordinator stored (or are scored here when it has not yet)
    run = existing_run(address.root, address.fingerprint)
    with open_run_services(cfg, load_taxonomy(), log, run=run) as models:
        _SERVED[address.fingerprint] = BatchProcessor(cfg, models)
        try:
            yield address
        finally:
            del _SERVED[address.fingerprint]


def process_served(batch: ComposedBatch, provenance: Provenance) -> BatchResult:
    """Process a batch of a run this process serves."""
    processor = _SERVED.get(provenance.run_fingerprint)
    if processor is None:
        raise UserInputError(
            f"batch {batch.index} belongs to run {provenance.run_fingerprint}, which this runner does not serve; "
            "start the runner with that run's config"
        )
    return processor.process(batch, provenance)
