"""Shards checked against their manifests, and damaged batches set aside so a resumed run redoes them.

Each manifest records the byte size and sha256 of its shards (manifests written before hashes were
recorded: size only). `damaged_batches` lists batches whose shards are missing, truncated or changed;
`complexify stats` refuses to report over them (`DamagedBatchError`), and a resumed run sets their
manifests aside (renamed to `*.json.damaged`, never deleted) so those batches are done again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from pipeline.store.errors import DamagedBatchError, StoreError
from pipeline.store.files import file_sha256, fsync_dir
from pipeline.store.manifest import BatchManifest, ShardEntry
from pipeline.store.runs import RunPaths, damaged_message, done_batches, read_manifest

DAMAGED_SUFFIX = ".damaged"


def shard_problem(run: RunPaths, entry: ShardEntry, *, check_hash: bool = True) -> str | None:
    """Why one manifest file entry no longer matches its shard (missing, other size, other sha256), or None."""
    path = run.dir / entry.file
    try:
        if not path.is_file():
            return f"{path} is missing" if not path.exists() else f"{path} is not a file"
        size = path.stat().st_size
        if size != entry.bytes:
            return f"{path} has {size} bytes, its manifest says {entry.bytes}"
        expected = entry.sha256  # absent from manifests written before hashes were recorded: size only
        if check_hash and expected and file_sha256(path) != expected:
            return f"{path} does not match the sha256 in its manifest (changed after it was written)"
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    return None


def batch_problems(run: RunPaths, manifest: BatchManifest, *, check_hash: bool = True) -> list[str]:
    """Every shard of one done batch that does not match its manifest; empty when the batch is sound."""
    found = (shard_problem(run, entry, check_hash=check_hash) for entry in manifest.files.values())
    return [p for p in found if p is not None]


def damaged_batches(run: RunPaths, indices: Iterable[int] | None = None, *, check_hash: bool = True) -> dict[int, str]:
    """Done batches (all, or those of `indices`) whose shards do not match their manifests -> first problem."""
    wanted = done_batches(run) if indices is None else done_batches(run) & set(indices)
    out = {}
    for index in sorted(wanted):
        try:
            problems = batch_problems(run, read_manifest(run, index), check_hash=check_hash)
        except (StoreError, KeyError, TypeError, AttributeError) as exc:
            if not run.manifest(index).exists():  # set aside by a concurrent resume meanwhile: no longer done
                continue
            problems = [f"{run.manifest(index)} is unreadable ({exc})"]  # a broken manifest damages its batch too
        if problems:
            out[index] = damaged_message(run, index, "; ".join(problems))
    return out


def set_aside_damaged_batches(run: RunPaths, *, part: int = 0, parts: int = 1) -> list[str]:
    """On resume: rename the manifest of every damaged batch of this part to `*.json.damaged` so it is redone.

    The manifest is kept (renamed, never deleted) as evidence; the shards stay until the batch is written
    again under the same names. Only batches of `part` (index modulo `parts`) are touched: other parts
    belong to other workers. Returns one message per batch set aside.
    """
    owned = [i for i in done_batches(run) if i % parts == part]
    messages = []
    for index, message in damaged_batches(run, owned).items():
        src = run.manifest(index)
        dst = src.with_name(src.name + DAMAGED_SUFFIX)
        n = 1
        while dst.exists():  # damaged before: keep every earlier copy
            dst = src.with_name(f"{src.name}.{n}{DAMAGED_SUFFIX}")
            n += 1
        try:
            os.rename(src, dst)
        except FileNotFoundError:  # another process set it aside first
            continue
        fsync_dir(run.done_dir)
        messages.append(f"{message}; set aside as {dst.name}, the batch will be redone")
    return messages


def check_runs_intact(runs: Sequence[RunPaths], *, check_hash: bool = True) -> None:
    """Raise DamagedBatchError (one line naming the damaged batches and files) unless every done batch is sound."""
    found = [msg for run in runs for msg in damaged_batches(run, check_hash=check_hash).values()]
    if not found:
        return
    more = f"; and {len(found) - 1} more damaged batch(es)" if len(found) > 1 else ""
    raise DamagedBatchError(
        f"{found[0]}{more}. Resume the run (`complexify run` with the same config) to set damaged batches "
        "aside and redo them"
    )
