"""The shard schemas, and the one mapping between records and columns that writes and reads them.

Each table (and each struct inside a list column) is one `Columns` list. A `Column` names its Arrow type and the dotted
attribute path of the record it holds (`response.text`), with a conversion each way when the cell differs from the
attribute (JSON text, a map). From that one list come the Arrow schema, the encoder (record -> row) and the decoder
(row -> record): each restored cell is put back at its path and the record is validated from the nested result, so a
column and its field cannot drift apart. Derived columns (a sample's `category`, `constraints`, `plan_json`, ...) are
denormalised copies for SQL: written, never read back, because the record comes back whole from the column they derive
from (`instruction_json`). Provenance columns without a path (`batch`, an instruction's `run_id`) take the value the
writer passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import pyarrow as pa

from pipeline.construct.tree import iter_constraints
from pipeline.models import Check, CheckVerdict, Constraint, FidelityCheck, Instruction, JudgeProbe, Sample

FORMAT_VERSION = 2  # 2: the run's fingerprint column is `run_fingerprint` (1: `config_fingerprint`)
# Columns an earlier format named otherwise (old -> today's name): readers rename them, so older runs still read.
RENAMED_COLUMNS = {"config_fingerprint": "run_fingerprint"}
KINDS = ("instructions", "samples", "rejects")

_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_STR = pa.string()
_BOOL = pa.bool_()
_I32 = pa.int32()
_I64 = pa.int64()
_F64 = pa.float64()
_STR_LIST = pa.list_(pa.string())
_STR_MAP = pa.map_(pa.string(), pa.string())


def _same(value: Any) -> Any:
    return value


def clean_text(text: str | None) -> str | None:
    """Text Arrow can hold: lone surrogates (not valid UTF-8, e.g. from a JSON '\\ud800') become U+FFFD."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub("\ufffd", text)
    return text


def to_json(data: Any) -> str:
    """Stable JSON text (sorted keys, Unicode kept) for parameter and kwargs columns."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _model_json(model: Any) -> str:
    return str(model.model_dump_json())


def _optional_model_json(model: Any) -> str | None:
    return None if model is None else str(model.model_dump_json())


def _optional_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _as_dict(value: Any) -> dict[str, str]:
    """A map cell (a list of pairs from Arrow, or a dict) as a dict."""
    if value is None:
        return {}
    return dict(value.items()) if isinstance(value, dict) else dict(value)


def _read_path(path: str) -> Callable[[Any], Any]:
    """Reader of a dotted attribute path ("" is the record itself); a None on the way reads as None."""
    names = path.split(".") if path else []

    def read(obj: Any) -> Any:
        for name in names:
            if obj is None:
                return None
            obj = getattr(obj, name)
        return obj

    return read


@dataclass(frozen=True)
class Column:
    """One column: its Arrow type, where its value lives in the record, and how it is converted each way."""

    name: str
    type: pa.DataType
    path: str | None  # dotted attribute path in the record; None: a value the writer passes (batch, run id)
    encode: Callable[[Any], Any] = _same  # the value at `path` -> the cell
    decode: Callable[[Any], Any] = _same  # the cell -> the value at `path`
    derived: bool = False  # a copy for SQL of data another column restores: not read back
    source: Callable[[Any], Any] | None = None  # record -> cell, when the cell needs more than the value at `path`
    read: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "read", _read_path(self.path) if self.path is not None else _same)

    def cell(self, record: Any, given: Mapping[str, Any]) -> Any:
        """This column's cell for `record`; `given` holds the writer's values for path-less columns."""
        if self.source is not None:
            return self.source(record)
        return given[self.name] if self.path is None else self.encode(self.read(record))


class Columns:
    """The columns of one table (or struct), with the plan for reading a record back worked out once."""

    def __init__(self, *columns: Column) -> None:
        self.columns = columns
        # (column name, decode, parent path names, leaf name) of each restored column
        self._restore = tuple(
            (c.name, c.decode, tuple(c.path.split(".")[:-1]), c.path.split(".")[-1])
            for c in columns
            if c.path is not None and not c.derived
        )

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    @property
    def restored(self) -> list[str]:
        """Names of the columns a record is read back from."""
        return [name for name, *_ in self._restore]

    def struct(self) -> pa.StructType:
        return pa.struct([(c.name, c.type) for c in self.columns])

    def schema(self, kind: str) -> pa.Schema:
        """The Arrow schema of a shard of `kind`, tagged with the kind and the format version."""
        metadata = {"complexify.kind": kind, "complexify.format_version": str(FORMAT_VERSION)}
        return pa.schema([(c.name, c.type) for c in self.columns], metadata=metadata)

    def encode(self, record: Any, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One row (or struct value) for `record`; `given` holds the writer's values for path-less columns."""
        return {c.name: c.cell(record, given or {}) for c in self.columns}

    def decode(self, row: Mapping[str, Any]) -> Any:
        """The restored cells of `row` put back at their paths: a nested dict, or the record for path "".

        A column the row lacks (a shard written before the column existed) reads as null.
        """
        out: dict[str, Any] = {}
        for name, decode, parents, leaf in self._restore:
            value = decode(row.get(name))
            if not leaf and not parents:
                return value  # the column holds the whole record
            node = out
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        return out

    def decode_table(self, table: pa.Table) -> Iterator[Any]:
        """`decode` of every row, reading only the restored columns."""
        present = [name for name in self.restored if name in table.column_names]
        for row in table.select(present).to_pylist():
            yield self.decode(row)


