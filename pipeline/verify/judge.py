"""LLM judge for judge-checked constraints: one yes/no question per check, decided by log-probabilities.

The decision compares the model's log-probability of answering YES with that of answering NO (RAIF's
rule, with InfoBench-style questions) instead of parsing free text, so a verbose or malformed answer
cannot flip a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Protocol

import yaml

from pipeline.checks.registry import CheckResult
from pipeline.project import PROMPTS_DIR
from pipeline.verify.plan import JudgeQuery

Messages = list[dict[str, str]]


class YesNoScorer(Protocol):
    """What the judge needs from an engine: log P(YES) and log P(NO) as the next answer, per conversation."""

    def yes_no_logprobs(self, conversations: Sequence[Messages]) -> list[tuple[float, float]]: ...


@cache
def judge_prompt() -> dict[str, str]:
    return yaml.safe_load((PROMPTS_DIR / "judge.yaml").read_text(encoding="utf-8"))


def build_judge_messages(query: JudgeQuery, max_chars: int = 12000) -> Messages:
    """The chat messages asking one yes/no question about one response span."""
    tpl = judge_prompt()
    response = query.response if len(query.response) <= max_chars else query.response[:max_chars] + "\n[...truncated]"
    user = tpl["user"].format(
        instruction=query.instruction.strip(), response=response.strip(), question=query.question.strip()
    )
    return [{"role": "system", "content": tpl["system"]}, {"role": "user", "content": user}]


def decide(logprob_yes: float, logprob_no: float, margin: float = 0.0) -> CheckResult:
    """YES wins when its log-probability beats NO's by more than `margin` nats."""
    if math.isnan(logprob_yes) or math.isnan(logprob_no):
        return CheckResult(False, "judge gave no usable YES/NO probabilities")
    p_yes = _prob_yes(logprob_yes, logprob_no)
    passed = logprob_yes - logprob_no > margin
    return CheckResult(passed, f"judge P(yes)={p_yes:.2f}")


def _prob_yes(lp_yes: float, lp_no: float) -> float:
    if lp_yes == -math.inf and lp_no == -math.inf:
        return 0.5
    m = max(lp_yes, lp_no)
    a, b = math.exp(lp_yes - m), math.exp(lp_no - m)
    return a / (a + b)


class LLMJudge:
    """Callable judge for `verify_response`: batches the questions through a YesNoScorer."""

    def __init__(self, scorer: YesNoScorer, *, margin: float = 0.0, batch_size: int = 64) -> None:
        self.scorer = scorer
        self.margin = margin
        self.batch_size = batch_size

    def __call__(self, queries: Sequence[JudgeQuery]) -> list[CheckResult]:
        out: list[CheckResult] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = queries[start : start + self.batch_size]
            scores = self.scorer.yes_no_logprobs([build_judge_messages(q) for q in chunk])
            if len(scores) != len(chunk):
                raise ValueError(f"scorer returned {len(scores)} scores for {len(chunk)} questions")
            out.extend(decide(y, n, self.margin) for y, n in scores)
        return out
