"""The `gym` config's rows: which instructions NeMo Gym's server can verify, and Parquet-safe `kwargs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import UserInputError
from pipeline.models import Check, Instruction, Response, Sample, Task, VerificationPlan
from pipeline.publish.gym import IFEVAL_IDS, gym_reward, gym_rows, gym_schema
from pipeline.verify.plan import verify_response


def sample(name: str, *checks: Check) -> Sample:
    plan = VerificationPlan(checks=list(checks))
    ins = Instruction(
        id=f"ins-{name}", seed_id="s", seed_text="Write about rain.", tree=Task(task="Write about rain."),
        category="And_1", composition=[], depth=1, prompt="Write about rain.", plan=plan, taxonomy_version="t",
        fingerprint=f"fp-{name}",
    )  # fmt: skip
    return Sample(
        id=f"{ins.id}-k0", instruction=ins, response=Response(text="rain falls softly today"),
        verdict=verify_response("rain falls softly today", plan), kept=True, run_id="r", run_fingerprint="fp",
    )  # fmt: skip


def code(cid: str, checker: str, kwargs: dict[str, Any] | None = None, **extra: Any) -> Check:
    return Check(id=cid, kind="code", checker=checker, kwargs=kwargs or {}, **extra)


def test_only_whole_response_checks_of_known_ids_without_dependencies_make_rows() -> None:
    kept = [
        sample("plain", code("c1", "punctuation:no_comma"), code("c2", "keywords:existence", {"keywords": ["rain"]})),
        sample("part", code("c1", "punctuation:no_comma", scope="part:1")),
        sample("dep", code("c1", "punctuation:no_comma"), code("c2", "punctuation:no_comma", depends_on=["c1"])),
        sample("unknown", code("c1", "complexbench:keywords", {"keywords": ["rain"]})),
        sample("judge", Check(id="c1", kind="judge", question="Is it calm?")),
    ]
    rows = gym_rows(kept, IFEVAL_IDS)
    assert [r["instruction_id"] for r in rows] == ["ins-plain"] and rows[0]["id"] == 0
    assert rows[0]["kwargs"] == [{"keywords": None}, {"keywords": ["rain"]}]
    assert gym_reward(rows[0], "rain falls softly today") == 1.0
    assert gym_reward(rows[0], "<think>rain</think>snow, falls") == 0.0
    assert gym_reward(rows[0], "<think>rain only in thought</think>") == 0.0


def test_kwargs_are_always_a_writable_struct(tmp_path: Path) -> None:
    rows = gym_rows([sample("noargs", code("c1", "punctuation:no_comma"))], IFEVAL_IDS)
    assert rows[0]["kwargs"] == [{"_": None}]  # Parquet cannot write a struct without fields
    clash = gym_rows(
        [
            sample("a", code("c1", "startend:end_checker", {"end_phrase": "Bye."})),
            sample("b", code("c1", "startend:end_checker", {"end_phrase": 3})),  # another kind under the same name
        ],
        IFEVAL_IDS,
    )
    assert [r["instruction_id"] for r in clash] == ["ins-a"]
    for i, table in enumerate((rows, clash)):
        pq.write_table(pa.Table.from_pylist(table, schema=gym_schema(table)), tmp_path / f"{i}.pq")
        assert pq.read_table(tmp_path / f"{i}.pq").num_rows == 1


def test_grading_modes_are_the_servers_binary_and_fraction() -> None:
    (row,) = gym_rows(
        [sample("modes", code("c1", "punctuation:no_comma"), code("c2", "change_case:english_capital"))], IFEVAL_IDS
    )
    assert row["grading_mode"] == "binary"
    answer = "rain falls softly today"  # no comma (followed), not all capitals (not followed)
    assert gym_reward(row, answer) == 0.0
    assert gym_reward({**row, "grading_mode": "fraction"}, answer) == 0.5
    with pytest.raises(UserInputError, match="grading_mode must be binary or fraction, got 'mean'"):
        gym_reward({**row, "grading_mode": "mean"}, answer)
