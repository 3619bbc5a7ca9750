"""A stored run without a model: fixture-taxonomy instructions, canned answers verified for real, written by store."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline import store
from pipeline.construct.compose import compose_batch
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Instruction, Response, Sample, Seed
from pipeline.store.integrity import batch_problems
from pipeline.verify.plan import verify_response

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
ANSWERS = ["a plain lowercase answer", "SHOUTED Answer"]


def fixture_instructions(n: int = 6, random_seed: int = 5) -> list[Instruction]:
    """`n` instructions from the fixture taxonomy (Single and And_1)."""
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seeds = [Seed(id=f"s{i}", text=f"Describe river number {i}.") for i in range(4)]
    return compose_batch(seeds, n, tax, mix={"Single": 1, "And_1": 1}, random_seed=random_seed)


def answered(instructions: list[Instruction], fingerprint: str, batch: int) -> tuple[list[Sample], list[Sample]]:
    """Two verified answers per instruction: the first is kept, the second rejected (predictable counts)."""
    kept, rejects = [], []
    for ins in instructions:
        for k, text in enumerate(ANSWERS):
            sample = Sample(
                id=f"{ins.id}-b{batch}-r0-k{k}",
                instruction=ins,
                response=Response(text=text, model="scripted", candidate=k),
                verdict=verify_response(text, ins.plan, instruction=ins.prompt),
                kept=k == 0,
                reject_reasons=[] if k == 0 else ["check_failed:c1"],
                run_id="run-test",
                run_fingerprint=fingerprint,
            )
            (kept if k == 0 else rejects).append(sample)
    return kept, rejects


def write_stored_run(root: Path, fingerprint: str = "fp-test", batches: int = 2, per_batch: int = 3) -> store.RunPaths:
    """A run under `root` with `batches` done batches of `per_batch` instructions each, and a fresh catalog."""
    run = store.open_run(root, fingerprint, {"name": "test"})
    instructions = fixture_instructions(batches * per_batch)
    for b in range(batches):
        group = instructions[b * per_batch : (b + 1) * per_batch]
        kept, rejects = answered(group, fingerprint, b)
        store.write_batch(run, b, group, kept, rejects)
    store.refresh_catalog(root)
    return run


def verify_run(run: store.RunPaths) -> list[str]:
    """Problems with a run's files (missing, resized or changed shards, duplicate sample ids); empty when sound."""
    problems = []
    seen: Counter[str] = Counter()
    for m in store.manifests(run):
        found = batch_problems(run, m)
        problems += [f"batch {m.batch}: {p}" for p in found]
        if found:
            continue
        for kind, entry in m.files.items():
            if kind != "instructions":
                seen.update(pq.read_table(run.dir / entry.file, columns=["sample_id"]).column("sample_id").to_pylist())
    problems += [f"sample id {k} appears {n} times" for k, n in sorted(seen.items()) if n > 1]
    return problems
