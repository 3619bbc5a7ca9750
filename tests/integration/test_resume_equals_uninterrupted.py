"""Same inputs, same batches and kept samples: a run killed with SIGKILL at every batch boundary and resumed each
time ends exactly as the same run left alone, with hardening on and several batches in flight.

Real `complexify run` processes (Prefect, the engine, the store) against a scripted OpenAI-compatible server whose
answers depend only on what it is asked. The killed runs end by `kill -9` right after they save one more batch
(tests/helpers/kill_after_batch.py): the batches after it are in flight and lost, and the next process resumes.
No model worker: the run is bounded by its quotas and takes a few small batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import store
from pipeline.store.runs import read_table
from pipeline.store.usage import run_usage
from tests.helpers.scripted_llm_server import Script, scripted_server

ROOT = Path(__file__).resolve().parent.parent.parent

# Answers that meet some constraints each (a postscript, highlights, lowercase, title case, parts, a case, ...): one
# of them answers many a Single instruction well, so instructions prove easy and are hardened.
ANSWERS = (
    "# Overview\n\n*first highlight* and *second highlight* and *third highlight*\n\n1. first item\n2. second item\n"
    "3. third item\n\n* one bullet\n* two bullet\n* three bullet\n\nP.S. that is all",
    "here is a short answer in lowercase words only",
    "Here Is A Short Answer In Title Case\nP.S. That Is All",
    "### Part 1\nfirst part of the answer\n### Part 2\nsecond part of the answer",
    "### Case A\nthe first case applies here",
    "HERE IS AN ANSWER IN CAPITAL LETTERS",
)


def answer(messages: list[dict[str, str]], k: int) -> str:
    """The k-th answer to a conversation: a function of the conversation alone."""
    text = json.dumps(messages, sort_keys=True)
    return ANSWERS[int(hashlib.sha256(f"{text}|{k}".encode()).hexdigest(), 16) % len(ANSWERS)]


def config(endpoint: str, seeds: Path, out: Path) -> dict[str, Any]:
    return {
        "name": "resume-equals-uninterrupted",
        "samples": 4,
        "mix": {"Single": 3, "And_1": 1, "Chain_1": 1},
        "compose": {"checkers": "code"},
        "seeds": {"sources": [{"path": str(seeds)}]},
        "models": {"rewriter": {"enabled": False}, "responder": {"n": 4}, "judge": {"enabled": False}},
        "fidelity": {"enabled": False},
        "gate": {"score": "drfr", "threshold": 0.5},
        "hardening": {
            "enabled": True,
            "threshold": 0.2,
            "rounds": 2,
            "moves": ["constraint", "chain_step", "selection_level"],
        },
        "repair_rounds": 1,
        "attempts_factor": 3,
        "batch_size": 3,
        "batches_in_flight": 2,
        "random_seed": 1,  # a seed whose draws get hardened with these answers (draws change with the taxonomy)
        "workers": {"local": 0, "endpoints": [endpoint]},
        "output_dir": str(out),
    }


def environment(tmp_path: Path, name: str, prefect_api: str) -> dict[str, str]:
    # one Prefect server for every run of the module: a run starts in seconds instead of starting its own
    return {**os.environ, "PREFECT_API_URL": prefect_api, "COMPLEXIFY_REQUEST_CACHE": str(tmp_path / f"{name}.sqlite")}


def only_run(out: Path) -> store.RunPaths:
    [run] = store.list_runs(out)
    return run


def outcome(out: Path) -> dict[str, Any]:
    """What the run made, batch by batch, without what names the run itself (its id and fingerprints)."""
    run = only_run(out)
    table = read_table(run, "instructions", ["batch", "instruction_fingerprint", "hardening_round", "category"])
    samples = [*store.load_samples(run), *store.load_samples(run, kept=False)]
    store.refresh_catalog(out)
    with store.open_catalog(out, refresh=False) as con:
        stats = store.run_stats(con, run.fingerprint)
    return {
        "instructions": table.to_pylist(),
        "kept": [(s.id, s.response.text) for s in store.load_samples(run)],
        "candidates": sorted((s.id, s.kept, tuple(s.reject_reasons)) for s in samples),
        "stats": sorted(astuple(r) for r in stats.rows),
    }


def ledger_facts(out: Path) -> list[Any]:
    """Per batch, its slots (cell, follow-up parent, outcome, hardening request, cost) and the requests it dropped."""
    return [
        ([r.model_dump() for r in m.slots or ()], [d.model_dump() for d in m.dropped])
        for m in store.manifests(only_run(out))
    ]


def token_ledger(out: Path) -> list[Any]:
    """Per batch, what each stage's requests cost: requests, prompt and generated tokens, failures (how the answers
    were obtained aside: a resumed run replays the batch it lost in flight from its request cache)."""
    return [run_usage([m]).work() for m in store.manifests(only_run(out))]


@pytest.mark.timeout(600, func_only=True)
def test_a_run_killed_at_every_batch_boundary_ends_as_one_left_alone(tmp_path: Path, prefect_api: str) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(
            json.dumps({"id": f"note-{i}", "text": f"Write a short note about topic {i}."}) + "\n" for i in range(40)
        )
    )
    with scripted_server(Script(interval_s=0.0, answer=answer)) as server:
        paths = {}
        for name in ("alone", "killed"):
            paths[name] = tmp_path / f"{name}.yaml"
            paths[name].write_text(yaml.safe_dump(config(server.url, seeds, tmp_path / name)))
        cmd = [sys.executable, "-m", "pipeline.cli", "run", "--config"]
        # the run left alone goes on beside the killed ones (another output folder, another cache)
        alone = subprocess.Popen(
            [*cmd, str(paths["alone"]), "--no-progress"], cwd=ROOT, env=environment(tmp_path, "alone", prefect_api),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        kills = 0
        try:
            env = environment(tmp_path, "killed", prefect_api)
            for boundary in range(12):
                killer = [sys.executable, "-m", "tests.helpers.kill_after_batch", str(boundary), "run", "--config"]
                done = subprocess.run(
                    [*killer, str(paths["killed"]), "--no-progress"],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                if done.returncode != -signal.SIGKILL:
                    break  # the run finished before saving that batch: nothing left to interrupt
                kills += 1
                assert store.done_batches(only_run(tmp_path / "killed")) == set(range(boundary + 1))
            else:
                raise AssertionError("the run never finished")
            alone_out, _ = alone.communicate(timeout=300)
        finally:
            if alone.poll() is None:
                alone.kill()
                alone.wait()
    assert alone.returncode in (0, 3), alone_out[-3000:]
    assert done.returncode == alone.returncode, done.stdout[-2000:] + done.stderr[-3000:]
    assert kills >= 2, f"only {kills} kill(s): the run is too short to test resume at its boundaries"

    left_alone, resumed = outcome(tmp_path / "alone"), outcome(tmp_path / "killed")
    hardened = [r for r in left_alone["instructions"] if r["hardening_round"] > 0]
    assert hardened, "nothing was hardened: the run does not exercise what it guards"
    for key in ("instructions", "kept", "candidates", "stats"):
        assert resumed[key] == left_alone[key], key
    # the ledger's facts agree too: every batch's slots, their cells and outcomes, and the requests dropped
    assert ledger_facts(tmp_path / "killed") == ledger_facts(tmp_path / "alone")
    # and so does the token ledger: nothing counted twice, nothing lost, batch by batch and in all
    assert token_ledger(tmp_path / "killed") == token_ledger(tmp_path / "alone")
    totals = [run_usage(store.manifests(only_run(tmp_path / name))) for name in ("alone", "killed")]
    assert totals[0].work() == totals[1].work() and totals[0].total().generated_tokens > 0
    kept_line = [line.split(" samples in ")[0] for line in alone_out.splitlines() if line.startswith("kept ")]
    assert kept_line and f"{kept_line[-1]} samples in {tmp_path / 'killed'}" in done.stdout
