"""The generation stages, each a function over a batch of records that returns its outputs and counts what
it drops or notes, by reason: compose -> rewrite -> respond -> verify+gate+fidelity -> repair -> select -> cap.

No Prefect, no store, no threads here: pipeline/generate.py plans batches and runs these in order, and the
flow in flows/generate.py only adds retries and concurrency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.compose import compose_unique
from pipeline.config import RoleConfig, RunConfig
from pipeline.gate import QuotaTracker, gate, repair_messages
from pipeline.models import CheckVerdict, Instruction, Response, Sample, Seed, Verdict
from pipeline.render import apply_rewrite, rewrite_messages
from pipeline.taxonomy import Taxonomy
from pipeline.verify.fidelity import RelevanceScorer, assess_fidelity, default_relevance, fidelity_reasons
from pipeline.verify.judge import LLMJudge, YesNoScorer
from pipeline.verify.plan import raif_reward, verify_response

Messages = list[dict[str, str]]
Drops = Counter[str]  # reason -> how many records a stage dropped or marked for it

# finish_reason of the one Response that stands in for a request the server rejected, e.g. "failed:prompt_too_long".
FAILED_PREFIX = "failed:"


def request_failure(resp: Response) -> str | None:
    """Why the server rejected the request behind `resp` (prompt_too_long, invalid_request); None for an answer."""
    return resp.finish_reason.removeprefix(FAILED_PREFIX) if resp.finish_reason.startswith(FAILED_PREFIX) else None


class ChatFn(Protocol):
    """What the stages need from an engine: answer conversations with a role's model and sampling.

    A conversation the server rejects gets one empty Response whose finish_reason is FAILED_PREFIX + reason.
    """

    def __call__(self, conversations: Sequence[Messages], role: RoleConfig, n: int) -> list[list[Response]]: ...


@dataclass(frozen=True)
class Models:
    """The engine-facing side of a run: chat for each role, YES/NO scoring for the judge (optional), and the
    task-fidelity relevance scorer (None: the bundled embedding model, loaded only when a run first needs it)."""

    chat: ChatFn
    judge: YesNoScorer | None
    relevance: RelevanceScorer | None = None


@dataclass(frozen=True)
class BatchSpec:
    """One unit of work as planned: the global instruction indices and categories it composes (one shard each)."""

    index: int
    items: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class ComposedBatch:
    """A planned batch with its instructions composed (deterministically, before any model call)."""

    index: int
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class Provenance:
    """What every sample of a run records about where it came from."""

    run_id: str
    run_fingerprint: str
    models: dict[str, str]
    template_hashes: dict[str, str]


@dataclass
class BatchResult:
    index: int
    instructions: list[Instruction]
    kept: list[Sample]
    rejects: list[Sample]
    stats: Drops = field(default_factory=Counter)


# --- compose and rewrite ----------------------------------------------------------------------------------


def seed_for(global_index: int, order: Sequence[int], seeds: Sequence[Seed]) -> Seed:
    """Seeds are used in a fixed shuffled `order`, cycling, so any batch can be rebuilt from its indices."""
    return seeds[order[global_index % len(order)]]


def compose_stage(
    spec: BatchSpec, seeds: Sequence[Seed], order: Sequence[int], taxonomy: Taxonomy, cfg: RunConfig, seen: set[str]
) -> ComposedBatch:
    """The batch's instructions; a draw whose content (fingerprint) is already in `seen` is redrawn a few times."""
    opts = cfg.compose.options()
    return ComposedBatch(
        spec.index,
        tuple(
            with_reference_answer(
                compose_unique(seed, cat, taxonomy, random_seed=f"{cfg.random_seed}:{i}", options=opts, seen=seen), seed
            )
            for i, cat in spec.items
            for seed in [seed_for(i, order, seeds)]
        ),
    )


def with_reference_answer(ins: Instruction, seed: Seed) -> Instruction:
    """The instruction carrying its seed's known answer, for the task-fidelity gate (unchanged without one)."""
    return ins.model_copy(update={"reference_answer": seed.answer}) if seed.answer else ins


def rewrite_stage(instructions: Sequence[Instruction], chat: ChatFn, cfg: RunConfig) -> tuple[list[Instruction], Drops]:
    """LLM rewrite of every template prompt, each kept only if it passes the fidelity gate (else the template
    stays, with a note: nothing is dropped here, the notes are counted)."""
    notes: Drops = Counter()
    if not cfg.models.rewriter.enabled or not instructions:
        return list(instructions), notes
    answers = chat([rewrite_messages(i.prompt) for i in instructions], cfg.models.rewriter, 1)
    out = []
    for ins, ans in zip(instructions, answers, strict=True):
        failure = request_failure(ans[0]) if ans else None
        if failure is not None:  # the template prompt stays; the responder may still manage it
            out.append(ins.model_copy(update={"rewrite_note": f"rewrite failed: {failure}"}))
        elif not ans or ans[0].finish_reason == "length":
            out.append(ins.model_copy(update={"rewrite_note": "rewrite truncated"}))
        else:
            out.append(apply_rewrite(ins, ans[0].text))
        notes[(out[-1].rewrite_note or "rewrite accepted").split(":")[0].replace(" ", "_")] += 1
    return out, notes


