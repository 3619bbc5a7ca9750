"""RL reward functions computed from the ground truth published with each RL row.

The ground truth is a JSON string holding the verification plan (checks, kwargs, dependencies, the
correct Selection branches) and the instruction text. Two calling conventions:

- TRL: ``reward(prompts, completions, ground_truth, **kwargs) -> list[float]``
- verl: ``compute_score(data_source, solution_str, ground_truth, extra_info=None) -> float``

Judge checks are decided by a configured judge (``make_trl_reward(judge=...)``); without one they
are skipped and count as unsatisfied (so a response can never earn the full reward on an undecided
check), and ``score_response`` reports the skip as ``judge_skipped``.

A ``None`` completion (a trainer that lost a generation) scores as the empty answer rather than
raising, so one bad rollout cannot stop training; a malformed ground truth raises GroundTruthError.

Reasoning is stripped before checking (``strip_think``, on by default), so reasoning that mentions
the required keywords earns nothing for an answer that lacks them; see ``strip_reasoning``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pipeline.errors import UserInputError
from pipeline.models import Instruction, Verdict, VerificationPlan
from pipeline.verify.checks.views import strip_reasoning_blocks
from pipeline.verify.plan import JudgeFn, ScoreKind, plan_problems, score_value, verify_response

GROUND_TRUTH_FORMAT = "complexify.plan/v1"
log = logging.getLogger(__name__)
# Tags are matched ASCII-case-insensitively; every pattern is a literal or a bounded, possessive scan,
# so one pass over the text is linear whatever it holds (a degenerate rollout must not stall training).
_TAGS = re.IGNORECASE | re.ASCII
_CHANNEL_RE = re.compile(r"<\|channel\|>", _TAGS)
# A harmony message header: `<|channel|>NAME[ extra][<|constrain|>FORMAT]<|message|>`.
_HEADER_RE = re.compile(r"<\|channel\|>([^<]*+)(?:<\|constrain\|>[^<]*+)?<\|message\|>", _TAGS)
_FINAL_RE = re.compile(r"\s*final(?:\s|$)", _TAGS)
_MESSAGE_END_RE = re.compile(r"<\|(?:end|return|call|start|channel)\|>", _TAGS)


class GroundTruthError(UserInputError):
    """A ground truth given to a reward function is malformed; the message says what to fix."""


def ground_truth_for(instruction: Instruction) -> str:
    """The ground-truth JSON string published in the `rl` rows for `instruction`."""
    return json.dumps(
        {
            "format": GROUND_TRUTH_FORMAT,
            "instruction_id": instruction.id,
            "category": instruction.category,
            "instruction": instruction.prompt,
            "plan": instruction.plan.model_dump(mode="json"),
        },
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class GroundTruth:
    plan: VerificationPlan
    instruction: str


def parse_ground_truth(ground_truth: str | dict[str, Any]) -> GroundTruth:
    """Parse and validate a ground-truth value; raises UserInputError saying what is wrong."""
    data: Any = ground_truth
    if isinstance(ground_truth, str):
        try:
            data = json.loads(ground_truth)
        except json.JSONDecodeError as exc:
            raise GroundTruthError(f"ground_truth is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict) or data.get("format") != GROUND_TRUTH_FORMAT or "plan" not in data:
        raise GroundTruthError(f"ground_truth must be a JSON object with format {GROUND_TRUTH_FORMAT!r} and a 'plan'")
    try:
        plan = VerificationPlan.model_validate(data["plan"])
    except ValidationError as exc:
        raise GroundTruthError(f"ground_truth plan is invalid: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}") from None
    problems = plan_problems(plan)
    if problems:
        raise GroundTruthError("ground_truth plan is invalid: " + "; ".join(problems))
    return GroundTruth(plan=plan, instruction=str(data.get("instruction", "")))


def strip_reasoning(text: str) -> str:
    """The answer part of a model output, without its reasoning; linear time on any input.

    Formats, with tags matched in any case:

    - ``<think>``, ``<thinking>`` or ``<reasoning>`` blocks, nested or not (any of the names closes
      one level): the answer is the text after the last block. Text before a block is dropped too.
    - A closing tag with no block open: the chat template opened the block, so everything before it is
      reasoning (DeepSeek-R1 style ``...</think>ANSWER``). With several, the **last** one wins: anything
      before a closing tag may be reasoning, and reasoning must never be scored as answer text.
    - An opening tag that is never closed: the rest of the output is reasoning, so the answer ends
      there (``<think>unfinished`` has an empty answer).
    - gpt-oss harmony channels: only the message of the last ``final`` channel is kept
      (``<|channel|>analysis<|message|>...<|end|><|channel|>final<|message|>ANSWER``); harmony output
      without a final channel has an empty answer.

    The answer is stripped of surrounding whitespace; text with none of these markers is returned
    unchanged. The result holds no marker, so stripping twice changes nothing.
    """
    final = _harmony_final_message(text)
    if final is not None:
        text = final
    answer = strip_reasoning_blocks(text)  # one linear pass over the think, thinking and reasoning tags
    if final is None and answer == text:  # no tags: returned exactly as given
        return text
    return answer.strip()


def _harmony_final_message(text: str) -> str | None:
    """The last `final` channel message of harmony-format output, "" if it has none; None if not harmony."""
    if _CHANNEL_RE.search(text) is None:
        return None
    final = None
    for header in _HEADER_RE.finditer(text):
        if _FINAL_RE.match(header.group(1)):
            final = header
    if final is None:
        return ""
    end = _MESSAGE_END_RE.search(text, final.end())
    return text[final.end() : end.start() if end is not None else len(text)]


def completion_text(completion: str | Sequence[dict[str, Any]] | None) -> str:
    """A completion as text: a string, the content of the last assistant message of a chat list, or "" for None."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    for message in reversed(list(completion)):
        if message.get("role", "assistant") == "assistant":
            content = message.get("content", "")
            return content if isinstance(content, str) else ""
    return ""


