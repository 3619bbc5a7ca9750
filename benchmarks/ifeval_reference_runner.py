"""Run lm-eval's IFEval checkers on a cases file; executed by the ifeval-ref environment's Python.

Usage: python ifeval_reference_runner.py CASES.jsonl RESULTS.jsonl [--repeat K]

Each case is {"id", "instruction_id", "kwargs", "response"}. Each result line is {"id", "strict",
"loose"} or {"id", "error"}; the last line is {"timing": {"strict_s", "loose_s", "checks"}}.
Only lm-eval's `lm_eval.tasks.ifeval` modules are imported: `lm_eval.tasks.__init__` (the task
manager, which needs the whole harness) is bypassed by registering a bare package in its place.
This file must not import anything from complexify: it runs in another environment.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
import types
from pathlib import Path


def _import_lm_eval_ifeval() -> types.ModuleType:
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lm_eval is not installed in this environment")
    tasks = types.ModuleType("lm_eval.tasks")
    tasks.__path__ = [str(Path(next(iter(spec.submodule_search_locations))) / "tasks")]
    sys.modules["lm_eval.tasks"] = tasks
    import langdetect

    # Same langdetect configuration as ours: unseeded, its verdicts on borderline text are random.
    langdetect.DetectorFactory.seed = 0
    from lm_eval.tasks.ifeval import utils

    return utils


def main(argv: list[str]) -> int:
    cases_path, out_path = Path(argv[0]), Path(argv[1])
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 1
    logging.disable(logging.CRITICAL)  # lm-eval logs every langdetect failure at ERROR level
    utils = _import_lm_eval_ifeval()
    cases = [json.loads(line) for line in cases_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    inputs = [
        utils.InputExample(key=c["id"], instruction_id_list=[c["instruction_id"]], prompt="", kwargs=[c["kwargs"]])
        for c in cases
    ]
    # Warm up outside the timed loops (langdetect profiles, Punkt, word_tokenize), as ours does.
    utils.test_instruction_following_strict(
        utils.InputExample(
            key=-1,
            instruction_id_list=[
                "language:response_language",
                "length_constraints:number_sentences",
                "change_case:capital_word_frequency",
            ],
            prompt="",
            kwargs=[
                {"language": "en"},
                {"num_sentences": 1, "relation": "at least"},
                {"capital_frequency": 1, "capital_relation": "at least"},
            ],
        ),
        "Warm up. Two sentences.",
    )
    results: dict[int, dict] = {c["id"]: {"id": c["id"]} for c in cases}
    timing: dict = {"checks": len(cases) * repeat}
    for mode, fn in (
        ("strict", utils.test_instruction_following_strict),
        ("loose", utils.test_instruction_following_loose),
    ):
        per_id: dict[str, float] = {}
        start = time.perf_counter()
        for _ in range(repeat):
            for case, inp in zip(cases, inputs, strict=True):
                t0 = time.perf_counter()
                try:
                    results[case["id"]][mode] = fn(inp, case["response"]).follow_instruction_list[0]
                except Exception as exc:  # a reference crash is a result to compare, not a harness failure
                    results[case["id"]]["error"] = f"{type(exc).__name__}: {exc}"[:200]
                iid = case["instruction_id"]
                per_id[iid] = per_id.get(iid, 0.0) + time.perf_counter() - t0
        timing[f"{mode}_s"] = time.perf_counter() - start
        timing[f"{mode}_per_id"] = per_id
    with out_path.open("w", encoding="utf-8") as f:
        for r in results.values():
            f.write(json.dumps(r) + "\n")
        f.write(json.dumps({"timing": timing}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
