"""RunConfig: one validated configuration for a generation run, loaded from YAML."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.compose import ComposeOptions
from pipeline.errors import CompositionError, UserInputError
from pipeline.models import fingerprint_of
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


class ResponderConfig(RoleConfig):
    n: int = Field(default=2, ge=1, le=64, description="candidates per instruction")
    reasoning: bool = Field(default=False, description="keep <think> reasoning separately")


class JudgeConfig(RoleConfig):
    margin: float = Field(default=0.0, ge=0, description="log P(YES) must beat log P(NO) by this much")


class ModelsConfig(ConfigModel):
    rewriter: RoleConfig = RoleConfig(sampling=SamplingConfig(temperature=0.7, max_tokens=512))
    responder: ResponderConfig = ResponderConfig()
    judge: JudgeConfig = JudgeConfig()


class WorkersConfig(ConfigModel):
    """Local vLLM servers started by the run, or endpoints of servers that already run."""

    local: int = Field(default=1, ge=0, le=16)
    endpoints: list[str] = Field(default_factory=list)
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

    @model_validator(mode="after")
    def validate_some_worker(self) -> WorkersConfig:
        if self.local == 0 and not self.endpoints:
            raise ValueError("no workers: set 'local' to at least 1 or list 'endpoints'")
        if self.local and self.endpoints:
            raise ValueError("use either local workers or endpoints, not both")
        return self


class GateConfig(ConfigModel):
    score: Literal["all_pass", "drfr", "raif"] = "all_pass"
    threshold: float = Field(default=1.0, description="minimum drfr (0-1) or raif (-2..2) score; ignored for all_pass")
    min_chars: int = Field(default=1, ge=0)
    max_repetition: float = Field(default=0.5, gt=0, le=1, description="max share of repeated word 4-grams")
    reject_truncated: bool = True
    reject_refusals: bool = True


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

    def options(self) -> ComposeOptions:
        return ComposeOptions(**self.model_dump())


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
    fidelity: FidelityConfig = FidelityConfig()
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
