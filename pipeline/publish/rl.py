"""The published configs built from the student's difficulty measurement and the reasoning traces.

A run that measures difficulty stores, per instruction, the student's rollouts (`Sample.student`, a
StudentEval): k no-reasoning rollouts (the baseline) and possibly k with reasoning. A response's reasoning
trace carries its shallow-reasoning verdict (`Sample.reasoning_quality`). From these:

- **`rl` baseline columns** `baseline_model`, `baseline_rollouts`, `baseline_pass_rate` and
  `baseline_mean_satisfied`: the student's no-reasoning baseline on the row's instruction, so a trainer can
  apply RAIF's contrast rule without rolling out again. The ground-truth JSON carries
  `baseline_mean_satisfied` too (RAIF's offline no-reasoning follow score, read by the reward's contrast
  option). In a run that measured difficulty (some sample carries a StudentEval) every `rl` row has all four:
  kept samples of an instruction the student was not measured on are left out of `rl` (the card counts them).
  In a run that measured nothing the four columns are null on every row and the ground truth is unchanged.
- **`sft_reasoning`**: behaviour cloning of the expert's reasoning. Kept samples whose trace is non-empty and
  was measured and found not shallow; an unmeasured trace is left out, since nothing vouches for it.
- **`contrast`**: one pair per instruction with a kept sample and a student measurement. Every completion is
  scored with RAIF's content reward of its satisfied checks (`raif_reward`: +2 all, -2 none, else the
  fraction; the reward functions' default `raif` score), which orders completions of one instruction as
  their satisfied counts do. `chosen` is a reasoning completion (a non-empty trace: a student rollout, or a
  kept expert answer whose trace passed the shallow gate) that satisfies more checks than the student's
  best no-reasoning rollout (`baseline.best_satisfied`): the best scoring one, ties to the student's own
  rollouts (on-policy). `rejected` is the student rollout that failed some check with the highest score
  below the chosen one's (the hardest negative, usually the student's best fast answer), ties to one
  without reasoning. An instruction where no completion qualifies as either gives no row, so every row has
  `chosen_score > rejected_score`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from pipeline.construct.tree import iter_constraints
from pipeline.errors import ComplexifyError
from pipeline.models import Rollout, Sample, StudentEval
from pipeline.verify.plan import raif_reward

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
BASELINE_FIELDS = [
    ("baseline_model", pa.string()),
    ("baseline_rollouts", pa.int32()),
    ("baseline_pass_rate", pa.float64()),
    ("baseline_mean_satisfied", pa.float64()),
]
SFT_REASONING_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instruction_id", pa.string()),
        ("messages", MESSAGES),
        ("category", pa.string()),
        ("composition", pa.list_(pa.string())),
        ("constraint_ids", pa.list_(pa.string())),
        ("dimensions", pa.list_(pa.string())),
        ("model", pa.string()),
        ("reasoning_words", pa.int32()),
        ("prompt_similarity", pa.float64()),
        ("constraints_addressed", pa.int32()),
        ("constraints_addressable", pa.int32()),
    ]
)
CONTRAST_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instruction_id", pa.string()),
        ("prompt", MESSAGES),
        ("chosen", MESSAGES),
        ("rejected", MESSAGES),
        ("chosen_score", pa.float64()),
        ("rejected_score", pa.float64()),
        ("chosen_has_reasoning", pa.bool_()),
        ("rejected_has_reasoning", pa.bool_()),
        ("chosen_source", pa.string()),  # "student" (a rollout) or "expert" (a kept answer)
        ("rejected_source", pa.string()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("chosen_satisfied", pa.int32()),
        ("rejected_satisfied", pa.int32()),
        ("n_checks", pa.int32()),
        ("baseline_best_satisfied", pa.int32()),
        ("reasoning_outcome", pa.string()),
        ("category", pa.string()),
    ]
)


def chat(prompt: str, answer: str | None = None) -> list[dict[str, str]]:
    """A user turn, and the assistant's answer when given."""
    msgs = [{"role": "user", "content": prompt}]
    if answer is not None:
        msgs.append({"role": "assistant", "content": answer})
    return msgs


def with_think(reasoning: str | None, answer: str) -> str:
    """The answer preceded by its reasoning in a think block (the answer alone when there is no trace)."""
    if not has_trace(reasoning):
        return answer
    return f"<think>\n{str(reasoning).strip()}\n</think>\n\n{answer}"


def has_trace(reasoning: str | None) -> bool:
    return bool(reasoning and reasoning.strip())


def constraint_info(s: Sample) -> tuple[list[str], list[str]]:
    """Spec ids and dimensions of the constraints on the instruction's executed path."""
    ids, dims = [], []
    checks = {c.constraint_path: c for c in s.instruction.plan.checks}
    for path, c in iter_constraints(s.instruction.tree):
        if path in checks:  # constraints on the executed path only
            ids.append(c.spec_id)
            dims.append(checks[path].dimension or "")
    return ids, dims


