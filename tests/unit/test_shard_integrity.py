"""Shards checked against their manifests: damage is named in one line by `stats`, and a resumed run redoes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline import store
from pipeline.run import generate, services
from pipeline.run.config import RunConfig, parse_config
from pipeline.run.stages import Models
from pipeline.store.files import file_sha256, write_json_atomic
from pipeline.store.integrity import damaged_batches
from pipeline.store.runs import read_manifest, run_summary
from tests.helpers.cli import run_cli as cli
from tests.helpers.stored_run import answered, fixture_instructions, verify_run, write_stored_run

FP = "fp-test"


def truncate(path: Path, keep: int = 100) -> None:
    with open(path, "r+b") as f:
        f.truncate(keep)


def flip_a_byte(path: Path) -> None:
    """Change the content but not the size (what a size check alone cannot see)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- detection ---------------------------------------------------------------------------------------------


def test_manifest_records_size_and_sha256_of_each_shard(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP, batches=1)
    for entry in read_manifest(run, 0).files.values():
        path = run.dir / entry.file
        assert entry.bytes == path.stat().st_size and entry.sha256 == file_sha256(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (truncate, "has 100 bytes, its manifest says"),
        (Path.unlink, "is missing"),
        (flip_a_byte, "does not match the sha256"),
    ],
    ids=["truncated", "deleted", "same-size-change"],
)
def test_damaged_batches_name_the_batch_and_file(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    run = write_stored_run(tmp_path, FP, batches=2)
    shard = run.shard("samples", 1)
    damage(shard)
    found = damaged_batches(run)
    assert list(found) == [1]
    assert found[1].startswith(f"run {FP} batch 1 is damaged: {shard}") and message in found[1]
    assert verify_run(run) and all("batch 1" in p for p in verify_run(run))


def test_old_manifests_without_a_hash_are_checked_by_size(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP, batches=1)
    manifest = read_manifest(run, 0).to_json()
    for entry in manifest["files"].values():
        del entry["sha256"]
    write_json_atomic(run.manifest(0), manifest)
    flip_a_byte(run.shard("samples", 0))
    assert damaged_batches(run) == {}  # nothing to compare the content with
    truncate(run.shard("samples", 0))
    assert list(damaged_batches(run)) == [0]


def test_reading_a_damaged_batch_is_a_named_error_not_a_pyarrow_one(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP, batches=2)
    truncate(run.shard("instructions", 1))
    with pytest.raises(store.DamagedBatchError, match=f"run {FP} batch 1 is damaged: .*instructions/batch-00001"):
        store.load_instructions(run)


def test_refresh_over_a_truncated_shard_names_it(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP, batches=2)
    truncate(run.shard("rejects", 0))
    with pytest.raises(store.DamagedBatchError, match=r"batch 0 is damaged: .*rejects/batch-00000\.parquet has 100"):
        store.refresh_catalog(tmp_path)


@pytest.mark.parametrize("damage", [truncate, Path.unlink], ids=["truncated", "deleted"])
def test_stats_after_the_catalog_was_built_exits_1_with_one_line(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    run = write_stored_run(tmp_path, FP, batches=2)  # the catalog is current now
    assert cli("stats", "--root", str(tmp_path)).returncode == 0
    damage(run.shard("samples", 1))
    out = cli("stats", "--root", str(tmp_path))
    assert out.returncode == 1, out.stdout
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert (
        out.stderr.startswith(f"error: run {FP} batch 1 is damaged: ") and "samples/batch-00001.parquet" in out.stderr
    )
    assert "yield per category" not in out.stdout  # no stale numbers printed


# --- resume ------------------------------------------------------------------------------------------------


def test_set_aside_renames_the_manifest_and_the_batch_is_no_longer_done(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP, batches=3)
    truncate(run.shard("samples", 1))
    messages = store.set_aside_damaged_batches(run)
    assert len(messages) == 1 and "batch 1 is damaged" in messages[0] and "redone" in messages[0]
    assert store.done_batches(run) == {0, 2}
    assert (run.done_dir / "batch-00001.json.damaged").is_file()  # kept as evidence, not deleted
    assert verify_run(run) == [] and run_summary(run)["instructions"] == 6

    instructions = fixture_instructions(9)[3:6]  # batch 1 written again: done again, readable again
    store.write_batch(run, 1, instructions, *answered(instructions, FP, 1))
    assert store.done_batches(run) == {0, 1, 2} and damaged_batches(run) == {}
    truncate(run.shard("samples", 1))
    store.set_aside_damaged_batches(run)
    assert sorted(p.name for p in run.done_dir.glob("*.damaged")) == [
        "batch-00001.json.1.damaged",
        "batch-00001.json.damaged",
    ]


def test_set_aside_touches_only_this_parts_batches(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, FP, batches=2)
    truncate(run.shard("samples", 1))
    assert store.set_aside_damaged_batches(run, part=0, parts=2) == []
    assert store.done_batches(run) == {0, 1}
    assert len(store.set_aside_damaged_batches(run, part=1, parts=2)) == 1 and store.done_batches(run) == {0}


def test_resume_sets_damaged_batches_aside_so_they_are_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg: RunConfig = parse_config(
        {"samples": 4, "mix": {"Single": 1}, "output_dir": str(tmp_path), "models": {"rewriter": {"enabled": False}}}
    )

    @contextmanager
    def no_models(cfg: RunConfig, log: object) -> Iterator[Models]:  # resume state is read before any model
        yield Models(chat=lambda conversations, role, n: [], judge=None)

    monkeypatch.setattr(services, "serve_models", no_models)
    with generate.open_run_context(cfg, log=lambda line: None) as first:  # creates the run the config names
        run = first.run
    instructions = fixture_instructions(6)
    for b in range(2):
        group = instructions[3 * b : 3 * b + 3]
        store.write_batch(run, b, group, *answered(group, run.fingerprint, b))
    truncate(run.shard("samples", 1))

    logged: list[str] = []
    with generate.open_run_context(cfg, log=logged.append) as ctx:
        assert ctx.done == {0} and next(ctx.pending_indices()) == 1, logged  # the flow plans batch 1 again
        singles = [sum(i.category == "Single" for i in instructions[3 * b : 3 * b + 3]) for b in range(2)]
        assert singles[1] > 0 and ctx.ledger.attempts["Single"] == singles[0]  # batch 1 no longer counts
    assert any(line.startswith(f"warning: run {run.fingerprint} batch 1 is damaged") for line in logged), logged
    assert (run.done_dir / "batch-00001.json.damaged").is_file() and run.shard("samples", 0).is_file()
