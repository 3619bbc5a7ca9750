"""The composer's options: one class for the `compose:` section of a run configuration and for every caller of
the composer (the `compose` command, the run, hardening, grid cells)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.config_base import ConfigModel, log
from pipeline.construct.renderings import (
    DEFAULT_RENDERINGS,
    RENDERINGS,
    check_rendering_weights,
    rendering_weight_problems,
)
from pipeline.errors import CompositionError
from pipeline.models import HELD_OUT_VOCABULARIES, VOCABULARIES, Vocabulary

MAX_CHAIN_STEPS = 6
DEFAULT_VOCABULARIES: tuple[Vocabulary, ...] = tuple(v for v in VOCABULARIES if v not in HELD_OUT_VOCABULARIES)


class ComposeOptions(ConfigModel):
    """Knobs of the sampler, as the `compose:` section of a run configuration spells them. `checkers: code` keeps
    only code-checkable constraints (RL-ready data). A bad value raises pydantic's ValidationError (`of` raises
    CompositionError instead)."""

    checkers: Literal["any", "code"] = "any"
    judge_share: float = Field(default=0.25, ge=0, le=1)
    and_size: tuple[int, int] = (2, 3)
    chain_steps: tuple[int, int] = (2, 3)
    multiway_share: float = Field(default=0.2, ge=0, le=1)
    global_share: float = Field(default=0.3, ge=0, le=1)
    renderings: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RENDERINGS),
        description=f"rendering -> weight, drawn per instruction ({', '.join(RENDERINGS)}); "
        "one name alone: no variety",
    )
    siblings: bool = Field(
        default=False,
        description="each composed Selection/Chain instruction brings its counterfactual siblings "
        "(pipeline/construct/siblings.py), which take the batch's next slots of its category",
    )
    vocabularies: list[Vocabulary] = Field(
        default_factory=lambda: list(DEFAULT_VOCABULARIES),
        description=f"the taxonomy vocabularies whose constraints may be composed ({', '.join(VOCABULARIES)}); "
        f"default: all but the held-out {', '.join(HELD_OUT_VOCABULARIES)}",
    )
    # Excluded from dumps: it is folded into `checkers` below, so the fingerprint and run.json show the effective
    # value.
    drop_judge_specs: bool = Field(
        default=False, strict=True, exclude=True, description="compose code-checked constraints only (checkers: code)"
    )
    # A grid cell's dimension (`aimed_at`), not a configuration key.
    _favour_dimension: str | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, **values: Any) -> ComposeOptions:
        """Options from keyword arguments given by a user (the `compose` command's flags): a bad value raises
        CompositionError naming it, as a bad `compose:` key in a run configuration raises ConfigError."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(x) for x in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{where}: {msg}" if where else msg)
            raise CompositionError("; ".join(problems)) from None

    @model_validator(mode="before")
    @classmethod
    def normalize_drop_judge_specs(cls, data: Any) -> Any:
        """`drop_judge_specs: true` means `checkers: code`; say so, since judge-checked constraints disappear."""
        if isinstance(data, dict) and data.get("drop_judge_specs") is True and data.get("checkers", "any") != "code":
            log.warning(
                "compose.drop_judge_specs is true: composing code-checked constraints only "
                "(judge-checked ones are dropped)"
            )
            data = {**data, "checkers": "code"}
        return data

    @field_validator("renderings", mode="before")
    @classmethod
    def validate_renderings(cls, v: Any) -> Any:
        """Known names, finite non-negative numbers (a YAML `true` is not a weight), at least one above zero."""
        if isinstance(v, Mapping):
            problems = rendering_weight_problems(v)
            if problems:
                raise ValueError("; ".join(problems))
            if not math.isfinite(sum(v.values())):
                raise ValueError(f"the weights sum to more than the largest number ({scale_down_hint(v)})")
        return v

    @field_validator("vocabularies", mode="before")
    @classmethod
    def validate_vocabularies(cls, v: Any) -> Any:
        """Known names, at least one; kept in one order without repeats, so the same set hashes the same."""
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list | tuple):
            unknown = [x for x in v if x not in VOCABULARIES]
            if unknown:
                raise ValueError(
                    f"unknown vocabulary {', '.join(map(repr, unknown))}; allowed: {', '.join(VOCABULARIES)}"
                )
            if not v:
                raise ValueError(f"name at least one vocabulary ({', '.join(VOCABULARIES)})")
            return [x for x in VOCABULARIES if x in v]
        return v

    @property
    def held_out(self) -> list[Vocabulary]:
        """The held-out vocabularies this config leaves out (their constraints are never composed)."""
        return [v for v in HELD_OUT_VOCABULARIES if v not in self.vocabularies]

    @property
    def opted_in(self) -> list[Vocabulary]:
        """The held-out vocabularies this config composes anyway: results on their benchmark are not out-of-
        distribution."""
        return [v for v in HELD_OUT_VOCABULARIES if v in self.vocabularies]

    @model_validator(mode="after")
    def validate_sizes(self) -> ComposeOptions:
        lo, hi = self.and_size
        if not 2 <= lo <= hi:
            raise ValueError(f"and_size must satisfy 2 <= lo <= hi, got {self.and_size}")
        if not 2 <= self.chain_steps[0] <= self.chain_steps[1] <= MAX_CHAIN_STEPS:
            raise ValueError(f"chain_steps must satisfy 2 <= lo <= hi <= {MAX_CHAIN_STEPS}, got {self.chain_steps}")
        return self

    @property
    def favour_dimension(self) -> str | None:
        """The dimension drawn first on every output without one, and required on the taken path (a grid cell's)."""
        return self._favour_dimension

    def aimed_at(self, dimension: str | None, renderings: Mapping[str, float] | None = None) -> ComposeOptions:
        """These options for one grid cell: its dimension favoured, and its renderings instead of these if given."""
        if renderings is not None:
            check_rendering_weights(renderings)
        aimed = self.model_copy(update={} if renderings is None else {"renderings": dict(renderings)})
        aimed._favour_dimension = dimension
        return aimed


