"""How hard an instruction is for the student, from k verified rollouts, and the pass-rate band RL prompts
must fall in. Pure functions over verified rollouts; pipeline/run/stages.py makes the model calls.

Only instructions with a kept sample are measured: RL prompts are the kept instructions, and measuring the
others would cost k (or 2k) generations each for prompts that are never published. Every sample of a
measured instruction (kept or not) carries the same StudentEval.

- baseline: k rollouts of the plain prompt (no reasoning), each verified with the instruction's plan.
- reasoning (optional): k more rollouts prompted to think first (prompts/reasoning.yaml); the outcome says
  whether thinking helped, tied or hurt, by mean satisfied checks.
- band: the baseline pass rate (every check passed) must lie in [min_pass_rate, max_pass_rate], both ends
  inclusive; a kept sample outside it becomes a reject, too_hard below the band or too_easy above it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Literal, Protocol

import yaml

from pipeline.models import FAILED_PREFIX, Instruction, Response, Rollout, RolloutSummary, Sample, StudentEval, Verdict
from pipeline.project import PROMPTS_DIR
from pipeline.run.config import DifficultyConfig, StudentConfig

Outcome = Literal["helped", "tied", "hurt"]


@cache
def reasoning_template() -> dict[str, str]:
    return yaml.safe_load((PROMPTS_DIR / "reasoning.yaml").read_text(encoding="utf-8"))


def with_reasoning_prompt(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The conversation with the think-first system message before it (prompted reasoning)."""
    return [{"role": "system", "content": reasoning_template()["system"]}, *(dict(m) for m in messages)]


Chat = Callable[[Sequence[list[dict[str, str]]], Any, int], list[list[Response]]]


def with_plan(plan: str | None) -> list[dict[str, str]]:
    """The system message an answer is written under with its plan in view (`answer_system`); none without a plan."""
    if plan is None:
        return []
    return [{"role": "system", "content": reasoning_template()["answer_system"].format(plan=plan.strip())}]


def plan_first_answers(chat: Chat, prompts: Sequence[str], role: Any, n: int) -> list[list[Response]]:
    """`n` answers per prompt, each from two requests: a plan (prompts/reasoning.yaml `plan_system`), kept as the
    answer's reasoning, then the answer written with that plan in view (`answer_system`). For models that ignore
    a think-first instruction: every answer gets a trace. A plan request the server rejected stands as it is."""
    tpl = reasoning_template()
    plans = chat(
        [[{"role": "system", "content": tpl["plan_system"]}, {"role": "user", "content": p}] for p in prompts], role, n
    )
    todo = [
        (i, plan) for i, per in enumerate(plans) for plan in per if not plan.finish_reason.startswith(FAILED_PREFIX)
    ]
    convs = [[*with_plan(plan.text), {"role": "user", "content": prompts[i]}] for i, plan in todo]
    answers = iter(chat(convs, role, 1) if convs else [])
    out: list[list[Response]] = []
    for per in plans:
        row = []
        for k, plan in enumerate(per):
            if plan.finish_reason.startswith(FAILED_PREFIX):
                row.append(plan)
                continue
            answer = next(answers)[0]
            row.append(
                answer.model_copy(
                    update={
                        "reasoning": plan.text.strip(),
                        "prompt_tokens": plan.prompt_tokens + answer.prompt_tokens,
                        "completion_tokens": plan.completion_tokens + answer.completion_tokens,
                        "latency_s": plan.latency_s + answer.latency_s,
                        "candidate": k,
                    }
                )
            )
        out.append(row)
    return out


def student_conversation(prompt: str, reasoning: bool) -> list[dict[str, str]]:
    """What the student is asked: the plain prompt, or the prompt after the think-first system message."""
    plain = [{"role": "user", "content": prompt}]
    return with_reasoning_prompt(plain) if reasoning else plain


def to_rollout(response: Response, verdict: Verdict, *, with_reasoning: bool) -> Rollout:
    """One student completion with what its verification found."""
    return Rollout(
        text=response.text,
        reasoning=response.reasoning,
        with_reasoning=with_reasoning,
        satisfied=verdict.n_passed,
        total=verdict.n_checks,
        passed=verdict.all_pass,
        completion_tokens=response.completion_tokens,
    )


def summarize(rollouts: Sequence[Rollout]) -> RolloutSummary:
    """Pass rate (share passing every check) and mean satisfied checks of k rollouts of one kind."""
    if not rollouts:
        raise ValueError("no rollouts to summarise; the student needs at least one rollout per instruction")
    k = len(rollouts)
    return RolloutSummary(
        k=k,
        pass_rate=sum(r.passed for r in rollouts) / k,
        mean_satisfied=sum(r.satisfied for r in rollouts) / k,
        best_satisfied=max(r.satisfied for r in rollouts),
    )


