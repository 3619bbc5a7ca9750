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
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import ValidationError

from pipeline.errors import UserInputError
from pipeline.models import Instruction, Verdict, VerificationPlan
from pipeline.reasoning import split_reasoning, strip_reasoning
from pipeline.verify.plan import JudgeFn, ScoreKind, plan_problems, score_value, verify_response

GROUND_TRUTH_FORMAT = "complexify.plan/v1"
log = logging.getLogger(__name__)


class GroundTruthError(UserInputError):
    """A ground truth given to a reward function is malformed; the message says what to fix."""


def ground_truth_for(instruction: Instruction, baseline_mean_satisfied: float | None = None) -> str:
    """The ground-truth JSON string published in the `rl` rows for `instruction`.

    `baseline_mean_satisfied` is the student's no-reasoning baseline (mean satisfied checks over its
    rollouts), which the contrast rule compares reasoning completions with.
    """
    data: dict[str, Any] = {
        "format": GROUND_TRUTH_FORMAT,
        "instruction_id": instruction.id,
        "category": instruction.category,
        "instruction": instruction.prompt,
        "plan": instruction.plan.model_dump(mode="json"),
    }
    if baseline_mean_satisfied is not None:
        data["baseline_mean_satisfied"] = baseline_mean_satisfied
    return json.dumps(data, ensure_ascii=False)


@dataclass(frozen=True)
class GroundTruth:
    plan: VerificationPlan
    instruction: str
    baseline_mean_satisfied: float | None = None


def parse_ground_truth(ground_truth: str | dict[str, Any] | GroundTruth) -> GroundTruth:
    """Parse and validate a ground-truth value (one already parsed is returned as is); raises UserInputError
    saying what is wrong."""
    if isinstance(ground_truth, GroundTruth):
        return ground_truth
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
        raise GroundTruthError(
            f"ground_truth plan is invalid: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from None
    problems = plan_problems(plan)
    if problems:
        raise GroundTruthError("ground_truth plan is invalid: " + "; ".join(problems))
    baseline = data.get("baseline_mean_satisfied")
    if baseline is not None and (
        isinstance(baseline, bool)
        or not isinstance(baseline, int | float)
        or not math.isfinite(baseline)
        or baseline < 0
    ):
        raise GroundTruthError(f"ground_truth baseline_mean_satisfied must be a finite number >= 0, got {baseline!r}")
    return GroundTruth(plan=plan, instruction=str(data.get("instruction", "")), baseline_mean_satisfied=baseline)


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
    has_reasoning: bool = False
    contrast_masked: bool = False  # a reasoning completion below the no-reasoning baseline: its reward does not count


def has_reasoning(response: str) -> bool:
    """Whether a completion reasoned: a non-empty reasoning part (an empty think block forces a direct answer)."""
    reasoning, _ = split_reasoning(response)
    return bool(reasoning and reasoning.strip())


def apply_contrast(
    score: float,
    satisfied: int,
    baseline: float | None,
    *,
    reasoned: bool,
    answered: bool = True,
    masked_score: float = 0.0,
) -> tuple[float, bool]:
    """RAIF's sample-wise contrast: a reasoning completion counts only if it satisfies at least the baseline's checks.

    Returns the (possibly replaced) score and whether it was masked. Completions without reasoning are
    scored as they are; a reasoning completion below `baseline` gets `masked_score` (0.0: no credit and,
    on the raif scale, no penalty), since RAIF drops such samples from the policy update. A reasoning
    completion with no final answer keeps its (lowest) score, as RAIF keeps badly formatted samples in
    the update with their negative reward: failing to answer must not escape the penalty.
    """
    if not reasoned or not answered:
        return score, False
    if baseline is None:
        raise GroundTruthError(
            "the contrast rule needs the row's baseline_mean_satisfied in the ground truth; "
            "publish from a run that measured student rollouts (models.student.enabled: true)"
        )
    if satisfied >= baseline:
        return score, False
    return masked_score, True


def score_response(
    response: str | None,
    ground_truth: str | dict[str, Any] | GroundTruth,
    *,
    score: ScoreKind = "raif",
    strip_think: bool = True,
    judge: JudgeFn | None = None,
    contrast: bool = False,
    masked_score: float = 0.0,
) -> RewardResult:
    """Verify one response against its ground truth and return the score with the full verdict.

    A None response is scored as the empty answer (every check fails) instead of raising. With
    `contrast`, RAIF's sample-wise contrast rule applies (`apply_contrast`).
    """
    gt = parse_ground_truth(ground_truth)
    response = response or ""
    text = strip_reasoning(response) if strip_think else response
    verdict = verify_response(text, gt.plan, instruction=gt.instruction, judge=judge)
    value, reasoned, masked = score_value(verdict, score), has_reasoning(response), False
    if contrast:
        value, masked = apply_contrast(
            value, verdict.n_passed, gt.baseline_mean_satisfied,
            reasoned=reasoned, answered=bool(text.strip()), masked_score=masked_score,
        )  # fmt: skip
    return RewardResult(value, verdict, bool(verdict.skipped), has_reasoning=reasoned, contrast_masked=masked)


class TRLReward:
    """A TRL-style reward function object (GRPOTrainer calls it with the dataset columns as kwargs)."""

    def __init__(
        self,
        score: ScoreKind = "raif",
        strip_think: bool = True,
        judge: JudgeFn | None = None,
        contrast: bool = False,
        masked_score: float = 0.0,
    ) -> None:
        self.score = score
        self.strip_think = strip_think
        self.judge = judge
        self.contrast = contrast
        self.masked_score = masked_score
        self.__name__ = f"complexify_{score}" + ("_contrast" if contrast else "")
        self._warned = False

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], ground_truth: Sequence[str], **kwargs: Any
    ) -> list[float]:
        if len(completions) != len(ground_truth):
            raise UserInputError(f"{len(completions)} completions but {len(ground_truth)} ground truths")
        out = []
        for completion, gt in zip(completions, ground_truth, strict=True):
            result = score_response(
                completion_text(completion), gt, score=self.score, strip_think=self.strip_think, judge=self.judge,
                contrast=self.contrast, masked_score=self.masked_score,
            )  # fmt: skip
            if result.judge_skipped and not self._warned:
                log.warning("judge checks skipped: no judge configured; they count as unsatisfied in every score")
                self._warned = True
            out.append(result.score)
        return out


