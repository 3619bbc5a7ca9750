"""Grid quotas on the shared real worker: a run whose Single quota is split over band x rendering cells ends with
every cell met or out of attempts, keeps each sample in a cell it fits, and reports what each cell cost.

Bounded by the config: 4 cells x quota 1 x attempts_factor 2 = at most 8 instructions, each with 2 answers and
one repair of at most 96 tokens (no rewrite): 2,304 generated tokens at most.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline import store
from pipeline.run.config import parse_config
from pipeline.run.generate import open_run_context, run_locally
from pipeline.run.grid import band_of, sample_pass_rate, taken_dimensions
from pipeline.run.planning import open_ledger

if TYPE_CHECKING:
    from tests.integration.conftest import VLLMEndpoint

BANDS = {"easy": (0.5, 1.0), "hard": (0.0, 0.49)}


@pytest.mark.timeout(600, func_only=True)
def test_a_grid_run_on_the_real_worker_ends_every_cell_met_or_spent(
    vllm_endpoint: VLLMEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))  # every answer generated here
    cfg = parse_config(
        {
            "name": "grid-smoke", "samples": 4, "mix": {"Single": 1},
            "compose": {"checkers": "code"},
            "grid": {"dimensions": ["Length"], "bands": {k: list(v) for k, v in BANDS.items()},
                     "renderings": ["prose", "numbered"]},
            "models": {"rewriter": {"enabled": False},
                       "responder": {"n": 2, "sampling": {"temperature": 0.9, "max_tokens": 96}},
                       "judge": {"enabled": False}},
            "workers": {"local": 0, "endpoints": [vllm_endpoint.url]},
            "fidelity": {"enabled": False}, "repair_rounds": 1, "attempts_factor": 2, "batch_size": 4,
            "output_dir": str(tmp_path / "out"), "random_seed": 3,
        }
    )  # fmt: skip
    logs: list[str] = []
    with open_run_context(cfg, log=logs.append) as ctx:
        summary = run_locally(ctx)
        run = ctx.run
    rows = {r.cell: r for r in summary.grid}
    assert sorted(rows) == sorted(f"Single/Length/{b}/{r}" for b in BANDS for r in ("prose", "numbered"))
    for r in rows.values():  # the planner stops a cell only when it is met or has spent its budget
        assert r.met or r.attempts == r.budget == 2
        assert 0 <= r.kept <= r.quota == 1
    kept, rejects = store.load_samples(run), store.load_samples(run, kept=False)
    assert len(kept) == summary.kept == sum(r.kept for r in rows.values())
    candidates: dict[str, list] = {}  # type: ignore[type-arg]
    for s in [*kept, *rejects]:
        candidates.setdefault(s.instruction.id, []).append(s)
    for s in kept:  # each kept sample fits a met cell: Length on its path, its rendering, its measured band
        assert "Length" in taken_dimensions(s.instruction, ctx.taxonomy)
        band = band_of(sample_pass_rate(s, candidates[s.instruction.id]), BANDS)
        assert rows[f"Single/Length/{band}/{s.instruction.rendering}"].met
    # what each cell cost, from the manifests' slots, agrees with the stored candidates
    spent: Counter[str] = Counter()
    for m in store.manifests(run):
        for slot in m.slots or ():
            spent.update(candidates=slot.candidates, completion_tokens=slot.completion_tokens, slots=1)
    assert spent["candidates"] == len(kept) + len(rejects) == sum(r.candidates for r in rows.values())
    assert spent["completion_tokens"] == sum(s.response.completion_tokens for s in [*kept, *rejects]) > 0
    assert spent["slots"] == sum(r.attempts for r in rows.values())
    again = open_ledger(cfg, run)
    assert {k: again.kept[k] for k in rows} == {k: r.kept for k, r in rows.items()}
    assert any("grid cells met" in line for line in logs) and any("grid cell" in line for line in logs)
