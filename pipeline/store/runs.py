"""Runs and batches: run.json, the batches' shards and completion manifests, and reading them back.

- **A batch is done when, and only when, its manifest exists.** The manifest is written last. Rewriting a
  batch uses the same file names, so a crash between the renames leaves at most stale files that the
  rerun overwrites: never a duplicate. Readers (the catalog views, `load_samples`) read only the files a
  manifest lists, so an unfinished batch is invisible even if some of its shards were renamed into place.
- **run.json is created once** (hard-link of a finished temp file: exactly one of several racing workers
  wins, the others read the winner's), so a resumed run keeps its run id.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import UserInputError
from pipeline.models import Instruction, Sample, Seed
from pipeline.store.errors import DamagedBatchError, RunNotFoundError, StoreError
from pipeline.store.files import clean_temp_files, create_json_once, host, now, write_json_atomic, write_shard_hashed
from pipeline.store.manifest import (
    BatchManifest,
    CategoryCounts,
    DroppedRequest,
    ShardEntry,
    SlotRecord,
    UsageRow,
    Writer,
    parse_manifest,
)
from pipeline.store.schema import (
    FORMAT_VERSION,
    KINDS,
    RENAMED_COLUMNS,
    SCHEMAS,
    instructions_from_table,
    instructions_to_table,
    samples_from_table,
    samples_to_table,
)

RUN_FILE = "run.json"
DONE_DIR = "_done"
_FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BATCH_RE = re.compile(r"^batch-(\d+)\.json$")


@dataclass(frozen=True)
class RunPaths:
    """Where one run lives, and who it is (from run.json)."""

    root: Path
    fingerprint: str
    run_id: str
    info: dict[str, Any]

    @property
    def dir(self) -> Path:
        return self.root / "runs" / self.fingerprint

    @property
    def done_dir(self) -> Path:
        return self.dir / DONE_DIR

    def kind_dir(self, kind: str) -> Path:
        return self.dir / kind

    def shard(self, kind: str, index: int) -> Path:
        return self.kind_dir(kind) / f"batch-{index:05d}.parquet"

    def manifest(self, index: int) -> Path:
        return self.done_dir / f"batch-{index:05d}.json"

    def folders(self) -> list[Path]:
        return [self.dir, self.done_dir, *(self.kind_dir(k) for k in KINDS)]


def _check_fingerprint(fingerprint: str) -> None:
    if not _FINGERPRINT_RE.match(fingerprint):
        raise UserInputError(
            f"run fingerprint {fingerprint!r} cannot name a folder: use 1-64 letters, digits, '-' or '_' "
            "(pipeline.run.identity.run_fingerprint gives one)"
        )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UserInputError(f"unknown shard kind {kind!r}; known: {', '.join(KINDS)}")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object the store wrote; anything else is a StoreError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}; it is written atomically, so something else changed it") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path} does not hold a JSON object")
    return data


def open_run(root: str | Path, run_fingerprint: str, run_info: Mapping[str, Any] | None = None) -> RunPaths:
    """Create or resume the run of `run_fingerprint` under `root`; cleans dead writers' temp files.

    `run_info` (config, models, template_hashes, name, ...: any JSON) is recorded in run.json the first
    time only; a resumed run keeps its original run id and info.
    """
    _check_fingerprint(run_fingerprint)
    root = Path(root).resolve()
    try:
        json.dumps(dict(run_info or {}))
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"run_info must be JSON-serialisable: {exc}") from exc
    probe = RunPaths(root, run_fingerprint, "", {})
    for folder in probe.folders():
        folder.mkdir(parents=True, exist_ok=True)
    fresh = {
        **dict(run_info or {}),
        "run_fingerprint": run_fingerprint,
        "run_id": f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        "created_at": now(),
        "format_version": FORMAT_VERSION,
    }
    create_json_once(probe.dir / RUN_FILE, fresh)
    run = load_run(root, run_fingerprint)
    for folder in run.folders():
        clean_temp_files(folder)
    return run


def load_run(root: str | Path, run_fingerprint: str) -> RunPaths:
    """An existing run (read-only use: nothing is created)."""
    _check_fingerprint(run_fingerprint)
    root = Path(root).resolve()
    path = root / "runs" / run_fingerprint / RUN_FILE
    if not path.is_file():
        raise RunNotFoundError(f"no run {run_fingerprint} under {root} ({path} is missing)")
    info = read_json(path)
    recorded = recorded_fingerprint(info)
    if recorded != run_fingerprint:
        raise StoreError(f"{path} belongs to run {recorded!r}, not {run_fingerprint!r}")
    return RunPaths(root, run_fingerprint, str(info.get("run_id", "")), info)


def recorded_fingerprint(info: Mapping[str, Any]) -> str | None:
    """The run fingerprint a run.json records (format 1 named it config_fingerprint)."""
    value = info.get("run_fingerprint", info.get("config_fingerprint"))
    return None if value is None else str(value)


def list_runs(root: str | Path) -> list[RunPaths]:
    """Every run under `root` that has a run.json, by fingerprint."""
    runs_dir = Path(root).resolve() / "runs"
    if not runs_dir.is_dir():
        return []
    return [load_run(root, p.parent.name) for p in sorted(runs_dir.glob(f"*/{RUN_FILE}"))]


def find_run(root: str | Path, fingerprint: str) -> RunPaths:
    """The run whose fingerprint is `fingerprint` or starts with it (unique prefix)."""
    runs = list_runs(root)
    exact = [r for r in runs if r.fingerprint == fingerprint]
    matches = exact or [r for r in runs if r.fingerprint.startswith(fingerprint)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(r.fingerprint for r in runs) or "none"
    if not matches:
        raise RunNotFoundError(f"no run {fingerprint!r} under {Path(root).resolve()}; runs there: {known}")
    raise RunNotFoundError(f"{fingerprint!r} matches several runs ({known}); give more characters")


# --- batches -----------------------------------------------------------------------------------------------


def done_batches(run: RunPaths) -> set[int]:
    """Indices of the batches whose manifest exists (the only definition of done)."""
    if not run.done_dir.is_dir():
        return set()
    return {int(m.group(1)) for p in run.done_dir.iterdir() if (m := _BATCH_RE.match(p.name))}


def read_manifest(run: RunPaths, index: int) -> BatchManifest:
    path = run.manifest(index)
    return parse_manifest(read_json(path), path)


def manifests(run: RunPaths) -> list[BatchManifest]:
    """Every completion manifest of the run, in batch order."""
    return [read_manifest(run, i) for i in sorted(done_batches(run))]


def _check_batch(
    run: RunPaths, instructions: Sequence[Instruction], samples: Sequence[Sample], rejects: Sequence[Sample]
) -> None:
    """Refuse a batch that would corrupt the dataset, naming the offending record."""
    for label, group, kept in (("samples", samples, True), ("rejects", rejects, False)):
        for s in group:
            if s.kept is not kept:
                raise StoreError(f"{label} must hold kept={kept} samples only; {s.id} has kept={s.kept}")
            if s.run_fingerprint != run.fingerprint:
                raise StoreError(f"sample {s.id} belongs to run {s.run_fingerprint}, not to run {run.fingerprint}")
    for label, ids in (
        ("sample", [s.id for s in [*samples, *rejects]]),
        ("instruction", [i.id for i in instructions]),
    ):
        dupes = sorted(k for k, n in Counter(ids).items() if n > 1)
        if dupes:
            raise StoreError(f"duplicate {label} ids in one batch: {', '.join(dupes[:5])}; ids must be unique")


def _category_counts(
    instructions: Sequence[Instruction], samples: Sequence[Sample], rejects: Sequence[Sample]
) -> dict[str, CategoryCounts]:
    counts: dict[str, Counter[str]] = {}
    for key, group in (
        ("instructions", instructions),
        ("kept", [s.instruction for s in samples]),
        ("rejects", [s.instruction for s in rejects]),
    ):
        for ins in group:
            counts.setdefault(ins.category, Counter())[key] += 1
    return {c: CategoryCounts(**n) for c, n in sorted(counts.items())}


def write_batch(
    run: RunPaths,
    index: int,
    instructions: Sequence[Instruction],
    samples: Sequence[Sample],
    rejects: Sequence[Sample],
    slots: Sequence[SlotRecord] | None = None,
    dropped: Sequence[DroppedRequest] = (),
    usage: Sequence[UsageRow] | None = None,
) -> BatchManifest:
    """Write a batch's three shards, then its manifest (last, so the batch is done only when all are there).

    Rewriting a batch (a resumed crash) replaces the same files: it never duplicates rows. The run's `slots` for
    the batch (one per instruction: the quota cell it was planned for and its outcome) and the follow-up requests
    its planning `dropped` go in the manifest too, so a resumed run and the reports know the run's quota state
    without reading a shard or planning anything again; so does its token ledger (`usage`). Returns the manifest.
    """
    if index < 0:
        raise StoreError(f"batch index must be >= 0, got {index}")
    _check_batch(run, instructions, samples, rejects)
    if slots is not None and sorted(s.instruction_id for s in slots) != sorted(i.id for i in instructions):
        raise StoreError(f"batch {index}: its slots must name its instructions, one slot each")
    tables = {
        "instructions": instructions_to_table(
            instructions, run_id=run.run_id, run_fingerprint=run.fingerprint, batch=index
        ),
        "samples": samples_to_table(samples, batch=index),
        "rejects": samples_to_table(rejects, batch=index),
    }
    files = {}
    for kind, table in tables.items():
        path = run.shard(kind, index)
        size, digest = write_shard_hashed(path, table)
        files[kind] = ShardEntry(file=str(path.relative_to(run.dir)), rows=table.num_rows, bytes=size, sha256=digest)
    manifest = BatchManifest(
        format_version=FORMAT_VERSION,
        run_fingerprint=run.fingerprint,
        run_id=run.run_id,
        batch=index,
        files=files,
        categories=_category_counts(instructions, samples, rejects),
        slots=None if slots is None else tuple(slots),
        dropped=tuple(dropped),
        usage=None if usage is None else tuple(usage),
        written_at=now(),
        writer=Writer(host=host(), pid=os.getpid()),
    )
    write_json_atomic(run.manifest(index), manifest.to_json())
    return manifest


def damaged_message(run: RunPaths, index: int, problem: str) -> str:
    """The one-line description of a damaged batch every integrity error uses."""
    return f"run {run.fingerprint} batch {index} is damaged: {problem}"


def shard_files(run: RunPaths, kind: str) -> list[Path]:
    """The `kind` shards of every done batch, in batch order (never a shard of an unfinished batch)."""
    _check_kind(kind)
    return [run.dir / m.files[kind].file for m in manifests(run)]


def read_table(run: RunPaths, kind: str, columns: list[str] | None = None) -> pa.Table:
    """All rows of one kind from the run's done batches, as one Arrow table (only `columns`, if given)."""
    _check_kind(kind)
    tables = []
    for m in manifests(run):
        path = run.dir / m.files[kind].file
        try:
            tables.append(_read_shard(path, columns))
        except (OSError, pa.ArrowException) as exc:  # missing or truncated: name it rather than a pyarrow traceback
            raise DamagedBatchError(damaged_message(run, m.batch, f"{path} cannot be read ({exc})")) from exc
    if not tables:
        empty = SCHEMAS[kind].empty_table()
        return empty.select(columns) if columns is not None else empty
    return pa.concat_tables(tables, promote_options="default")


