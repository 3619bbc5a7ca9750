"""The `gym` config: instruction-following rows for NeMo Gym's `instruction_following` resources server.

NeMo Gym verifies a row by running each id of `instruction_id_list` (IFEval and IFBench instruction ids) with
its `kwargs` entry on the whole final answer, and rewards 1.0 when every instruction is followed (all-pass). It
has no Chain parts, Selection cases or dependencies, so a kept instruction becomes a `gym` row only when every
check of its plan is a whole-response code check of an IFEval or IFBench id (`GYM_IDS`). Each row holds:

- `id` (the row number, as the server's request model wants an integer) and `instruction_id` (ours);
- `responses_create_params`: `{"input": [{"role": "user", "content": prompt}]}`, the policy request;
- `prompt`, `instruction_id_list` and `kwargs` (one object per id, the union of argument names with nulls for
  the ones an id does not take, as IFEval/IFBench data files have it; the server drops the nulls);
- `grading_mode`: the server's reward mode, `binary` (all-pass) on every row; set it to `fraction` for the share
  of instructions followed;
- `ground_truth`: the plan as the `rl` config publishes it.

Reward modes. The server's reward is all-pass (`binary`) or the fraction followed (`fraction`). The complexify
rewards score `ground_truth` dependency-gated (`pipeline.verify.reward`: `all_pass`, `drfr` or `raif`); since a
`gym` plan has no dependencies, its gated all-pass equals the server's `binary`, its `drfr` the server's
`fraction`, and `raif` is RAIF's scale. `gym_reward` is the server's rule written with our checkers (an answer
with nothing left once its reasoning is split off scores 0.0, as in our rewards);
tests/unit/test_golden_rewards.py checks that both reproduce the golden reward file.

`datasets.load_dataset(folder, "gym", split="train").to_json("if.jsonl")` writes the JSONL the server reads.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import pyarrow as pa

from pipeline.checks.guards import GUARDS
from pipeline.checks.registry import run_check_closed
from pipeline.errors import UserInputError
from pipeline.models import Instruction, Sample
from pipeline.reasoning import strip_reasoning
from pipeline.spans import RESPONSE
from pipeline.verify.reward import ground_truth_for

IFEVAL_IDS = frozenset(GUARDS)  # the 25 IFEval ids keep the reference's names and arguments


def gym_ids(extra: Iterable[str] = ()) -> frozenset[str]:
    """The instruction ids NeMo Gym's server knows: IFEval's, plus `extra` (the taxonomy's `ifbench` ids)."""
    return IFEVAL_IDS | frozenset(extra)


def gym_plan_ok(ins: Instruction, known: Collection[str]) -> bool:
    """Whether every check is a whole-response code check of an id the server knows (no parts, cases or deps)."""
    checks = ins.plan.checks
    return bool(checks) and all(
        c.kind == "code" and c.checker in known and c.scope == RESPONSE and not c.depends_on for c in checks
    )


def _kind(value: Any) -> str | None:
    """A parameter value's column kind: one `kwargs` field holds values of one kind only."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "list" if isinstance(value, list) else "text"


def _fits(ins: Instruction, kinds: dict[str, str]) -> bool:
    """Whether the instruction's arguments agree with the kinds seen so far (and record its own)."""
    mine = {k: kind for c in ins.plan.checks for k, v in c.kwargs.items() if (kind := _kind(v)) is not None}
    if any(kinds.get(k, kind) != kind for k, kind in mine.items()):
        return False
    kinds.update(mine)
    return True


def gym_rows(kept: Sequence[Sample], known: Collection[str]) -> list[dict[str, Any]]:
    """One row per kept instruction whose plan the server can verify (the first kept answer's instruction).

    An instruction whose argument of some name is of another kind (text, number, list) than an earlier row's is
    left out: a Parquet column holds one type."""
    seen: set[str] = set()
    kinds: dict[str, str] = {}
    instructions = []
    for s in kept:
        if s.instruction.id not in seen and gym_plan_ok(s.instruction, known) and _fits(s.instruction, kinds):
            seen.add(s.instruction.id)
            instructions.append(s.instruction)
    # `kwargs` is a struct of every argument name used; Parquet needs one field at least
    names = sorted({k for ins in instructions for c in ins.plan.checks for k in c.kwargs}) or ["_"]
    rows = []
    for i, ins in enumerate(instructions):
        rows.append(
            {
                "id": i,
                "instruction_id": ins.id,
                "responses_create_params": {"input": [{"role": "user", "content": ins.prompt}]},
                "prompt": ins.prompt,
                "instruction_id_list": [str(c.checker) for c in ins.plan.checks],
                "kwargs": [{n: c.kwargs.get(n) for n in names} for c in ins.plan.checks],
                "grading_mode": "binary",
                "ground_truth": ground_truth_for(ins),
            }
        )
    return rows


def gym_schema(rows: Sequence[dict[str, Any]]) -> pa.Schema:
    """The rows' schema: `kwargs` is a list of one struct holding every argument name the rows use."""
    return pa.Table.from_pylist(list(rows)).schema


def gym_reward(row: dict[str, Any], response: str | None) -> float:
    """NeMo Gym's rule on a `gym` row, with our checkers: all-pass (`binary`) or the fraction followed (`fraction`)."""
    mode = row.get("grading_mode") or "binary"
    if mode not in ("binary", "fraction"):
        raise UserInputError(f"grading_mode must be binary or fraction, got {mode!r}")
    answer = strip_reasoning(response or "")
    if not answer.strip():
        return 0.0
    kwargs_list = row["kwargs"] if not isinstance(row["kwargs"], str) else json.loads(row["kwargs"])
    followed = [
        run_check_closed(checker, answer, {k: v for k, v in (kwargs or {}).items() if v is not None}).passed
        for checker, kwargs in zip(row["instruction_id_list"], kwargs_list, strict=True)
    ]
    if mode == "binary":
        return float(all(followed))
    return sum(followed) / len(followed) if followed else 0.0
