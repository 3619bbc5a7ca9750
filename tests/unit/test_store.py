"""Parquet shards, manifests, resume and the DuckDB catalog, on real files (records from real instructions)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline import store
from pipeline.checks.registry import CheckResult
from pipeline.construct.compose import compose_batch
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import CheckVerdict, Instruction, Response, Sample, Seed, Verdict
from pipeline.store import files
from pipeline.store.catalog import CATALOG_NAME, LOCK_NAME
from pipeline.store.errors import CatalogBusyError
from pipeline.store.files import TMP_SUFFIX, temp_path, write_shard_atomic
from pipeline.store.runs import run_summary
from pipeline.store.schema import (
    CHECK_RESULT_COLUMNS,
    CHECK_RESULT_TYPE,
    INSTRUCTION_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLES_SCHEMA,
    Columns,
    instructions_from_table,
    instructions_to_table,
    samples_from_table,
    samples_to_table,
)
from pipeline.verify.plan import verify_response
from tests.helpers.cli import run_cli as cli
from tests.helpers.stored_run import verify_run

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
MIX = {"Single": 1, "And_1": 1, "Chain_1": 1, "Selection_1": 1}
RESPONSES = ["hello world, all lower case", "HELLO WORLD ÜNÏCØDÉ 😀", "### Part 1\nfirst\n\n### Part 2\nsecond"]


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seeds = [Seed(id=f"s{i}", text=f"Describe landmark number {i}.") for i in range(6)]
    return compose_batch(seeds, 8, tax, mix=MIX, random_seed=3)


def always_yes(queries):  # type: ignore[no-untyped-def]
    return [CheckResult(True, "judge says yes") for _ in queries]


def make_samples(instructions: list[Instruction], fingerprint: str, tag: str = "") -> list[Sample]:
    """Every instruction answered by every canned response; some judged, some with judge checks skipped."""
    out = []
    for n, ins in enumerate(instructions):
        for k, text in enumerate(RESPONSES):
            verdict = verify_response(
                text, ins.plan, instruction=ins.prompt, judge=always_yes if (n + k) % 2 else None
            )
            out.append(
                Sample(
                    id=f"{ins.id}{tag}-r0-k{k}",
                    instruction=ins,
                    response=Response(text=text, reasoning="thinking…" if k else None, model="m-resp", candidate=k,
                                      prompt_tokens=11 * k, completion_tokens=7, latency_s=0.25 * k),
                    verdict=verdict,
                    kept=k == 1,  # one kept per instruction, whatever its verdict, so counts are predictable
                    reject_reasons=[] if k == 1 else ["check_failed:c1", "too_short"],
                    run_id="run-test",
                    run_fingerprint=fingerprint,
                    models={"responder": "m-resp", "judge": "m-judge"},
                    template_hashes={"judge.yaml": "abc123", "repair.yaml": "def456"},
                )
            )  # fmt: skip
    return out


def split(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    return [s for s in samples if s.kept], [s for s in samples if not s.kept]


def write(run: store.RunPaths, index: int, instructions: list[Instruction]) -> list[Sample]:
    samples = make_samples(instructions, run.fingerprint, tag=f"-b{index}")
    kept, rejects = split(samples)
    store.write_batch(run, index, instructions, kept, rejects)
    return samples


# --- records <-> Arrow --------------------------------------------------------------------------------------


def test_samples_round_trip_through_parquet_is_lossless(instructions: list[Instruction], tmp_path: Path) -> None:
    samples = make_samples(instructions, "fp")
    rewritten = samples[0].model_copy(
        update={
            "instruction": samples[0].instruction.model_copy(update={"prompt": "Reworded.", "template_prompt": "T"})
        }
    )
    samples = [rewritten, *samples[1:]]
    path = tmp_path / "s.parquet"
    write_shard_atomic(path, samples_to_table(samples, batch=4))
    back = samples_from_table(pq.read_table(path))
    assert back == samples
    assert [s.model_dump_json() for s in back] == [s.model_dump_json() for s in samples]
    assert any(s.verdict.skipped for s in back) and any(not s.verdict.skipped for s in back)


def test_instructions_round_trip_and_constraint_columns(instructions: list[Instruction]) -> None:
    table = instructions_to_table(instructions, run_id="r", run_fingerprint="fp", batch=0)
    assert instructions_from_table(table) == instructions
    row = table.to_pylist()[0]
    assert row["constraints"] and {"path", "spec_id", "dimension", "params_json", "text", "checked"} <= set(
        row["constraints"][0]
    )
    assert len(row["plan_checks"]) == row["n_checks"] == len(instructions[0].plan.checks)


def test_tables_have_the_fixed_schema_even_when_empty(instructions: list[Instruction]) -> None:
    assert samples_to_table([], batch=0).schema == SAMPLES_SCHEMA
    table = samples_to_table(make_samples(instructions[:1], "fp"), batch=0)
    assert table.schema == SAMPLES_SCHEMA
    checks = table.schema.field("checks").type
    assert pa.types.is_list(checks) and checks.value_type == CHECK_RESULT_TYPE
    assert table.schema.field("models").type == pa.map_(pa.string(), pa.string())


def restored_paths(columns: Columns) -> set[str]:
    """The record paths a table's columns fill when a record is read back."""
    return {c.path for c in columns if c.path is not None and not c.derived}


