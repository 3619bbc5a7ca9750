"""The generation stages, each a function over a batch of records that returns its outputs and counts what
it drops or notes, by reason: compose -> rewrite -> respond -> verify+gate+fidelity+reasoning -> repair ->
student rollouts -> select -> difficulty band. The caps to the run's quotas follow when a batch is saved
(pipeline/run/quota.py).

No Prefect, no store: pipeline/run/generate.py plans batches and runs these in order, and the flow in
flows/generate.py only runs the batches as Prefect tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.construct.compose import SEED_TRIES, compose_on_seeds
from pipeline.construct.render import apply_rewrite, rewrite_messages
from pipeline.construct.siblings import fill_slots
from pipeline.construct.taxonomy import Taxonomy
from pipeline.models import (
    FAILED_PREFIX,
    CheckVerdict,
    Instruction,
    ReasoningQuality,
    Response,
    Sample,
    Seed,
    StudentEval,
    Verdict,
)
from pipeline.run.config import MAX_BATCH_SIZE, RoleConfig, RunConfig
from pipeline.run.difficulty import (
    attach_student,
    band_filter,
    measure_student,
    measured_pass_rate,
    plan_first_answers,
    with_plan,
    with_reasoning_prompt,
)
from pipeline.run.gate import category_of, gate, reasoning_gate, repair_messages
from pipeline.run.grid import options_for
from pipeline.run.usage import each_metered, in_stage, metered_models
from pipeline.store.manifest import UsageRow
from pipeline.verify.fidelity import RelevanceScorer, assess_fidelity, default_relevance, fidelity_reasons
from pipeline.verify.judge import LLMJudge
from pipeline.verify.judge_calibration import Route, probe_verdict, ungated_checks
from pipeline.verify.plan import raif_reward, verify_response
from pipeline.verify.reasoning_quality import measure_reasoning

Messages = list[dict[str, str]]
Drops = Counter[str]  # reason -> how many records a stage dropped or marked for it


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
    """The engine-facing side of a run: chat for each role, the judge (optional: YES/NO questions through a scorer,
    with the config's margin), and the task-fidelity relevance scorer (None: the bundled embedding model, loaded
    only when a run first needs it). A run builds them once (pipeline/run/services.py)."""

    chat: ChatFn
    judge: LLMJudge | None
    relevance: RelevanceScorer | None = None
    # dimension -> what its judge checks may do (gate, reward-only, report-only), decided at run start (judge_routing)
    routes: Mapping[str, Route] = field(default_factory=dict)
    # tokens received from the models so far, live (for the progress line); None: not known
    generated: Callable[[], int] | None = None


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
    harden: tuple[str, ...] = ()  # instructions that proved easy: the run plans their harder children (ledger)
    usage: tuple[UsageRow, ...] = ()  # what its requests cost, per stage, role and model (pipeline/run/usage.py)


# --- compose and rewrite ----------------------------------------------------------------------------------


def seed_for(global_index: int, order: Sequence[int], seeds: Sequence[Seed]) -> Seed:
    """Seeds are used in a fixed shuffled `order`, cycling, so any batch can be rebuilt from its indices."""
    return seeds[order[global_index % len(order)]]


def compose_stage(
    spec: BatchSpec, seeds: Sequence[Seed], order: Sequence[int], taxonomy: Taxonomy, cfg: RunConfig, seen: set[str]
) -> ComposedBatch:
    """The batch's instructions, one per planned slot; a draw whose content (fingerprint) is already in `seen` is
    redrawn a few times. With `compose.siblings`, an instruction's counterfactual siblings take its category's
    next slots. A slot planned for a grid cell is composed for it (pipeline/run/grid.py)."""
    opts = cfg.compose
    used: dict[str, Seed] = {}  # instruction id -> the seed it was composed on

    def compose_one(i: int, key: str) -> Instruction:
        candidates = (seed_for(i + k, order, seeds) for k in range(SEED_TRIES))  # the planned seed first
        options = options_for(key, cfg, opts)
        ins, seed = compose_on_seeds(
            candidates, category_of(key), taxonomy, random_seed=f"{cfg.random_seed}:{i}", options=options, seen=seen
        )
        used[ins.id] = seed
        return with_reference_answer(ins, seed)

    if cfg.compose.siblings:  # a sibling's changes keep within its seed's tags
        return ComposedBatch(spec.index, tuple(fill_slots(spec.items, compose_one, taxonomy, seen, used.get)))
    return ComposedBatch(spec.index, tuple(compose_one(i, cat) for i, cat in spec.items))


def with_reference_answer(ins: Instruction, seed: Seed) -> Instruction:
    """The instruction carrying its seed's known answer, for the task-fidelity gate (unchanged without one)."""
    return ins.model_copy(update={"reference_answer": seed.answer}) if seed.answer else ins


