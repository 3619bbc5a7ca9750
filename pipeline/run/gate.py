"""Quality gates: keep a candidate only if its verdict passes and its text is sound; say why otherwise."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import cache

import yaml

from pipeline.checks.registry import CheckResult
from pipeline.construct.tree import iter_constraints
from pipeline.models import Instruction, ReasoningQuality, Response, Sample, Verdict, VerificationPlan
from pipeline.project import PROMPTS_DIR
from pipeline.run.config import GateConfig
from pipeline.verify.plan import score, score_value

# Openers of answers that decline the task instead of doing it.
REFUSAL_RE = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, but|i can(?:'|no)t (?:help|assist|comply|do that|provide)|"
    r"i (?:will|would) not be able|as an ai(?: language model)?,? i (?:can(?:'|no)t|am unable)|"
    r"i'?m unable to|i am unable to)",
    re.IGNORECASE,
)


def repetition_share(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier n-gram (0 = none, close to 1 = degenerate loops)."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 8:
        return 0.0
    counts = Counter(grams)
    return sum(c - 1 for c in counts.values()) / len(grams)


def text_gates(response: Response, cfg: GateConfig) -> list[str]:
    """Reasons the text itself is unusable, whatever the constraints say."""
    reasons = []
    text = response.text.strip()
    if len(text) < max(cfg.min_chars, 1):
        reasons.append("empty")
    if cfg.reject_truncated and response.finish_reason == "length":
        reasons.append("truncated")
    if text and repetition_share(text) > cfg.max_repetition:
        reasons.append("repetition")
    if cfg.reject_refusals and REFUSAL_RE.match(text):
        reasons.append("refusal")
    return reasons


def verdict_gate(verdict: Verdict, cfg: GateConfig) -> list[str]:
    """Reasons the verdict fails the score gate (one per failed check for all_pass), plus one per undecided check."""
    if verdict.n_checks == 0:
        return ["no_checks"]
    # A kept sample must have every check decided: an undecided constraint is no evidence the answer follows it,
    # whatever score the decided checks reach.
    skipped = dict.fromkeys([c.check_id for c in verdict.checks if c.skipped] + verdict.skipped)
    unverified = [f"judge_skipped:{check_id}" for check_id in skipped]
    if cfg.score == "all_pass":
        return [f"failed_check:{c.check_id}" for c in verdict.failed()] + unverified
    value = score_value(verdict, cfg.score)
    below = [] if value >= cfg.threshold else [f"score_below_threshold:{cfg.score}={value:.3f}<{cfg.threshold}"]
    return below + unverified


def reasoning_gate(quality: ReasoningQuality | None, cfg: GateConfig) -> list[str]:
    """shallow_reasoning when the option is on and the answer's reasoning trace was measured shallow."""
    return ["shallow_reasoning"] if cfg.reject_shallow_reasoning and quality is not None and quality.shallow else []


def gating_verdict(verdict: Verdict, plan: VerificationPlan, ungated: frozenset[str]) -> Verdict:
    """The verdict the gate judges: without the `ungated` checks (judge checks of dimensions not routed to `gate`),
    rescored, so such a check neither counts nor blocks the checks that depend on it. The stored verdict keeps them.
    """
    if not ungated:
        return verdict
    own = {v.check_id: v for v in verdict.checks}
    checks = [
        c.model_copy(update={"depends_on": [d for d in c.depends_on if d not in ungated]})
        for c in plan.checks
        if c.id not in ungated
    ]
    skipped = {c.id for c in checks if c.id not in own or own[c.id].skipped}
    raw = {c.id: CheckResult(own[c.id].passed, own[c.id].evidence) for c in checks if c.id not in skipped}
    return score(VerificationPlan(checks=checks, correct_branches=plan.correct_branches), raw, skipped)


def routed_verdict_gate(
    verdict: Verdict, cfg: GateConfig, plan: VerificationPlan | None, ungated: frozenset[str]
) -> list[str]:
    """`verdict_gate` of the gating verdict: only checks of dimensions routed to `gate` decide (no_gating_checks
    when an instruction has none left)."""
    if plan is None or not ungated:
        return verdict_gate(verdict, cfg)
    gated = gating_verdict(verdict, plan, ungated)
    return ["no_gating_checks"] if gated.n_checks == 0 else verdict_gate(gated, cfg)


def gate(
    response: Response,
    verdict: Verdict,
    cfg: GateConfig,
    *,
    plan: VerificationPlan | None = None,
    ungated: frozenset[str] = frozenset(),
) -> tuple[bool, list[str]]:
    """(kept, reasons): kept only when every text gate and the score gate pass. With the `plan` and the ids of
    its `ungated` judge checks (judge routing, see gating_verdict), only the other checks decide."""
    reasons = text_gates(response, cfg) + routed_verdict_gate(verdict, cfg, plan, ungated)
    return not reasons, reasons


@cache
def repair_template() -> dict[str, str]:
    return yaml.safe_load((PROMPTS_DIR / "repair.yaml").read_text(encoding="utf-8"))


def repair_messages(
    instruction: Instruction, response: Response, verdict: Verdict, reasons: Sequence[str]
) -> list[dict[str, str]]:
    """A follow-up turn telling the model which checks failed, asking for a corrected full answer."""
    tpl = repair_template()
    by_id = {c.id: c for c in instruction.plan.checks}
    lines = []
    for v in verdict.failed():
        c = by_id[v.check_id]
        where = "" if c.scope.endswith("response") else f" ({c.scope.removeprefix('raw:').replace('part:', 'Part ')})"
        what = _check_description(instruction, c.constraint_path) or c.question or c.checker or c.id
        lines.append(f"- {what}{where}: {v.evidence}")
    for r in reasons:
        key = r if r in tpl else r.split(":", 1)[0]  # off_task:embedding and off_task:judge share one line
        if key in tpl and key != "feedback":
            lines.append(f"- {tpl[key].format(task=instruction.seed_text.strip())}")
    feedback = tpl["feedback"].format(problems="\n".join(lines) or "- the answer did not meet the instruction")
    return [
        {"role": "user", "content": instruction.prompt},
        {"role": "assistant", "content": response.text},
        {"role": "user", "content": feedback},
    ]


def _check_description(instruction: Instruction, path: str | None) -> str | None:
    if path is None:
        return None
    for p, c in iter_constraints(instruction.tree):
        if p == path:
            return c.text.strip()
    return None


def category_of(key: str) -> str:
    """The category of a quota key: the key itself, or the first part of a grid cell's (pipeline/run/grid.py)."""
    return key.split("/", 1)[0]


def preference_pairs(samples: Sequence[Sample]) -> list[tuple[Sample, Sample]]:
    """Per instruction, the best kept candidate versus the worst-scoring candidate (only when they differ)."""
    by_ins: dict[str, list[Sample]] = {}
    for s in samples:
        by_ins.setdefault(s.instruction.id, []).append(s)
    pairs = []
    for group in by_ins.values():
        kept = [s for s in group if s.kept]
        if not kept:
            continue
        chosen = max(kept, key=lambda s: (s.verdict.drfr, -s.response.round, -s.response.candidate))
        rejected = min(group, key=lambda s: (s.kept, s.verdict.drfr, s.response.round, s.response.candidate))
        if rejected.id != chosen.id and (not rejected.kept) and rejected.verdict.drfr < chosen.verdict.drfr:
            pairs.append((chosen, rejected))
    return pairs