def make_trl_reward(
    score: ScoreKind = "raif",
    strip_think: bool = True,
    judge: JudgeFn | None = None,
    contrast: bool = False,
    masked_score: float = 0.0,
) -> TRLReward:
    """Build a TRL reward function with the given score kind, reasoning stripping, judge and contrast rule."""
    return TRLReward(score=score, strip_think=strip_think, judge=judge, contrast=contrast, masked_score=masked_score)


reward = TRLReward()


def check_reward_mode(
    score: object, masked_score: object, *, score_name: str = "score", masked_name: str = "masked_score"
) -> None:
    """Reject a score kind the rewards do not have, or a masked score that is not a finite number, naming the
    argument (`score_name`, `masked_name`) and the allowed values."""
    if score not in get_args(ScoreKind):
        raise UserInputError(f"{score_name} must be one of {', '.join(get_args(ScoreKind))}, got {score!r}")
    if isinstance(masked_score, bool) or not isinstance(masked_score, int | float) or not math.isfinite(masked_score):
        raise UserInputError(f"{masked_name} must be a finite number, got {masked_score!r}")


def compute_score(
    data_source: str, solution_str: str | None, ground_truth: str, extra_info: dict[str, Any] | None = None
) -> float:
    """verl-style reward; None scores as "".

    `extra_info` may set `score` (all_pass|drfr|raif), `strip_think` (bool), `contrast` (bool: RAIF's
    sample-wise contrast rule against the ground truth's baseline) and `masked_score` (what a masked
    reasoning completion gets, 0.0 by default).
    """
    info = extra_info or {}
    kind, masked = info.get("score", "raif"), info.get("masked_score", 0.0)
    check_reward_mode(kind, masked, score_name="extra_info['score']", masked_name="extra_info['masked_score']")
    return score_response(
        solution_str, ground_truth, score=kind, strip_think=bool(info.get("strip_think", True)),
        contrast=bool(info.get("contrast", False)), masked_score=float(masked),
    ).score  # fmt: skip
