"""RunConfig: one validated configuration for a generation run, loaded from YAML."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline.compose import ComposeOptions
from pipeline.errors import CompositionError, UserInputError
from pipeline.models import fingerprint_of
from pipeline.renderings import DEFAULT_RENDERINGS, RENDERINGS, rendering_weight_problems
from pipeline.tree import CATEGORIES, DEFAULT_MIX, parse_category

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "default"  # the bundled SmolLM2-135M-Instruct, prepared by `complexify model prepare`
log = logging.getLogger(__name__)


class ConfigError(UserInputError):
    """The run configuration is invalid; the message lists every problem with its YAML path."""


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def reject_bools_for_numbers(cls, data: Any) -> Any:
        """YAML's `true` must not pass as the number 1 (pydantic's lax mode would accept it)."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and not _allows_bool(field.annotation):
                    raise ValueError(f"{name}: expected {_type_name(field.annotation)}, got the boolean {str(value).lower()}")
        return data


def _allows_bool(annotation: Any) -> bool:
    return annotation is bool or bool in get_args(annotation) or annotation is Any


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


class SeedSource(ConfigModel):
    """One place seeds come from: a local JSONL/CSV/Parquet file or a Hugging Face dataset."""

    path: str | None = None
    hf_dataset: str | None = None
    hf_config: str | None = None
    split: str = "train"
    columns: dict[str, str] = Field(default_factory=dict, description="our field -> source column (text, id, task_type, language, answer)")
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def validate_one_source(self) -> SeedSource:
        if (self.path is None) == (self.hf_dataset is None):
            raise ValueError("give exactly one of 'path' or 'hf_dataset'")
        return self


class SeedsConfig(ConfigModel):
    sources: list[SeedSource] = Field(default_factory=lambda: [SeedSource(path="seeds/complexify-seeds.jsonl")], min_length=1)
    near_duplicate_threshold: float | None = Field(default=None, gt=0, le=1, description="cosine; None disables")
    select: int | None = Field(default=None, ge=1, description="keep this many seeds by k-center diversity")
    decontaminate: list[str] = Field(default_factory=list, description="benchmark prompt files (JSONL/text)")
    max_seeds: int | None = Field(default=None, ge=1)


class SamplingConfig(ConfigModel):
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1, description="< 1 halves vLLM CPU throughput (measured)")
    max_tokens: int = Field(default=512, ge=1, le=32768)


class RoleConfig(ConfigModel):
    model: str = DEFAULT_MODEL
    enabled: bool = True
    sampling: SamplingConfig = SamplingConfig()


ReasoningMode = Literal["off", "prompted", "plan_first", "server"]