# --- respond, verify and gate -----------------------------------------------------------------------------


Pair = tuple[Instruction, Response]


def respond_stage(instructions: Sequence[Instruction], chat: ChatFn, cfg: RunConfig) -> list[Pair]:
    """`n` candidate answers per instruction (one failed Response where the server rejected the request)."""
    responder = cfg.models.responder
    answers = chat([[{"role": "user", "content": i.prompt}] for i in instructions], responder, responder.n)
    return [(ins, r) for ins, rs in zip(instructions, answers, strict=True) for r in rs]


def unanswered_verdict(ins: Instruction, reason: str) -> Verdict:
    """The verdict of a request the server rejected: nothing was checked, so nothing is satisfied."""
    checks = [
        CheckVerdict(check_id=c.id, passed=False, gated=False, evidence=f"not answered: {reason}", skipped=True)
        for c in ins.plan.checks
    ]
    n = len(checks)
    return Verdict(
        checks=checks, all_pass=False, drfr=0.0, raif=raif_reward(0, n), n_checks=n, n_passed=0, skipped=[c.check_id for c in checks]
    )


@dataclass(frozen=True)
class Judged:
    """One candidate after verification and the gate."""

    instruction: Instruction
    response: Response
    verdict: Verdict
    kept: bool
    reasons: list[str]


def verify_stage(pairs: Sequence[Pair], models: Models, cfg: RunConfig) -> tuple[list[Judged], Drops]:
    """Verdict, gate decision and reject reasons per answer, then the task-fidelity gate (`fidelity_stage`); a
    rejected request is a reject with its reason."""
    judge = LLMJudge(models.judge, margin=cfg.models.judge.margin) if (models.judge and cfg.models.judge.enabled) else None
    failures: Drops = Counter()
    out = []
    for ins, resp in pairs:
        failure = request_failure(resp)
        if failure is None:
            verdict = verify_response(resp.text, ins.plan, instruction=ins.prompt, judge=judge)
            kept, reasons = gate(resp, verdict, cfg.gate)
            out.append(Judged(ins, resp, verdict, kept, reasons))
        else:
            failures[failure] += 1
            out.append(Judged(ins, resp, unanswered_verdict(ins, failure), False, [failure]))
    out, unfaithful = fidelity_stage(out, models, cfg)
    return out, failures + unfaithful


def fidelity_stage(judged: Sequence[Judged], models: Models, cfg: RunConfig) -> tuple[list[Judged], Drops]:
    """Task fidelity of the candidates the constraint gate keeps, those of one instruction in one batch: a
    candidate that fails a test is not kept after all and gets the reason (off_task:<test>, wrong_answer); its
    verdict records every test's evidence. Counts the candidates it rejects, by reason.

    Only kept candidates are tested: a rejected one cannot be rejected more, and the tests cost CPU (the
    embedding) or a model call (the judge) per answer."""
    fc = cfg.fidelity
    if not fc.enabled:
        return list(judged), Counter()
    relevance = (models.relevance or default_relevance()) if fc.embedding else None
    asks_judge = fc.judge and cfg.models.judge.enabled
    judge = LLMJudge(models.judge, margin=cfg.models.judge.margin) if asks_judge and models.judge is not None else None
    groups: dict[str, list[int]] = {}
    for k, j in enumerate(judged):
        if j.kept:
            groups.setdefault(j.instruction.id, []).append(k)
    out = list(judged)
    counts: Drops = Counter()
    for ks in groups.values():
        ins = judged[ks[0]].instruction
        per = assess_fidelity(
            ins,
            [judged[k].response.text for k in ks],
            threshold=fc.threshold,
            relevance=relevance,
            judge=judge,
            reference_answers=fc.reference_answers,
        )
        for k, checks in zip(ks, per, strict=True):
            j = judged[k]
            reasons = fidelity_reasons(checks)
            counts.update(reasons)
            verdict = j.verdict.model_copy(update={"fidelity": checks})
            out[k] = Judged(j.instruction, j.response, verdict, not reasons, j.reasons + reasons)
    return out, counts


def repair_stage(
    judged: Sequence[Judged], round_: int, models: Models, cfg: RunConfig
) -> tuple[list[Judged], Drops]:
    """One repair round: every instruction with answers but none kept gets its best answer back with the failed
    checks as feedback; the repaired answers are verified and gated."""
    by_ins: dict[str, list[Judged]] = {}
    for j in judged:
        by_ins.setdefault(j.instruction.id, []).append(j)
    todo = []
    for group in by_ins.values():
        # Only real answers can be repaired; a rejected prompt would only grow longer with the feedback.
        answers = [j for j in group if request_failure(j.response) is None]
        if answers and not any(j.kept for j in group):
            todo.append(max(answers, key=lambda j: (j.verdict.drfr, -j.response.candidate)))
    if not todo:
        return [], Counter()
    convs = [repair_messages(j.instruction, j.response, j.verdict, j.reasons) for j in todo]
    fixed = models.chat(convs, cfg.models.responder, 1)
    pairs = [(j.instruction, r[0].model_copy(update={"round": round_, "candidate": 0})) for j, r in zip(todo, fixed, strict=True)]
    out, counts = verify_stage(pairs, models, cfg)
    counts.update("repaired" if j.kept else "repair_failed" for j in out)
    return out, counts


