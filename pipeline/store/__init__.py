"""Durable storage of a generation run: immutable Parquet shards, completion manifests, a DuckDB catalog, resume.

Layout under an output root (shared storage is fine; several workers may write one run at once)::

    <root>/
      catalog.duckdb                    views + small tables over every run; rebuilt by refresh_catalog()
      catalog.lock                      flock()ed while the catalog is rebuilt (one writer at a time)
      runs/<run_fingerprint>/           the run's folder (pipeline/run/identity.py names it)
        run.json                        config, run fingerprint, run id, created time, inputs, models, template hashes
        instructions/batch-00007.parquet
        samples/batch-00007.parquet     kept samples
        rejects/batch-00007.parquet     rejected candidates, with their reasons
        _done/batch-00007.json          completion manifest: file names, row and byte counts, sha256, per-category
                                        counts, the batch's planned slots and their outcomes (manifest.py)
        _done/batch-00003.json.damaged  a manifest set aside on resume because a shard no longer matched it

The modules, in the order data flows through them (each imports only those before it):

- `errors`: which failures are the user's to fix (exit 2) and which the files' (exit 1).
- `schema`: the Arrow schemas and the one record <-> column mapping (encode and decode).
- `files`: atomic temp-write / fsync / rename, temp-file cleanup.
- `manifest`: a batch's completion manifest as a typed record (shards, counts, slots and their outcomes).
- `runs`: run.json, batches, manifests, reading a run back.
- `integrity`: shards checked against their manifests; damaged batches set aside on resume.
- `judge`: the run's scored gold examples for judge calibration (`judge_gold.parquet`).
- `stats`: the one statistics query over the catalog views.
- `catalog`: the DuckDB catalog (views, tables, refresh under a lock, read-only open).

How the generation flow uses it::

    run = open_run(root, run_fingerprint(cfg), {"name": ..., "config": ..., "models": ..., "template_hashes": ...})
    set_aside_damaged_batches(run)               # damaged batches are no longer done: they are redone
    done = done_batches(run)                     # skip these; the manifests' slots rebuild the quota ledger
    write_batch(run, index, instructions, kept, rejects, slots)   # per batch, from any worker
    refresh_catalog(root)                        # at the end (or any time; one writer at a time)
    run_stats(open_catalog(root), run.fingerprint)         # yields, pass rates, reject reasons

Runs written by an earlier store format still read: a column or key renamed since (`schema.RENAMED_COLUMNS`, the
run fingerprint, `config_fingerprint` in format 1) is read under today's name.

This package exports what the rest of the library uses; the other names live in the submodules.

Every Sample row carries its verdict per check (a struct list), the constraints of its instruction,
provenance (run id, run fingerprint, model names, template hashes) and the full Instruction JSON, so
`samples_from_table` rebuilds the records losslessly (the plan JSON is there too, for RL ground truth).
"""

from __future__ import annotations

from pipeline.store.catalog import open_catalog, records_catalog, refresh_catalog
from pipeline.store.errors import DamagedBatchError, RunNotFoundError, StoreError
from pipeline.store.integrity import check_runs_intact, set_aside_damaged_batches
from pipeline.store.judge import (
    read_calibration_usage,
    read_judge_gold,
    read_judge_routes,
    write_calibration_usage,
    write_judge_gold,
    write_judge_routes,
)
from pipeline.store.runs import (
    RUN_FILE,
    RunPaths,
    done_batches,
    find_run,
    instruction_fingerprints,
    list_runs,
    load_instructions,
    load_run,
    load_samples,
    manifests,
    open_run,
    record_seeds,
    recorded_fingerprint,
    recorded_seeds,
    write_batch,
)
from pipeline.store.stats import RunStats, StatsRow, run_stats

__all__ = [
    "RUN_FILE",
    "DamagedBatchError",
    "RunNotFoundError",
    "RunPaths",
    "RunStats",
    "StatsRow",
    "StoreError",
    "check_runs_intact",
    "done_batches",
    "find_run",
    "instruction_fingerprints",
    "list_runs",
    "load_instructions",
    "load_run",
    "load_samples",
    "manifests",
    "open_catalog",
    "open_run",
    "read_calibration_usage",
    "read_judge_gold",
    "read_judge_routes",
    "record_seeds",
    "recorded_fingerprint",
    "recorded_seeds",
    "records_catalog",
    "refresh_catalog",
    "run_stats",
    "set_aside_damaged_batches",
    "write_batch",
    "write_calibration_usage",
    "write_judge_gold",
    "write_judge_routes",
]