class ResponderConfig(RoleConfig):
    n: int = Field(default=2, ge=1, le=64, description="candidates per instruction")
    reasoning: ReasoningMode = Field(
        default="off",
        description="off: answer directly; prompted: asked to think in a <think> block first (prompts/reasoning.yaml); "
        "plan_first: one request writes a plan (the reasoning), a second the answer with the plan in view (for models "
        "that ignore the think-first instruction); "
        "server: the model reasons by itself (a vLLM reasoning parser's reasoning_content, or a leading <think> block)",
    )

    @model_validator(mode="before")
    @classmethod
    def normalize_reasoning(cls, data: Any) -> Any:
        """The former boolean: `false` is `off`, `true` (keep the model's own reasoning apart) is `server`."""
        if isinstance(data, dict) and isinstance(data.get("reasoning"), bool):
            data = {**data, "reasoning": "server" if data["reasoning"] else "off"}
        return data

    @model_serializer(mode="wrap")
    def serialize_reasoning_off_as_before(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`off` is dumped as the former `false`, so configs from before the modes keep their fingerprints (and runs)."""
        data: dict[str, Any] = handler(self)
        if self.reasoning == "off":
            data["reasoning"] = False
        return data


class StudentConfig(RoleConfig):
    """The policy to be trained: its rollouts on each kept instruction measure how hard the instruction is for it."""

    enabled: bool = Field(default=False, description="measure difficulty with student rollouts (off: runs do not change)")
    rollouts: int = Field(default=2, ge=1, le=64, description="k: rollouts per instruction without reasoning (and k with)")
    reasoning: bool = Field(default=False, description="also k rollouts prompted to think first, to contrast with the baseline")
    reasoning_style: Literal["prompted", "plan_first"] = Field(
        default="prompted", description="how the reasoning rollouts reason (see models.responder.reasoning)"
    )
    sampling: SamplingConfig = SamplingConfig(temperature=1.0, max_tokens=512)


JudgeRouteName = Literal["gate", "reward-only", "report-only", "auto"]


class CalibrationConfig(ConfigModel):
    """Judge calibration (pipeline/verify/judge_calibration.py) and what each dimension's judge checks may do."""

    share: float = Field(default=0.2, ge=0, le=1, description="code checks also asked as a judge question; 0: off")
    gold_file: str | None = Field(default=None, description="JSONL of judged soft-constraint examples, scored at run start")
    default_route: JudgeRouteName = "gate"
    routes: dict[str, JudgeRouteName] = Field(default_factory=dict, description="dimension -> route (else default_route)")
    min_samples: int = Field(default=20, ge=1, description="auto: labelled questions a dimension needs before its numbers count")
    min_precision: float = Field(default=0.9, ge=0, le=1, description="auto: judge precision needed to gate")
    min_reward_precision: float = Field(default=0.7, ge=0, le=1, description="auto: below this, report-only")
    untrusted_route: Literal["gate", "reward-only", "report-only"] = Field(
        default="gate", description="auto: the route of a dimension with fewer than min_samples questions"
    )

    @model_validator(mode="after")
    def validate_thresholds(self) -> CalibrationConfig:
        if self.min_reward_precision > self.min_precision:
            raise ValueError(
                f"min_reward_precision ({self.min_reward_precision}) is above min_precision ({self.min_precision}); "
                "a dimension precise enough to gate must be precise enough to count in rewards: lower it"
            )
        return self


class JudgeConfig(RoleConfig):
    margin: float = Field(default=0.0, ge=0, description="log P(YES) must beat log P(NO) by this much")
    calibration: CalibrationConfig = CalibrationConfig()


class ModelsConfig(ConfigModel):
    rewriter: RoleConfig = RoleConfig(sampling=SamplingConfig(temperature=0.7, max_tokens=512))
    responder: ResponderConfig = ResponderConfig()
    judge: JudgeConfig = JudgeConfig()
    # Left out of dumps while off, so configs from before the role keep their fingerprints (and runs).
    student: StudentConfig = Field(default=StudentConfig(), exclude_if=lambda s: not s.enabled)


class WorkersConfig(ConfigModel):
    """Local vLLM servers started by the run, or endpoints of servers that already run."""

    local: int = Field(default=1, ge=0, le=16)
    endpoints: list[str] = Field(default_factory=list)
    model_endpoints: dict[str, list[str]] = Field(
        default_factory=dict,
        description="model -> endpoints that serve it, for roles on different servers (a reasoning expert and a "
        "student, say); models not listed use `endpoints`",
    )
    max_concurrency: int = Field(default=32, ge=1, le=4096, description="requests in flight per endpoint")
    request_timeout_s: float = Field(default=300, gt=0)
    startup_timeout_s: float = Field(default=900, gt=0)
    max_model_len: int = Field(default=2048, ge=256)

    @field_validator("endpoints")
    @classmethod
    def validate_urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"endpoint {url!r} must start with http:// or https://")
        return v

    @field_validator("model_endpoints")
    @classmethod
    def validate_model_urls(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for model, urls in v.items():
            if not urls:
                raise ValueError(f"model {model!r} has no endpoints; list at least one URL or remove it")
            cls.validate_urls(urls)
        return v

    @model_validator(mode="after")
    def validate_some_worker(self) -> WorkersConfig:
        if self.local == 0 and not self.endpoints and not self.model_endpoints:
            raise ValueError("no workers: set 'local' to at least 1 or list 'endpoints'")
        if self.local and (self.endpoints or self.model_endpoints):
            raise ValueError("use either local workers or endpoints, not both")
        return self


class GateConfig(ConfigModel):
    score: Literal["all_pass", "drfr", "raif"] = "all_pass"
    threshold: float = Field(default=1.0, description="minimum drfr (0-1) or raif (-2..2) score; ignored for all_pass")
    min_chars: int = Field(default=1, ge=0)
    max_repetition: float = Field(default=0.5, gt=0, le=1, description="max share of repeated word 4-grams")
    reject_truncated: bool = True
    reject_refusals: bool = True
    reject_shallow_reasoning: bool = Field(
        default=False,
        exclude_if=lambda on: not on,  # left out while off: configs from before the option keep their fingerprints
        description="reject kept answers whose reasoning trace only restates the prompt (shallow_reasoning)",
    )


class DifficultyConfig(ConfigModel):
    """The pass-rate band RL prompts must fall in, measured by the student's no-reasoning rollouts.

    Both ends are inclusive: an instruction is kept when min_pass_rate <= pass rate <= max_pass_rate; below
    the band its samples are dropped as too_hard, above it as too_easy. The default band [0, 1] drops nothing.
    """

    min_pass_rate: float = Field(default=0.0, ge=0, le=1, description="lower end, inclusive (below: too_hard)")
    max_pass_rate: float = Field(default=1.0, ge=0, le=1, description="upper end, inclusive (above: too_easy)")

    @model_validator(mode="after")
    def validate_band(self) -> DifficultyConfig:
        if self.min_pass_rate > self.max_pass_rate:
            raise ValueError(f"min_pass_rate {self.min_pass_rate} is above max_pass_rate {self.max_pass_rate}; swap them")
        return self

    def filters(self) -> bool:
        """True when the band can drop anything."""
        return self.min_pass_rate > 0 or self.max_pass_rate < 1


class HardeningConfig(ConfigModel):
    """Hardening by measured difficulty (pipeline/hardening.py): an instruction whose measured pass rate is above
    `threshold` gets one more compatible constraint and is answered and measured again, up to `rounds` times.

    The pass rate is the student's no-reasoning baseline when the run has a student, else the share of the
    responder's first answers that passed every check. A hardened instruction is a new instruction of the
    category its tree now has; it counts toward that category's quota.
    """

    enabled: bool = False
    threshold: float = Field(default=0.5, ge=0, lt=1, description="harden instructions whose pass rate is above this")
    rounds: int = Field(default=1, ge=1, le=5, description="hardening rounds at most, from the composed instruction")


class FidelityConfig(ConfigModel):
    """The task-fidelity gate: a kept answer must carry out its seed task, not only satisfy its constraints."""

    enabled: bool = True
    embedding: bool = Field(default=True, description="cosine relevance of the answer to the seed task (English tasks)")
    threshold: float = Field(
        default=0.276, ge=-1, le=1, description="minimum relevance; calibrated by benchmarks/fidelity_calibration.py"
    )
    judge: bool = Field(default=True, description="ask the judge whether the answer carries out the task (needs models.judge)")
    reference_answers: bool = Field(default=True, description="check the final answer of seeds that carry an `answer`")


class ComposeConfig(ConfigModel):
    checkers: Literal["any", "code"] = "any"
    judge_share: float = Field(default=0.25, ge=0, le=1)
    and_size: tuple[int, int] = (2, 3)
    chain_steps: tuple[int, int] = (2, 3)
    multiway_share: float = Field(default=0.2, ge=0, le=1)
    global_share: float = Field(default=0.3, ge=0, le=1)
    renderings: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RENDERINGS),
        description=f"rendering -> weight, drawn per instruction ({', '.join(RENDERINGS)}); one name alone: no variety",
    )
    siblings: bool = Field(
        default=False,
        description="each composed Selection/Chain instruction brings its counterfactual siblings (pipeline/siblings.py), "
        "which take the batch's next slots of its category",
    )
    # Excluded from dumps: it is folded into `checkers` below, so the fingerprint and run.json show the effective value.
    drop_judge_specs: bool = Field(
        default=False, strict=True, exclude=True, description="compose code-checked constraints only (checkers: code)"
    )

    @model_validator(mode="before")
    @classmethod
    def normalize_drop_judge_specs(cls, data: Any) -> Any:
        """`drop_judge_specs: true` means `checkers: code`; say so, since judge-checked constraints disappear."""
        if isinstance(data, dict) and data.get("drop_judge_specs") is True and data.get("checkers", "any") != "code":
            log.warning("compose.drop_judge_specs is true: composing code-checked constraints only (judge-checked ones are dropped)")
            data = {**data, "checkers": "code"}
        return data

    @field_validator("renderings", mode="before")
    @classmethod
    def validate_renderings(cls, v: Any) -> Any:
        """Known names, finite non-negative numbers (a YAML `true` is not a weight), at least one above zero."""
        if isinstance(v, dict):
            problems = rendering_weight_problems(v)
            if problems:
                raise ValueError("; ".join(problems))
        return v

    @model_serializer(mode="wrap")
    def serialize_without_siblings_off(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave `siblings` out while it is off, so configs from before the key keep their fingerprints (and runs)."""
        data: dict[str, Any] = handler(self)
        if not self.siblings:
            data.pop("siblings", None)
        return data

    def options(self) -> ComposeOptions:
        return ComposeOptions(**self.model_dump(exclude={"siblings"}))  # siblings are made after composing


class RunConfig(ConfigModel):
    """Everything a generation run needs. Keys and values are validated; unknown keys are errors."""

    name: str = "complexify"
    samples: int = Field(ge=1, description="kept samples to produce")
    mix: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIX))
    compose: ComposeConfig = ComposeConfig()
    seeds: SeedsConfig = SeedsConfig()
    models: ModelsConfig = ModelsConfig()
    workers: WorkersConfig = WorkersConfig()
    gate: GateConfig = GateConfig()
    # Left out of dumps while it filters nothing, so configs from before the band keep their fingerprints (and runs).
    difficulty: DifficultyConfig = Field(default=DifficultyConfig(), exclude_if=lambda band: not band.filters())
    fidelity: FidelityConfig = FidelityConfig()
    # Left out of dumps while off, so configs from before the key keep their fingerprints (and runs).
    hardening: HardeningConfig = Field(default=HardeningConfig(), exclude_if=lambda h: not h.enabled)
    repair_rounds: int = Field(default=1, ge=0, le=5)
    attempts_factor: float = Field(default=4.0, ge=1, description="at most quota x factor instructions per category")
    batch_size: int = Field(default=16, ge=1, le=10000, description="instructions per batch (one shard each)")
    batches_in_flight: int = Field(
        default=3, ge=1, le=64, description="batches answered at once, so the model never idles at a batch boundary"
    )
    output_dir: str = "out"
    random_seed: int = 0

    @field_validator("mix")
    @classmethod
    def validate_mix(cls, v: dict[str, float]) -> dict[str, float]:
        problems = []
        for cat, w in v.items():
            try:
                parse_category(cat)
            except CompositionError as exc:
                problems.append(str(exc).split("; valid categories")[0])
            if w < 0:
                problems.append(f"weight of {cat!r} must be >= 0")
        if problems:  # every bad category at once, not only the first
            raise ValueError("; ".join(problems) + f" (valid categories: {', '.join(CATEGORIES)})")
        if not any(w > 0 for w in v.values()):
            raise ValueError(f"needs at least one positive weight; categories: {', '.join(CATEGORIES)}")
        return v

    @model_validator(mode="after")
    def validate_compose(self) -> RunConfig:
        try:
            self.compose.options()
        except CompositionError as exc:
            raise ValueError(f"compose: {exc}") from None
        return self

    @model_validator(mode="after")
    def validate_judge_for_judge_checks(self) -> RunConfig:
        # A judge-checked constraint with no judge could never be verified, so no sample holding one could be kept.
        if self.compose.checkers == "any" and not self.models.judge.enabled:
            raise ValueError(
                "compose.checkers: 'any' composes judge-checked constraints but models.judge.enabled is false, so they "
                "could never be verified; set models.judge.enabled: true, or compose.checkers: code, or "
                "compose.drop_judge_specs: true to compose code-checked constraints only"
            )
        return self

    @model_validator(mode="after")
    def validate_student_for_band(self) -> RunConfig:
        # The band reads the student's pass rates; without rollouts it could only silently keep everything.
        if self.difficulty.filters() and not self.models.student.enabled:
            raise ValueError(
                "difficulty: a pass-rate band needs student rollouts, but models.student.enabled is false; set "
                "models.student.enabled: true, or remove difficulty.min_pass_rate / max_pass_rate"
            )
        return self

    def fingerprint(self) -> str:
        """Identity of the dataset this config produces; where it is written and who serves the models do not count."""
        return fingerprint_of(self.model_dump(mode="json", exclude={"output_dir", "workers"}))

    def resolve(self, path: str) -> Path:
        """A path from the config: absolute, or relative to the project root."""
        p = Path(path)
        return p if p.is_absolute() else ROOT / p


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(x) for x in loc) or "(top level)"


def parse_config(data: Any, source: str = "<config>") -> RunConfig:
    """Validate config data; raises ConfigError with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            msg = "unknown key (check the spelling)" if e["type"] == "extra_forbidden" else e["msg"]
            msg = msg.removeprefix("Value error, ")
            where = f"{_location(e['loc'])}: " if e["loc"] else ""
            lines.append(f"{source}: {where}{msg}")
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(lines)) from None


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeLoader itself reports unhashable keys
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1}); keep one of them", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found; see configs/ for examples")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason}); save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, str(p))
