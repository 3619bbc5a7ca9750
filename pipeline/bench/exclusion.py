"""What a benchmark suite must not share with a stored run: seeds, instruction fingerprints, 8-gram overlap.

Instruction prompts are built from shared templates, so two prompts about different tasks share many
8-grams of template text; an overlap of whole prompts would exclude everything. The overlap that marks
contamination is the task's own text, so it is tested both ways:

- an 8-gram of the candidate's task (seed) text occurs in a run prompt (as written, or as rewritten by the
  rewriter model, which may keep the task verbatim) or in a run task;
- an 8-gram of a run task occurs in the candidate's prompt.

A task shorter than 8 tokens counts as overlapping when its whole token sequence occurs in the other text.
Tokens are `pipeline.seeding.select.tokens` (normalised, case-folded words; one token per CJK character).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import store
from pipeline.errors import UserInputError
from pipeline.models import Instruction, Seed
from pipeline.seeding.load import text_key
from pipeline.seeding.select import ngrams, tokens

NGRAM = 8

# Drop reasons, counted and reported by `bench make`.
SEED_ID = "seed_id"
SEED_TEXT = "seed_text"
SEED_NGRAM = "seed_8gram"
FINGERPRINT = "fingerprint"
PROMPT_NGRAM = "prompt_8gram"

Gram = tuple[str, ...]


@dataclass
class RunIndex:
    """Seeds, fingerprints and n-grams of the instructions of one or more stored runs."""

    n: int = NGRAM
    seed_ids: set[str] = field(default_factory=set)
    seed_keys: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)
    instructions: int = 0
    _text_grams: set[Gram] = field(default_factory=set)  # n-grams of run prompts and tasks
    _texts: list[tuple[str, ...]] = field(default_factory=list)  # their tokens, for tasks shorter than n
    _short_grams: dict[int, set[Gram]] = field(default_factory=dict)  # m-grams of the texts, built per m on demand
    _seed_grams: set[Gram] = field(default_factory=set)  # n-grams of run tasks
    _short_seeds: dict[int, set[Gram]] = field(default_factory=lambda: defaultdict(set))  # run tasks under n tokens

    def add(self, ins: Instruction) -> None:
        """Index one run instruction."""
        self.instructions += 1
        self.seed_ids.add(ins.seed_id)
        self.seed_keys.add(text_key(ins.seed_text))
        self.fingerprints.add(ins.fingerprint)
        for text in {ins.prompt, ins.template_prompt or "", ins.seed_text} - {""}:
            toks = tuple(tokens(text))
            self._texts.append(toks)
            self._text_grams |= ngrams(toks, self.n)
        self._short_grams.clear()
        seed_toks = tuple(tokens(ins.seed_text))
        if len(seed_toks) >= self.n:
            self._seed_grams |= ngrams(seed_toks, self.n)
        elif seed_toks:
            self._short_seeds[len(seed_toks)].add(seed_toks)

    def _grams_of_length(self, m: int) -> set[Gram]:
        if m not in self._short_grams:
            self._short_grams[m] = {g for toks in self._texts for g in ngrams(toks, m)}
        return self._short_grams[m]

    def task_overlaps(self, task_text: str) -> bool:
        """True when the task text shares an n-gram with a run prompt or task (the whole task, if shorter)."""
        toks = tokens(task_text)
        if len(toks) >= self.n:
            return not ngrams(toks, self.n).isdisjoint(self._text_grams)
        return bool(toks) and tuple(toks) in self._grams_of_length(len(toks))

    def prompt_overlaps(self, prompt: str) -> bool:
        """True when a run task's n-gram (or a whole shorter run task) occurs in `prompt`."""
        toks = tokens(prompt)
        if not ngrams(toks, self.n).isdisjoint(self._seed_grams):
            return True
        return any(not ngrams(toks, m).isdisjoint(short) for m, short in self._short_seeds.items())

    def seed_reason(self, seed: Seed) -> str | None:
        """Why a seed may not be used for the suite, or None."""
        if seed.id in self.seed_ids:
            return SEED_ID
        if text_key(seed.text) in self.seed_keys:
            return SEED_TEXT
        if self.task_overlaps(seed.text):
            return SEED_NGRAM
        return None

    def instruction_reason(self, ins: Instruction) -> str | None:
        """Why a composed instruction may not be in the suite, or None."""
        if ins.fingerprint in self.fingerprints:
            return FINGERPRINT
        if self.task_overlaps(ins.seed_text) or self.prompt_overlaps(ins.prompt):
            return PROMPT_NGRAM
        return None


def index_runs(roots: Sequence[Path | str], n: int = NGRAM) -> RunIndex:
    """Index every run stored under each output root (`ROOT/runs/<fingerprint>/`)."""
    index = RunIndex(n=n)
    for root in roots:
        runs = store.list_runs(root)
        if not runs:
            raise UserInputError(
                f"--exclude-run {root}: no stored run there "
                f"(expected {Path(root) / 'runs' / '<fingerprint>' / 'run.json'}); "
                "give the output root of a data run"
            )
        for run in runs:
            index.runs.append(run.fingerprint)
            add_all(index, store.load_instructions(run))
    return index


def add_all(index: RunIndex, instructions: Iterable[Instruction]) -> None:
    """Index many run instructions."""
    for ins in instructions:
        index.add(ins)