def test_every_record_field_has_the_one_column_that_restores_it() -> None:
    """A field added to a record without a column fails here, not as a silent loss in a stored run."""
    nested = {"response": Response, "verdict": Verdict}
    expected = {f for f in Sample.model_fields if f not in nested}
    expected |= {f"{name}.{f}" for name, model in nested.items() for f in model.model_fields}
    assert restored_paths(SAMPLE_COLUMNS) == expected  # `instruction` comes back whole, from its JSON
    assert restored_paths(CHECK_RESULT_COLUMNS) == {f"verdict.{f}" for f in CheckVerdict.model_fields}
    assert restored_paths(INSTRUCTION_COLUMNS) == {""}  # the whole Instruction, from instruction_json


def test_lone_surrogates_become_replacement_characters(instructions: list[Instruction]) -> None:
    sample = make_samples(instructions[:1], "fp")[0]
    bad = sample.model_copy(update={"response": sample.response.model_copy(update={"text": "a\ud800b"})})
    (back,) = samples_from_table(samples_to_table([bad], batch=0))
    assert back.response.text == "a\ufffdb"


# --- atomic writes and resume -------------------------------------------------------------------------------


def test_failed_shard_write_leaves_no_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(table: pa.Table, where, **kwargs) -> None:  # type: ignore[no-untyped-def]
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(files.pq, "write_table", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_shard_atomic(tmp_path / "batch-00000.parquet", pa.table({"x": [1]}))
    assert list(tmp_path.iterdir()) == []


def test_temp_names_never_match_the_readers_glob(tmp_path: Path) -> None:
    tmp = temp_path(tmp_path / "batch-00001.parquet")
    tmp.write_bytes(b"not parquet yet")
    assert not list(tmp_path.glob("*.parquet"))
    assert files.parse_temp_name(tmp.name) == ("batch-00001.parquet", files.host(), os.getpid())


def test_crash_between_renames_is_invisible_and_rewrite_does_not_duplicate(
    instructions: list[Instruction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = store.open_run(tmp_path, "fp")
    real_replace = os.replace

    def crash_on_rejects(src, dst):  # type: ignore[no-untyped-def]
        if "rejects" in str(dst):
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", crash_on_rejects)
    with pytest.raises(KeyboardInterrupt):
        write(run, 0, instructions)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert run.shard("samples", 0).is_file()  # renamed before the crash...
    assert 0 not in store.done_batches(run) and store.load_samples(run) == []  # ...but invisible: no manifest
    assert not [p for p in run.dir.rglob("*") if p.name.endswith(TMP_SUFFIX)]

    samples = write(run, 0, instructions)
    assert store.done_batches(run) == {0}
    loaded = store.load_samples(run) + store.load_samples(run, kept=False)
    assert sorted(s.id for s in loaded) == sorted(s.id for s in samples)
    assert verify_run(run) == []


def test_resume_keeps_run_identity_and_skips_done_batches(instructions: list[Instruction], tmp_path: Path) -> None:
    first = store.open_run(tmp_path, "fp", {"name": "demo", "models": {"responder": "m"}})
    write(first, 0, instructions[:4])
    write(first, 2, instructions[4:])
    again = store.open_run(tmp_path / ".", "fp", {"name": "changed"})
    assert again.run_id == first.run_id and again.info["name"] == "demo"
    assert store.done_batches(again) == {0, 2}
    assert store.done_batches(again) == {0, 2}
    summary = run_summary(again)
    assert summary["batches"] == 2 and summary["instructions"] == len(instructions)
    assert summary["kept"] == len(instructions) and summary["rejects"] == 2 * len(instructions)
    assert sum(c["instructions"] for c in summary["categories"].values()) == len(instructions)
    assert [s.instruction.id for s in store.load_samples(again)] == [i.id for i in instructions]
    assert store.load_instructions(again) == instructions


def test_dead_writers_temp_files_are_cleaned_live_ones_kept(tmp_path: Path) -> None:
    run = store.open_run(tmp_path, "fp")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        host = files.host()
        dead_tmp = run.kind_dir("samples") / f".batch-00003.parquet~{host}~{dead.pid}~ab12{TMP_SUFFIX}"
        live_tmp = run.kind_dir("samples") / f".batch-00004.parquet~{host}~{live.pid}~cd34{TMP_SUFFIX}"
        for p in (dead_tmp, live_tmp):
            p.write_bytes(b"partial")
        store.open_run(tmp_path, "fp")
        assert not dead_tmp.exists() and live_tmp.exists()
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize(
    ("fingerprint", "message"),
    [("../evil", "cannot name a folder"), ("", "cannot name a folder")],
    ids=["path", "empty"],
)
def test_open_run_rejects_unsafe_fingerprints(tmp_path: Path, fingerprint: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        store.open_run(tmp_path, fingerprint)


def test_write_batch_refuses_inconsistent_batches(instructions: list[Instruction], tmp_path: Path) -> None:
    run = store.open_run(tmp_path, "fp")
    kept, rejects = split(make_samples(instructions[:2], "fp"))
    with pytest.raises(store.StoreError, match="kept=True"):
        store.write_batch(run, 0, instructions[:2], rejects, [])
    with pytest.raises(store.StoreError, match="not to run fp"):
        store.write_batch(run, 0, instructions[:2], split(make_samples(instructions[:2], "other"))[0], [])
    with pytest.raises(store.StoreError, match="duplicate sample ids"):
        store.write_batch(run, 0, instructions[:2], kept + kept, [])
    assert store.done_batches(run) == set() and not run.shard("instructions", 0).exists()


# --- catalog ------------------------------------------------------------------------------------------------


def test_catalog_views_and_stats_match_the_records(instructions: list[Instruction], tmp_path: Path) -> None:
    a, b = store.open_run(tmp_path, "fpa"), store.open_run(tmp_path, "fpb")
    written = write(a, 0, instructions[:5]) + write(a, 1, instructions[5:]) + write(b, 0, instructions[:3])
    (a.kind_dir("samples") / "batch-00009.parquet").write_bytes(b"orphan of an unfinished batch")
    store.refresh_catalog(tmp_path)
    with store.open_catalog(tmp_path, refresh=False) as con:

        def one(sql: str) -> object:
            return con.execute(sql).fetchone()[0]  # type: ignore[index]

        assert one("SELECT count(*) FROM instructions") == len(instructions) + 3
        assert one("SELECT count(*) FROM samples") == len(instructions) + 3
        assert one("SELECT count(*) FROM rejects") == 2 * (len(instructions) + 3)
        assert one("SELECT count(DISTINCT (run_fingerprint, sample_id)) FROM candidates") == len(written)
        assert one("SELECT count(*) FROM runs") == 2 and one("SELECT count(*) FROM shards") == 9
        assert one("SELECT sum(kept) FROM stats WHERE level = 'category' AND run_fingerprint = 'fpa'") == len(
            instructions
        )
        code_checks: Counter[str] = Counter()
        for smp in written:
            plan = {c.id: c for c in smp.instruction.plan.checks}
            code_checks.update(plan[v.check_id].checker for v in smp.verdict.checks if plan[v.check_id].kind == "code")
        rows = con.execute(
            "SELECT key, sum(checks) FROM stats WHERE level = 'checker' AND key NOT LIKE 'judge:%' GROUP BY key"
        ).fetchall()
        assert dict(rows) == code_checks and "structure:selected_case" in code_checks
        skipped = sum(len(s.verdict.skipped) for s in written)
        assert one("SELECT sum(skipped) FROM stats WHERE level = 'dimension'") == skipped > 0
        assert one("SELECT count(*) FROM samples WHERE models['judge'] = 'm-judge'") == len(instructions) + 3


def test_empty_runs_and_empty_shards_give_empty_views(instructions: list[Instruction], tmp_path: Path) -> None:
    store.open_run(tmp_path, "empty")
    store.refresh_catalog(tmp_path)
    with store.open_catalog(tmp_path, refresh=False) as con:
        for view in ("instructions", "samples", "rejects", "candidates"):
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM stats").fetchone() == (0,)
        assert con.execute("SELECT runs.batches FROM runs").fetchall() == [(0,)]
        assert "drfr" in [d[0] for d in con.execute("SELECT * FROM samples").description]
    all_rejected = store.open_run(tmp_path, "nokeep")
    store.write_batch(all_rejected, 0, instructions[:2], [], split(make_samples(instructions[:2], "nokeep"))[1])
    with store.open_catalog(tmp_path) as con:  # stale: refreshed on open
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM rejects").fetchone() == (4,)


def test_refresh_waits_for_the_lock_then_fails_clearly(tmp_path: Path) -> None:
    store.open_run(tmp_path, "fp")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'host=other pid=42'); print('locked', flush=True); "
         "time.sleep(60)", str(tmp_path / LOCK_NAME)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(CatalogBusyError, match=r"being rebuilt by another process \(host=other pid=42\)"):
            store.refresh_catalog(tmp_path, timeout_s=0.5)
        assert 0.5 <= time.monotonic() - started < 5
        assert not (tmp_path / CATALOG_NAME).exists()
    finally:
        holder.kill()  # kill -9: the kernel releases the flock, no stale lock is left behind
        holder.wait()
    assert store.refresh_catalog(tmp_path, timeout_s=5).is_file()


def test_refresh_replaces_the_catalog_under_an_open_reader(instructions: list[Instruction], tmp_path: Path) -> None:
    run = store.open_run(tmp_path, "fp")
    write(run, 0, instructions[:2])
    reader = store.open_catalog(tmp_path)
    write(run, 1, instructions[2:4])
    store.refresh_catalog(tmp_path, timeout_s=5)
    assert reader.execute("SELECT count(*) FROM samples").fetchone() == (2,)  # the old snapshot, still consistent
    reader.close()
    with store.open_catalog(tmp_path, refresh=False) as con:
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (4,)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CATALOG_NAME, LOCK_NAME, "runs"]


def test_refresh_succeeds_while_another_process_holds_the_catalog_read_write(
    instructions: list[Instruction], tmp_path: Path
) -> None:
    run = store.open_run(tmp_path, "fp")
    write(run, 0, instructions[:2])
    store.refresh_catalog(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(60)",
         str(tmp_path / CATALOG_NAME)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(store.StoreError, match="holds it read-write"):
            store.open_catalog(tmp_path, refresh=False)  # DuckDB's own lock: a clear error, not a traceback
        write(run, 1, instructions[2:3])
        store.refresh_catalog(tmp_path, timeout_s=5)  # builds a new file and renames it over the held one
        with store.open_catalog(tmp_path, refresh=False) as con:
            assert con.execute("SELECT count(*) FROM samples").fetchone() == (3,)
    finally:
        holder.kill()
        holder.wait()


def test_catalog_is_readable_by_plain_duckdb(instructions: list[Instruction], tmp_path: Path) -> None:
    write(store.open_run(tmp_path, "fp"), 0, instructions[:2])
    store.refresh_catalog(tmp_path)
    with duckdb.connect(str(tmp_path / CATALOG_NAME), read_only=True) as con:
        rows = con.execute("SELECT category, count(*) FROM samples GROUP BY ALL").fetchall()
    assert sum(n for _, n in rows) == 2


# --- `complexify stats` ----------------------------------------------------------------------------------


def test_stats_prints_yield_tables(instructions: list[Instruction], tmp_path: Path) -> None:
    write(store.open_run(tmp_path, "fp1234"), 0, instructions)
    out = cli("stats", "--root", str(tmp_path), "--run", "fp12")
    assert out.returncode == 0, out.stderr
    for title in ("yield per category", "yield per constraint dimension", "yield per checker"):
        assert title in out.stdout
    for ins in instructions:
        assert ins.category in out.stdout
    assert "structure:selected_case" in out.stdout  # Selection_1 instructions have a branch-decision check


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("none", ["--root", "{root}/missing"], "does not exist"),
        ("empty", ["--root", "{root}"], "no runs under"),
        ("run", ["--root", "{root}", "--run", "nope"], "no run 'nope'"),
    ],
    ids=["missing-root", "no-runs", "unknown-run"],
)
def test_stats_bad_input_exits_2(tmp_path: Path, setup: str, args: list[str], message: str) -> None:
    if setup == "run":
        store.open_run(tmp_path, "fp")
    out = cli("stats", *(a.format(root=tmp_path) for a in args))
    assert out.returncode == 2 and message in out.stderr
