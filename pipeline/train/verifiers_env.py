"""A `verifiers` environment over a published folder's `rl` config, scored with complexify's reward.

Load it by module name, as `verifiers` loads any environment:

    vf-eval pipeline.train.verifiers_env -a '{"published": "out/published", "score": "all_pass"}' \\
        -b http://127.0.0.1:8000/v1 -k EMPTY_KEY -m smollm2-135m-instruct -n 8 -r 2 -s

or `verifiers.load_environment("pipeline.train.verifiers_env", published=...)` in a trainer. Runs in the
training environment (`make train-env`, where `verifiers` is installed) with this checkout importable.

Each rollout's reward is `score_response` on the last assistant message against the row's `ground_truth`
(the same function behind the TRL reward and verl's `compute_score`), in the selected mode: `score`
(`all_pass`, `drfr` or `raif`), `strip_think`, RAIF's `contrast` rule and its `masked_score`. Zero-weight
metrics report `all_pass`, `fraction_satisfied` and `checks_satisfied` whatever the mode, and the rollout's
state carries the per-constraint diagnostics under `complexify` (save them with `--state-columns complexify`).
Nothing the environment is given (prompt, ground truth, info) is changed by scoring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import UserInputError
from pipeline.models import Check, Verdict
from pipeline.train.smoke import load_config_rows
from pipeline.verify.plan import JudgeFn, ScoreKind
from pipeline.verify.reward import (
    RewardResult,
    check_reward_mode,
    completion_text,
    parse_ground_truth,
    score_response,
)

DIAGNOSTICS_KEY = "complexify"
# The reward of an answer that satisfies every check, per score kind: verifiers' pass@k counts rollouts at or above it.
FULL_MARKS: dict[str, float] = {"all_pass": 1.0, "drfr": 1.0, "raif": 2.0}


def check_diagnostics(verdict: Verdict, checks: list[Check]) -> list[dict[str, Any]]:
    """One entry per check of the plan: what it verifies and how the response fared, before and after gating."""
    by_id = {c.id: c for c in checks}
    out = []
    for v in verdict.checks:
        check = by_id[v.check_id]  # a verdict has one entry per check of the plan it verified
        out.append(
            {
                "check_id": v.check_id,
                "kind": check.kind,
                "checker": check.checker,
                "dimension": check.dimension,
                "depends_on": list(check.depends_on),
                "passed": v.passed,
                "satisfied": v.gated,  # passed and every prerequisite satisfied: what the scores count
                "skipped": v.skipped,
                "evidence": v.evidence,
            }
        )
    return out


def diagnostics(result: RewardResult, checks: list[Check]) -> dict[str, Any]:
    """The rollout's verdict as plain data: its reward, its scores in every mode, and every check's outcome."""
    v = result.verdict
    return {
        "reward": result.score,
        "all_pass": v.all_pass,
        "drfr": v.drfr,
        "raif": v.raif,
        "checks_satisfied": v.n_passed,
        "n_checks": v.n_checks,
        "judge_skipped": result.judge_skipped,
        "has_reasoning": result.has_reasoning,
        "contrast_masked": result.contrast_masked,
        "checks": check_diagnostics(v, checks),
    }


def make_rubric(
    score: ScoreKind = "raif",
    strip_think: bool = True,
    contrast: bool = False,
    masked_score: float = 0.0,
    judge: JudgeFn | None = None,
) -> Any:
    """A `verifiers` Rubric whose one weighted function is complexify's reward in the given mode."""
    check_reward_mode(score, masked_score)
    import verifiers as vf

    def scored(state: Any) -> dict[str, Any]:
        return dict(state[DIAGNOSTICS_KEY])

    def reward(completion: Any, answer: str, state: Any) -> float:
        gt = parse_ground_truth(answer)
        result = score_response(
            completion_text(completion), gt, score=score, strip_think=strip_think, judge=judge,
            contrast=contrast, masked_score=masked_score,
        )  # fmt: skip
        state[DIAGNOSTICS_KEY] = diagnostics(result, gt.plan.checks)
        return result.score

    def all_pass(state: Any) -> float:
        return 1.0 if scored(state)["all_pass"] else 0.0

    def fraction_satisfied(state: Any) -> float:
        return float(scored(state)["drfr"])

    def checks_satisfied(state: Any) -> float:
        return float(scored(state)["checks_satisfied"])

    reward.__name__ = f"complexify_{score}" + ("_contrast" if contrast else "")
    # The metrics read what the reward stored, so they run after it (verifiers calls functions in order).
    return vf.Rubric(funcs=[reward, all_pass, fraction_satisfied, checks_satisfied], weights=[1.0, 0.0, 0.0, 0.0])


def load_environment(
    published: str,
    score: ScoreKind = "raif",
    strip_think: bool = True,
    contrast: bool = False,
    masked_score: float = 0.0,
    system_prompt: str | None = None,
    judge: JudgeFn | None = None,
) -> Any:
    """A single-turn `verifiers` environment over the `rl` rows of the published folder `published`.

    Every ground truth is parsed up front, so a malformed row fails here with its id instead of scoring 0
    (verifiers turns a raising reward function into a zero reward). `judge` decides judge checks (Python
    callers only); without one they count as unsatisfied, as in every reward surface.
    """
    check_reward_mode(score, masked_score)
    rows = load_config_rows(Path(published), "rl")
    for row in rows:
        try:
            gt = parse_ground_truth(row["ground_truth"])
        except UserInputError as exc:
            raise UserInputError(f"rl row {row['id']} of {published}: {exc}") from exc
        if contrast and gt.baseline_mean_satisfied is None:
            raise UserInputError(
                f"rl row {row['id']} of {published} has no baseline_mean_satisfied, which contrast=true needs; "
                "publish from a run that measured student rollouts (models.student.enabled: true)"
            )
    # verifiers hands a row's `answer` to the reward: there goes the ground truth complexify scores against.
    dataset = rows.select_columns(["id", "prompt", "ground_truth"]).map(
        lambda row: {"answer": row["ground_truth"], "info": {"id": row["id"]}},
        remove_columns=["ground_truth"],
        desc="complexify rl rows",
    )
    import verifiers as vf

    return vf.SingleTurnEnv(
        dataset=dataset,
        eval_dataset=dataset,
        system_prompt=system_prompt,
        rubric=make_rubric(score, strip_think, contrast, masked_score, judge),
        pass_threshold=FULL_MARKS[score],
    )
