"""A moved or copied output root keeps a working catalog: rebuilt for its new place, queries read the new files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb

from pipeline import store
from pipeline.store.catalog import CATALOG_NAME, catalog_is_current
from tests.helpers.cli import run_cli as cli
from tests.helpers.stored_run import write_stored_run

FP = "fp-test"


def copy_then_delete(tmp_path: Path) -> Path:
    """`cp -a out new && rm -r out`, with a catalog built in `out` before the copy."""
    old = tmp_path / "out"
    write_stored_run(old, FP, batches=2, per_batch=3)
    assert catalog_is_current(old)
    new = tmp_path / "new"
    subprocess.run(["cp", "-a", str(old), str(new)], check=True)  # keeps mtimes: the manifests look unchanged
    shutil.rmtree(old)
    return new


def test_copied_root_catalog_is_rebuilt_and_queries_read_the_new_files(tmp_path: Path) -> None:
    new = copy_then_delete(tmp_path)
    assert not catalog_is_current(new)  # built for the deleted root
    with store.open_catalog(new) as con:
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (6,)
        assert con.execute("SELECT count(*) FROM candidates").fetchone() == (12,)
        assert con.execute("SELECT root FROM catalog_meta").fetchone() == (str(new.resolve()),)
        paths = [p for (p,) in con.execute("SELECT path FROM shards ORDER BY path").fetchall()]
        assert len(paths) == 6 and all(p.startswith(f"runs/{FP}/") for p in paths)  # relative to the root
        assert con.execute("SELECT path FROM runs").fetchall() == [(f"runs/{FP}",)]
    assert catalog_is_current(new)


def test_stats_on_a_copied_root_prints_its_numbers(tmp_path: Path) -> None:
    new = copy_then_delete(tmp_path)
    out = cli("stats", "--root", str(new))
    assert out.returncode == 0, out.stderr
    total = next(line for line in out.stdout.splitlines() if "total" in line)
    cells = [c for c in total.replace("│", " ").replace("|", " ").split() if c]
    assert cells == ["total", "6", "12", "6", "100.0%"], total  # instructions, candidates, kept, yield
    with duckdb.connect(str(new / CATALOG_NAME), read_only=True) as con:  # plain DuckDB, any cwd
        assert con.execute("SELECT count(*) FROM instructions").fetchone() == (6,)


def test_catalog_of_a_root_left_in_place_is_not_rebuilt(tmp_path: Path) -> None:
    write_stored_run(tmp_path, FP, batches=1)
    before = (tmp_path / CATALOG_NAME).stat().st_mtime_ns
    with store.open_catalog(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (3,)
    assert (tmp_path / CATALOG_NAME).stat().st_mtime_ns == before
