"""Compare our IFEval checkers with lm-eval's, case by case (shared by the benchmark and the test).

lm-eval runs in its own environment (`scripts/ensure_env.sh ifeval-ref`, built on first use) through
`ifeval_reference_runner.py`; ours run in this process through `evaluate_instruction`. Both use the
same converted Punkt data (NLTK_DATA) and langdetect seeded with 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "ifeval_reference_runner.py"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.checks import text as text_helpers  # noqa: E402
from pipeline.errors import CheckerArgumentError  # noqa: E402
from pipeline.verify.ifeval import evaluate_instruction  # noqa: E402


@dataclass
class Comparison:
    """Per-instruction agreement counts and the timings of both sides."""

    total: Counter[str] = field(default_factory=Counter)
    agree: Counter[str] = field(default_factory=Counter)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    ours_s: dict[str, Any] = field(default_factory=dict)
    ref_s: dict[str, Any] = field(default_factory=dict)
    checks: int = 0

    @property
    def agreement(self) -> float:
        return sum(self.agree.values()) / max(1, sum(self.total.values()))


def ensure_reference_env() -> Path:
    """Build (once) and link the ifeval-ref environment; return its Python."""
    subprocess.run(
        [str(ROOT / "scripts" / "ensure_env.sh"), "ifeval-ref"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    return ROOT / ".venv-ifeval-ref" / "bin" / "python"


def run_reference(cases: list[dict[str, Any]], repeat: int = 1) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """lm-eval's strict and loose verdicts per case id, and its timings."""
    python = ensure_reference_env()
    env = dict(os.environ, NLTK_DATA=str(text_helpers.ensure_nltk_data()))
    with tempfile.TemporaryDirectory(prefix="ifeval-ref-") as tmp:
        cases_path, out_path = Path(tmp) / "cases.jsonl", Path(tmp) / "results.jsonl"
        cases_path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        proc = subprocess.run(
            [str(python), str(RUNNER), str(cases_path), str(out_path), "--repeat", str(repeat)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"reference runner failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        rows = [json.loads(line) for line in out_path.read_text(encoding="utf-8").splitlines()]
    timing = rows.pop()["timing"]
    return {r["id"]: r for r in rows}, timing


def clear_caches() -> None:
    """Forget memoised analyses so timings start cold, like a fresh process."""
    for fn in (
        text_helpers.sentences,
        text_helpers.count_sentences,
        text_helpers._sentence_words,
        text_helpers.word_tokens,
        text_helpers.detect_language,
    ):
        fn.cache_clear()


def run_ours(cases: list[dict[str, Any]], repeat: int = 1) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Our strict and loose verdicts per case id, and timings (caches cleared before each mode)."""
    text_helpers.ensure_nltk_data()
    # Load models outside the timed loops, as the reference runner does (same warm-up texts).
    text_helpers.count_sentences("Warm up. Two sentences.")
    text_helpers.word_tokens("Warm up. Two sentences.")
    text_helpers.detect_language("Warm up. Two sentences.")
    results: dict[int, dict[str, Any]] = {c["id"]: {"id": c["id"]} for c in cases}
    timing: dict[str, Any] = {"checks": len(cases) * repeat}
    for mode, loose in (("strict", False), ("loose", True)):
        clear_caches()
        per_id: dict[str, float] = defaultdict(float)
        start = time.perf_counter()
        for _ in range(repeat):
            for c in cases:
                t0 = time.perf_counter()
                try:
                    results[c["id"]][mode] = evaluate_instruction(
                        c["instruction_id"], c["kwargs"], c["response"], loose
                    )
                except CheckerArgumentError as exc:
                    results[c["id"]]["error"] = f"CheckerArgumentError: {exc}"
                per_id[c["instruction_id"]] += time.perf_counter() - t0
        timing[f"{mode}_s"] = time.perf_counter() - start
        timing[f"{mode}_per_id"] = dict(per_id)
    return results, timing


def compare(cases: list[dict[str, Any]], repeat: int = 1) -> Comparison:
    """Run both sides on `cases` and count agreement per instruction id (strict and loose both must match)."""
    ref, ref_t = run_reference(cases, repeat)
    ours, ours_t = run_ours(cases, repeat)
    cmp = Comparison(ours_s=ours_t, ref_s=ref_t, checks=len(cases) * repeat)
    for c in cases:
        iid = c["instruction_id"]
        r, o = ref[c["id"]], ours[c["id"]]
        cmp.total[iid] += 1
        same = (
            "error" not in r
            and "error" not in o
            and r.get("strict") == o.get("strict")
            and r.get("loose") == o.get("loose")
        )
        if same:
            cmp.agree[iid] += 1
        else:
            cmp.mismatches.append({**c, "reference": r, "ours": o})
    return cmp


def per_instruction_table(cmp: Comparison) -> list[str]:
    """Lines 'id  agree/total  pct'."""
    rows = defaultdict(str)
    for iid in sorted(cmp.total):
        rows[iid] = f"{iid:<48} {cmp.agree[iid]:>5}/{cmp.total[iid]:<5} {100 * cmp.agree[iid] / cmp.total[iid]:6.2f}%"
    return list(rows.values())
