"""The model roles of a run (rewriter, responder, judge, student) and the workers that serve them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config_base import DEFAULT_MODEL, ConfigModel


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
        description="off: answer directly; "
        "prompted: asked to think in a <think> block first (prompts/reasoning.yaml); "
        "plan_first: one request writes a plan (the reasoning), a second the answer with the plan in view (for models "
        "that ignore the think-first instruction); "
        "server: the model reasons by itself (a vLLM reasoning parser's reasoning_content, or a leading <think> "
        "block)",
    )

    @model_validator(mode="before")
    @classmethod
    def normalize_reasoning(cls, data: Any) -> Any:
        """The former boolean: `false` is `off`, `true` (keep the model's own reasoning apart) is `server`."""
        if isinstance(data, dict) and isinstance(data.get("reasoning"), bool):
            data = {**data, "reasoning": "server" if data["reasoning"] else "off"}
        return data


class StudentConfig(RoleConfig):
    """The policy to be trained: its rollouts on each kept instruction measure how hard the instruction is for it."""

    enabled: bool = Field(
        default=False, description="measure difficulty with student rollouts (off: runs do not change)"
    )
    rollouts: int = Field(
        default=2, ge=1, le=64, description="k: rollouts per instruction without reasoning (and k with)"
    )
    reasoning: bool = Field(
        default=False, description="also k rollouts prompted to think first, to contrast with the baseline"
    )
    reasoning_style: Literal["prompted", "plan_first"] = Field(
        default="prompted", description="how the reasoning rollouts reason (see models.responder.reasoning)"
    )
    sampling: SamplingConfig = SamplingConfig(temperature=1.0, max_tokens=512)


WEEK_S = 7 * 24 * 3600  # timeouts beyond a week are typos; far larger ones overflow the socket and asyncio clocks

JudgeRouteName = Literal["gate", "reward-only", "report-only", "auto"]


class CalibrationConfig(ConfigModel):
    """Judge calibration (pipeline/verify/judge_calibration.py) and what each dimension's judge checks may do."""

    share: float = Field(default=0.2, ge=0, le=1, description="code checks also asked as a judge question; 0: off")
    gold_file: str | None = Field(
        default=None, description="JSONL of judged soft-constraint examples, scored at run start"
    )
    default_route: JudgeRouteName = "gate"
    routes: dict[str, JudgeRouteName] = Field(
        default_factory=dict, description="dimension -> route (else default_route)"
    )
    min_samples: int = Field(
        default=20,
        ge=1,
        le=1_000_000_000,
        description="auto: labelled questions a dimension needs before its numbers count",
    )
    min_precision: float = Field(default=0.9, ge=0, le=1, description="auto: judge precision needed to gate")
    min_reward_precision: float = Field(default=0.7, ge=0, le=1, description="auto: below this, report-only")
    untrusted_route: Literal["gate", "reward-only", "report-only"] = Field(
        default="gate", description="auto: the route of a dimension with fewer than min_samples questions"
    )
    injection_probes: int = Field(
        default=3,
        ge=0,
        le=100,
        description="judge-checked constraints per judged dimension asked as judge-injection probes at run start "
        "(4 probes each: override text, a verdict in the reasoning, a self-assessment, an instruction echo); 0: off",
    )
    max_false_credit: float = Field(
        default=0.1, ge=0, le=1, description="a dimension whose judge says YES to more of its probes cannot gate"
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
    margin: float = Field(default=0.0, ge=0, le=1000, description="log P(YES) must beat log P(NO) by this much")
    calibration: CalibrationConfig = CalibrationConfig()


class ModelsConfig(ConfigModel):
    rewriter: RoleConfig = RoleConfig(sampling=SamplingConfig(temperature=0.7, max_tokens=512))
    responder: ResponderConfig = ResponderConfig()
    judge: JudgeConfig = JudgeConfig()
    student: StudentConfig = StudentConfig()


class WorkersConfig(ConfigModel):
    """Local vLLM servers started by the run, or endpoints of servers that already run."""

    local: int = Field(default=1, ge=0, le=16)
    endpoints: list[str] = Field(default_factory=list)
    model_endpoints: dict[str, list[str]] = Field(
        default_factory=dict,
        description="model -> endpoints that serve it, for roles on different servers (a reasoning expert and a "
        "student, say); models not listed use `endpoints`",
    )
    max_concurrency: int = Field(
        default=64, ge=1, le=4096,
        description="most requests in flight per endpoint; the engine finds the working number below it",
    )  # fmt: skip
    request_timeout_s: float = Field(
        default=120, gt=0, le=WEEK_S,
        description="a request is given up when nothing arrives for it, nor for any request on its endpoint, this "
        "long",
    )  # fmt: skip
    cpu_binding: Literal["vllm", "all", "split", "none"] = Field(
        default="all",
        description="how a local CPU worker uses the cores (pipeline/llm/cpu_binding.py, "
        "benchmarks/worker_binding.py)",
    )
    startup_timeout_s: float = Field(default=900, gt=0, le=WEEK_S)
    max_model_len: int = Field(default=2048, ge=256, le=1 << 24)

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


class PriceConfig(ConfigModel):
    """What a model's tokens cost, per million tokens, in one currency of your choice for every model."""

    prompt: float = Field(ge=0, le=1e9, description="per million prompt (input) tokens")
    generated: float = Field(ge=0, le=1e9, description="per million generated (output) tokens")


class BudgetConfig(ConfigModel):
    """Where a run stops, before its quotas are met if need be: at the first batch boundary where the run's token
    ledger reaches a limit (none by default). Money needs a price for every model the run uses (`prices`)."""

    max_generated_tokens: int | None = Field(default=None, ge=1, le=10**15, description="generated tokens at most")
    max_cost: float | None = Field(default=None, gt=0, le=1e15, description="money at most, at the config's prices")