def current_names(table: pa.Table) -> pa.Table:
    """`table` with the columns of an earlier format under today's names (RENAMED_COLUMNS)."""
    names = [new if (new := RENAMED_COLUMNS.get(n, n)) not in table.column_names else n for n in table.column_names]
    return table if names == table.column_names else table.rename_columns(names)


def _read_shard(path: Path, columns: list[str] | None) -> pa.Table:
    """One shard with today's column names, whichever format wrote it (only `columns`, if given)."""
    if columns is not None:
        present = set(pq.read_schema(path).names)
        old_name = {new: old for old, new in RENAMED_COLUMNS.items()}
        columns = [old_name[c] if c not in present and old_name.get(c) in present else c for c in columns]
    return current_names(pq.read_table(path, columns=columns))


def instruction_fingerprints(run: RunPaths) -> set[str]:
    """Content fingerprints of every instruction the run holds (one column read, nothing parsed)."""
    return set(
        read_table(run, "instructions", ["instruction_fingerprint"]).column("instruction_fingerprint").to_pylist()
    )


def load_samples(run: RunPaths, kept: bool = True) -> list[Sample]:
    """The run's kept samples (or its rejects with `kept=False`), in batch order."""
    return samples_from_table(read_table(run, "samples" if kept else "rejects"))