@in_stage("rewrite", "rewriter")
def rewrite_stage(
    instructions: Sequence[Instruction], chat: ChatFn, cfg: RunConfig
) -> tuple[list[Instruction], Drops]:
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


def responder_conversation(messages: Messages, cfg: RunConfig) -> Messages:
    """The conversation as the responder gets it: after the think-first system message when reasoning is prompted."""
    return with_reasoning_prompt(messages) if cfg.models.responder.reasoning == "prompted" else messages


@in_stage("respond", "responder")
def respond_stage(instructions: Sequence[Instruction], chat: ChatFn, cfg: RunConfig) -> list[Pair]:
    """`n` candidate answers per instruction (one failed Response where the server rejected the request)."""
    responder = cfg.models.responder
    if responder.reasoning == "plan_first":
        answers = plan_first_answers(chat, [i.prompt for i in instructions], responder, responder.n)
        return [(ins, r) for ins, rs in zip(instructions, answers, strict=True) for r in rs]
    convs = [responder_conversation([{"role": "user", "content": i.prompt}], cfg) for i in instructions]
    answers = chat(convs, responder, responder.n)
    return [(ins, r) for ins, rs in zip(instructions, answers, strict=True) for r in rs]


def unanswered_verdict(ins: Instruction, reason: str) -> Verdict:
    """The verdict of a request the server rejected: nothing was checked, so nothing is satisfied."""
    checks = [
        CheckVerdict(check_id=c.id, passed=False, gated=False, evidence=f"not answered: {reason}", skipped=True)
        for c in ins.plan.checks
    ]
    n = len(checks)
    return Verdict(
        checks=checks,
        all_pass=False,
        drfr=0.0,
        raif=raif_reward(0, n),
        n_checks=n,
        n_passed=0,
        skipped=[c.check_id for c in checks],
    )


@dataclass(frozen=True)
class Judged:
    """One candidate after verification and the gate."""

    instruction: Instruction
    response: Response
    verdict: Verdict
    kept: bool
    reasons: list[str]
    reasoning_quality: ReasoningQuality | None = None


@in_stage("verify")
def verify_stage(pairs: Sequence[Pair], models: Models, cfg: RunConfig) -> tuple[list[Judged], Drops]:
    """Verdict, gate decision and reject reasons per answer, then the task-fidelity gate (`fidelity_stage`); a
    rejected request is a reject with its reason. With a judge, a share of code checks is also asked as judge
    questions (recorded in `verdict.calibration`), and only judge checks of dimensions routed to `gate` gate."""
    judge = models.judge if cfg.models.judge.enabled else None
    failures: Drops = Counter()
    out = []
    for ins, resp in pairs:
        failure = request_failure(resp)
        if failure is None:
            verdict = verify_response(resp.text, ins.plan, instruction=ins.prompt, judge=judge)
            if judge is not None and cfg.models.judge.calibration.share > 0:
                # extra judge questions on code checks, beside the verdict: its checks and scores stay the code's
                share = cfg.models.judge.calibration.share
                probes = probe_verdict(ins, resp.text, verdict, judge.scorer, share=share, margin=judge.margin)
                verdict = verdict.model_copy(update={"calibration": probes})
            ungated = ungated_checks(ins.plan.checks, models.routes)
            kept, reasons = gate(resp, verdict, cfg.gate, plan=ins.plan, ungated=ungated)
            out.append(Judged(ins, resp, verdict, kept, reasons))
        else:
            failures[failure] += 1
            out.append(Judged(ins, resp, unanswered_verdict(ins, failure), False, [failure]))
    for gate_stage in GATE_STAGES:
        out, counts = gate_stage(out, models, cfg)
        failures += counts
    return out, failures


