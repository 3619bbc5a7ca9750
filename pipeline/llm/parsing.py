"""Pure helpers that read OpenAI-compatible responses: reasoning split, choices, YES/NO log-probabilities."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.llm.records import Completion, YesNo
from pipeline.reasoning import split_reasoning


def parse_choice(choice: Mapping[str, Any]) -> Completion:
    """One `choices[i]` entry of /v1/chat/completions -> Completion."""
    message = choice.get("message") or {}
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning is None:  # no reasoning parser on the server: the thoughts are in the content, in some format
        reasoning, content = split_reasoning(content)
    return Completion(text=content, reasoning=reasoning, finish_reason=choice.get("finish_reason"))


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
            mass[word].append(float(cand.get("logprob", -math.inf)))
    return YesNo(logprob_yes=_logsumexp(mass["yes"]), logprob_no=_logsumexp(mass["no"]))


def yes_no_from_choice(choice: Mapping[str, Any]) -> YesNo:
    """Read the first generated position's top log-probabilities from a chat choice."""
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content:
        return YesNo(logprob_yes=-math.inf, logprob_no=-math.inf)
    first = content[0]
    return yes_no_from_top_logprobs([first, *(first.get("top_logprobs") or [])])