@dataclass(frozen=True)
class RewardResult:
    score: float
    verdict: Verdict
    judge_skipped: bool


def score_response(
    response: str | None,
    ground_truth: str | dict[str, Any],
    *,
    score: ScoreKind = "raif",
    strip_think: bool = True,
    judge: JudgeFn | None = None,
) -> RewardResult:
    """Verify one response against its ground truth and return the score with the full verdict.

    A None response is scored as the empty answer (every check fails) instead of raising.
    """
    gt = parse_ground_truth(ground_truth)
    response = response or ""
    text = strip_reasoning(response) if strip_think else response
    verdict = verify_response(text, gt.plan, instruction=gt.instruction, judge=judge)
    return RewardResult(score=score_value(verdict, score), verdict=verdict, judge_skipped=bool(verdict.skipped))


class TRLReward:
    """A TRL-style reward function object (GRPOTrainer calls it with the dataset columns as kwargs)."""

    def __init__(self, score: ScoreKind = "raif", strip_think: bool = True, judge: JudgeFn | None = None) -> None:
        self.score = score
        self.strip_think = strip_think
        self.judge = judge
        self.__name__ = f"complexify_{score}"
        self._warned = False

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], ground_truth: Sequence[str], **kwargs: Any
    ) -> list[float]:
        if len(completions) != len(ground_truth):
            raise UserInputError(f"{len(completions)} completions but {len(ground_truth)} ground truths")
        out = []
        for completion, gt in zip(completions, ground_truth, strict=True):
            result = score_response(completion_text(completion), gt, score=self.score, strip_think=self.strip_think, judge=self.judge)
            if result.judge_skipped and not self._warned:
                log.warning("judge checks skipped: no judge configured; they count as unsatisfied in every score")
                self._warned = True
            out.append(result.score)
        return out


def make_trl_reward(score: ScoreKind = "raif", strip_think: bool = True, judge: JudgeFn | None = None) -> TRLReward:
    """Build a TRL reward function with the given score kind, reasoning stripping and judge."""
    return TRLReward(score=score, strip_think=strip_think, judge=judge)


reward = TRLReward()


def compute_score(
    data_source: str, solution_str: str | None, ground_truth: str, extra_info: dict[str, Any] | None = None
) -> float:
    """verl-style reward. `extra_info` may set `score` (all_pass|drfr|raif) and `strip_think` (bool); None scores as ""."""
    info = extra_info or {}
    kind = info.get("score", "raif")
    if kind not in ("all_pass", "drfr", "raif"):
        raise UserInputError(f"extra_info['score'] must be all_pass, drfr or raif, got {kind!r}")
    return score_response(solution_str, ground_truth, score=kind, strip_think=bool(info.get("strip_think", True))).score