# --- select and cap ---------------------------------------------------------------------------------------


def to_sample(j: Judged, provenance: Provenance) -> Sample:
    """A candidate as a stored record."""
    return Sample(
        id=f"{j.instruction.id}-r{j.response.round}-k{j.response.candidate}",
        instruction=j.instruction,
        response=j.response,
        verdict=j.verdict,
        kept=j.kept,
        reject_reasons=j.reasons,
        run_id=provenance.run_id,
        config_fingerprint=provenance.run_fingerprint,
        models=provenance.models,
        template_hashes=provenance.template_hashes,
    )


def select_stage(
    instructions: Sequence[Instruction], judged: Sequence[Judged], provenance: Provenance
) -> tuple[list[Sample], list[Sample], Drops]:
    """At most one kept sample per instruction (the earliest passing one); every other candidate is a reject."""
    by_ins: dict[str, list[Judged]] = {i.id: [] for i in instructions}
    for j in judged:
        by_ins[j.instruction.id].append(j)
    counts: Drops = Counter()
    kept: list[Sample] = []
    rejects: list[Sample] = []
    for ins in instructions:
        group = by_ins[ins.id]
        passing = [j for j in group if j.kept]
        chosen = min(passing, key=lambda j: (j.response.round, j.response.candidate)) if passing else None
        for j in group:
            if j is chosen:
                kept.append(to_sample(j, provenance))
            elif j.kept:  # a second passing answer to the same instruction: recorded, not duplicated
                rejects.append(to_sample(Judged(j.instruction, j.response, j.verdict, False, ["surplus_candidate"]), provenance))
            else:
                rejects.append(to_sample(j, provenance))
        counts["resolved" if chosen else "unresolved"] += 1
    return kept, rejects, counts


def cap_to_quota(result: BatchResult, tracker: QuotaTracker) -> BatchResult:
    """Move kept samples beyond their category's quota to the rejects (reason quota_full); update the tracker."""
    kept, rejects = [], list(result.rejects)
    for s in result.kept:
        cat = s.instruction.category
        if tracker.kept[cat] < tracker.quotas.get(cat, 0):
            tracker.kept[cat] += 1
            kept.append(s)
        else:
            rejects.append(s.model_copy(update={"kept": False, "reject_reasons": ["quota_full"]}))
    return BatchResult(index=result.index, instructions=result.instructions, kept=kept, rejects=rejects, stats=result.stats)


# --- one batch, stage after stage -------------------------------------------------------------------------

# Instructions of one batch answered at once (each a short chain of requests); the engine's own concurrency
# limit decides how many requests reach a server.
MAX_INSTRUCTION_THREADS = 256


def process_instruction(ins: Instruction, cfg: RunConfig, models: Models) -> tuple[Instruction, list[Judged], Drops]:
    """One instruction through rewrite, answer, verify+gate and the repair rounds (every stage on a batch of one)."""
    stats: Drops = Counter()
    [instruction], notes = rewrite_stage([ins], models.chat, cfg)
    stats.update(notes)
    judged, failures = verify_stage(respond_stage([instruction], models.chat, cfg), models, cfg)
    stats.update(failures)
    for round_ in range(1, cfg.repair_rounds + 1):
        repaired, counts = repair_stage(judged, round_, models, cfg)
        if not repaired:
            break
        judged += repaired
        stats.update(counts)
    return instruction, judged, stats


def process_batch(batch: ComposedBatch, cfg: RunConfig, models: Models, provenance: Provenance) -> BatchResult:
    """Rewrite, answer, verify, gate and repair one composed batch; one kept sample at most per instruction.

    Each instruction moves through the stages on its own, so its next request goes out as soon as its last
    one is answered: no instruction waits for the slowest answer of the batch (the result does not depend
    on timing, only on each instruction's own answers).
    """
    if not batch.instructions:
        return BatchResult(index=batch.index, instructions=[], kept=[], rejects=[])
    workers = min(len(batch.instructions), MAX_INSTRUCTION_THREADS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"batch{batch.index}") as pool:
        done = list(pool.map(lambda ins: process_instruction(ins, cfg, models), batch.instructions))
    instructions = [ins for ins, _, _ in done]
    judged = [j for _, js, _ in done for j in js]
    stats: Drops = sum((counts for _, _, counts in done), Counter())
    kept, rejects, counts = select_stage(instructions, judged, provenance)
    stats.update(counts)
    return BatchResult(index=batch.index, instructions=instructions, kept=kept, rejects=rejects, stats=stats)
