"""Judge calibration: how far the LLM judge can be trusted, per constraint dimension, measured in every run.

A share of the code-checked constraints is also asked as a judge question; the code verdict is the label.
Gold examples (a JSONL file of judged soft-constraint answers, see `pipeline/judge_gold.py`) add labelled
questions the code cannot check. From the stored (log P(YES) - log P(NO), label) pairs come, per dimension,
the judge's precision and recall and the smallest margin at which its YES is at least 95% precise; a routing
rule turns those numbers into what a dimension's judge checks may do: `gate` (reject a candidate),
`reward-only` (count in the scores, never reject) or `report-only` (recorded only). Judge-injection probes
(`pipeline/verify/judge_injection.py`: wrong answers dressed up with override text, a verdict in the reasoning,
a persuasive self-assessment or an echo of the instruction) give each dimension its false-credit rate, kept apart
from the precision; a dimension whose judge gives false credit above the rule's `max_false_credit` cannot gate.

The calibration questions never touch a verdict's checks or scores: they are extra judge calls whose
answers are kept next to the verdict (`Verdict.calibration`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline import spans
from pipeline.construct.tree import iter_constraints
from pipeline.models import Check, Instruction, JudgeProbe, Verdict
from pipeline.verify.judge import YesNoScorer, build_judge_messages, judge_prompt
from pipeline.verify.plan import JudgeQuery

Route = Literal["gate", "reward-only", "report-only"]
ROUTES: tuple[Route, ...] = ("gate", "reward-only", "report-only")
TARGET_PRECISION = 0.95


# --- the numbers -------------------------------------------------------------------------------------------


def judge_score(logprob_yes: float, logprob_no: float) -> float:
    """The judge's margin for YES in nats (NaN when it gave no usable probabilities, as `decide` treats it)."""
    if math.isnan(logprob_yes) or math.isnan(logprob_no) or logprob_yes == logprob_no == -math.inf:
        return math.nan
    return logprob_yes - logprob_no


def precision_at(pairs: Sequence[tuple[float, bool]], margin: float) -> float | None:
    """Share of the pairs the judge calls YES at `margin` (score > margin) whose label is True; None without a YES."""
    yes = [label for score, label in pairs if score > margin]
    return sum(yes) / len(yes) if yes else None


def margin_for_precision(pairs: Sequence[tuple[float, bool]], target: float = TARGET_PRECISION) -> float | None:
    """The smallest margin >= 0 at which the judge's YES reaches `target` precision on `pairs`; None if none does.

    YES means score > margin, so precision only changes at the scores themselves: the candidates are 0 and
    every positive score, tried from the smallest (a NaN score is never YES).
    """
    candidates = sorted({0.0, *(s for s, _ in pairs if s > 0)})
    for m in candidates:
        p = precision_at(pairs, m)
        if p is not None and p >= target:
            return m
    return None


@dataclass(frozen=True, slots=True)
class DimensionCalibration:
    """The judge measured on one dimension: `n` labelled questions (`gold` of them from the gold file)."""

    dimension: str
    n: int
    gold: int
    positives: int  # labelled True
    judged_yes: int  # the run's judge said YES (at its configured margin)
    true_yes: int  # ... and the label is True
    precision: float | None  # true_yes / judged_yes
    recall: float | None  # true_yes / positives
    margin_95: float | None  # smallest margin with precision >= 0.95 on these pairs
    probes: int = 0  # judge-injection probes asked (their right answer is NO; not counted in n)
    false_credit: float | None = None  # share of the probes the judge answered YES


@dataclass(frozen=True, slots=True)
class LabelledScore:
    """One calibration pair as the statistics read it back."""

    dimension: str
    score: float
    judged_yes: bool
    label: bool
    gold: bool = False
    injection: bool = False  # a judge-injection probe (label False): counts in the false-credit rate only


def summarize(pairs: Iterable[LabelledScore]) -> list[DimensionCalibration]:
    """Per dimension (sorted): counts, precision and recall of the recorded YES, the 95%-precision margin, and
    the false-credit rate of the injection probes."""
    groups: dict[str, list[LabelledScore]] = {}
    probes: dict[str, list[LabelledScore]] = {}
    for p in pairs:
        (probes if p.injection else groups).setdefault(p.dimension, []).append(p)
        groups.setdefault(p.dimension, [])
    out = []
    for dim, group in sorted(groups.items()):
        fooled = [p.judged_yes for p in probes.get(dim, [])]
        judged_yes = sum(p.judged_yes for p in group)
        positives = sum(p.label for p in group)
        true_yes = sum(p.judged_yes and p.label for p in group)
        out.append(
            DimensionCalibration(
                dimension=dim,
                n=len(group),
                gold=sum(p.gold for p in group),
                positives=positives,
                judged_yes=judged_yes,
                true_yes=true_yes,
                precision=true_yes / judged_yes if judged_yes else None,
                recall=true_yes / positives if positives else None,
                margin_95=margin_for_precision([(p.score, p.label) for p in group]),
                probes=len(fooled),
                false_credit=sum(fooled) / len(fooled) if fooled else None,
            )
        )
    return out


# --- routing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """How `auto` routes a dimension: below `min_samples` labelled questions the numbers are not trusted yet."""

    min_samples: int = 20
    min_precision: float = 0.9  # gate at or above
    min_reward_precision: float = 0.7  # reward-only at or above, report-only below
    untrusted: Route = "gate"  # too few samples: what the judge did before calibration existed
    max_false_credit: float = 0.1  # above this share of YES on injection probes a dimension cannot gate


