"""Run a verification plan on a response: per-check results -> dependency gating -> scores.

A check that was not decided (a judge check with no judge to ask) is reported as skipped and is never
counted as satisfied: it stays in the denominator of DRFR and of RAIF's reward as an unsatisfied
check, and a verdict with a skipped check is never all-pass. Its dependents are still judged on their
own results, since an undecided prerequisite is unknown rather than failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline import spans
from pipeline.checks.registry import CheckResult, error_result, run_check_closed
from pipeline.models import Check, CheckVerdict, Verdict, VerificationPlan

NO_ANSWER = "no final answer (the response is empty once its reasoning is split off)"

ScoreKind = Literal["all_pass", "drfr", "raif"]


@dataclass(frozen=True, slots=True)
class JudgeQuery:
    """One yes/no question about a response, for the LLM judge."""

    check_id: str
    instruction: str
    response: str
    question: str


JudgeFn = Callable[[Sequence[JudgeQuery]], Sequence[CheckResult]]


def run_code_check(check: Check, response: str) -> CheckResult:
    """Run one code check on its span of the response; fails closed: a bad scope, checker id or kwargs, or a
    checker error, is a failed check naming the error, never a pass and never an exception."""
    try:
        text = spans.extract_span(response, check.scope)
    except ValueError as exc:
        return error_result(exc)
    if text is None:
        where = check.scope.removeprefix(spans.RAW_PREFIX).removeprefix("part:")
        return CheckResult(False, f"part {where} not found (expected a '### Part {where}' heading line)")
    if not text.strip():
        return CheckResult(False, "empty text")
    return run_check_closed(check.checker, text, check.kwargs)


def judge_queries(plan: VerificationPlan, response: str, instruction: str) -> list[JudgeQuery]:
    """The judge questions of a plan, each asked about its own span of the response."""
    out = []
    for c in plan.checks:
        if c.kind == "judge":
            assert c.question is not None
            text = spans.extract_span(response, c.scope)
            out.append(JudgeQuery(c.id, instruction, text if text is not None else "", c.question))
    return out


def verify_response(
    response: str, plan: VerificationPlan, *, instruction: str = "", judge: JudgeFn | None = None
) -> Verdict:
    """Evaluate every check; without a judge, judge checks are skipped and count as unsatisfied.

    A response with no answer text (empty, or nothing left after its reasoning was split off) fails every
    check with that reason, as in the IFEval reference: "no commas" or "at most 50 words" must not pass
    on nothing.
    """
    if not response.strip():
        return score(plan, {c.id: CheckResult(False, NO_ANSWER) for c in plan.checks}, set())
    raw: dict[str, CheckResult] = {}
    for c in plan.checks:
        if c.kind == "code":
            raw[c.id] = run_code_check(c, response)
    skipped: set[str] = set()
    queries = judge_queries(plan, response, instruction)
    if queries:
        if judge is None:
            skipped = {q.check_id for q in queries}
        else:
            answers = list(judge(queries))
            if len(answers) != len(queries):
                raise ValueError(f"judge returned {len(answers)} answers for {len(queries)} questions")
            for q, a in zip(queries, answers, strict=True):
                raw[q.check_id] = a if q.response.strip() else CheckResult(False, "span missing or empty")
    return score(plan, raw, skipped)


def without_checks(plan: VerificationPlan, drop: Callable[[Check], bool]) -> VerificationPlan:
    """The plan without the checks `drop` selects; the remaining checks no longer depend on them."""
    gone = {c.id for c in plan.checks if drop(c)}
    if not gone:
        return plan
    kept = [
        c.model_copy(update={"depends_on": [d for d in c.depends_on if d not in gone]})
        for c in plan.checks
        if c.id not in gone
    ]
    return plan.model_copy(update={"checks": kept})


def plan_problems(plan: VerificationPlan) -> list[str]:
    """Why a plan cannot run: duplicate ids, missing checker or question, prerequisites that are not earlier checks."""
    problems = []
    ids = {c.id for c in plan.checks}
    seen: set[str] = set()
    for c in plan.checks:
        if c.id in seen:
            problems.append(f"check id {c.id!r} is used twice; give every check its own id")
        if c.kind == "code" and not c.checker:
            problems.append(f"check {c.id!r} is a code check without a 'checker'; name a registered checker id")
        if c.kind == "judge" and not c.question:
            problems.append(f"check {c.id!r} is a judge check without a 'question'; give it a yes/no question")
        for d in c.depends_on:
            if d not in ids:
                problems.append(
                    f"check {c.id!r} depends on {d!r}, which is not a check of the plan; remove it from depends_on"
                )
            elif d not in seen:
                problems.append(
                    f"check {c.id!r} depends on {d!r}, which is not listed before it; list prerequisites first"
                )
        seen.add(c.id)
    return problems


def score(
    plan: VerificationPlan, raw: dict[str, CheckResult], skipped: set[str] | frozenset[str] = frozenset()
) -> Verdict:
    """Gate each check on its prerequisites (listed transitively) and compute all-pass, DRFR and RAIF reward.

    Every check of the plan is in the denominator; a skipped check is never satisfied (see the module docstring).
    """
    verdicts: list[CheckVerdict] = []
    passed: dict[str, bool] = {}
    for c in plan.checks:
        unknown = [d for d in c.depends_on if d not in passed and d not in skipped]
        if unknown:
            raise ValueError(f"check {c.id!r} depends on {unknown[0]!r}, which is not an earlier check of the plan")
        if c.id in skipped:
            verdicts.append(
                CheckVerdict(check_id=c.id, passed=False, gated=False, evidence="no judge configured", skipped=True)
            )
            continue
        result = raw[c.id]
        passed[c.id] = result.passed
        # Prerequisites are listed transitively, so their own results suffice. A skipped prerequisite is undecided,
        # not failed: it blocks nothing, and it already costs the score as an unsatisfied check of its own.
        blocked = [d for d in c.depends_on if d not in skipped and not passed[d]]
        evidence = (
            result.evidence if not blocked else f"{result.evidence}; gated: prerequisite {', '.join(blocked)} failed"
        )
        verdicts.append(
            CheckVerdict(check_id=c.id, passed=result.passed, gated=result.passed and not blocked, evidence=evidence)
        )
    n_passed = sum(v.gated for v in verdicts)
    n = len(verdicts)
    return Verdict(
        checks=verdicts,
        all_pass=n > 0 and n_passed == n,
        drfr=n_passed / n if n else 0.0,
        raif=raif_reward(n_passed, n),
        n_checks=n,
        n_passed=n_passed,
        skipped=[v.check_id for v in verdicts if v.skipped],
    )


def raif_reward(n_passed: int, n: int) -> float:
    """RAIF's content reward: +2 when every check passes, -2 when none does, else the fraction passed."""
    if n == 0:
        return 0.0
    if n_passed == n:
        return 2.0
    if n_passed == 0:
        return -2.0
    return n_passed / n


def score_value(verdict: Verdict, kind: ScoreKind) -> float:
    """One number from a verdict: all_pass (1.0/0.0), drfr, or raif."""
    if kind == "all_pass":
        return 1.0 if verdict.all_pass else 0.0
    if kind == "drfr":
        return verdict.drfr
    return verdict.raif