# --- structs inside list columns ---------------------------------------------------------------------------


class PlacedConstraint(NamedTuple):
    """A constraint of an instruction's tree with its path and the plan check that scores it (None: untaken branch)."""

    path: str
    constraint: Constraint
    check: Check | None


class CheckOutcome(NamedTuple):
    """One check verdict of a sample joined with its plan check (for the check's kind, checker, dimension...)."""

    check: Check | None
    verdict: CheckVerdict


CONSTRAINT_COLUMNS = Columns(
    Column("path", _STR, "path", derived=True),
    Column("spec_id", _STR, "constraint.spec_id", derived=True),
    Column("dimension", _STR, "check.dimension", derived=True),  # null for constraints on an untaken branch
    Column("params_json", _STR, "constraint.params", encode=to_json, derived=True),
    Column("text", _STR, "constraint.text", derived=True),
    Column("checked", _BOOL, "check", encode=lambda check: check is not None, derived=True),  # False: untaken branch
)
PLAN_CHECK_COLUMNS = Columns(
    Column("check_id", _STR, "id", derived=True),
    Column("kind", _STR, "kind", derived=True),
    Column("checker", _STR, "checker", derived=True),
    Column("kwargs_json", _STR, "kwargs", encode=to_json, derived=True),
    Column("question", _STR, "question", derived=True),
    Column("scope", _STR, "scope", derived=True),
    Column("depends_on", _STR_LIST, "depends_on", encode=list, derived=True),
    Column("constraint_path", _STR, "constraint_path", derived=True),
    Column("spec_id", _STR, "spec_id", derived=True),
    Column("dimension", _STR, "dimension", derived=True),
    Column("composition", _STR_LIST, "composition", encode=list, derived=True),
)
CHECK_RESULT_COLUMNS = Columns(
    Column("check_id", _STR, "verdict.check_id"),
    Column("kind", _STR, "check.kind", derived=True),
    Column("checker", _STR, "check.checker", derived=True),
    Column("question", _STR, "check.question", derived=True),
    Column("scope", _STR, "check.scope", derived=True),
    Column("depends_on", _STR_LIST, "check.depends_on", encode=lambda d: list(d or []), derived=True),
    Column("spec_id", _STR, "check.spec_id", derived=True),
    Column("dimension", _STR, "check.dimension", derived=True),
    Column("passed", _BOOL, "verdict.passed"),
    Column("gated", _BOOL, "verdict.gated"),
    Column("evidence", _STR, "verdict.evidence", encode=clean_text),
    Column("skipped", _BOOL, "verdict.skipped"),
)
FIDELITY_COLUMNS = Columns(
    Column("kind", _STR, "kind"),
    Column("passed", _BOOL, "passed"),
    Column("score", _F64, "score"),
    Column("evidence", _STR, "evidence", encode=clean_text),
    Column("skipped", _BOOL, "skipped"),
)
CONSTRAINT_TYPE = CONSTRAINT_COLUMNS.struct()
PLAN_CHECK_TYPE = PLAN_CHECK_COLUMNS.struct()
CHECK_RESULT_TYPE = CHECK_RESULT_COLUMNS.struct()
FIDELITY_TYPE = FIDELITY_COLUMNS.struct()
JUDGE_PROBE_COLUMNS = Columns(  # a sample's judge calibration questions (verify/judge_calibration.py)
    Column("check_id", _STR, "check_id"), Column("dimension", _STR, "dimension"), Column("spec_id", _STR, "spec_id"),
    Column("question", _STR, "question", encode=clean_text), Column("logprob_yes", _F64, "logprob_yes"),
    Column("logprob_no", _F64, "logprob_no"), Column("judged_yes", _BOOL, "judged_yes"),
    Column("label", _BOOL, "label"), Column("source", _STR, "source"))  # fmt: skip


def _constraint_cells(ins: Instruction) -> list[dict[str, Any]]:
    """Every constraint of the tree (untaken branches too), with its dimension from the plan when checked."""
    by_path = {c.constraint_path: c for c in ins.plan.checks if c.constraint_path}
    return [CONSTRAINT_COLUMNS.encode(PlacedConstraint(p, c, by_path.get(p))) for p, c in iter_constraints(ins.tree)]


