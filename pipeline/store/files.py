"""Atomic files: write under a temporary name, fsync, rename into place; clean what dead writers left.

Every file is written under a temporary name in its final directory (`.batch-00007.parquet~host~pid~token.tmp`,
which no `*.parquet` or `*.json` glob matches), flushed, fsync'd, `os.replace`d into place, and the directory
fsync'd, so a reader never sees half a file. Temp files are cleaned when they belong to a dead process on
this host, or are older than a day (a worker on another host may still be writing a young one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

TMP_SUFFIX = ".tmp"
STALE_TEMP_S = 24 * 3600.0


def host() -> str:
    """This machine's name, safe inside a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def now() -> str:
    """The current UTC time as ISO text (seconds), as written into run.json and manifests."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def temp_path(path: Path) -> Path:
    """A temp name beside `path` that names its writer; no `*.parquet` / `*.json` glob matches it."""
    return path.with_name(f".{path.name}~{host()}~{os.getpid()}~{secrets.token_hex(4)}{TMP_SUFFIX}")


def parse_temp_name(name: str) -> tuple[str, str, int] | None:
    """(final name, host, pid) of one of our temp files, or None for any other file."""
    if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
        return None
    parts = name[1 : -len(TMP_SUFFIX)].split("~")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (the directory entry is data too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through `write(file)` into a fsync'd temp file beside `path`; return the temp path."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_shard_hashed(path: Path, table: pa.Table) -> tuple[int, str]:
    """Write `table` as Parquet at `path` atomically; returns (bytes, sha256) of exactly the file renamed in."""
    tmp = _write_temp(path, lambda f: pq.write_table(table, f, compression="zstd"))
    try:
        size, digest = tmp.stat().st_size, file_sha256(tmp)  # hashed before the rename: no other writer's bytes
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _replace(tmp, path)
    return size, digest


def write_shard_atomic(path: Path, table: pa.Table) -> int:
    """Write `table` as Parquet at `path` so that readers see the old file, or the whole new one; returns bytes."""
    return write_shard_hashed(path, table)[0]


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON at `path` atomically (temp, fsync, rename, fsync the directory)."""
    blob = _json_bytes(data)
    _replace(_write_temp(path, lambda f: f.write(blob)), path)


def _writer(blob: bytes) -> Callable[[IO[bytes]], Any]:
    return lambda f: f.write(blob)


def write_files_atomic(files: Mapping[Path, bytes]) -> None:
    """Write several files so that each is its old self or whole new: all go to fsync'd temps beside them
    first and are renamed into place only once every one is written. A failure while writing (a full disk)
    removes every temp and changes no file; a rename that fails removes the temps not yet renamed."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, blob in files.items():
            temps.append((_write_temp(path, _writer(blob)), path))
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    for k, (tmp, path) in enumerate(temps):
        try:
            _replace(tmp, path)
        except BaseException:
            for rest, _ in temps[k + 1 :]:
                rest.unlink(missing_ok=True)
            raise


def create_json_once(path: Path, data: Any) -> bool:
    """Create `path` with `data` unless it exists (atomic even between hosts: a hard link fails if taken)."""
    blob = _json_bytes(data)
    tmp = _write_temp(path, lambda f: f.write(blob))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def pid_alive(pid: int) -> bool:
    """True if `pid` runs on this host (a zombie counts as dead: it will never finish its write)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def is_dead_local_temp(name: str) -> bool:
    """True if `name` is one of our temp files whose writer was a process on this host that has ended."""
    parsed = parse_temp_name(name)
    return parsed is not None and parsed[1] == host() and parsed[2] != os.getpid() and not pid_alive(parsed[2])


def clean_temp_files(folder: Path, *, stale_after_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete our temp files left by dead local writers or older than `stale_after_s`; return what went."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    current = time.time()
    for p in folder.iterdir():
        if parse_temp_name(p.name) is None:
            continue
        try:
            old = current - p.stat().st_mtime > stale_after_s
        except FileNotFoundError:
            continue
        if old or is_dead_local_temp(p.name):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