def load_instructions(run: RunPaths) -> list[Instruction]:
    """Every instruction of the run's done batches, in batch order."""
    return instructions_from_table(read_table(run, "instructions"))


def run_summary(run: RunPaths) -> dict[str, Any]:
    """Counts from the manifests (no Parquet read): batches, totals, and per category instructions/kept/rejects."""
    per_cat: dict[str, Counter[str]] = {}
    for m in manifests(run):
        for cat, row in m.categories.items():
            per_cat.setdefault(cat, Counter()).update(row.model_dump())
    totals: Counter[str] = Counter()
    for counts in per_cat.values():
        totals.update(counts)
    return {
        "run_fingerprint": run.fingerprint,
        "run_id": run.run_id,
        "batches": len(done_batches(run)),
        "instructions": totals["instructions"],
        "kept": totals["kept"],
        "rejects": totals["rejects"],
        "categories": {c: dict(n) for c, n in sorted(per_cat.items())},
    }


# --- the run's seeds ---------------------------------------------------------------------------------------

SEEDS_FILE = "seeds.json"


def record_seeds(run: RunPaths, kept: Sequence[Seed], drops: Sequence[Mapping[str, str]]) -> bool:
    """Record the seeds selection kept and what it dropped (with reasons), once per run; False if already there."""
    data = {"kept": [s.model_dump(mode="json") for s in kept], "drops": [dict(d) for d in drops]}
    return create_json_once(run.dir / SEEDS_FILE, data)


def recorded_seeds(run: RunPaths) -> tuple[list[Seed], list[dict[str, str]]] | None:
    """The seeds recorded for the run (kept, drops), or None before selection ran."""
    path = run.dir / SEEDS_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    return [Seed.model_validate(s) for s in data["kept"]], list(data["drops"])
