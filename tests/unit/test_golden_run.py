"""A golden run: the same inputs give the same instructions and samples, byte for byte, release after release.

A whole run (hardening, siblings, repairs, several batches in flight) on a scripted model whose answers depend
only on what it is asked. Its stored content, without what names the run itself (run id, fingerprints of the
run and its config, timings), is hashed; the hash is kept in tests/data/golden_run.json. A change to how
instructions are drawn, answered, verified, kept or stored changes the hash: if the change is meant, rewrite
the file with `COMPLEXIFY_WRITE_GOLDEN=1 pytest tests/unit/test_golden_run.py` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.run.config import parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.stages import Models
from tests.helpers.scripted_chat import answering_from

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_run.json"
# Fields that name the run rather than describe its content, or measure time.
VOLATILE = {"run_id", "run_fingerprint", "latency_s", "created_at", "started_at"}

ANSWERS = (
    "here is a short answer in lowercase words only",
    "Here Is An Answer, With Commas, And Capitals.",
    "### Part 1\nfirst part of the answer\n### Part 2\nsecond part of the answer",
    "### Case A\nthe first case applies here",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen",
    "* a bullet\n* another bullet\n* a third bullet",
    '{"answer": "json here"}',
    "P.S. a postscript comes first, then nothing else",
)


scripted_chat = answering_from(ANSWERS)


def config(out: Path) -> dict[str, Any]:
    return {
        "name": "golden",
        "samples": 8,
        "mix": {"Single": 2, "And_1": 1, "Chain_1": 2, "Selection_1": 2, "Selection_and_Chain_2": 1},
        "compose": {"checkers": "code", "siblings": True},
        "models": {"rewriter": {"enabled": True}, "responder": {"n": 3}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False},
        "hardening": {
            "enabled": True,
            "threshold": 0.3,
            "rounds": 2,
            "moves": ["constraint", "chain_step", "selection_level"],
        },
        "repair_rounds": 1,
        "attempts_factor": 3,
        "batch_size": 6,
        "batches_in_flight": 2,
        "random_seed": 7,
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(out),
    }


def content(value: Any) -> Any:
    """The record without its volatile fields, recursively."""
    if isinstance(value, dict):
        return {k: content(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [content(v) for v in value]
    return value


def run_digest(out: Path) -> dict[str, Any]:
    with open_run_context(
        parse_config(config(out)), log=lambda line: None, models=Models(chat=scripted_chat, judge=None)
    ) as ctx:
        run_locally(ctx)
        run = ctx.run
    instructions = sorted(
        (content(i.model_dump(mode="json")) for i in store.load_instructions(run)), key=lambda r: r["id"]
    )
    samples = sorted(
        (content(s.model_dump(mode="json")) for s in [*store.load_samples(run), *store.load_samples(run, kept=False)]),
        key=lambda r: (r["instruction"]["id"], r["response"]["candidate"], r["id"]),
    )
    blob = json.dumps({"instructions": instructions, "samples": samples}, sort_keys=True, ensure_ascii=False)
    return {
        "sha256": hashlib.sha256(blob.encode()).hexdigest(),
        "instructions": len(instructions),
        "kept": sum(1 for s in samples if s["kept"]),
        "samples": len(samples),
        "hardened": sum(1 for i in instructions if i["hardening_round"] > 0),
        "siblings": sum(1 for i in instructions if i["sibling_group"]),
    }


def test_the_golden_run_gives_the_same_content(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    got = run_digest(tmp_path / "out")
    # the run must exercise what it guards: kept and rejected answers, hardened children, siblings
    assert got["kept"] > 0 and got["samples"] > got["kept"] and got["hardened"] > 0 and got["siblings"] > 0, got
    if os.environ.get("COMPLEXIFY_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(GOLDEN.read_text())