def compare(baseline: Sequence[Rollout], reasoning: Sequence[Rollout]) -> Outcome:
    """helped / tied / hurt: reasoning's mean satisfied checks against the baseline's.

    Compared as exact fractions (sum_a * k_b vs sum_b * k_a), so equal means are a tie, never a float accident.
    """
    lhs = sum(r.satisfied for r in reasoning) * len(baseline)
    rhs = sum(r.satisfied for r in baseline) * len(reasoning)
    return "helped" if lhs > rhs else "hurt" if lhs < rhs else "tied"


def student_eval(model: str, baseline: Sequence[Rollout], reasoning: Sequence[Rollout] | None = None) -> StudentEval:
    """The instruction's StudentEval: the baseline summary and, when measured, the reasoning one and the outcome."""
    return StudentEval(
        model=model,
        baseline=summarize(baseline),
        reasoning=summarize(reasoning) if reasoning else None,
        outcome=compare(baseline, reasoning) if reasoning else None,
        rollouts=[*baseline, *(reasoning or [])],
    )


def rollout_tokens(ev: StudentEval) -> int:
    """Generated tokens the student spent on one instruction (baseline and reasoning rollouts)."""
    return sum(r.completion_tokens for r in ev.rollouts)


StudentChat = Callable[[Sequence[list[dict[str, str]]], StudentConfig, int], list[list[Response]]]


def measure_student(
    ins: Instruction, student: StudentConfig, chat: StudentChat, verify: Callable[[Response], Verdict]
) -> tuple[StudentEval, Counter[str]]:
    """k rollouts of the plain prompt (and k prompted to reason, if configured), each verified by `verify`
    with the instruction's plan, summarised; counts the instruction, its rollouts, their generated tokens,
    the reasoning outcome and how many reasoning rollouts wrote a trace at all."""
    kinds = [False, True] if student.reasoning else [False]
    if student.reasoning and student.reasoning_style == "plan_first":
        answers = [*chat([student_conversation(ins.prompt, False)], student, student.rollouts)]
        answers += plan_first_answers(chat, [ins.prompt], student, student.rollouts)
    else:
        answers = chat([student_conversation(ins.prompt, r) for r in kinds], student, student.rollouts)
    per_kind = [
        [to_rollout(resp, verify(resp), with_reasoning=reasoning) for resp in responses]
        for reasoning, responses in zip(kinds, answers, strict=True)
    ]
    ev = student_eval(student.model, per_kind[0], per_kind[1] if student.reasoning else None)
    counts: Counter[str] = Counter(
        student_instructions=1, student_rollouts=len(ev.rollouts), student_completion_tokens=rollout_tokens(ev)
    )
    if ev.outcome is not None:
        counts[f"reasoning_{ev.outcome}"] += 1
        counts["student_reasoning_traces"] += sum(
            1 for r in ev.rollouts if r.with_reasoning and (r.reasoning or "").strip()
        )
    return ev, counts


def band_reason(ev: StudentEval | None, band: DifficultyConfig) -> str | None:
    """too_hard / too_easy when the baseline pass rate lies outside the inclusive band; None inside it.

    An instruction that was not measured has no pass rate and stays (the band only applies to measured ones).
    """
    if ev is None:
        return None
    rate = ev.baseline.pass_rate
    if rate < band.min_pass_rate:
        return "too_hard"
    if rate > band.max_pass_rate:
        return "too_easy"
    return None


def attach_student(samples: Sequence[Sample], evals: Mapping[str, StudentEval]) -> list[Sample]:
    """Each sample with its instruction's StudentEval (unchanged where the instruction was not measured)."""
    return [
        s.model_copy(update={"student": evals[s.instruction.id]}) if s.instruction.id in evals else s for s in samples
    ]


def band_filter(
    kept: Sequence[Sample], rejects: Sequence[Sample], band: DifficultyConfig
) -> tuple[list[Sample], list[Sample], Counter[str]]:
    """Move kept samples outside the pass-rate band to the rejects with their reason; count them by reason.

    Runs on a batch's selection, before quota capping, so capping only ever sees in-band samples and quotas
    stay exact.
    """
    inside: list[Sample] = []
    out = list(rejects)
    counts: Counter[str] = Counter()
    for s in kept:
        reason = band_reason(s.student, band)
        if reason is None:
            inside.append(s)
        else:
            counts[reason] += 1
            out.append(s.model_copy(update={"kept": False, "reject_reasons": [reason]}))
    return inside, out, counts


class Answered(Protocol):
    """A verified answer: a candidate being judged (stages.Judged) or a stored one (Sample)."""

    @property
    def response(self) -> Response: ...

    @property
    def verdict(self) -> Verdict: ...


def measured_pass_rate(answers: Sequence[Answered], ev: StudentEval | None) -> float | None:
    """How easy an instruction proved: the student's no-reasoning pass rate when measured, else the share of the
    responder's first answers (repairs aside) among `answers` that passed every check; None with no first answer."""
    if ev is not None:
        return ev.baseline.pass_rate
    first = [a for a in answers if a.response.round == 0]
    return sum(a.verdict.all_pass for a in first) / len(first) if first else None
