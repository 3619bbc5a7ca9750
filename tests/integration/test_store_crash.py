"""Resume after `kill -9` at random moments: a writer process is killed mid-run, again and again, then resumed.

Afterwards every batch is present exactly once, no sample is duplicated or missing, no temp file is left,
and every Parquet file a reader's glob can see is whole.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline import store
from pipeline.store.files import TMP_SUFFIX
from pipeline.store.runs import DONE_DIR
from pipeline.store.schema import KINDS, samples_to_table
from tests.helpers.stored_run import verify_run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "taxonomy"
FINGERPRINT = "crashtest"
N_BATCHES = 8
ROWS_PER_BATCH = 300  # with ~1.5 KB incompressible answers: shards of about half a megabyte
SLOW_FSYNC_S = 0.04  # the writer's fsync is slowed down like on network storage, so kills often land in writes


def child_main(root: str) -> None:
    """The writer: resume the run, write every batch not yet done, announce each step on stdout."""
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(SLOW_FSYNC_S)
        real_fsync(fd)

    os.fsync = slow_fsync
    import tests.helpers.fixture_checkers  # noqa: F401
    from pipeline.construct.compose import compose_batch
    from pipeline.construct.taxonomy import load_taxonomy
    from pipeline.models import Response, Sample, Seed
    from pipeline.verify.plan import verify_response

    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seeds = [Seed(id=f"s{i}", text=f"Explain topic {i}.") for i in range(4)]
    instructions = compose_batch(seeds, 8, tax, mix={"And_1": 1, "Chain_1": 1, "Selection_1": 1}, random_seed=5)
    samples_to_table([], batch=0)  # pyarrow's one-time setup (~0.3 s), so 'writing' means writing
    print("ready", flush=True)
    run = store.open_run(root, FINGERPRINT, {"name": "crash"})
    for index in range(N_BATCHES):
        if index in store.done_batches(run):
            continue
        rng = random.Random(index)  # deterministic content: a rerun rewrites identical shards
        samples = []
        for j in range(ROWS_PER_BATCH):
            ins = instructions[j % len(instructions)]
            text = " ".join("".join(rng.choices("abcdefghijkLMNOPδέλτα末尾", k=7)) for _ in range(200))
            verdict = verify_response(text, ins.plan)
            samples.append(
                Sample(
                    id=f"b{index}-{j}", instruction=ins, response=Response(text=text, candidate=j), verdict=verdict,
                    kept=j % 3 == 0, reject_reasons=[] if j % 3 == 0 else ["check_failed"], run_id=run.run_id,
                    run_fingerprint=FINGERPRINT,
                )
            )  # fmt: skip
        print(f"writing {index}", flush=True)
        store.write_batch(run, index, instructions, [s for s in samples if s.kept], [s for s in samples if not s.kept])
        print(f"done {index}", flush=True)


def start_child(root: Path) -> subprocess.Popen[str]:
    code = f"from tests.integration.test_store_crash import child_main; child_main({str(root)!r})"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], prefix: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f"writer exited (code {proc.wait()}) before printing {prefix!r}")


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(TMP_SUFFIX)]


def interrupted_writes(root: Path) -> set[tuple[str, int]]:
    """Traces of a kill inside write_batch: temp files, or shards of a batch without its manifest (with mtimes)."""
    run_dir = root / "runs" / FINGERPRINT
    done = {p.stem for p in (run_dir / DONE_DIR).glob("*.json")}
    orphans = [p for kind in KINDS for p in (run_dir / kind).glob("*.parquet") if p.stem not in done]
    return {(str(p), p.stat().st_mtime_ns) for p in [*leftovers(root), *orphans]}


def test_kill_9_at_random_moments_then_resume(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "7")))
    kills_mid_write = 0
    for round_ in range(8):
        before = interrupted_writes(tmp_path)
        proc = start_child(tmp_path)
        # Even rounds: a random moment from startup (run.json creation included); odd: right inside a batch write.
        wait_for(proc, "ready" if round_ % 2 == 0 else "writing")
        time.sleep(rng.uniform(0.0, 1.5) if round_ % 2 == 0 else rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills_mid_write += bool(interrupted_writes(tmp_path) - before)  # new traces: this kill hit a write
        run_dir = tmp_path / "runs" / FINGERPRINT
        if run_dir.is_dir():  # whatever the moment, a reader's glob sees only whole Parquet files
            with duckdb.connect() as con:
                for kind in KINDS:
                    if list((run_dir / kind).glob("*.parquet")):
                        con.execute(f"SELECT count(*) FROM read_parquet('{run_dir / kind}/*.parquet')").fetchone()
    assert kills_mid_write >= 2, "too few kills landed inside a write: the test lost its point (shards too small?)"

    proc = start_child(tmp_path)
    assert proc.wait(timeout=60) == 0
    run = store.load_run(tmp_path, FINGERPRINT)
    assert store.done_batches(run) == set(range(N_BATCHES))
    assert verify_run(run) == []
    ids = [s.id for s in store.load_samples(run)] + [s.id for s in store.load_samples(run, kept=False)]
    assert len(ids) == len(set(ids)) == N_BATCHES * ROWS_PER_BATCH
    assert set(ids) == {f"b{i}-{j}" for i in range(N_BATCHES) for j in range(ROWS_PER_BATCH)}
    assert leftovers(tmp_path) == []
    store.refresh_catalog(tmp_path)
    with store.open_catalog(tmp_path, refresh=False) as con:
        assert con.execute("SELECT count(*), count(DISTINCT sample_id) FROM candidates").fetchone() == (len(ids),) * 2
        assert con.execute("SELECT count(*) FROM shards").fetchone() == (3 * N_BATCHES,)
