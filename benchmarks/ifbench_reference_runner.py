"""Run IFBench's own checkers on a cases file; executed by the ifbench-ref environment's Python.

Usage: python ifbench_reference_runner.py CASES.jsonl RESULTS.jsonl [--repeat K]

Each case is {"id", "instruction_id", "kwargs", "response", "prompt", "set"}. Each result line is {"id", "strict",
"loose"}, {"id", "error"} or, for an id the reference does not know, {"id", "unknown": true}; the last line is
{"timing": {...}, "ids": [every id of the reference registry]}.
Each case goes through IFBench's `evaluation_lib.test_instruction_following_strict` and `_loose`, which build
the instruction from the kwargs and check the response. As in IFBench's own run, the strict pass gets the kwargs
row with its nulls and drops them itself; the loose pass gets them dropped (its run relies on the strict pass
having done it in place).

Offline: `ifbench.instructions` imports `spacy.cli.download` and downloads a spacy model at import, and its
instructions call `nltk.download` when built. In this process only, spacy is a stub module whose `download`
does nothing, and `nltk.download` does nothing and reports failure: data that is not already under NLTK_DATA
then raises LookupError when used (NLTK's `stopwords`, `averaged_perceptron_tagger_eng`), which is reported as
that case's error. This file must not import anything from complexify: it runs in another environment.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any


def _offline() -> None:
    """Stub spacy (imported for a model download only) and turn NLTK downloads off, before ifbench is imported."""
    spacy = types.ModuleType("spacy")
    cli = types.ModuleType("spacy.cli")
    cli.download = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    spacy.cli = cli  # type: ignore[attr-defined]
    sys.modules["spacy"], sys.modules["spacy.cli"] = spacy, cli
    import nltk

    nltk.download = lambda *args, **kwargs: False


def main(argv: list[str]) -> int:
    cases_path, out_path = Path(argv[0]), Path(argv[1])
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 1
    # --clock cpu: this process's CPU time (time spent waiting for a core on a busy machine is not counted)
    clock = time.process_time if "--clock" in argv and argv[argv.index("--clock") + 1] == "cpu" else time.perf_counter
    _offline()
    import nltk
    from ifbench import evaluation_lib, instructions_registry

    nltk.word_tokenize("Warm up. Two sentences.")  # load Punkt outside the timed loops
    cases = [json.loads(line) for line in cases_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    results: dict[Any, dict[str, Any]] = {c["id"]: {"id": c["id"]} for c in cases}
    for c in cases:  # ids the reference does not know are not IFBench's: marked, not run
        if c["instruction_id"] not in instructions_registry.INSTRUCTION_DICT:
            results[c["id"]]["unknown"] = True
    cases = [c for c in cases if "unknown" not in results[c["id"]]]
    timing: dict[str, Any] = {"checks": len(cases), "repeat": repeat}
    for mode, fn in (
        ("strict", evaluation_lib.test_instruction_following_strict),
        ("loose", evaluation_lib.test_instruction_following_loose),
    ):
        totals: list[float] = []
        per_id_runs: list[dict[str, float]] = []
        for _ in range(repeat):
            random.seed(0)  # instructions built without an argument draw one at random
            per_id: dict[str, float] = {}
            start = clock()
            for case in cases:
                # as in IFBench's run: the strict pass drops the nulls itself (timed), the loose one gets them dropped
                kwargs = (
                    case["kwargs"] if mode == "strict" else {k: v for k, v in case["kwargs"].items() if v is not None}
                )
                inp = evaluation_lib.InputExample(
                    key=case["id"], instruction_id_list=[case["instruction_id"]], prompt=case["prompt"],
                    kwargs=[kwargs],
                )  # fmt: skip
                t0 = clock()
                try:
                    verdict = fn(inp, {case["prompt"]: case["response"]}).follow_instruction_list[0]
                    results[case["id"]][mode] = verdict
                except Exception as exc:  # a reference crash is a result to report, not a harness failure
                    results[case["id"]]["error"] = f"{type(exc).__name__}: {exc}"[:300]
                key = f"{case.get('set', '')}|{case['instruction_id']}"
                per_id[key] = per_id.get(key, 0.0) + clock() - t0
            totals.append(clock() - start)
            per_id_runs.append(per_id)
        timing[f"{mode}_runs"] = totals
        timing[f"{mode}_s"] = statistics.median(totals)
        timing[f"{mode}_per_id"] = {  # keyed "set|instruction id"
            key: statistics.median(run.get(key, 0.0) for run in per_id_runs) for key in per_id_runs[0]
        }
    with out_path.open("w", encoding="utf-8") as f:
        for r in results.values():
            f.write(json.dumps(r) + "\n")
        f.write(json.dumps({"timing": timing, "ids": sorted(instructions_registry.INSTRUCTION_DICT)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
