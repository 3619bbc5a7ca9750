"""The `siblings` publish config: for one prompt of a sibling group (pipeline/construct/siblings.py), an answer that
took the right branch (`chosen`) against one that took the wrong branch (`rejected`), both scored under the prompt's
plan.

Rejected answers come from two places: the run's own rejected answers to the same prompt that followed another
Selection case, and the kept answers of the other siblings (same seed, same constraints, another branch or
step requirement), re-scored under this prompt's plan. A pair is published only when the chosen answer's DRFR
is higher; dependency gating makes a wrong branch's checks fail, so it usually is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from pipeline.checks.registry import CheckResult
from pipeline.construct.plans import DECISION_CHECKER
from pipeline.construct.siblings import sibling_kind, variant_label
from pipeline.models import Check, Instruction, Sample, Verdict
from pipeline.verify.plan import run_code_check, score
from pipeline.verify.reward import ground_truth_for

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SIBLINGS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("sibling_group", pa.string()),
        ("sibling_kind", pa.string()),  # selection or chain
        ("instruction_id", pa.string()),
        ("category", pa.string()),
        ("prompt", _MESSAGES),
        ("chosen", _MESSAGES),
        ("rejected", _MESSAGES),
        ("chosen_score", pa.float64()),  # DRFR under the prompt's plan
        ("rejected_score", pa.float64()),
        ("chosen_branch", pa.string()),  # the prompt's correct branches (e.g. "B>C") or its step requirement
        ("rejected_branch", pa.string()),  # the branch (or requirement) the rejected answer followed
        ("rejected_source", pa.string()),  # run: a rejected answer to this prompt; sibling: a sibling's kept answer
        ("rejected_instruction_id", pa.string()),
        ("ground_truth", pa.string()),  # the prompt's plan, as in the `rl` config: both answers can be re-scored
    ]
)


def _chat(prompt: str, answer: str | None = None) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": prompt},
        *([{"role": "assistant", "content": answer}] if answer is not None else []),
    ]


def taken_case(text: str, decision: Check) -> str | None:
    """The case a response followed at a Selection's decision check (None: no case, or several)."""
    labels = decision.kwargs.get("labels")
    assert isinstance(labels, list)
    for label in labels:
        if run_code_check(decision.model_copy(update={"kwargs": {**decision.kwargs, "expected": label}}), text).passed:
            return str(label)
    return None


def rescore(text: str, target: Instruction, source: Sample) -> Verdict:
    """`text` (the answer of `source`, another sibling) under `target`'s plan: code checks run again; a judge check
    takes the source verdict's decision of the same question on the same span, and is skipped (unsatisfied)
    where the source was never asked it. No judge is called, so publishing stays offline."""
    asked = {c.id: c for c in source.instruction.plan.checks}
    decided = {
        (asked[v.check_id].scope, asked[v.check_id].question): v.passed
        for v in source.verdict.checks
        if v.check_id in asked and asked[v.check_id].kind == "judge" and not v.skipped
    }
    raw: dict[str, CheckResult] = {}
    skipped: set[str] = set()
    for c in target.plan.checks:
        if c.kind == "code":
            raw[c.id] = run_code_check(c, text)
        elif (c.scope, c.question) in decided:
            raw[c.id] = CheckResult(decided[(c.scope, c.question)], "decided on the sibling's own prompt")
        else:
            skipped.add(c.id)
    return score(target.plan, raw, skipped)


def _kept(samples: Sequence[Sample]) -> Sample | None:
    kept = [s for s in samples if s.kept]
    return max(kept, key=lambda s: (s.verdict.drfr, -s.response.round, -s.response.candidate)) if kept else None


def sibling_rows(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """Right-branch vs wrong-branch pairs per prompt of every sibling group among `samples` (kept and rejected)."""
    groups: dict[str, dict[str, list[Sample]]] = {}
    for s in samples:
        if s.instruction.sibling_group:
            groups.setdefault(s.instruction.sibling_group, {}).setdefault(s.instruction.id, []).append(s)
    rows = []
    for gid in sorted(groups):
        members = groups[gid]
        instructions = [members[i][0].instruction for i in sorted(members)]
        labels = {ins.id: variant_label(ins, instructions) for ins in instructions}
        kept = {i: _kept(members[i]) for i in members}
        for iid in sorted(members):
            chosen = kept[iid]
            if chosen is None:
                continue
            ins = chosen.instruction
            rejected: list[tuple[Sample, float, str, str]] = []
            decision = next((c for c in ins.plan.checks if c.checker == DECISION_CHECKER), None)
            if decision is not None:  # the run's own answers to this prompt that followed another case
                for s in members[iid]:
                    taken = None if s.kept else taken_case(s.response.text, decision)
                    if taken is not None and taken != decision.kwargs.get("expected"):
                        rejected.append((s, s.verdict.drfr, taken, "run"))
            for jid in sorted(members):
                other = kept[jid]
                if jid != iid and other is not None:
                    rejected.append((other, rescore(other.response.text, ins, other).drfr, labels[jid], "sibling"))
            for r, r_score, branch, source in rejected:
                if r_score >= chosen.verdict.drfr:
                    continue
                rows.append(
                    {
                        "id": f"{chosen.id}__vs__{r.id}",
                        "sibling_group": gid,
                        "sibling_kind": sibling_kind(ins),
                        "instruction_id": ins.id,
                        "category": ins.category,
                        "prompt": _chat(ins.prompt),
                        "chosen": _chat(ins.prompt, chosen.response.text),
                        "rejected": _chat(ins.prompt, r.response.text),
                        "chosen_score": chosen.verdict.drfr,
                        "rejected_score": r_score,
                        "chosen_branch": labels[iid],
                        "rejected_branch": branch,
                        "rejected_source": source,
                        "rejected_instruction_id": r.instruction.id,
                        "ground_truth": ground_truth_for(ins),
                    }
                )
    return rows