# The benchmark each held-out vocabulary's test types come from.
HELD_OUT_BENCHMARK = {"ifbench": "IFBench"}


def describe_vocabularies(vocabularies: Sequence[str]) -> str:
    """One line: the vocabularies composed, and the held-out ones left out or opted in."""
    held = [v for v in HELD_OUT_VOCABULARIES if v not in vocabularies]
    opted = [v for v in HELD_OUT_VOCABULARIES if v in vocabularies]
    line = f"vocabularies: {', '.join(vocabularies)}"
    if held:
        line += f" (held out: {', '.join(held)})"
    if opted:
        line += f" (held-out vocabularies opted in: {', '.join(opted)})"
    return line


def held_out_warnings(vocabularies: Sequence[str]) -> list[str]:
    """One loud line per held-out vocabulary a config opts in to."""
    return [
        f"WARNING: compose.vocabularies includes the held-out vocabulary {v!r}: {HELD_OUT_BENCHMARK.get(v, v)}'s "
        f"test constraint types will be in the training data, and results on {HELD_OUT_BENCHMARK.get(v, v)} are "
        "no longer out-of-distribution"
        for v in HELD_OUT_VOCABULARIES
        if v in vocabularies
    ]


def vocabulary_card_lines(composed: Sequence[str] | None) -> list[str]:
    """The dataset card's lines on the constraint vocabularies a run composed (None: not recorded by the run)."""
    if composed is None:
        return ["- constraint vocabularies: not recorded (the run was started before runs recorded them)"]
    return [f"- constraint {describe_vocabularies(composed)}"] + [
        f"- **held-out vocabulary {v!r} opted in: {HELD_OUT_BENCHMARK.get(v, v)}'s test constraint types are in this "
        f"training data; results on {HELD_OUT_BENCHMARK.get(v, v)} are not out-of-distribution.**"
        for v in HELD_OUT_VOCABULARIES
        if v in composed
    ]


def scale_down_hint(weights: Mapping[str, float]) -> str:
    """What to write instead of weights too large to add up (a mix, renderings): the same ratios, smaller."""
    return "only their ratios count: divide them all by the same number, e.g. " + ", ".join(
        f"{k}: {w / max(weights.values()):.3g}" for k, w in weights.items()
    )
