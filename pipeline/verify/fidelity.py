"""Task fidelity: does an answer carry out its seed task at all, whatever constraints it satisfies?

Constraint checks alone reward an answer that quotes the question and lists the required words, or an
unrelated story with a correct postscript; RL would learn to write those. Three tests close the gap,
each where it is available:

- **embedding**: cosine similarity between the seed task and the answer's *own words* (the answer without
  runs of words copied from the instruction and without the words only its constraint sentences use),
  with the bundled all-MiniLM-L6-v2. Its threshold is calibrated on `taxonomy/fidelity/labelled.jsonl` by
  `benchmarks/fidelity_calibration.py` (numbers in BENCHMARKS.md). The model is English-only, so the
  test applies to English tasks answered in English; elsewhere it is recorded as skipped.
- **judge**: one yes/no question per answer ("Does the response carry out this task: ...?",
  `prompts/fidelity.yaml`), decided by log-probabilities like every judge check, when a judge runs.
- **reference_answer**: for seeds with a known answer (arithmetic, short facts), the answer must state it:
  a number equal after normalisation, or a short phrase as whole words, read from the final-answer
  statement when there is one ("the answer is ...", `\\boxed{...}`), else anywhere in the answer. For
  these seeds it replaces the embedding test, which says little about a correct one-word answer ("60.").

A run applies them in `pipeline.run.stages.fidelity_stage` (config `fidelity:`): a failed test rejects the answer
with the reason `off_task:embedding`, `off_task:judge` or `wrong_answer`, and every test's evidence is stored
with the verdict (`Verdict.fidelity`).

Everything here is a pure function of text except `EmbeddingRelevance`, which holds the model (loaded on
first use, once per process). Importing this module imports no model library.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Protocol

import yaml

from pipeline import spans
from pipeline.checks.registry import CheckResult
from pipeline.construct.tree import iter_constraints
from pipeline.models import FidelityCheck, Instruction
from pipeline.project import PROMPTS_DIR
from pipeline.verify.plan import JudgeFn, JudgeQuery
from pipeline.verify.reward import strip_reasoning

if TYPE_CHECKING:
    import numpy as np


# Reject reasons (the gate's reason list; the stats split them at ":" into kind and detail).
OFF_TASK = "off_task"
WRONG_ANSWER = "wrong_answer"

# A run of this many words found in the instruction counts as copied, not as the answer's own words.
COPY_NGRAM = 4
# all-MiniLM-L6-v2 reads 256 word pieces: longer texts are embedded in chunks of this many words, averaged.
CHUNK_WORDS = 128
# Without a final-answer statement, an answer naming more candidate numbers than this (beyond the task's own)
# could be listing guesses: it is not taken as stating the reference.
MAX_CANDIDATE_NUMBERS = 10
# Constraints that ask for the whole answer in a given language (the embedding test needs English).
RESPONSE_LANGUAGE_SPECS = frozenset({"language:response_language", "language:pure_target_language"})

Embedder = Callable[[Sequence[str]], "np.ndarray"]

_WORD = re.compile(r"\w+")


# --- the answer's own words ---------------------------------------------------------------------------------


def answer_text(response: str) -> str:
    """The answer a reader sees: reasoning blocks and the `### Part` / `### Case` marker lines removed."""
    return spans.strip_markers(strip_reasoning(response))


def own_words(
    response: str, task: str, prompt: str = "", *, copied_from: Sequence[str] = (), n: int = COPY_NGRAM
) -> str:
    """The response without what it takes from the instruction.

    Removed: every run of `n` or more words that occurs in the task, the prompt or `copied_from` (a quoted
    question, a repeated request), and every word that the prompt uses but the task does not (the constraint
    sentences' vocabulary: required keywords, "lowercase", "postscript"). What is left is what the answer
    says of its own; an answer made of the question and its constraints leaves nearly nothing.
    """
    task_words = {w.casefold() for w in _WORD.findall(task)}
    constraint_words = {w.casefold() for w in _WORD.findall(prompt)} - task_words
    copied: set[tuple[str, ...]] = set()
    for source in (task, prompt, *copied_from):
        words = [w.casefold() for w in _WORD.findall(source)]
        copied.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    tokens = list(_WORD.finditer(response))
    words = [t.group().casefold() for t in tokens]
    drop = [w in constraint_words for w in words]
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) in copied:
            drop[i : i + n] = [True] * n
    runs: list[str] = []
    start: int | None = None
    for i, tok in enumerate(tokens):
        if drop[i]:
            if start is not None:
                runs.append(response[start : tokens[i - 1].end()])
                start = None
        elif start is None:
            start = tok.start()
    if start is not None:
        runs.append(response[start : tokens[-1].end()])
    return " ".join(runs)


def word_chunks(text: str, size: int = CHUNK_WORDS) -> list[str]:
    """`text` as consecutive chunks of at most `size` words (none for a text without words)."""
    words = text.split()
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


# --- embedding relevance ------------------------------------------------------------------------------------


class RelevanceScorer(Protocol):
    """What the embedding test needs: the similarity of each text to one task (-1..1; 0 for an empty text)."""

    def similarities(self, task: str, texts: Sequence[str]) -> list[float]: ...


# One lock for every scorer: the default model is shared by the process and the stages call from many threads.
_EMBED_LOCK = threading.Lock()


def _bundled_embed(texts: Sequence[str]) -> np.ndarray:
    # Imported here: pipeline.seeding.select loads sentence-transformers only on first embed (seconds), and caches it.
    from pipeline.seeding.select import embed_texts

    return embed_texts(texts)


class EmbeddingRelevance:
    """Cosine similarity of texts to a task with a sentence-embedding model (the bundled all-MiniLM-L6-v2 unless
    `embed` is given). One call embeds the task and every chunk of every text together; a text longer than the
    model reads is scored by the word-weighted mean over its chunks."""

    def __init__(self, embed: Embedder | None = None, *, chunk_words: int = CHUNK_WORDS) -> None:
        self._embed = embed or _bundled_embed
        self.chunk_words = chunk_words

    def similarities(self, task: str, texts: Sequence[str]) -> list[float]:
        import numpy as np

        chunks: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            for chunk in word_chunks(text, self.chunk_words):
                chunks.append(chunk)
                owner.append(i)
        if not chunks:
            return [0.0] * len(texts)
        with _EMBED_LOCK:
            emb = np.asarray(self._embed([task, *chunks]), dtype=np.float64)
        if emb.shape[0] != len(chunks) + 1:
            raise ValueError(f"the embedder returned {emb.shape[0]} vectors for {len(chunks) + 1} texts")
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        emb = emb / np.where(norms == 0, 1, norms)
        sims = emb[1:] @ emb[0]
        total = np.zeros(len(texts))
        weight = np.zeros(len(texts))
        for sim, i, chunk in zip(sims, owner, chunks, strict=True):
            n_words = len(chunk.split())
            total[i] += sim * n_words
            weight[i] += n_words
        return [float(t / w) if w else 0.0 for t, w in zip(total, weight, strict=True)]


@cache
def default_relevance() -> EmbeddingRelevance:
    """The process's scorer on the bundled model (the model itself loads on the first call to `similarities`)."""
    return EmbeddingRelevance()


@lru_cache(maxsize=4096)
def text_language(text: str) -> str | None:
    """The language langdetect finds in `text` (ISO 639-1), None when it finds none."""
    from pipeline.checks.langid import detect_or_none

    return detect_or_none(text)


def embedding_skip_reason(ins: Instruction) -> str | None:
    """Why the English embedding model cannot judge this instruction's answers; None when it can."""
    language = text_language(ins.seed_text)
    if language not in (None, "en"):
        return f"the task is in {language!r}; the embedding model and its threshold are English-only"
    for _, c in iter_constraints(ins.tree):
        wanted = str(c.params.get("language", ""))
        if c.spec_id in RESPONSE_LANGUAGE_SPECS and wanted.casefold() not in ("en", "english"):
            return f"the answer must be in {wanted!r}; the embedding model and its threshold are English-only"
    return None


def relevance(
    task: str, prompt: str, responses: Sequence[str], scorer: RelevanceScorer, *, copied_from: Sequence[str] = ()
) -> tuple[list[str], list[float]]:
    """Each response's own words (`own_words`) and their similarity to the task: the embedding test's score."""
    own = [own_words(answer_text(r), task, prompt, copied_from=copied_from) for r in responses]
    scores = scorer.similarities(task, own)
    if len(scores) != len(own):
        raise ValueError(f"the relevance scorer returned {len(scores)} scores for {len(own)} responses")
    return own, scores


def embedding_checks(
    ins: Instruction, responses: Sequence[str], threshold: float, scorer: RelevanceScorer
) -> list[FidelityCheck]:
    """One embedding test per response: its own words must reach `threshold` similarity to the seed task."""
    skip = embedding_skip_reason(ins)
    if skip is not None:
        return [FidelityCheck(kind="embedding", passed=False, skipped=True, evidence=skip) for _ in responses]
    # The composed template holds the constraint sentences verbatim; a rewrite rephrases them, so both are sources.
    template = ins.template_prompt or ins.prompt
    own, scores = relevance(ins.seed_text, template, responses, scorer, copied_from=[ins.prompt])
    out = []
    for text, score in zip(own, scores, strict=True):
        passed = score >= threshold
        note = "" if text.strip() else " (nothing beyond the instruction's own words)"
        evidence = f"relevance to the task {score:.3f} {'>=' if passed else '<'} {threshold}{note}"
        out.append(FidelityCheck(kind="embedding", passed=passed, score=round(score, 4), evidence=evidence))
    return out


# --- reference answers --------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"thousand": 1000, "million": 1000000}
# "the answer is 12", "Final answer: 12", "result = 12": the last such statement is the answer's conclusion.
_STATEMENT = re.compile(
    r"\b(?:final answer|answer|result)\s*(?:is|was|would be|will be|equals|:|=)\s*(?P<rest>[^\n]{0,120})",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\{(?P<rest>[^{}\n]{0,120})\}")


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def word_numbers(text: str) -> list[Decimal]:
    """Numbers written in English words ("forty-two", "two hundred and six"), in order."""
    out: list[Decimal] = []
    total = current = 0
    active = after_scale = False
    for word in [*re.findall(r"[a-z]+", text.casefold().replace("-", " ")), ""]:
        if word in _UNITS or word in _TENS:
            current += _UNITS.get(word, 0) + _TENS.get(word, 0)
            active, after_scale = True, False
        elif word == "hundred" and active:
            current *= 100
            after_scale = True
        elif word in _SCALES and active:
            total += current * _SCALES[word]
            current, after_scale = 0, True
        elif word == "and" and after_scale:  # "two hundred and six"; "five and six" stays two numbers
            continue
        else:
            if active:
                out.append(Decimal(total + current))
            total = current = 0
            active = after_scale = False
    return out


def numbers_in(text: str) -> list[Decimal]:
    """Every number in `text`: digits (with thousands separators and decimals) and English number words."""
    found = [d for d in (_decimal(m.group()) for m in _NUMBER.finditer(text)) if d is not None]
    return found + word_numbers(text)


def reference_number(form: str) -> Decimal | None:
    """The value of a reference answer that is a number ("1,275", "12.50", "forty"); None for a phrase."""
    form = form.strip().rstrip(".")
    if _NUMBER.fullmatch(form):
        return _decimal(form)
    words = word_numbers(form)
    return words[0] if len(words) == 1 and re.fullmatch(r"[A-Za-z\- ]+", form) else None


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _mentions_phrase(text: str, phrase: str) -> bool:
    pattern = r"\s+".join(re.escape(p) for p in _normal(phrase).split())
    return bool(pattern) and re.search(rf"(?<!\w){pattern}(?!\w)", _normal(text)) is not None


def final_statement(text: str) -> str | None:
    """What the answer's last final-answer statement says ("the answer is X", `\\boxed{X}`); None without one."""
    found = [(m.start(), m.group("rest")) for pattern in (_STATEMENT, _BOXED) for m in pattern.finditer(text)]
    return max(found)[1].strip() if found else None


def check_reference_answer(response: str, reference: str, task: str = "") -> CheckResult:
    """Does the answer state the reference (forms separated by "|")? Read after removing reasoning and markers.

    A final-answer statement decides when there is one: its first number must equal a numeric reference,
    or it must contain the phrase. Otherwise the answer must mention the reference, and a numeric one must
    not hide among more than MAX_CANDIDATE_NUMBERS other numbers (numbers of the task itself do not count).
    """
    text = answer_text(response)
    forms = [f.strip() for f in reference.split("|") if f.strip()]
    if not forms:
        return CheckResult(False, "the reference answer is empty")
    if not text.strip():
        return CheckResult(False, "empty answer")
    values = [v for v in (reference_number(f) for f in forms) if v is not None]
    phrases = [f for f in forms if reference_number(f) is None]  # a number is matched by value, never as text
    statement = final_statement(text)
    if statement is not None:
        stated = numbers_in(statement)[:1]
        ok = any(v in stated for v in values) or any(_mentions_phrase(statement, f) for f in phrases)
        verb = "states" if ok else "does not state"
        return CheckResult(ok, f"final answer {verb} {reference!r}: {statement[:80]!r}")
    numbers = set(numbers_in(text))
    if not (any(v in numbers for v in values) or any(_mentions_phrase(text, f) for f in phrases)):
        return CheckResult(False, f"{reference!r} does not appear in the answer")
    if values:
        candidates = numbers - set(numbers_in(task))
        if len(candidates) > MAX_CANDIDATE_NUMBERS:
            return CheckResult(
                False, f"{len(candidates)} different numbers: too many candidates to take {reference!r} as the answer"
            )
    return CheckResult(True, f"mentions {reference!r}")


def reference_checks(ins: Instruction, responses: Sequence[str]) -> list[FidelityCheck]:
    """One reference-answer test per response (none when the instruction's seed has no answer)."""
    if not ins.reference_answer:
        return []
    out = []
    for r in responses:
        result = check_reference_answer(r, ins.reference_answer, ins.seed_text)
        out.append(FidelityCheck(kind="reference_answer", passed=result.passed, evidence=result.evidence))
    return out


# --- the judge's task question ------------------------------------------------------------------------------


@cache
def fidelity_prompt() -> dict[str, str]:
    return yaml.safe_load((PROMPTS_DIR / "fidelity.yaml").read_text(encoding="utf-8"))


def task_question(task: str) -> str:
    """The yes/no question the judge answers about an answer to `task`."""
    return fidelity_prompt()["task_question"].format(task=task.strip())


def judge_checks(ins: Instruction, responses: Sequence[str], judge: JudgeFn) -> list[FidelityCheck]:
    """One judge test per response: does it carry out the seed task? (one batch of questions)"""
    if not responses:
        return []
    question = task_question(ins.seed_text)
    texts = [strip_reasoning(r) for r in responses]
    results = list(judge([JudgeQuery("fidelity:task", ins.prompt, t, question) for t in texts]))
    if len(results) != len(texts):
        raise ValueError(f"judge returned {len(results)} answers for {len(texts)} questions")
    return [
        FidelityCheck(
            kind="judge", passed=r.passed and bool(t.strip()), evidence=r.evidence if t.strip() else "empty answer"
        )
        for t, r in zip(texts, results, strict=True)
    ]


# --- all tests of one instruction's answers -----------------------------------------------------------------


def fidelity_reasons(checks: Sequence[FidelityCheck]) -> list[str]:
    """Reject reasons from an answer's fidelity tests: off_task:<test> for a failed embedding or judge test,
    wrong_answer for a failed reference answer; skipped tests give none."""
    reasons = []
    for kind in ("embedding", "judge"):
        if any(c.kind == kind and not c.passed and not c.skipped for c in checks):
            reasons.append(f"{OFF_TASK}:{kind}")
    if any(c.kind == "reference_answer" and not c.passed and not c.skipped for c in checks):
        reasons.append(WRONG_ANSWER)
    return reasons


def assess_fidelity(
    ins: Instruction,
    responses: Sequence[str],
    *,
    threshold: float,
    relevance: RelevanceScorer | None,
    judge: JudgeFn | None,
    reference_answers: bool,
) -> list[list[FidelityCheck]]:
    """The fidelity tests of answers to one instruction, batched: the reference answer when the seed has one,
    otherwise the embedding test (when `relevance` is given), for every answer; then the judge (when given) for
    the answers that passed those, since it costs a model call per answer."""
    per: list[list[FidelityCheck]] = [[] for _ in responses]
    refs = reference_checks(ins, responses) if reference_answers else []  # none when the seed has no answer
    if relevance is not None:
        if refs:  # a short correct answer ("60.") says little to an embedding; the known answer is the better test
            skip = "the task has a reference answer, which decides instead"
            embedded = [FidelityCheck(kind="embedding", passed=False, skipped=True, evidence=skip) for _ in responses]
        else:
            embedded = embedding_checks(ins, responses, threshold, relevance)
        for checks, c in zip(per, embedded, strict=True):
            checks.append(c)
    for checks, c in zip(per, refs, strict=False):  # refs is empty or one per response
        checks.append(c)
    if judge is not None:
        ask = [k for k, checks in enumerate(per) if not fidelity_reasons(checks)]
        for k, c in zip(ask, judge_checks(ins, [responses[k] for k in ask], judge), strict=True):
            per[k].append(c)
    return per