def fooled(cal: DimensionCalibration | None, rule: RoutingRule) -> bool:
    """Whether the judge gave false credit on this dimension's injection probes above the rule's limit."""
    return cal is not None and cal.false_credit is not None and cal.false_credit > rule.max_false_credit


def auto_route(cal: DimensionCalibration | None, rule: RoutingRule) -> Route:
    """The route the numbers support (a judge that never said YES has no precision: it counts as 0); a judge the
    injection probes fooled never gates (report-only: its credit can be bought with text)."""
    if fooled(cal, rule):
        return "report-only"
    if cal is None or cal.n < rule.min_samples:
        return rule.untrusted
    precision = cal.precision or 0.0
    if precision >= rule.min_precision:
        return "gate"
    return "reward-only" if precision >= rule.min_reward_precision else "report-only"


def resolve_routes(
    dimensions: Iterable[str],
    fixed: Mapping[str, str],
    default: str,
    calibration: Sequence[DimensionCalibration],
    rule: RoutingRule,
) -> dict[str, Route]:
    """Every dimension's route: its fixed route, else the default; `auto` decided by `calibration`. A dimension
    whose judge the injection probes fooled (`fooled`) cannot gate, whatever its route: it becomes report-only."""
    by_dim = {c.dimension: c for c in calibration}
    out: dict[str, Route] = {}
    for dim in sorted(set(dimensions) | set(fixed)):
        route = fixed.get(dim, default)
        decided = auto_route(by_dim.get(dim), rule) if route == "auto" else _as_route(route)
        out[dim] = "report-only" if decided == "gate" and fooled(by_dim.get(dim), rule) else decided
    return out


def _as_route(route: str) -> Route:
    for r in ROUTES:
        if r == route:
            return r
    raise ValueError(f"unknown judge route {route!r}; use one of {', '.join(ROUTES)} or auto")


def ungated_checks(verdict_plan: Sequence[Check], routes: Mapping[str, str]) -> frozenset[str]:
    """Ids of the judge checks whose dimension is not routed to `gate` (a dimension not listed gates)."""
    return frozenset(
        c.id for c in verdict_plan if c.kind == "judge" and routes.get(c.dimension or "", "gate") != "gate"
    )


# --- asking code checks as judge questions -----------------------------------------------------------------


def is_sampled(instruction_fingerprint: str, check_id: str, share: float) -> bool:
    """Whether a check is in the calibration share: a hash of the instruction and the check, not a random draw,
    so the same instruction gets the same calibration questions in every run and on resume."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{instruction_fingerprint}:{check_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def calibration_question(requirement: str) -> str:
    """The yes/no question for a code-checked constraint, from the sentence the instruction states it with."""
    return judge_prompt()["calibration_question"].format(requirement=requirement.strip())


def calibration_queries(
    ins: Instruction, response: str, verdict: Verdict, share: float
) -> list[tuple[Check, JudgeQuery, bool]]:
    """(check, question, code label) for the sampled code checks of a verdict.

    Only checks stating a constraint of the tree are asked (a Selection's decision check has no sentence of
    its own), and only on a span that exists and is not empty: the judge would have nothing to look at.
    """
    texts = {path: c.text for path, c in iter_constraints(ins.tree)}
    results = {v.check_id: v for v in verdict.checks}
    out = []
    for check in ins.plan.checks:
        v = results.get(check.id)
        text = texts.get(check.constraint_path or "")
        if (
            check.kind != "code"
            or v is None
            or v.skipped
            or not text
            or not is_sampled(ins.fingerprint, check.id, share)
        ):
            continue
        try:
            span = spans.extract_span(response, check.scope)
        except ValueError:
            continue
        if span is None or not span.strip():
            continue
        out.append((check, JudgeQuery(check.id, ins.prompt, span, calibration_question(text)), v.passed))
    return out


def ask(scorer: YesNoScorer, queries: Sequence[JudgeQuery], batch_size: int = 64) -> list[tuple[float, float]]:
    """The judge's (log P(YES), log P(NO)) for every query, in batches."""
    out: list[tuple[float, float]] = []
    for start in range(0, len(queries), batch_size):
        chunk = queries[start : start + batch_size]
        scores = scorer.yes_no_logprobs([build_judge_messages(q) for q in chunk])
        if len(scores) != len(chunk):
            raise ValueError(f"scorer returned {len(scores)} scores for {len(chunk)} questions")
        out.extend(scores)
    return out


def probe_verdict(
    ins: Instruction, response: str, verdict: Verdict, scorer: YesNoScorer, *, share: float, margin: float
) -> list[JudgeProbe]:
    """The calibration pairs of one answer: its sampled code checks asked as judge questions, labelled by the code."""
    asked = calibration_queries(ins, response, verdict, share)
    if not asked:
        return []
    scores = ask(scorer, [q for _, q, _ in asked])
    return [
        JudgeProbe(
            check_id=check.id,
            dimension=check.dimension or "(none)",
            spec_id=check.spec_id,
            question=query.question,
            logprob_yes=lp_yes,
            logprob_no=lp_no,
            judged_yes=judge_score(lp_yes, lp_no) > margin,
            label=label,
            source="code",
        )
        for (check, query, label), (lp_yes, lp_no) in zip(asked, scores, strict=True)
    ]
