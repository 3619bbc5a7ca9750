"""Tripwire rows: the adversarial suite's hacks as RL rows that every reward function must score <= 0.

The adversarial suite (`taxonomy/adversarial/<family>.yaml`) holds, for every registered checker,
responses that satisfy it (positives), that miss it narrowly (negatives) and that game a naive
implementation of it (hacks: keyword stuffing, a keyword inside another word, empty bullets, a marker
in the middle of the text, the answer in a think block or a code fence, look-alike letters, ...).
`tripwire_rows` turns each hack into a row shaped like a published `rl` row:

- `prompt`: chat messages asking for the constraint, in the first phrasing of the taxonomy spec bound
  to the checker (a guard borrows the phrasing of the IFEval id it guards), after a neutral task;
- `ground_truth`: the verification plan of that one constraint, as `reward.ground_truth_for` writes
  it; an IFEval check comes with its guard (`guards.add_guards`), since the IFEval checker keeps the
  reference's semantics and some hacks pass it (the suite records those as known weaknesses);
- `response`: the hack, plus `checker`, `why`, `known_weakness` and `family` to say what it tests.

A hack a reference-exact checker without a guard accepts (the IFBench ids, held out for evaluation and
never a training reward) makes no row: the reward would pay for it, so it cannot be a canary.

A trainer can mix these rows into evaluation (or a `tripwires` dataset config) as canaries: a reward
that scores any of them above 0 rewards gaming. tests/unit/test_adversarial_suite.py checks that the
TRL reward and verl's `compute_score` both score every row <= 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.checks.guards import GUARD_PREFIX, GUARDS, add_guards
from pipeline.construct.compose import render_template
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.models import Check, Instruction, Task, VerificationPlan, fingerprint_of
from pipeline.project import TAXONOMY_DIR
from pipeline.spans import RAW_PREFIX, RESPONSE
from pipeline.verify.reward import ground_truth_for

SUITE_DIR = TAXONOMY_DIR / "adversarial"
CASE_FIELDS = frozenset({"checker", "kwargs", "response", "kind", "why", "known_weakness"})
REQUIRED_FIELDS = CASE_FIELDS - {"known_weakness"}
TASK = "Write a short reply to a friend who asked how your week went."
# Checkers whose span keeps the marker lines they read.
RAW_SCOPE = frozenset({"structure:selected_case"})
_SIMPLE = {
    "structure:selected_case": "If the number 7 is odd, follow case {expected}; otherwise follow the other case. "
    "Name the case you follow on its own line, like '### Case {expected}', then answer.",
}


@dataclass(frozen=True, slots=True)
class SuiteCase:
    """One case of the adversarial suite, with the family file and position it came from."""

    family: str
    index: int
    checker: str
    kwargs: dict[str, Any]
    response: str
    kind: str
    why: str
    known_weakness: str | None = None


def load_suite(root: Path | None = None) -> list[SuiteCase]:
    """Every case of every `<family>.yaml` under `root` (the suite folder by default), in file order.

    Raises ValueError naming the file and case when a case lacks a field or has an unknown one.
    """
    out = []
    for path in sorted((root or SUITE_DIR).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cases = data.get("cases") if isinstance(data, dict) else None
        if not isinstance(cases, list):
            raise ValueError(f"{path}: expected a mapping with a 'cases' list")
        for i, raw in enumerate(cases):
            if not isinstance(raw, dict):
                raise ValueError(f"{path}: case {i} is not a mapping")
            unknown, missing = set(raw) - CASE_FIELDS, REQUIRED_FIELDS - set(raw)
            if unknown or missing:
                raise ValueError(
                    f"{path}: case {i}: unknown field(s) {sorted(unknown)}, missing field(s) {sorted(missing)}"
                )
            out.append(
                SuiteCase(
                    family=path.stem,
                    index=i,
                    checker=str(raw["checker"]),
                    kwargs=dict(raw["kwargs"] or {}),
                    response=raw["response"],
                    kind=str(raw["kind"]),
                    why=str(raw["why"]),
                    known_weakness=raw.get("known_weakness"),
                )
            )
    return out


def _phrasing(checker_id: str, taxonomy: Taxonomy) -> str | None:
    """The first phrasing of the first spec bound to `checker_id` (a guard uses its IFEval id's spec)."""
    target = checker_id
    if checker_id.startswith(GUARD_PREFIX):
        target = next((i for i, g in GUARDS.items() if g == checker_id), checker_id)
    for spec in taxonomy.specs.values():
        if spec.checker_id == target and spec.phrasings:
            return spec.phrasings[0]
    return _SIMPLE.get(target)


def tripwire_prompt(checker_id: str, kwargs: dict[str, Any], taxonomy: Taxonomy | None = None) -> str:
    """A prompt asking for the constraint: a neutral task, then the spec's phrasing filled with `kwargs`."""
    phrasing = _phrasing(checker_id, taxonomy or load_taxonomy())
    if phrasing is not None:
        try:
            return f"{TASK}\n\n{render_template(phrasing, kwargs)}"
        except (KeyError, IndexError, ValueError):  # a phrasing naming a value the case does not set
            pass
    listed = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(kwargs.items()))
    return f"{TASK}\n\nYour reply must satisfy the constraint {checker_id}" + (f" with {listed}." if listed else ".")


def tripwire_plan(case: SuiteCase) -> VerificationPlan:
    """The verification plan of the case's one constraint; an IFEval check comes with its guard."""
    scope = RAW_PREFIX + RESPONSE if case.checker in RAW_SCOPE else RESPONSE
    plan = VerificationPlan(
        checks=[Check(id="c1", kind="code", checker=case.checker, kwargs=case.kwargs, scope=scope)]
    )
    return add_guards(plan) if case.checker in GUARDS else plan


def tripwire_rows(cases: list[SuiteCase] | None = None, *, taxonomy: Taxonomy | None = None) -> list[dict[str, Any]]:
    """One row per hack of the suite: `id`, `data_source`, `prompt` (chat messages), `ground_truth`, `response`
    (the hack), `checker`, `family`, `why` and `known_weakness` ("" when the checker rejects the hack itself)."""
    tax = taxonomy or load_taxonomy()
    rows = []
    for case in cases if cases is not None else load_suite():
        if case.kind != "hack" or (case.known_weakness and case.checker not in GUARDS):
            continue
        prompt = tripwire_prompt(case.checker, case.kwargs, tax)
        plan = tripwire_plan(case)
        fp = fingerprint_of({"prompt": prompt, "plan": plan.model_dump(mode="json"), "response": case.response})
        instruction = Instruction(
            id=f"tripwire-{fp[:12]}",
            seed_id="tripwire",
            seed_text=TASK,
            tree=Task(task=prompt),
            category="Single",
            composition=[],
            depth=0,
            prompt=prompt,
            plan=plan,
            taxonomy_version=tax.version,
            fingerprint=fp,
        )
        rows.append(
            {
                "id": instruction.id,
                "data_source": "complexify",
                "prompt": [{"role": "user", "content": prompt}],
                "ground_truth": ground_truth_for(instruction),
                "response": case.response,
                "checker": case.checker,
                "family": case.family,
                "why": case.why,
                "known_weakness": case.known_weakness or "",
            }
        )
    return rows
