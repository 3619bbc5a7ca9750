"""One name per hash in the store: a run is keyed by its run fingerprint (`run_fingerprint` in run.json, the manifests,
the shards and the catalog), and runs written by format 1, which called it `config_fingerprint`, still read."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from pipeline import store
from pipeline.store.files import file_sha256
from pipeline.store.runs import RUN_FILE, read_manifest
from pipeline.store.schema import KINDS
from tests.helpers.stored_run import verify_run, write_stored_run

FP = "fp-formats"


def test_a_run_is_written_under_its_run_fingerprint(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP)
    info = json.loads((run.dir / RUN_FILE).read_text())
    assert info["run_fingerprint"] == FP and "config_fingerprint" not in info
    manifest = json.loads(run.manifest(0).read_text())
    assert (
        manifest["run_fingerprint"] == FP and manifest["format_version"] == 2 and "config_fingerprint" not in manifest
    )
    for kind in KINDS:
        names = pq.read_schema(run.shard(kind, 0)).names
        assert "run_fingerprint" in names and "config_fingerprint" not in names
    with store.open_catalog(tmp_path) as con:
        for table in ("instructions", "samples", "candidates", "runs", "shards", "stats"):
            columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
            assert "run_fingerprint" in columns and "config_fingerprint" not in columns, table


def as_format_1(run: store.RunPaths) -> None:
    """Rewrite a run's files as format 1 wrote them: `config_fingerprint` in run.json, the manifests and the shards."""
    info = json.loads((run.dir / RUN_FILE).read_text())
    info["config_fingerprint"] = info.pop("run_fingerprint")
    info["format_version"] = 1
    (run.dir / RUN_FILE).write_text(json.dumps(info))
    for index in store.done_batches(run):
        manifest = json.loads(run.manifest(index).read_text())
        manifest["config_fingerprint"] = manifest.pop("run_fingerprint")
        manifest["format_version"] = 1
        for entry in manifest["files"].values():
            path = run.dir / entry["file"]
            table = pq.read_table(path)
            pq.write_table(
                table.rename_columns(
                    [{"run_fingerprint": "config_fingerprint"}.get(n, n) for n in table.column_names]
                ),
                path,
            )
            entry["bytes"], entry["sha256"] = path.stat().st_size, file_sha256(path)
        run.manifest(index).write_text(json.dumps(manifest))


def test_a_run_written_by_format_1_still_reads(tmp_path: Path) -> None:
    written = write_stored_run(tmp_path, FP)
    kept, rejects = store.load_samples(written), store.load_samples(written, kept=False)
    instructions = store.load_instructions(written)
    as_format_1(written)
    assert "config_fingerprint" in pq.read_schema(written.shard("samples", 0)).names

    (run,) = store.list_runs(tmp_path)
    assert run.fingerprint == FP and read_manifest(run, 0).run_fingerprint == FP
    assert store.load_samples(run) == kept and store.load_samples(run, kept=False) == rejects
    assert store.load_instructions(run) == instructions and store.instruction_fingerprints(run)
    assert verify_run(run) == [] and store.find_run(tmp_path, FP[:6]).fingerprint == FP
    store.refresh_catalog(tmp_path)
    with store.open_catalog(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM samples WHERE run_fingerprint = ?", [FP]).fetchone() == (len(kept),)
        assert con.execute("SELECT count(*) FROM instructions WHERE run_fingerprint = ?", [FP]).fetchone() == (
            len(instructions),
        )
        stats = store.run_stats(con, FP)
    assert sum(r.kept for r in stats.level("category").values()) == len(kept) > 0