def student_evals(samples: Sequence[Sample]) -> dict[str, StudentEval]:
    """The student measurement per instruction id: the first sample carrying one (kept samples first).

    Raises ComplexifyError when a stored baseline pass rate lies outside [0, 1] (a broken measurement).
    """
    evals: dict[str, StudentEval] = {}
    for s in sorted(samples, key=lambda s: not s.kept):
        if s.student is None or s.instruction.id in evals:
            continue
        rate = s.student.baseline.pass_rate
        if not 0.0 <= rate <= 1.0:
            raise ComplexifyError(
                f"sample {s.id}: the student's baseline pass rate {rate!r} is outside [0, 1]; the run's difficulty "
                "measurement is broken: measure the run again"
            )
        evals[s.instruction.id] = s.student
    return evals


def baseline_columns(ev: StudentEval | None) -> dict[str, Any]:
    """The four baseline columns of an `rl` row (null when the instruction was not measured)."""
    if ev is None:
        return {name: None for name, _ in BASELINE_FIELDS}
    return {
        "baseline_model": ev.model,
        "baseline_rollouts": ev.baseline.k,
        "baseline_pass_rate": ev.baseline.pass_rate,
        "baseline_mean_satisfied": ev.baseline.mean_satisfied,
    }


def passed_reasoning_gate(s: Sample) -> bool:
    """A non-empty trace the shallow-reasoning gate measured and found not shallow."""
    q = s.reasoning_quality
    return has_trace(s.response.reasoning) and q is not None and not q.shallow


def sft_reasoning_rows(kept: Sequence[Sample]) -> list[dict[str, Any]]:
    """Behaviour-cloning rows: the prompt, then the expert's reasoning in a think block and its answer."""
    rows = []
    for s in kept:
        q = s.reasoning_quality
        if q is None or not passed_reasoning_gate(s):
            continue
        ids, dims = constraint_info(s)
        rows.append(
            {
                "id": s.id,
                "instruction_id": s.instruction.id,
                "messages": chat(s.instruction.prompt, with_think(s.response.reasoning, s.response.text)),
                "category": s.instruction.category,
                "composition": s.instruction.composition,
                "constraint_ids": ids,
                "dimensions": dims,
                "model": s.response.model,
                "reasoning_words": q.words,
                "prompt_similarity": q.prompt_similarity,
                "constraints_addressed": q.addressed,
                "constraints_addressable": q.addressable,
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class Completion:
    """One scored answer to an instruction, from the student's rollouts or the expert's kept samples."""

    text: str
    reasoning: str | None
    satisfied: int
    score: float
    passed: bool
    model: str
    source: Literal["student", "expert"]

    @property
    def has_reasoning(self) -> bool:
        return has_trace(self.reasoning)


def _from_rollout(r: Rollout, model: str) -> Completion:
    score = raif_reward(r.satisfied, r.total)
    return Completion(r.text, r.reasoning, r.satisfied, score, r.passed, model, "student")


def _from_expert(s: Sample) -> Completion:
    v = s.verdict
    return Completion(
        s.response.text, s.response.reasoning, v.n_passed, v.raif, v.all_pass, s.response.model, "expert"
    )


def contrast_pair(ev: StudentEval, experts: Sequence[Sample]) -> tuple[Completion, Completion] | None:
    """(chosen, rejected) for one instruction by the rule in the module docstring, or None when there is none."""
    students = [_from_rollout(r, ev.model) for r in ev.rollouts]
    pool = students + [_from_expert(s) for s in experts if passed_reasoning_gate(s)]
    winners = [c for c in pool if c.has_reasoning and c.satisfied > ev.baseline.best_satisfied]
    if not winners:
        return None
    # max keeps the first of equal keys: student rollouts come first in the pool
    chosen = max(winners, key=lambda c: c.score)
    losers = [c for c in students if not c.passed and c.score < chosen.score]
    if not losers:
        return None
    rejected = max(losers, key=lambda c: (c.score, not c.has_reasoning))
    return chosen, rejected


def contrast_rows(kept: Sequence[Sample], evals: Mapping[str, StudentEval]) -> list[dict[str, Any]]:
    """One contrast row per kept instruction the student was measured on and a pair exists for."""
    by_instruction: dict[str, list[Sample]] = {}
    for s in kept:
        by_instruction.setdefault(s.instruction.id, []).append(s)
    rows = []
    for ins_id, group in by_instruction.items():
        ev = evals.get(ins_id)
        pair = contrast_pair(ev, group) if ev is not None else None
        if ev is None or pair is None:
            continue
        chosen, rejected = pair
        ins = group[0].instruction
        rows.append(
            {
                "id": f"{ins_id}__contrast",
                "instruction_id": ins_id,
                "prompt": chat(ins.prompt),
                "chosen": chat(ins.prompt, with_think(chosen.reasoning, chosen.text)),
                "rejected": chat(ins.prompt, with_think(rejected.reasoning, rejected.text)),
                "chosen_score": chosen.score,
                "rejected_score": rejected.score,
                "chosen_has_reasoning": chosen.has_reasoning,
                "rejected_has_reasoning": rejected.has_reasoning,
                "chosen_source": chosen.source,
                "rejected_source": rejected.source,
                "chosen_model": chosen.model,
                "rejected_model": rejected.model,
                "chosen_satisfied": chosen.satisfied,
                "rejected_satisfied": rejected.satisfied,
                "n_checks": len(ins.plan.checks),
                "baseline_best_satisfied": ev.baseline.best_satisfied,
                "reasoning_outcome": ev.outcome,
                "category": ins.category,
            }
        )
    return rows
