"""A stored run's kept samples, exported as a suite plus responses, score 100% all-pass under `bench score`.

The run's gate and the benchmark verify with the same plans, so what the run kept must pass the benchmark,
and what it rejected for failed checks must not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import tests.helpers.fixture_checkers  # noqa: F401  (registers the fixture taxonomy's t:* checkers)
from pipeline import store
from pipeline.bench.suite import SuiteItem, write_suite
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Sample, Seed
from pipeline.run.config import RoleConfig, parse_config
from pipeline.run.stages import BatchSpec, Models
from tests.helpers.batches import run_spec
from tests.helpers.bench_cli import complexify

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(6)]
CANDIDATES = [
    "a plain lowercase answer",
    "SHOUTED ANSWER WITH APPLE AND RIVER",
    '{"answer": "apple river stone cloud"}',
    "a plain answer about a maple, a tiger and a violin, told in far more than ten words for anyone who asks. "
    "That is all.",
]


def scripted(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
    return [
        [Response(text=CANDIDATES[k % len(CANDIDATES)], candidate=k, model="scripted") for k in range(n)]
        for _ in conversations
    ]


def _export(samples: list[Sample], folder: Path, name: str) -> tuple[Path, Path]:
    items = [
        SuiteItem(id=f"{name}/{s.id}", suite=name, category=s.instruction.category, instruction=s.instruction)
        for s in samples
    ]
    suite, responses = folder / f"{name}.jsonl", folder / f"{name}-responses.jsonl"
    write_suite(suite, items)
    responses.write_text(
        "".join(
            json.dumps({"id": i.id, "response": s.response.text}) + "\n" for i, s in zip(items, samples, strict=True)
        )
    )
    return suite, responses


def test_kept_samples_score_100_percent_and_failed_rejects_do_not(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "samples": 24,
            "mix": {"Single": 1, "And_1": 1},
            "repair_rounds": 0,
            "compose": {"checkers": "code"},
            "models": {"responder": {"n": 4}, "rewriter": {"enabled": False}, "judge": {"enabled": False}},
            "fidelity": {"enabled": False},  # scripted answers ignore the task; this test is about the checks
        }
    )
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    spec = BatchSpec(0, tuple((i, "Single" if i % 2 else "And_1") for i in range(24)))
    result = run_spec(
        spec, SEEDS, tax, cfg, Models(chat=scripted, judge=None), run_id="run-c", run_fingerprint="fp-consistency"
    )
    run = store.open_run(tmp_path / "data", "fp-consistency", {"name": "consistency"})
    store.write_batch(run, 0, result.instructions, result.kept, result.rejects)

    kept = store.load_samples(run, kept=True)
    assert len(kept) >= 6 and {s.instruction.category for s in kept} == {"Single", "And_1"}
    suite, responses = _export(kept, tmp_path, "kept")
    out = complexify(
        "bench", "score", "--suite", str(suite), "--responses", str(responses), "--out", str(tmp_path / "kept-report")
    )
    assert out.code == 0, out.err
    report = json.loads((tmp_path / "kept-report" / "report.json").read_text())
    assert report["overall"]["items"] == len(kept)
    assert report["overall"]["all_pass"]["value"] == 1.0 and report["overall"]["drfr"]["value"] == 1.0
    assert all(row["all_pass"]["value"] == 1.0 for row in report["categories"])

    failed = [
        s for s in store.load_samples(run, kept=False) if any(r.startswith("failed_check:") for r in s.reject_reasons)
    ]
    assert failed
    suite, responses = _export(failed, tmp_path, "failed")
    out = complexify(
        "bench",
        "score",
        "--suite",
        str(suite),
        "--responses",
        str(responses),
        "--out",
        str(tmp_path / "failed-report"),
    )
    assert out.code == 0, out.err
    report = json.loads((tmp_path / "failed-report" / "report.json").read_text())
    assert report["overall"]["all_pass"]["value"] == 0.0
