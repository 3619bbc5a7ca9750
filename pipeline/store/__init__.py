"""Durable storage of a generation run: immutable Parquet shards, completion manifests, a DuckDB catalog, resume.

Layout under an output root (shared storage is fine; several workers may write one run at once)::

    <root>/
      catalog.duckdb                    views + small tables over every run; rebuilt by refresh_catalog()
      catalog.lock                      flock()ed while the catalog is rebuilt (one writer at a time)
      runs/<config_fingerprint>/
        run.json                        config, fingerprint, run id, created time, models, template hashes
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

Every Sample row carries its verdict per check (a struct list), the constraints of its instruction,
provenance (run id, config fingerprint, model names, template hashes) and the full Instruction JSON, so
`samples_from_table` rebuilds the records losslessly (the plan JSON is there too, for RL ground truth).
"""

from __future__ import annotations

from pipeline.store.catalog import (
    CATALOG_NAME,
    CATALOG_VERSION,
    LOCK_NAME,
    catalog_is_current,
    catalog_lock,
    catalog_path,
    open_catalog,
    records_catalog,
    refresh_catalog,
)
from pipeline.store.errors import CatalogBusyError, DamagedBatchError, RunNotFoundError, StoreError
from pipeline.store.files import (
    STALE_TEMP_S,
    TMP_SUFFIX,
    clean_temp_files,
    create_json_once,
    file_sha256,
    fsync_dir,
    temp_path,
    write_json_atomic,
    write_shard_atomic,
    write_shard_hashed,
)
from pipeline.store.integrity import (
    DAMAGED_SUFFIX,
    batch_problems,
    check_runs_intact,
    damaged_batches,
    set_aside_damaged_batches,
    shard_problem,
    verify_run,
)
from pipeline.store.judge import GOLD_FILE, read_judge_gold, read_judge_routes, write_judge_gold, write_judge_routes
from pipeline.store.manifest import BatchManifest, DroppedRequest, ShardEntry, SlotRecord
from pipeline.store.runs import (
    DONE_DIR,
    RUN_FILE,
    RunPaths,
    batch_done,
    done_batches,
    find_run,
    instruction_fingerprints,
    list_runs,
    load_instructions,
    load_run,
    load_samples,
    manifests,
    open_run,
    read_manifest,
    read_table,
    record_seeds,
    recorded_seeds,
    run_summary,
    shard_files,
    write_batch,
)
from pipeline.store.schema import (
    CHECK_RESULT_TYPE,
    CONSTRAINT_TYPE,
    FORMAT_VERSION,
    INSTRUCTIONS_SCHEMA,
    KINDS,
    PLAN_CHECK_TYPE,
    SAMPLES_SCHEMA,
    SCHEMAS,
    instructions_from_table,
    instructions_to_table,
    samples_from_table,
    samples_to_table,
)
from pipeline.store.stats import LEVELS, STATS_SQL, RunStats, StatsRow, run_stats

__all__ = [
    "CATALOG_NAME",
    "CATALOG_VERSION",
    "CHECK_RESULT_TYPE",
    "CONSTRAINT_TYPE",
    "DAMAGED_SUFFIX",
    "DONE_DIR",
    "FORMAT_VERSION",
    "GOLD_FILE",
    "INSTRUCTIONS_SCHEMA",
    "KINDS",
    "LEVELS",
    "LOCK_NAME",
    "PLAN_CHECK_TYPE",
    "RUN_FILE",
    "SAMPLES_SCHEMA",
    "SCHEMAS",
    "STALE_TEMP_S",
    "STATS_SQL",
    "TMP_SUFFIX",
    "BatchManifest",
    "CatalogBusyError",
    "DamagedBatchError",
    "DroppedRequest",
    "RunNotFoundError",
    "RunPaths",
    "RunStats",
    "ShardEntry",
    "SlotRecord",
    "StatsRow",
    "StoreError",
    "batch_done",
    "batch_problems",
    "catalog_is_current",
    "catalog_lock",
    "catalog_path",
    "check_runs_intact",
    "clean_temp_files",
    "create_json_once",
    "damaged_batches",
    "done_batches",
    "file_sha256",
    "find_run",
    "fsync_dir",
    "instruction_fingerprints",
    "instructions_from_table",
    "instructions_to_table",
    "list_runs",
    "load_instructions",
    "load_run",
    "load_samples",
    "manifests",
    "open_catalog",
    "open_run",
    "read_judge_gold",
    "read_judge_routes",
    "read_manifest",
    "read_table",
    "record_seeds",
    "recorded_seeds",
    "records_catalog",
    "refresh_catalog",
    "run_stats",
    "run_summary",
    "samples_from_table",
    "samples_to_table",
    "set_aside_damaged_batches",
    "shard_files",
    "shard_problem",
    "temp_path",
    "verify_run",
    "write_batch",
    "write_json_atomic",
    "write_judge_gold",
    "write_judge_routes",
    "write_shard_atomic",
    "write_shard_hashed",
]