def _check_cells(sample: Sample) -> list[dict[str, Any]]:
    """The sample's check verdicts, joined with their plan checks by id."""
    plan = {c.id: c for c in sample.instruction.plan.checks}
    return [CHECK_RESULT_COLUMNS.encode(CheckOutcome(plan.get(v.check_id), v)) for v in sample.verdict.checks]


def _fidelity_cells(checks: list[FidelityCheck]) -> list[dict[str, Any]]:
    return [FIDELITY_COLUMNS.encode(c) for c in checks]


def _fidelity_checks(cells: list[dict[str, Any]] | None) -> list[FidelityCheck]:
    # None: a shard written before task-fidelity checks were recorded
    return [FidelityCheck(**FIDELITY_COLUMNS.decode(c)) for c in cells or []]


def _check_verdicts(cells: list[dict[str, Any]]) -> list[CheckVerdict]:
    return [CheckVerdict(**CHECK_RESULT_COLUMNS.decode(c)["verdict"]) for c in cells]


@lru_cache(maxsize=64)
def _parse_instruction(text: str) -> Instruction:
    # candidates of one instruction sit next to each other with the same JSON: parse it once (records are frozen)
    return Instruction.model_validate_json(text)


# --- tables ------------------------------------------------------------------------------------------------


def _instruction_columns(prefix: str) -> tuple[Column, ...]:
    """What both tables show of an instruction, found at `prefix` in their record (derived: SQL only)."""
    at = f"{prefix}." if prefix else ""
    return (
        Column("instruction_id", _STR, f"{at}id", derived=True),
        Column("seed_id", _STR, f"{at}seed_id", derived=True),
        Column("category", _STR, f"{at}category", derived=True),
        Column("composition", _STR_LIST, f"{at}composition", encode=list, derived=True),
        Column("depth", _I32, f"{at}depth", derived=True),
        Column("prompt", _STR, f"{at}prompt", derived=True),
        Column("template_prompt", _STR, f"{at}template_prompt", derived=True),
        Column("rendering", _STR, f"{at}rendering", derived=True),
        Column("taxonomy_version", _STR, f"{at}taxonomy_version", derived=True),
        Column("sibling_group", _STR, f"{at}sibling_group", derived=True),
        Column("parent_id", _STR, f"{at}parent_id", derived=True),
        Column("hardening_round", _I32, f"{at}hardening_round", derived=True),
        Column("constraints", pa.list_(CONSTRAINT_TYPE), prefix, encode=_constraint_cells, derived=True),
    )


