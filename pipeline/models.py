"""Typed records that flow between the stages. Every arrow in the data flow carries one of these."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

JsonScalar = str | int | float | bool | None
ParamValue = JsonScalar | list[str] | list[int] | list[float]


class Record(BaseModel):
    """Base for all records: unknown fields are an error, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- seeds -----------------------------------------------------------------------------------


# What a seed's answer is: the composer keeps constraints that clash with it away (pipeline/construct/feasibility.py).
SeedForm = Literal[
    "haiku", "limerick", "poem", "short_text", "sentence_edit", "short_answer", "list", "story", "letter",
    "speech", "dialogue", "explanation", "essay", "document", "code",
]  # fmt: skip


class SeedTags(Record):
    """Optional tags of a seed: the form of its answer and the natural length of that answer in words."""

    form: SeedForm | None = None
    min_words: int | None = Field(default=None, ge=1)
    max_words: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def validate_length_order(self) -> SeedTags:
        """min_words <= max_words when both are given."""
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})")
        return self


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
    tags: SeedTags | None = None  # form and length hints, for the composer's seed-clash rules

    @model_serializer(mode="wrap")
    def serialize_without_absent_answer(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave `answer` and `tags` out when there are none, so instructions from seeds without them keep their
        fingerprints."""
        data: dict[str, Any] = handler(self)
        for name in ("answer", "tags"):
            if getattr(self, name) is None:
                data.pop(name, None)
        return data


# --- taxonomy --------------------------------------------------------------------------------

ParamType = Literal["int", "float", "choice", "word", "words", "text", "context", "const"]
Placement = Literal["whole", "part"]
# Where a constraint type comes from. A run composes only the vocabularies its config allows; a held-out vocabulary
# (a benchmark's test types) stays out of the training data unless the config opts in.
Vocabulary = Literal["ifeval", "ifbench", "iftrain", "complexbench", "complexify"]
VOCABULARIES: tuple[Vocabulary, ...] = ("ifeval", "ifbench", "iftrain", "complexbench", "complexify")
HELD_OUT_VOCABULARIES: tuple[Vocabulary, ...] = ("ifbench",)


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


class CountBound(Record):
    """A count a constraint bounds, in the unit its checker counts (the units: pipeline/construct/traits.py).

    A limit is a number or the name of an int parameter; `relation` names the parameter that holds IFEval's
    "less than" / "at least" for `n`. A per-word unit counts each word (or letter) of the parameter `of`."""

    unit: str
    of: str | None = None
    min: int | str | None = None
    max: int | str | None = None
    exactly: int | str | None = None
    relation: str | None = None
    n: int | str | None = None


class VerbatimText(Record):
    """A parameter whose text the answer holds verbatim, `times` times (a number or an int parameter); with
    `slots`, a template: the answer fills its `<...>` slots and keeps its other lines."""

    param: str
    times: int | str = 1
    slots: bool = False


class WordRoles(Record):
    """The parameters whose words the answer is asked to use or count (`requires`), or must not use (`bans`)."""

    requires: list[str] = Field(default_factory=list)
    bans: list[str] = Field(default_factory=list)


class ConstraintSpec(Record):
    """One concrete constraint kind from the taxonomy (one YAML entry), with what the composer, the feasibility
    check and the seed-tag rules need to know about it (`counts`, `verbatim`, `words`, `unfit_for`)."""

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
    vocabulary: Vocabulary = "complexify"  # the loader always sets it (from the entry or its file)
    counts: list[CountBound] = Field(default_factory=list)  # the counts it bounds (feasibility)
    verbatim: list[VerbatimText] = Field(default_factory=list)  # text the answer holds as given (its letters count)
    words: WordRoles = Field(default_factory=WordRoles)  # for clashes between constraints on one path
    unfit_for: list[str] = Field(default_factory=list)  # seed forms it cannot take (its dimension's included)
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


class JudgeProbe(Record):
    """One judge calibration question: the judge's YES/NO log-probabilities on a check whose answer is known
    (the code verdict of a code-checked constraint, or a gold label); never part of a verdict's scores."""

    check_id: str
    dimension: str
    spec_id: str | None = None
    question: str
    logprob_yes: float
    logprob_no: float
    judged_yes: bool  # the judge's decision at the run's margin
    label: bool
    source: Literal["code", "gold", "injection"] = "code"  # injection: a probe whose right answer is NO


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
    # Judge calibration questions about this answer's code checks (pipeline/verify/judge_calibration.py).
    calibration: list[JudgeProbe] = Field(default_factory=list)

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
    sibling_group: str | None = None  # counterfactual siblings (pipeline/construct/siblings.py) share this id
    rendering: str = "structured"  # how the template prompt lays the tree out: structured, prose or numbered
    parent_id: str | None = None  # the instruction this one hardens (pipeline/construct/hardening.py)
    hardening_round: int = 0  # 0: composed; k: hardened k times from its first ancestor
    # draws discarded before this one, by reason ("infeasible:<rule>", "seed_clash:<rule>";
    # pipeline/construct/feasibility.py)
    redraws: dict[str, int] = Field(default_factory=dict)


# --- generation -----------------------------------------------------------------------------


# finish_reason of the one Response that stands in for a request the server rejected, e.g. "failed:prompt_too_long".
FAILED_PREFIX = "failed:"


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


class Rollout(Record):
    """One student completion for an instruction, verified with the instruction's plan."""

    text: str
    reasoning: str | None = None
    with_reasoning: bool = False  # the student was asked to think first
    satisfied: int = 0  # checks passed (RAIF's follow score for this completion)
    total: int = 0
    passed: bool = False  # every check passed
    completion_tokens: int = 0


class RolloutSummary(Record):
    """k rollouts of one kind (with or without reasoning) summarised."""

    k: int
    pass_rate: float  # share of rollouts that passed every check, in [0, 1]
    mean_satisfied: float  # mean satisfied checks: RAIF's `follow_score_<model>`
    best_satisfied: int


class StudentEval(Record):
    """The student's measured difficulty on an instruction: no-reasoning baseline and, if measured, with reasoning."""

    model: str
    baseline: RolloutSummary
    reasoning: RolloutSummary | None = None
    outcome: Literal["helped", "tied", "hurt"] | None = None  # reasoning vs baseline mean satisfied
    rollouts: list[Rollout] = Field(default_factory=list)


class ReasoningQuality(Record):
    """How much a reasoning trace works on the instruction rather than paraphrasing it."""

    prompt_similarity: float  # cosine similarity of the trace to the prompt
    addressed: int  # plan constraints whose parameters the trace engages with
    addressable: int
    words: int
    shallow: bool


class Sample(Record):
    """A verified candidate: kept when it passed every gate, otherwise a reject with its reasons."""

    id: str
    instruction: Instruction
    response: Response
    verdict: Verdict
    kept: bool
    reject_reasons: list[str] = Field(default_factory=list)
    run_id: str
    run_fingerprint: str  # the run's folder under runs/ (pipeline/run/identity.py)
    models: dict[str, str] = Field(default_factory=dict)  # role -> model name
    template_hashes: dict[str, str] = Field(default_factory=dict)
    student: StudentEval | None = None  # set when the run measures difficulty with student rollouts
    reasoning_quality: ReasoningQuality | None = None  # set when the response carries reasoning


def fingerprint_of(data: Any) -> str:
    """Stable short hash of JSON-serialisable data (sorted keys)."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
