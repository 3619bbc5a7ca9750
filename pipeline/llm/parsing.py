"""Pure helpers that read OpenAI-compatible responses: JSON bodies, streamed chunks, choices with their
reasoning split off, usage, YES/NO log-probabilities, vLLM's queue gauge. A body of the wrong shape raises
`MalformedAnswer` saying what is wrong; the engine names the endpoint."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.errors import InferenceError
from pipeline.llm.records import Completion, YesNo
from pipeline.reasoning import split_reasoning


class MalformedAnswer(ValueError):
    """A response body that is JSON but not the shape of an OpenAI-compatible answer."""


def json_body(raw: bytes, where: str) -> Any:
    """Parse a JSON answer; a non-JSON or absurdly nested one is the endpoint's failure, named."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InferenceError(
            f"{where} answered with something that is not JSON ({str(exc)[:100]}): is it an OpenAI-compatible server?"
        ) from None


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key) or 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**53:
        raise MalformedAnswer(f"a usage.{key} that is not a token count ({str(value)[:40]!r})")
    return int(value)


def read_chat(data: Any, n: int) -> tuple[list[Completion], int, int]:
    """The `n` completions of a /v1/chat/completions body (by index), with its prompt and completion tokens."""
    if not isinstance(data, dict):
        raise MalformedAnswer("with JSON that is not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise MalformedAnswer("without a list of choice objects")
    if len(choices) != n:
        raise MalformedAnswer(f"with {len(choices)} choices for n={n}")
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        raise MalformedAnswer("with a usage that is not an object")
    ordered = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index", 0), int) else 0)
    return [parse_choice(c) for c in ordered], _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")


def read_yes_no(data: Any) -> YesNo:
    """The YES/NO log-probabilities of a one-token judge answer."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise MalformedAnswer("without choices")
    choice = data["choices"][0]
    if not isinstance(choice, dict):
        raise MalformedAnswer("with a choice that is not an object")
    return yes_no_from_choice(choice)


class StreamedChoices:
    """Chat-completion chunks of one streamed request, joined into the body a non-streamed request returns."""

    def __init__(self) -> None:
        self.content: dict[int, list[str]] = {}
        self.reasoning: dict[int, list[str]] = {}
        self.finish: dict[int, str | None] = {}
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: Any) -> int:
        """Take one chunk; returns how many answer pieces it carried."""
        if not isinstance(chunk, dict):
            raise MalformedAnswer("a stream chunk that is not an object")
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise MalformedAnswer("a stream chunk whose choices are not a list")
        pieces = 0
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("index", 0), int):
                raise MalformedAnswer("a stream chunk with a malformed choice")
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise MalformedAnswer("a stream chunk whose delta is not an object")
            self.content.setdefault(index, [])
            for key, into in (
                ("content", self.content),
                ("reasoning_content", self.reasoning),
                ("reasoning", self.reasoning),
            ):
                text = delta.get(key)
                if text is None or text == "":
                    continue
                if not isinstance(text, str):
                    raise MalformedAnswer(f"a stream chunk whose {key} is not text")
                into.setdefault(index, []).append(text)
                pieces += 1
            if choice.get("finish_reason") is not None:
                self.finish[index] = str(choice["finish_reason"])
        return pieces

    def body(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self.content):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content[index])}
            if index in self.reasoning:
                message["reasoning_content"] = "".join(self.reasoning[index])
            choices.append({"index": index, "message": message, "finish_reason": self.finish.get(index)})
        if self.usage is None:  # a server without usage in its stream: count the pieces it sent
            pieces = sum(len(c) for c in self.content.values()) + sum(len(r) for r in self.reasoning.values())
            self.usage = {"prompt_tokens": 0, "completion_tokens": pieces}
        return {"choices": choices, "usage": self.usage}


def queue_depth(metrics_text: str) -> int | None:
    """Requests waiting in a vLLM server's own queue, from its Prometheus text; None if it does not say."""
    total, seen = 0.0, False
    for line in metrics_text.splitlines():
        if line.startswith("vllm:num_requests_waiting"):
            try:
                total += float(line.rsplit(None, 1)[1])
            except (IndexError, ValueError):
                continue
            seen = True
    return int(total) if seen and math.isfinite(total) else None


def parse_choice(choice: Mapping[str, Any]) -> Completion:
    """One `choices[i]` entry of /v1/chat/completions -> Completion."""
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise MalformedAnswer("a choice whose message is not an object")
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not isinstance(content, str) or not isinstance(reasoning, str | None):
        raise MalformedAnswer("a message whose content is not text")
    finish = choice.get("finish_reason")
    if not isinstance(finish, str | None):
        raise MalformedAnswer("a finish_reason that is not text")
    if reasoning is None:  # no reasoning parser on the server: the thoughts are in the content, in some format
        reasoning, content = split_reasoning(content)
    return Completion(text=content, reasoning=reasoning, finish_reason=finish)


def _answer_word(token: str) -> str | None:
    """' Yes' / 'YES' / 'yes.' -> 'yes'; anything else -> None."""
    word = token.strip().strip(".,:;!\"'*").lower()
    return word if word in ("yes", "no") else None


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    m = max(values)
    if m == -math.inf:
        return m
    return m + math.log(sum(math.exp(v - m) for v in values))


def yes_no_from_top_logprobs(candidates: Iterable[Mapping[str, Any]]) -> YesNo:
    """Sum the probability of every spelling of YES (" Yes", "yes", "YES", ...) and of NO among the candidates.

    Summing, not taking the best spelling, because the tokenizer splits one answer across variants and
    each variant is a separate way of saying the same thing.
    """
    seen: set[str] = set()
    mass: dict[str, list[float]] = {"yes": [], "no": []}
    for cand in candidates:
        token = str(cand.get("token", ""))
        if token in seen:  # the sampled token can appear both as itself and in top_logprobs
            continue
        seen.add(token)
        word = _answer_word(token)
        if word is not None:
            logprob = cand.get("logprob", -math.inf)
            if isinstance(logprob, bool) or not isinstance(logprob, int | float) or math.isnan(logprob) or logprob > 0:
                raise MalformedAnswer(f"a log-probability that is not one ({str(logprob)[:40]!r})")
            mass[word].append(float(logprob))
    return YesNo(logprob_yes=_logsumexp(mass["yes"]), logprob_no=_logsumexp(mass["no"]))


def yes_no_from_choice(choice: Mapping[str, Any]) -> YesNo:
    """Read the first generated position's top log-probabilities from a chat choice."""
    logprobs = choice.get("logprobs") or {}
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content:
        return YesNo(logprob_yes=-math.inf, logprob_no=-math.inf)
    first = content[0] if isinstance(content, list) else None
    top = first.get("top_logprobs") if isinstance(first, dict) else None
    if (
        not isinstance(first, dict)
        or not isinstance(top or [], list)
        or not all(isinstance(t, dict) for t in top or [])
    ):
        raise MalformedAnswer("with log-probabilities of the wrong shape")
    return yes_no_from_top_logprobs([first, *(top or [])])
