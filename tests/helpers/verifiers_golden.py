"""Score every row of the golden reward file through the `verifiers` environment's rubric (training environment).

Run as `.venv-train/bin/python -m tests.helpers.verifiers_golden` with the checkout importable. For each row it
builds the rubric of the row's mode (`make_rubric`), hands it a rollout state as verifiers' single-turn
environment does (prompt, one assistant message, the ground truth as `answer`, an `info`), lets verifiers score
it, and prints one JSON line: the row id, verifiers' reward, the metrics, the diagnostics stored in the state,
and whether the prompt, answer and info are unchanged afterwards. The test compares these with the file.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from typing import Any

import verifiers as vf

from pipeline.train.verifiers_env import DIAGNOSTICS_KEY, make_rubric
from tests.helpers import golden_rewards as golden


def rollout_state(row: dict[str, Any]) -> Any:
    """A finished single-turn rollout of the row's response (a lost generation is an empty assistant message)."""
    return vf.State(
        prompt=[{"role": "user", "content": golden.INSTRUCTION}],
        completion=[{"role": "assistant", "content": row["response"]}],
        answer=row["ground_truth"],
        info={"id": row["id"], "tags": ["golden"]},
        example_id=0,
        trajectory=[],
    )


async def score_all(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        m = row["mode"]
        rubric = make_rubric(
            score=m["score"], strip_think=m["strip_think"], contrast=m["contrast"],
            masked_score=m["masked_score"], judge=golden.judge_saying(m["judge"]),
        )  # fmt: skip
        state = rollout_state(row)
        given = copy.deepcopy({k: state[k] for k in ("prompt", "completion", "answer", "info")})
        await rubric.score_rollout(state)
        out.append(
            {
                "id": row["id"],
                "reward": state["reward"],
                "metrics": state["metrics"],
                "diagnostics": state.get(DIAGNOSTICS_KEY),
                "inputs_unchanged": given == {k: state[k] for k in given},
            }
        )
    return out


def main() -> int:
    rows = [json.loads(line) for line in golden.OUT.read_text(encoding="utf-8").splitlines()]
    for result in asyncio.run(score_all(rows)):
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