def reasoning_stage(judged: Sequence[Judged], models: Models, cfg: RunConfig) -> tuple[list[Judged], Drops]:
    """The reasoning trace's quality for every kept candidate that carries one; with gate.reject_shallow_reasoning
    a shallow trace makes the candidate a reject (shallow_reasoning). Counts those rejects, and notes how many
    traces were measured and found shallow.

    Kept candidates only, like the fidelity tests: the similarity costs an embedding per trace, and the
    published reasoning SFT data is made of kept answers."""
    relevance = models.relevance
    similarity = (lambda a, b: relevance.similarities(a, [b])[0]) if relevance is not None else None
    out = []
    counts: Drops = Counter()
    for j in judged:
        if not j.kept or not (j.response.reasoning or "").strip():
            out.append(j)
            continue
        quality = measure_reasoning(j.response.reasoning or "", j.instruction, similarity=similarity)
        reasons = reasoning_gate(quality, cfg.gate)
        counts.update(reasons)
        counts["reasoning_measured"] += 1  # notes, so the summary can say how many traces there were at all
        counts["reasoning_shallow"] += quality.shallow
        out.append(Judged(j.instruction, j.response, j.verdict, not reasons, j.reasons + reasons, quality))
    return out, counts


@in_stage("fidelity")
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
    judge = models.judge if fc.judge and cfg.models.judge.enabled else None
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
            out[k] = Judged(j.instruction, j.response, verdict, not reasons, j.reasons + reasons, j.reasoning_quality)
    return out, counts


@in_stage("repair", "responder")
def repair_stage(judged: Sequence[Judged], round_: int, models: Models, cfg: RunConfig) -> tuple[list[Judged], Drops]:
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
    # A plan-first answer is revised under the plan it was written from (the same system message as when it was
    # written) and keeps that plan as its reasoning, so every answer of such a run carries a trace.
    plan_first = cfg.models.responder.reasoning == "plan_first"
    convs = [repair_messages(j.instruction, j.response, j.verdict, j.reasons) for j in todo]
    convs = [
        [*with_plan(j.response.reasoning), *c] if plan_first else responder_conversation(c, cfg)
        for j, c in zip(todo, convs, strict=True)
    ]
    pairs = []
    for j, r in zip(todo, models.chat(convs, cfg.models.responder, 1), strict=True):
        kept_plan = {"reasoning": j.response.reasoning} if plan_first else {}
        pairs.append((j.instruction, r[0].model_copy(update={"round": round_, "candidate": 0, **kept_plan})))
    out, counts = verify_stage(pairs, models, cfg)
    counts.update("repaired" if j.kept else "repair_failed" for j in out)
    return out, counts


# --- student rollouts -------------------------------------------------------------------------------------


@in_stage("student", "student")
def student_stage(ins: Instruction, models: Models, cfg: RunConfig) -> tuple[StudentEval, Drops]:
    """The student's rollouts on `ins` (pipeline/run/difficulty.py), each verified as the candidates are (judge
    included); a rollout whose request the server rejected satisfies nothing (the student cannot take it)."""
    judge = models.judge if cfg.models.judge.enabled else None

    def verify(resp: Response) -> Verdict:
        failure = request_failure(resp)
        if failure is not None:
            return unanswered_verdict(ins, failure)
        return verify_response(resp.text, ins.plan, instruction=ins.prompt, judge=judge)

    return measure_student(ins, cfg.models.student, models.chat, verify)


