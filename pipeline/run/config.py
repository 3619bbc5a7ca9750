"""RunConfig: one validated configuration for a generation run, loaded from YAML."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# Re-exported: callers take every piece of the configuration from this module.
from pipeline.config_base import DEFAULT_MODEL as DEFAULT_MODEL
from pipeline.config_base import ROOT as ROOT
from pipeline.config_base import ConfigError as ConfigError
from pipeline.config_base import ConfigModel
from pipeline.construct.options import ComposeOptions, scale_down_hint
from pipeline.construct.renderings import RENDERINGS
from pipeline.construct.tree import CATEGORIES, DEFAULT_MIX, allocate, parse_category, split_by_weight
from pipeline.errors import CompositionError, UserInputError
from pipeline.run.config_models import BudgetConfig, ModelsConfig, PriceConfig, WorkersConfig
from pipeline.run.config_models import CalibrationConfig as CalibrationConfig
from pipeline.run.config_models import RoleConfig as RoleConfig
from pipeline.run.config_models import StudentConfig as StudentConfig
from pipeline.seeding.config import SeedsConfig
from pipeline.seeding.config import SeedSource as SeedSource


class GateConfig(ConfigModel):
    score: Literal["all_pass", "drfr", "raif"] = "all_pass"
    threshold: float = Field(default=1.0, description="minimum drfr (0-1) or raif (-2..2) score; ignored for all_pass")
    min_chars: int = Field(default=1, ge=0, le=1_000_000)
    max_repetition: float = Field(default=0.5, gt=0, le=1, description="max share of repeated word 4-grams")
    reject_truncated: bool = True
    reject_refusals: bool = True
    reject_shallow_reasoning: bool = Field(
        default=False,
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
            raise ValueError(
                f"min_pass_rate {self.min_pass_rate} is above max_pass_rate {self.max_pass_rate}; swap them"
            )
        return self

    def filters(self) -> bool:
        """True when the band can drop anything."""
        return self.min_pass_rate > 0 or self.max_pass_rate < 1


class GridConfig(ConfigModel):
    """Quotas over cells finer than the category (pipeline/run/grid.py): each category's quota is split evenly over
    every combination of the axes given here. An empty axis is not part of the grid.

    A sample fills a cell when its instruction has the cell's category, a constraint of the cell's dimension on
    the path its answer takes, a measured pass rate in the cell's band (the student's baseline, else the share of
    the responder's first answers that passed) and the cell's rendering. Each cell gets at most its quota x
    `attempts_factor` instructions.
    """

    dimensions: list[str] = Field(default_factory=list, description="taxonomy dimensions, e.g. Length, Keywords")
    # name -> [low, high] pass rate, both inclusive; a rate inside two bands goes to the first one listed
    bands: dict[str, tuple[float, float]] = Field(default_factory=dict)
    renderings: list[str] = Field(default_factory=list, description="structured, prose, numbered")

    @field_validator("dimensions", "renderings")
    @classmethod
    def validate_unique(cls, v: list[str]) -> list[str]:
        repeated = sorted({x for x in v if v.count(x) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        if any(not x.strip() or "/" in x for x in v):
            raise ValueError("names must be non-empty and cannot contain '/'")
        return v

    @field_validator("renderings")
    @classmethod
    def validate_renderings(cls, v: list[str]) -> list[str]:
        unknown = [r for r in v if r not in RENDERINGS]
        if unknown:
            raise ValueError(f"unknown rendering {', '.join(map(repr, unknown))}; known: {', '.join(RENDERINGS)}")
        return v

    @field_validator("bands")
    @classmethod
    def validate_bands(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (lo, hi) in v.items():
            if not name.strip() or "/" in name:
                raise ValueError(f"band name {name!r} must be non-empty and cannot contain '/'")
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"band {name!r}: [{lo}, {hi}] must satisfy 0 <= low <= high <= 1")
        return v

    def enabled(self) -> bool:
        return bool(self.dimensions or self.bands or self.renderings)

    def cells_per_category(self) -> int:
        return max(1, len(self.dimensions)) * max(1, len(self.bands)) * max(1, len(self.renderings))


HardeningMove = Literal["constraint", "chain_step", "selection_level"]


class HardeningConfig(ConfigModel):
    """Hardening by measured difficulty (pipeline/construct/hardening.py): an instruction whose measured pass rate is
    above `threshold` is made harder by one of `moves` and is answered and measured again, up to `rounds` times.

    The pass rate is the student's no-reasoning baseline when the run has a student, else the share of the
    responder's first answers that passed every check. A hardened instruction is a new instruction of the
    category its tree now has; its kept sample counts toward that category's quota. The run plans it as a follow-up
    slot of a later batch, one attempt of its parent's quota cell (pipeline/run/ledger.py).
    """

    enabled: bool = False
    threshold: float = Field(default=0.5, ge=0, lt=1, description="harden instructions whose pass rate is above this")
    rounds: int = Field(default=1, ge=1, le=5, description="hardening rounds at most, from the composed instruction")
    # How a tree may be hardened, tried in a random order until one fits: one more constraint on an output, an And
    # split into the steps of a Chain, or an extra Selection level.
    moves: list[HardeningMove] = Field(default_factory=lambda: list[HardeningMove](["constraint"]), min_length=1)


class FidelityConfig(ConfigModel):
    """The task-fidelity gate: a kept answer must carry out its seed task, not only satisfy its constraints."""

    enabled: bool = True
    embedding: bool = Field(
        default=True, description="cosine relevance of the answer to the seed task (English tasks)"
    )
    threshold: float = Field(
        default=0.276, ge=-1, le=1, description="minimum relevance; calibrated by benchmarks/fidelity_calibration.py"
    )
    judge: bool = Field(
        default=True, description="ask the judge whether the answer carries out the task (needs models.judge)"
    )
    reference_answers: bool = Field(default=True, description="check the final answer of seeds that carry an `answer`")


MAX_BATCH_SIZE = 256  # instructions of one batch, each on a thread of its own (pipeline/run/stages.py)
MAX_SAMPLES = 1_000_000_000  # kept samples of one run at most: far beyond any real run, far below what would overflow


class RunConfig(ConfigModel):
    """Everything a generation run needs. Keys and values are validated; unknown keys are errors."""

    name: str = "complexify"
    samples: int = Field(ge=1, le=MAX_SAMPLES, description="kept samples to produce")
    mix: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIX))
    compose: ComposeOptions = ComposeOptions()
    seeds: SeedsConfig = SeedsConfig()
    models: ModelsConfig = ModelsConfig()
    workers: WorkersConfig = WorkersConfig()
    gate: GateConfig = GateConfig()
    difficulty: DifficultyConfig = DifficultyConfig()
    fidelity: FidelityConfig = FidelityConfig()
    hardening: HardeningConfig = HardeningConfig()
    grid: GridConfig = GridConfig()
    repair_rounds: int = Field(default=1, ge=0, le=5)
    attempts_factor: float = Field(
        default=4.0, ge=1, le=1000, description="at most quota x factor instructions per category"
    )
    batch_size: int = Field(
        default=16,
        ge=1,
        description="instructions per batch (one shard each), all in progress at once, each on its own thread",
    )
    batches_in_flight: int = Field(
        default=3, ge=1, le=64, description="batches answered at once, so the model never idles at a batch boundary"
    )
    output_dir: str = "out"
    random_seed: int = Field(default=0, ge=-(2**63), lt=2**63)
    prices: dict[str, PriceConfig] = Field(default_factory=dict, description="model -> price per million tokens")
    budget: BudgetConfig = BudgetConfig()

    @field_validator("batch_size")
    @classmethod
    def validate_batch_size(cls, v: int) -> int:
        if v > MAX_BATCH_SIZE:
            raise ValueError(
                f"at most {MAX_BATCH_SIZE} (every instruction of a batch is in progress at once, on a thread of its "
                f"own), got {v}; for more instructions at once, raise batches_in_flight"
            )
        return v

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
        if not math.isfinite(sum(v.values())):  # each weight is finite, their sum may not be (1e308 + 1e308)
            raise ValueError(f"the weights sum to more than the largest number ({scale_down_hint(v)})")
        return v

    @model_validator(mode="after")
    def validate_grid_fits(self) -> RunConfig:
        # A pass rate is k/m over m answers (student rollouts, else the responder's first answers): a band holding
        # no such value is a cell no sample can ever fill.
        student = self.models.student
        m, what = (
            (student.rollouts, "models.student.rollouts")
            if student.enabled
            else (self.models.responder.n, "models.responder.n")
        )
        for name, (lo, hi) in self.grid.bands.items():
            if not any(lo <= k / m <= hi for k in range(m + 1)):
                raise ValueError(
                    f"grid.bands.{name}: [{lo}, {hi}] holds no pass rate measured over {m} answers (steps of 1/{m}); "
                    f"widen the band or raise {what}"
                )
        # An empty cell could never be met or reported; say how many samples give every cell at least one.
        per_cat = self.grid.cells_per_category()
        if per_cat == 1:
            return self
        short = sorted(c for c, q in allocate(self.samples, self.mix).items() if 0 < q < per_cat)
        if short:
            problem = (
                f"grid: each category is split into {per_cat} cells, but with samples: {self.samples} "
                f"{', '.join(short)} would have fewer samples than cells"
            )
            need = samples_filling_cells(self.mix, per_cat, self.samples)
            if need is not None and need <= MAX_SAMPLES:
                raise ValueError(f"{problem}; set samples to at least {need}, or drop axis values")
            lightest = min((c for c, w in self.mix.items() if w > 0), key=lambda c: self.mix[c])
            needs = f" (it would take {need})" if need is not None else ""
            raise ValueError(
                f"{problem}, and no samples count up to {MAX_SAMPLES} fills every cell{needs}; raise the weight of "
                f"{lightest} in mix, or drop axis values"
            )
        return self

    @model_validator(mode="after")
    def validate_judge_for_judge_checks(self) -> RunConfig:
        # A judge-checked constraint with no judge could never be verified, so no sample holding one could be kept.
        if self.compose.checkers == "any" and not self.models.judge.enabled:
            raise ValueError(
                "compose.checkers: 'any' composes judge-checked constraints but models.judge.enabled is false, so "
                "they could never be verified; set models.judge.enabled: true, or compose.checkers: code, or "
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

    def resolve(self, path: str) -> Path:
        """A path from the config: absolute, or relative to the project root."""
        p = Path(path)
        return p if p.is_absolute() else ROOT / p


# Counts `samples_filling_cells` tries one by one before it settles for the count that fills every cell for sure.
_SEARCH_STEPS = 10_000


def _first_count(weight: float, total: float, whole: int) -> int | None:
    """The smallest samples count n whose whole part int(n x weight / total) (as `allocate` computes it) is at least
    `whole`: in closed form, then nudged past float rounding; None beyond any count a float holds exactly."""
    guess = whole * total / weight
    if not math.isfinite(guess) or guess > 2**53:
        return None
    n = math.ceil(guess)
    while int(n * weight / total) < whole:
        n += 1
    while n > 0 and int((n - 1) * weight / total) >= whole:
        n -= 1
    return n


def samples_filling_cells(mix: Mapping[str, float], cells: int, samples: int) -> int | None:
    """The smallest samples count >= `samples` at which every category of the mix gets either no sample or at
    least `cells` (the grid check's condition), or None when no count a float holds exactly gets there.

    `allocate` gives a category the whole part of n x weight / total, plus one for the largest remainders. Once a
    category's whole part is 1 it never gets 0 again, and it cannot reach `cells` before its whole part is
    `cells` - 1: the counts in between are skipped in one step, found in closed form. Once every whole part is
    `cells` every larger count works too (`full`); that is the answer when the counts before it take more than
    _SEARCH_STEPS tries (weights a billion times apart, say).
    """
    total = sum(mix.values())  # as split_by_weight computes it
    weights = {c: w for c, w in mix.items() if w > 0}
    firsts = [_first_count(w, total, cells) for w in weights.values()]
    full = None if None in firsts else max(samples, *(f for f in firsts if f is not None))
    n = samples
    for _ in range(_SEARCH_STEPS):
        if full is not None and n >= full:
            return n
        counts = split_by_weight(n, mix)
        failing = [c for c in weights if 0 < counts[c] < cells]
        if not failing:
            return n
        step = n + 1
        for c in failing:
            if int(n * weights[c] / total) >= 1:  # never 0 again: wait for a whole part of cells - 1
                first = _first_count(weights[c], total, cells - 1)
                if first is None:
                    return None
                step = max(step, first)
        n = step
    return full


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
        if len(lines) == 1:  # one problem, one line
            raise ConfigError(f"invalid configuration: {lines[0]}") from None
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
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to read; a run config needs only a few levels") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts, or a date like 2024-13-40
        detail = str(exc).split(";")[0]
        raise ConfigError(f"{p}: cannot read a value ({detail}); write a shorter number or a valid value") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, str(p))


# Tokens around the seed text in the longest prompt built from it: composed constraints and structure
# (measured up to about 1,600 characters, ~400 tokens), the rewrite or repair template, the chat template.
PROMPT_OVERHEAD_TOKENS = 512


def seed_token_budget(cfg: RunConfig) -> int:
    """Tokens a seed may take so the prompts built from it plus their answers fit the workers' context.

    A repair prompt carries the previous answer as well as asking for a new one, so with repair rounds
    the responder's max_tokens counts twice; the rewriter's answer needs room too.
    """
    responder = cfg.models.responder.sampling.max_tokens * (2 if cfg.repair_rounds else 1)
    rewriter = cfg.models.rewriter.sampling.max_tokens if cfg.models.rewriter.enabled else 0
    budget = cfg.workers.max_model_len - PROMPT_OVERHEAD_TOKENS - max(responder, rewriter)
    if budget < 1:
        raise UserInputError(
            f"workers.max_model_len ({cfg.workers.max_model_len}) leaves no room for seed text: answers take up to "
            f"{max(responder, rewriter)} tokens and prompt templates about {PROMPT_OVERHEAD_TOKENS}; raise "
            "workers.max_model_len (and the workers' context) or lower the roles' sampling.max_tokens"
        )
    return budget
