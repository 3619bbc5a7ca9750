"""Typed records that flow between the stages. Every arrow in the data flow carries one of these."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

JsonScalar = str | int | float | bool | None
ParamValue = JsonScalar | list[str] | list[int] | list[float]


class Record(BaseModel):
    """Base for all records: unknown fields are an error, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- seeds -----------------------------------------------------------------------------------


class Seed(Record):
    """A plain task (no format constraints) that the composer turns into a complex instruction."""

    id: str
    text: str
    task_type: str | None = None
    language: str = "en"
    source: str = ""
    meta: dict[str, str] = Field(default_factory=dict)
    # The one right answer of a task that has one (a number or a short phrase; "|" separates accepted forms).
    answer: str | None = None

    @model_serializer(mode="wrap")
    def serialize_without_absent_answer(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave `answer` out when there is none, so instructions from seeds without one keep their fingerprints."""
        data: dict[str, Any] = handler(self)
        if self.answer is None:
            data.pop("answer", None)
        return data


# --- taxonomy --------------------------------------------------------------------------------

ParamType = Literal["int", "float", "choice", "word", "words", "text", "context", "const"]
Placement = Literal["whole", "part"]


class ParamSpec(Record):
    """How one constraint parameter is sampled."""

    name: str
    type: ParamType
    min: float | None = None
    max: float | None = None
    decimals: int = 2
    values: list[JsonScalar] | None = None
    pool: str | None = None
    count: tuple[int, int] | None = None
    offset_from: str | None = None
    at_most: str | None = None
    source: Literal["task"] | None = None
    value: ParamValue = None


class ConstraintSpec(Record):
    """One concrete constraint kind from the taxonomy (one YAML entry)."""

    id: str
    dimension: str
    type: str
    description: str
    params: list[ParamSpec] = Field(default_factory=list)
    phrasings: list[str]
    checker: str  # "code:<checker id>" or "judge"
    question: str | None = None
    conflicts: list[str] = Field(default_factory=list)
    conflicts_all: bool = False
    conflicts_except: list[str] = Field(default_factory=list)
    placement: list[Placement] = Field(default_factory=lambda: list[Placement](["whole", "part"]))
    tags: list[str] = Field(default_factory=list)
    source_file: str = ""

    @property
    def is_code(self) -> bool:
        return self.checker.startswith("code:")

    @property
    def checker_id(self) -> str | None:
        return self.checker.removeprefix("code:") if self.is_code else None


# --- composition tree ------------------------------------------------------------------------


class Constraint(Record):
    """A sampled constraint: the spec, its parameter values and the sentence that states it."""

    kind: Literal["constraint"] = "constraint"
    spec_id: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    text: str


class And(Record):
    """All children hold on the same output."""

    kind: Literal["and"] = "and"
    children: list[Node] = Field(min_length=2)


class Task(Record):
    """A unit of work with one output span. `task` None means "the enclosing task" (used in branches)."""

    kind: Literal["task"] = "task"
    task: str | None = None
    body: Node | None = None


class Chain(Record):
    """Ordered steps; step i's output is a marked part of the response and later steps build on it."""

    kind: Literal["chain"] = "chain"
    steps: list[Task] = Field(min_length=2)


class Condition(Record):
    """A condition whose truth value is computed when the instruction is made."""

    kind: str
    text: str
    value: str
    facts: dict[str, JsonScalar] = Field(default_factory=dict)


class Branch(Record):
    """One case of a Selection: taken when the condition's value equals `when`."""

    label: str
    when: str
    body: Task


class Selection(Record):
    """Conditional branching; `correct` is the label of the branch the condition selects (ground truth)."""

    kind: Literal["selection"] = "selection"
    condition: Condition
    branches: list[Branch] = Field(min_length=2)
    correct: str


Node = Annotated[Constraint | And | Task | Chain | Selection, Field(discriminator="kind")]

And.model_rebuild()
Task.model_rebuild()
Chain.model_rebuild()
Branch.model_rebuild()
Selection.model_rebuild()


# --- verification ----------------------------------------------------------------------------


class Check(Record):
    """One verifiable question about a response: a registered code checker or a yes/no judge question."""

    id: str
    kind: Literal["code", "judge"]
    checker: str | None = None
    kwargs: dict[str, ParamValue] = Field(default_factory=dict)
    question: str | None = None
    scope: str = "response"
    depends_on: list[str] = Field(default_factory=list)
    constraint_path: str | None = None
    spec_id: str | None = None
    dimension: str | None = None
    composition: list[str] = Field(default_factory=list)


class VerificationPlan(Record):
    """All checks of an instruction, in dependency order (every check's prerequisites come first)."""

    checks: list[Check]
    correct_branches: dict[str, str] = Field(default_factory=dict)


class CheckVerdict(Record):
    """The outcome of one check on one response: its own result, and the result after dependency gating."""

    check_id: str
    passed: bool
    gated: bool
    evidence: str = ""
    skipped: bool = False


class FidelityCheck(Record):
    """One task-fidelity test of a response (pipeline/verify/fidelity.py): does it carry out the seed task at all?"""

    kind: Literal["embedding", "judge", "reference_answer"]
    passed: bool
    score: float | None = None  # the embedding test's cosine similarity
    evidence: str = ""
    skipped: bool = False  # the test does not apply here (e.g. a non-English task for the English embedding model)


class Verdict(Record):
    """All check outcomes of one response plus its scores (a skipped check counts as unsatisfied)."""

    checks: list[CheckVerdict]
    all_pass: bool
    drfr: float
    raif: float
    n_checks: int
    n_passed: int
    skipped: list[str] = Field(default_factory=list)
    # Task-fidelity tests, outside the scores: they decide whether the answer is kept, not how well it follows.
    fidelity: list[FidelityCheck] = Field(default_factory=list)

    def failed(self) -> list[CheckVerdict]:
        return [c for c in self.checks if not c.skipped and not c.gated]


class Instruction(Record):
    """A composed complex instruction with its ground-truth verification plan."""

    id: str
    seed_id: str
    seed_text: str
    tree: Task
    category: str
    composition: list[str]
    depth: int
    prompt: str
    plan: VerificationPlan
    taxonomy_version: str
    fingerprint: str
    template_prompt: str | None = None  # set when `prompt` is an accepted LLM rewrite of this template text
    rewrite_note: str = ""  # why a rewrite was rejected, if one was tried
    reference_answer: str | None = None  # the seed's `answer`, checked by the task-fidelity gate


# --- generation -----------------------------------------------------------------------------


class Response(Record):
    """One candidate answer from the responder model."""

    text: str
    reasoning: str | None = None
    finish_reason: str = "stop"
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    candidate: int = 0
    round: int = 0  # 0 = first answer, k = k-th repair round


class Sample(Record):
    """A verified candidate: kept when it passed every gate, otherwise a reject with its reasons."""

    id: str
    instruction: Instruction
    response: Response
    verdict: Verdict
    kept: bool
    reject_reasons: list[str] = Field(default_factory=list)
    run_id: str
    config_fingerprint: str
    models: dict[str, str] = Field(default_factory=dict)  # role -> model name
    template_hashes: dict[str, str] = Field(default_factory=dict)


def fingerprint_of(data: Any) -> str:
    """Stable short hash of JSON-serialisable data (sorted keys)."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
