"""The DuckDB catalog: views over the shards of every run, small tables, one writer at a time.

- **The catalog is derived data.** `refresh_catalog` builds a fresh `.duckdb` file under a temporary
  name from the manifests and renames it over the old one, holding `catalog.lock` (an flock, released by
  the kernel even on `kill -9`) so one refresh runs at a time. A second refresh waits for the lock up to
  `timeout_s` and then raises `CatalogBusyError` naming the holder. Readers open the catalog read-only
  and keep a consistent snapshot: the rename never touches a file someone has open.
- Views list the manifest's files explicitly (absolute paths, so plain `duckdb` reads the catalog from any
  working directory) rather than a glob: a glob would also match shards of unfinished batches, and DuckDB
  rejects a glob that matches nothing (an empty run). A kind with no shards gets a view over an empty
  table of the right schema. The catalog records the root it was built for, and `catalog_is_current` is
  False once the root moved or was copied, so the next `open_catalog` rebuilds it for the new place.
- A root this user cannot write (a read-only mount, another user's folder) gets the same catalog built in
  memory for the connection (`memory_catalog`) when its file is missing or stale: reading never needs write access.
  The `runs` and `shards` tables hold paths relative to the root.

Contents: views `instructions`, `samples`, `rejects` and `candidates` (samples and rejects); tables `runs`
(one row per run.json), `shards` (one row per manifest and kind), `catalog_meta`, and `stats` (the
statistics query of `pipeline.store.stats` for every run). `open_catalog` refreshes a stale catalog.
Judge calibration: table `judge_gold` (every run's scored gold examples) and `judge_calibration` (per run
and dimension: the judge's precision, recall and 95%-precision margin).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.models import Instruction, Sample
from pipeline.store.errors import CatalogBusyError, RunNotFoundError, StoreError
from pipeline.store.files import fsync_dir, host, is_dead_local_temp, now, temp_path
from pipeline.store.integrity import check_runs_intact
from pipeline.store.judge import JUDGE_GOLD_SCHEMA, judge_gold_path, judge_gold_table
from pipeline.store.runs import RUN_FILE, RunPaths, done_batches, list_runs, manifests, run_summary, shard_files
from pipeline.store.schema import (
    FORMAT_VERSION,
    KINDS,
    RENAMED_COLUMNS,
    SCHEMAS,
    instructions_to_table,
    samples_to_table,
    to_json,
)
from pipeline.store.stats import create_judge_calibration_table, create_stats_table

CATALOG_NAME = "catalog.duckdb"
LOCK_NAME = "catalog.lock"
# Part of the catalog's signature: a catalog built by code with other views or tables is rebuilt on open.
CATALOG_VERSION = 5


def catalog_path(root: str | Path) -> Path:
    return Path(root).resolve() / CATALOG_NAME


@contextmanager
def catalog_lock(root: Path, timeout_s: float) -> Iterator[None]:
    """Hold the catalog's writer lock (an flock: the kernel drops it when the holder dies, even by kill -9)."""
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
                    raise CatalogBusyError(
                        f"the catalog {root / CATALOG_NAME} is being rebuilt by another process ({holder}); "
                        f"waited {timeout_s:g}s. Retry when it finishes, or raise the timeout"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"host={host()} pid={os.getpid()} since={now()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _signature(runs: Sequence[RunPaths]) -> str:
    """What the catalog was built from and by: its version, every run.json and manifest with its mtime."""
    parts = [f"catalog version {CATALOG_VERSION}"]
    for run in runs:
        gold = [judge_gold_path(run)] if judge_gold_path(run).is_file() else []  # scored at run start
        for p in [run.dir / RUN_FILE, *gold, *(run.manifest(i) for i in sorted(done_batches(run)))]:
            try:
                parts.append(f"{p.relative_to(run.root)}@{p.stat().st_mtime_ns}")
            except FileNotFoundError:
                parts.append(f"{p}@missing")
    return "\n".join(parts)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_RUNS_SCHEMA = pa.schema(
    [(k, pa.string()) for k in ("run_fingerprint", "run_id", "name", "created_at", "models_json",
                                "template_hashes_json", "run_json", "path")]
    + [(k, pa.int64()) for k in ("batches", "instructions", "kept", "rejects")]
)  # fmt: skip
_SHARDS_SCHEMA = pa.schema(
    [("run_fingerprint", pa.string()), ("run_id", pa.string()), ("batch", pa.int64()), ("kind", pa.string()),
     ("path", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64()), ("written_at", pa.string()),
     ("writer_host", pa.string())]
)  # fmt: skip


def _runs_table(runs: Sequence[RunPaths]) -> pa.Table:
    rows = []
    for run in runs:
        s = run_summary(run)
        rows.append(
            {
                "run_fingerprint": run.fingerprint,
                "run_id": run.run_id,
                "name": str(run.info.get("name", "")),
                "created_at": str(run.info.get("created_at", "")),
                "models_json": to_json(run.info.get("models", {})),
                "template_hashes_json": to_json(run.info.get("template_hashes", {})),
                "run_json": to_json(run.info),
                "path": run.dir.relative_to(run.root).as_posix(),  # relative: the root may move
                **{k: s[k] for k in ("batches", "instructions", "kept", "rejects")},
            }
        )
    return pa.Table.from_pylist(rows, schema=_RUNS_SCHEMA)


def _shards_table(runs: Sequence[RunPaths]) -> pa.Table:
    rows = []
    for run in runs:
        for m in manifests(run):
            for kind, entry in m.files.items():
                rows.append(
                    {
                        "run_fingerprint": run.fingerprint,
                        "run_id": m.run_id,
                        "batch": m.batch,
                        "kind": kind,
                        "path": (run.dir / entry.file).relative_to(run.root).as_posix(),
                        "rows": entry.rows,
                        "bytes": entry.bytes,
                        "written_at": m.written_at,
                        "writer_host": m.writer.host,
                    }
                )
    return pa.Table.from_pylist(rows, schema=_SHARDS_SCHEMA)


def _create_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Materialise an Arrow table in the catalog."""
    con.register("_arrow_in", table)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_in")
    finally:
        con.unregister("_arrow_in")


_CANDIDATES_VIEW = "CREATE VIEW candidates AS SELECT * FROM samples UNION ALL BY NAME SELECT * FROM rejects"


def _create_views(con: duckdb.DuckDBPyConnection, files: Mapping[str, Sequence[Path]]) -> None:
    """The views `instructions`, `samples`, `rejects` (over exactly these shard files) and `candidates`."""
    # A column an earlier format named otherwise is read under today's name (old shards fill it, new ones leave
    # the old one null); the old name is no column of the view.
    exclude = ", ".join(RENAMED_COLUMNS)
    replace = ", ".join(f"coalesce({new}, {old}) AS {new}" for old, new in RENAMED_COLUMNS.items())
    for kind in KINDS:
        empty = SCHEMAS[kind].empty_table()
        for old, new in RENAMED_COLUMNS.items():
            empty = empty.append_column(old, pa.array([], type=empty.schema.field(new).type))
        _create_table(con, f"_empty_{kind}", empty)
        if files[kind]:
            listing = ", ".join(_sql_str(str(f)) for f in files[kind])
            # unioned with the empty table of today's schema: shards written before a column was added read
            # it as null, so queries naming it (the statistics' student columns) work on every run
            union = (
                f"SELECT * FROM _empty_{kind} "
                f"UNION ALL BY NAME SELECT * FROM read_parquet([{listing}], union_by_name = true)"
            )
        else:  # DuckDB's read_parquet refuses an empty file list: an empty run gets an empty typed view
            union = f"SELECT * FROM _empty_{kind}"
        con.execute(f"CREATE VIEW {kind} AS SELECT * EXCLUDE ({exclude}) REPLACE ({replace}) FROM ({union})")
    con.execute(_CANDIDATES_VIEW)


def _build_catalog(con: duckdb.DuckDBPyConnection, root: Path, runs: Sequence[RunPaths]) -> None:
    _create_table(con, "runs", _runs_table(runs))
    _create_table(con, "shards", _shards_table(runs))
    _create_views(con, {kind: [f for run in runs for f in shard_files(run, kind)] for kind in KINDS})
    create_stats_table(con, [run.fingerprint for run in runs])
    _create_table(con, "judge_gold", judge_gold_table(runs))
    create_judge_calibration_table(con, [run.fingerprint for run in runs])
    con.execute(
        "CREATE TABLE catalog_meta AS SELECT ? AS root, ? AS signature, ? AS refreshed_at, ? AS format_version",
        [str(root), _signature(runs), now(), FORMAT_VERSION],
    )


def refresh_catalog(root: str | Path, *, timeout_s: float = 60.0) -> Path:
    """Rebuild `<root>/catalog.duckdb` from the run files (idempotent); one writer at a time.

    The new catalog is built under a temp name and renamed into place, so readers holding the old one
    keep a consistent snapshot and a crash mid-refresh leaves the old catalog intact.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise RunNotFoundError(f"output folder {root} does not exist; run `complexify run` first or pass --root")
    with catalog_lock(root, timeout_s):
        for p in root.glob(f".{CATALOG_NAME}~*"):  # a dead refresh's leftovers (and their WAL files)
            if is_dead_local_temp(p.name.removesuffix(".wal")):
                p.unlink(missing_ok=True)
        runs = list_runs(root)
        # DuckDB would stop on a missing or truncated shard with its own traceback; name the batch instead
        check_runs_intact(runs, check_hash=False)
        final = root / CATALOG_NAME
        tmp = temp_path(final)
        try:
            con = duckdb.connect(str(tmp))
            try:
                _build_catalog(con, root, runs)
                con.execute("CHECKPOINT")
            except duckdb.Error as exc:  # e.g. a shard whose bytes changed without changing its size
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StoreError(
                    f"cannot build the catalog {final}: {first}. Check the run files with `complexify stats`"
                ) from exc
            finally:
                con.close()
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        fsync_dir(root)
    return final


def catalog_is_current(root: str | Path) -> bool:
    """True if the catalog exists, was built for this root (not copied or moved) and from its files as they are."""
    root = Path(root).resolve()
    path = catalog_path(root)
    if not path.is_file():
        return False
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("SELECT root, signature FROM catalog_meta").fetchone()
    except duckdb.Error:
        return False
    # the views name shards by absolute path: a catalog built for another root reads that root's files
    return row is not None and row[0] == str(root) and row[1] == _signature(list_runs(root))


def open_catalog(root: str | Path, *, refresh: bool = True, timeout_s: float = 60.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog, refreshed first when the run files changed (`refresh=True`)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise RunNotFoundError(f"output folder {root} does not exist; run `complexify run` first or pass --root")
    if refresh and not catalog_is_current(root):
        if not catalog_writable(root):
            return memory_catalog(root)
        try:
            refresh_catalog(root, timeout_s=timeout_s)
        except OSError as exc:  # write access refused past os.access (an ACL, a mount turned read-only)
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            return memory_catalog(root)
    path = catalog_path(root)
    if not path.is_file():
        raise RunNotFoundError(f"no catalog at {path}; build it with refresh_catalog() or `complexify stats`")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(
            f"cannot open {path} read-only: {exc}. Another process holds it read-write; close it (the pipeline "
            "never keeps it open) and retry"
        ) from exc


def catalog_writable(root: str | Path) -> bool:
    """True if this user can (re)build the catalog file in `root`."""
    root = Path(root).resolve()
    path = catalog_path(root)
    return os.access(root, os.W_OK | os.X_OK) and (not path.exists() or os.access(path, os.W_OK))


def memory_catalog(root: str | Path) -> duckdb.DuckDBPyConnection:
    """The catalog of `root` built in memory (the same views and tables; nothing written): for a root this user
    cannot write. Shards are checked against their manifests first, as `refresh_catalog` does."""
    root = Path(root).resolve()
    runs = list_runs(root)
    check_runs_intact(runs, check_hash=False)
    con = duckdb.connect()
    try:
        _build_catalog(con, root, runs)
    except duckdb.Error as exc:
        con.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot build the catalog of {root} in memory: {first}. Check the run files") from exc
    return con


def records_catalog(samples: Sequence[Sample]) -> duckdb.DuckDBPyConnection:
    """An in-memory catalog of samples that were never stored: the same views (instructions from the samples).

    For statistics of records in hand (a dataset card built from samples): the query that reads a stored
    run reads these the same way.
    """
    by_run: dict[str, dict[str, Instruction]] = {}  # run fingerprint -> its instructions by id
    run_ids: dict[str, str] = {}
    for s in samples:
        by_run.setdefault(s.run_fingerprint, {}).setdefault(s.instruction.id, s.instruction)
        run_ids.setdefault(s.run_fingerprint, s.run_id)
    instructions = [
        instructions_to_table(list(ins.values()), run_id=run_ids[fp], run_fingerprint=fp, batch=0)
        for fp, ins in by_run.items()
    ]
    tables = {
        "instructions": pa.concat_tables([SCHEMAS["instructions"].empty_table(), *instructions]),
        "samples": samples_to_table([s for s in samples if s.kept], batch=0),
        "rejects": samples_to_table([s for s in samples if not s.kept], batch=0),
    }
    con = duckdb.connect()
    for kind, table in tables.items():
        _create_table(con, f"_{kind}_records", table)
        con.execute(f"CREATE VIEW {kind} AS SELECT * FROM _{kind}_records")
    con.execute(_CANDIDATES_VIEW)
    _create_table(con, "judge_gold", JUDGE_GOLD_SCHEMA.empty_table())  # gold examples belong to a stored run
    return con