# --- select -----------------------------------------------------------------------------------------------


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
        run_fingerprint=provenance.run_fingerprint,
        models=provenance.models,
        template_hashes=provenance.template_hashes,
        reasoning_quality=j.reasoning_quality,
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
                surplus = Judged(
                    j.instruction, j.response, j.verdict, False, ["surplus_candidate"], j.reasoning_quality
                )
                rejects.append(to_sample(surplus, provenance))
            else:
                rejects.append(to_sample(j, provenance))
        counts["resolved" if chosen else "unresolved"] += 1
    return kept, rejects, counts


# --- one batch, stage after stage -------------------------------------------------------------------------

# Instructions of one batch answered at once (each a short chain of requests): all of them, since the config
# allows no larger batch; the engine's own concurrency limit decides how many requests reach a server.
MAX_INSTRUCTION_THREADS = MAX_BATCH_SIZE


Processed = tuple[Instruction, list[Judged], Drops, StudentEval | None, bool]


GateStage = Callable[[Sequence[Judged], Models, RunConfig], tuple[list[Judged], Drops]]
# The gates a verified candidate passes after its checks, in order. A new gate is one function like these (its
# rejects as reasons, counted by name; a stage that does not apply returns its input), one entry here and its
# config section: reasons flow into the samples, stats, the summary and the card by name.
GATE_STAGES: tuple[GateStage, ...] = (fidelity_stage, reasoning_stage)


def process_instruction(ins: Instruction, cfg: RunConfig, models: Models) -> Processed:
    """One instruction through rewrite, answer, verify+gate and the repair rounds (every stage on a batch of one),
    then, if the run has a student and the instruction has a kept candidate, the student's rollouts. The last item
    says whether the instruction proved easy enough to be hardened (the run plans its harder child, not this batch).
    """
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
    ev = None
    if cfg.models.student.enabled and any(j.kept for j in judged):
        ev, counts = student_stage(instruction, models, cfg)
        stats.update(counts)
    rate = measured_pass_rate(judged, ev)
    h = cfg.hardening
    easy = h.enabled and ins.hardening_round < h.rounds and rate is not None and rate > h.threshold
    return instruction, judged, stats, ev, easy


def process_batch(batch: ComposedBatch, cfg: RunConfig, models: Models, provenance: Provenance) -> BatchResult:
    """Rewrite, answer, verify, gate and repair one composed batch; one kept sample at most per instruction.

    Each instruction moves through the stages on its own, so its next request goes out as soon as its last
    one is answered: no instruction waits for the slowest answer of the batch (the result does not depend
    on timing, only on each instruction's own answers).
    """
    if not batch.instructions:
        return BatchResult(index=batch.index, instructions=[], kept=[], rejects=[])
    workers = min(len(batch.instructions), MAX_INSTRUCTION_THREADS)
    models = metered_models(models, cfg.models.judge.model)  # each instruction's requests count in its own meter
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"batch{batch.index}") as pool:
        done, usage = each_metered(pool.map, lambda ins: process_instruction(ins, cfg, models), batch.instructions)
    instructions = [ins for ins, _, _, _, _ in done]
    judged = [j for _, js, _, _, _ in done for j in js]
    stats: Drops = sum((counts for _, _, counts, _, _ in done), Counter())
    evals = {ins.id: ev for ins, _, _, ev, _ in done if ev is not None}
    easy = tuple(ins.id for ins, _, _, _, hard in done if hard)
    kept, rejects, counts = select_stage(instructions, judged, provenance)
    stats.update(counts)
    # The band runs here, before cap_to_quota, so only in-band samples count toward the quotas.
    kept, rejects, out_of_band = band_filter(
        attach_student(kept, evals), attach_student(rejects, evals), cfg.difficulty
    )
    stats.update(out_of_band)
    return BatchResult(
        index=batch.index, instructions=instructions, kept=kept, rejects=rejects, stats=stats, harden=easy,
        usage=usage,
    )