INSTRUCTION_COLUMNS = Columns(
    *_instruction_columns(""),
    Column("seed_text", _STR, "seed_text", derived=True),
    Column("rewrite_note", _STR, "rewrite_note", derived=True),
    Column("instruction_fingerprint", _STR, "fingerprint", derived=True),
    Column("plan_checks", pa.list_(PLAN_CHECK_TYPE), "plan.checks",
           encode=lambda checks: [PLAN_CHECK_COLUMNS.encode(c) for c in checks], derived=True),
    Column("correct_branches", _STR_MAP, "plan.correct_branches", encode=dict, derived=True),
    Column("n_checks", _I32, "plan.checks", encode=len, derived=True),
    Column("run_id", _STR, None),
    Column("run_fingerprint", _STR, None),
    Column("batch", _I64, None),
    Column("tree_json", _STR, "tree", encode=_model_json, derived=True),
    Column("plan_json", _STR, "plan", encode=_model_json, derived=True),
    Column("instruction_json", _STR, "", encode=_model_json, decode=Instruction.model_validate_json),
)  # fmt: skip
SAMPLE_COLUMNS = Columns(
    Column("sample_id", _STR, "id"),
    *_instruction_columns("instruction"),
    Column("response", _STR, "response.text", encode=clean_text),
    Column("reasoning", _STR, "response.reasoning", encode=clean_text),
    Column("finish_reason", _STR, "response.finish_reason"),
    Column("response_model", _STR, "response.model"),
    Column("candidate", _I32, "response.candidate"),
    Column("round", _I32, "response.round"),
    Column("prompt_tokens", _I64, "response.prompt_tokens"),
    Column("completion_tokens", _I64, "response.completion_tokens"),
    Column("latency_s", _F64, "response.latency_s"),
    # each verdict is written with its plan check (from the whole sample); only the verdicts are read back
    Column("checks", pa.list_(CHECK_RESULT_TYPE), "verdict.checks", source=_check_cells, decode=_check_verdicts),
    Column("skipped_checks", _STR_LIST, "verdict.skipped", encode=list),
    Column("fidelity", pa.list_(FIDELITY_TYPE), "verdict.fidelity", encode=_fidelity_cells, decode=_fidelity_checks),
    Column("judge_calibration", pa.list_(JUDGE_PROBE_COLUMNS.struct()), "verdict.calibration",  # None: an older shard
           encode=lambda ps: [JUDGE_PROBE_COLUMNS.encode(p) for p in ps],
           decode=lambda cs: [JudgeProbe(**JUDGE_PROBE_COLUMNS.decode(c)) for c in cs or []]),
    Column("all_pass", _BOOL, "verdict.all_pass"),
    Column("drfr", _F64, "verdict.drfr"),
    Column("raif", _F64, "verdict.raif"),
    Column("n_checks", _I32, "verdict.n_checks"),
    Column("n_passed", _I32, "verdict.n_passed"),
    Column("kept", _BOOL, "kept"),
    Column("reject_reasons", _STR_LIST, "reject_reasons", encode=list),
    Column("models", _STR_MAP, "models", encode=dict, decode=_as_dict),
    Column("template_hashes", _STR_MAP, "template_hashes", encode=dict, decode=_as_dict),
    Column("run_id", _STR, "run_id"),
    Column("run_fingerprint", _STR, "run_fingerprint"),
    Column("batch", _I64, None),
    # the student's difficulty measurement and the reasoning trace's quality (null when not measured)
    Column("student_model", _STR, "student.model", derived=True),
    Column("baseline_rollouts", _I32, "student.baseline.k", derived=True),
    Column("baseline_pass_rate", _F64, "student.baseline.pass_rate", derived=True),
    Column("baseline_mean_satisfied", _F64, "student.baseline.mean_satisfied", derived=True),
    Column("reasoning_pass_rate", _F64, "student.reasoning.pass_rate", derived=True),
    Column("reasoning_mean_satisfied", _F64, "student.reasoning.mean_satisfied", derived=True),
    Column("reasoning_outcome", _STR, "student.outcome", derived=True),
    Column("student_json", _STR, "student", encode=_optional_model_json, decode=_optional_json),
    Column("reasoning_shallow", _BOOL, "reasoning_quality.shallow", derived=True),
    Column("reasoning_quality_json", _STR, "reasoning_quality", encode=_optional_model_json, decode=_optional_json),
    Column("plan_json", _STR, "instruction.plan", encode=_model_json, derived=True),
    Column("instruction_json", _STR, "instruction", encode=_model_json, decode=_parse_instruction),
)  # fmt: skip


INSTRUCTIONS_SCHEMA = INSTRUCTION_COLUMNS.schema("instructions")
SAMPLES_SCHEMA = SAMPLE_COLUMNS.schema("samples")
# Rejects have the samples' schema: the two differ only in `kept` and `reject_reasons`.
SCHEMAS = {"instructions": INSTRUCTIONS_SCHEMA, "samples": SAMPLES_SCHEMA, "rejects": SAMPLES_SCHEMA}


def instructions_to_table(
    instructions: Sequence[Instruction], *, run_id: str, run_fingerprint: str, batch: int
) -> pa.Table:
    """Instructions as a table of the fixed instructions schema."""
    given = {"run_id": run_id, "run_fingerprint": run_fingerprint, "batch": batch}
    data = {c.name: [c.cell(i, given) for i in instructions] for c in INSTRUCTION_COLUMNS}
    return pa.Table.from_pydict(data, schema=INSTRUCTIONS_SCHEMA)


def samples_to_table(samples: Sequence[Sample], *, batch: int) -> pa.Table:
    """Samples (kept or rejected) as a table of the fixed samples schema."""
    given = {"batch": batch}
    # Columns read from the instruction alone are computed once per instruction: candidates share it.
    first = {id(s.instruction): s for s in reversed(samples)}
    data: dict[str, list[Any]] = {}
    for c in SAMPLE_COLUMNS:
        if c.source is None and c.path is not None and c.path.split(".")[0] == "instruction":
            per_instruction = {key: c.cell(s, given) for key, s in first.items()}
            data[c.name] = [per_instruction[id(s.instruction)] for s in samples]
        else:
            data[c.name] = [c.cell(s, given) for s in samples]
    return pa.Table.from_pydict(data, schema=SAMPLES_SCHEMA)


def instructions_from_table(table: pa.Table) -> list[Instruction]:
    """Instructions back from a table (from their full JSON, so nothing is lost)."""
    return list(INSTRUCTION_COLUMNS.decode_table(table))


def samples_from_table(table: pa.Table) -> list[Sample]:
    """Sample records back from a samples or rejects table, exactly as they were written."""
    return [Sample.model_validate(row) for row in SAMPLE_COLUMNS.decode_table(table)]
