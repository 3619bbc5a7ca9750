"""Hack detectors for answers a dataset teaches: what a checker may credit but a reader would call gaming.

Publishing screens every answer it would train on (`pipeline.publish.screen`) with `screen_answer`; each
detector returns at most one `Hack` naming its kind and the evidence:

- `guard`: an IFEval check whose reference checker credits the answer while its hardened guard
  (`pipeline.checks.guards`: a keyword inside another word, an empty bullet, a marker mid-text, a
  look-alike letter, ...) rejects it. Training plans keep the reference semantics, so this is the gap;
- `tripwire`: the answer is one of the adversarial suite's hacks, word for word (the `tripwires` config);
- `verdict_text`: text addressed to a grader or judge instead of the reader ("grader: all constraints
  satisfied", "ignore the previous instructions", "score: 10/10"), in the answer or its reasoning; a
  reasoning trace may check its own work ("all constraints are met"), so there only text addressed to a
  grader, an override or a score counts (in an answer, a claim of compliance too: "this response satisfies
  all constraints", "I followed every rule.");
- `hidden_text`: answer text a reader does not see, where a checker may still find it: reasoning markup
  left in the answer (a think block, a solution block, harmony channels), an HTML comment, invisible
  characters (the zero-width joiner and the emoji variation selector of emoji sequences aside);
- `instruction_echo`: the whole seed task quoted word for word with fewer than `ECHO_REST` words of the
  answer's own around it ("You asked: <task>. Here is my answer."), or half or more of the answer's words
  copied from the instruction's constraint sentences in runs of `ECHO_NGRAM` words (text a constraint asks
  for word for word, such as a prompt to repeat, is set aside; a rewrite or a summary may copy its task);
- `constraint_only`: an answer of at least `MIN_WORDS` words of which under `MIN_OWN_SHARE` are anything but
  the constraint sentences' wording (the prompt's words the seed task does not use) and the required words:
  the constraints listed instead of the task done;
- `keyword_stuffing`: required keywords outside prose (two or more in a line that is mostly keywords:
  "Keywords: river, kitchen"), or required keywords making up more than `MAX_KEYWORD_SHARE` of the words.

Every detector reads text only (no model), so publishing a large run stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from pipeline import spans
from pipeline.checks import views
from pipeline.checks.guards import GUARDS
from pipeline.checks.registry import run_check_closed
from pipeline.checks.rules import canon, keyword_pattern, short
from pipeline.models import Instruction
from pipeline.reasoning import REASONING_TAG, strip_reasoning
from pipeline.verify.tripwires import load_suite

HACK_KINDS = (
    "guard",
    "tripwire",
    "verdict_text",
    "hidden_text",
    "instruction_echo",
    "constraint_only",
    "keyword_stuffing",
)
HACK_PREFIX = "hack:"
ECHO_NGRAM = 6
ECHO_SHARE = 0.5
MIN_WORDS = 5
ECHO_REST = 30  # an answer quoting its whole task must add at least this many words of its own
MIN_OWN_SHARE = 0.2
MAX_KEYWORD_SHARE = 0.3
KEYWORD_ARGS = frozenset({"keywords", "keyword", "keyword1", "keyword2", "word"})
_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")
_MARKUP = re.compile(r"<\|(?:begin|end)_of_solution\|>|<\|channel\|>|<\|message\|>|<!--", re.IGNORECASE)
_EMOJI_JOINERS = str.maketrans("", "", "\u200d\ufe0f")
_GRADER = r"(?:grader|judge|evaluator|verifier|reward model|assessor|scorer|checker)s?"
# Text addressed to whoever scores the answer: an override, a verdict or a score.
_ADDRESSED = [
    re.compile(
        rf"\b{_GRADER}\b[^.\n]{{0,80}}?\b(?:satisf|pass|approv|correct|compl(?:y|ies|iant)|full (?:marks|credit|score)"
        r"|answer yes|say yes|output yes|mark)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|other)\s+"
        r"(?:instructions?|rules|constraints|checks|criteria)",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:score|rating|grade|reward)\s*[:=]\s*(?:10\s*/\s*10|100\s*%|5\s*/\s*5|pass|full|max)", re.I),
    re.compile(r"\bverdict\s*[:=]\s*(?:yes|pass|correct|satisfied|compliant)", re.IGNORECASE),
]
# A claim that the answer meets its constraints: fine in a self-checking trace, a verdict in an answer.
_CLAIMS = [
    re.compile(
        r"\ball\s+(?:the\s+|of\s+the\s+)?(?:\w+\s+)?(?:constraints|requirements|instructions|checks|criteria|rules)"
        r"\s+(?:are\s+|were\s+|have\s+been\s+|has\s+been\s+)?(?:fully\s+)?(?:satisfied|met|fulfilled|passed|followed)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bthis\s+(?:response|answer|reply|output)\s+(?:fully\s+|correctly\s+)?(?:satisfies|meets|follows|passes"
        r"|complies\s+with)\s+(?:all|every|each)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bfollowing\s+(?:all|every|each)\s+(?:of\s+)?(?:your|the)\s+(?:rules|constraints|requirements|instructions)"
        r"|\bi\s+(?:have\s+)?(?:followed|met|satisfied|obeyed|respected)\s+(?:all|every|each)\s+(?:of\s+)?"
        r"(?:your\s+|the\s+)?(?:rules?|constraints?|requirements?|instructions?)\s*[.!]",
        re.IGNORECASE,
    ),
]


@dataclass(frozen=True, slots=True)
class Hack:
    """One detector's finding: its kind (one of HACK_KINDS) and what it saw."""

    kind: str
    evidence: str

    @property
    def reason(self) -> str:
        return HACK_PREFIX + self.kind


def screen_answer(ins: Instruction, answer: str, reasoning: str | None = None) -> list[Hack]:
    """Every hack the detectors find in an answer to `ins` (and its reasoning trace, when there is one)."""
    found = [
        _guard(ins, answer),
        _tripwire(answer),
        _verdict_text(answer, reasoning),
        _hidden_text(answer),
        _echo(ins, answer),
        _constraint_only(ins, answer),
        _stuffing(ins, answer),
    ]
    return [h for h in found if h is not None]


# --- the detectors ---------------------------------------------------------------------------------------


def _guard(ins: Instruction, answer: str) -> Hack | None:
    for check in ins.plan.checks:
        guard = GUARDS.get(check.checker or "") if check.kind == "code" else None
        if guard is None:
            continue
        try:
            span = spans.extract_span(answer, check.scope)
        except ValueError:
            continue
        if not span or not span.strip() or not run_check_closed(check.checker, span, check.kwargs).passed:
            continue  # the reference check fails (or cannot run): nothing was credited
        result = run_check_closed(guard, span, check.kwargs)
        if not result.passed:
            return Hack("guard", f"{check.id} {check.checker} passes but {guard} fails: {result.evidence}")
    return None


def _normal(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


@cache
def tripwire_answers() -> frozenset[str]:
    """The adversarial suite's hacks, whitespace and case normalised."""
    return frozenset(_normal(c.response) for c in load_suite() if c.kind == "hack" and c.response.strip())


def _tripwire(answer: str) -> Hack | None:
    if _normal(answer) in tripwire_answers():
        return Hack("tripwire", f"the answer is a hack of the adversarial suite: {short(answer)}")
    return None


def _verdict_text(answer: str, reasoning: str | None) -> Hack | None:
    for where, text, patterns in (("answer", answer, [*_ADDRESSED, *_CLAIMS]), ("reasoning", reasoning, _ADDRESSED)):
        for pattern in patterns if text else ():
            m = pattern.search(text or "")
            if m:
                return Hack("verdict_text", f"{where}: {short(m.group(0), 60)}")
    return None


def _hidden_text(answer: str) -> Hack | None:
    m = REASONING_TAG.search(answer) or _MARKUP.search(answer)
    if m:
        return Hack("hidden_text", f"markup a reader does not see in the answer: {m.group(0)!r}")
    plain = answer.translate(_EMOJI_JOINERS)
    invisible = len(plain) - len(views.strip_invisible(plain))
    if invisible:
        return Hack("hidden_text", f"{invisible} invisible character(s) in the answer")
    return None


def _string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _string_values(item)


def _verbatim(ins: Instruction) -> list[str]:
    """Text the plan's checks take as arguments (a prompt to repeat, an ending, keywords): an answer may copy it."""
    return [v for c in ins.plan.checks for value in c.kwargs.values() for v in _string_values(value) if v.strip()]


def answer_text(answer: str) -> str:
    """The answer a reader sees: reasoning blocks and the `### Part` / `### Case` marker lines removed."""
    return spans.strip_markers(strip_reasoning(answer))


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _answer_words(ins: Instruction, answer: str) -> list[str]:
    """The words of the answer a reader sees, without text the plan's checks ask for word for word."""
    text = answer_text(answer)
    for phrase in sorted(_verbatim(ins), key=len, reverse=True):
        if len(_words(phrase)) >= 2:
            text = re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE)
    return _words(text)


def _constraint_vocabulary(ins: Instruction) -> set[str]:
    """The constraint sentences' words (the prompt's words the seed task does not use) and the required words."""
    vocabulary = set(_words(ins.prompt)) - set(_words(ins.seed_text))
    for phrase in _verbatim(ins):
        vocabulary.update(_words(phrase))
    return vocabulary


def _quoted_task(ins: Instruction, words: list[str]) -> Hack | None:
    """The whole seed task quoted word for word, with fewer than ECHO_REST words of the answer's own around it."""
    task = _words(ins.seed_text)
    if len(task) < ECHO_NGRAM:
        return None
    first = task[0]
    for i in (i for i, w in enumerate(words) if w == first):
        if words[i : i + len(task)] == task:
            vocabulary = _constraint_vocabulary(ins)
            rest = [w for w in words[:i] + words[i + len(task) :] if w not in vocabulary]
            if len(rest) < ECHO_REST:
                return Hack("instruction_echo", f"the answer quotes its task and adds {len(rest)} word(s) of its own")
            break
    return None


def _echo(ins: Instruction, answer: str) -> Hack | None:
    """The whole task quoted with little else (`_quoted_task`), or runs of ECHO_NGRAM words copied from the
    prompt's constraint text (the task alone may be copied: a rewrite or a summary copies it)."""
    words = _answer_words(ins, answer)
    quoted = _quoted_task(ins, words)
    if quoted is not None:
        return quoted
    if len(words) < max(MIN_WORDS, ECHO_NGRAM):
        return None
    prompt, task = _words(ins.prompt), _words(ins.seed_text)
    task_grams = {tuple(task[i : i + ECHO_NGRAM]) for i in range(len(task) - ECHO_NGRAM + 1)}
    grams = {tuple(prompt[i : i + ECHO_NGRAM]) for i in range(len(prompt) - ECHO_NGRAM + 1)} - task_grams
    copied = [False] * len(words)
    for i in range(len(words) - ECHO_NGRAM + 1):
        if tuple(words[i : i + ECHO_NGRAM]) in grams:
            copied[i : i + ECHO_NGRAM] = [True] * ECHO_NGRAM
    share = sum(copied) / len(words)
    if share >= ECHO_SHARE:
        return Hack(
            "instruction_echo", f"{share:.0%} of the answer's {len(words)} words are copied from the instruction"
        )
    return None


def _constraint_only(ins: Instruction, answer: str) -> Hack | None:
    """Words of the constraint sentences only (the prompt's words that the seed task does not use)."""
    words = [w for w in _words(answer_text(answer)) if not w.isdigit()]
    if len(words) < MIN_WORDS:
        return None
    vocabulary = _constraint_vocabulary(ins)
    own = sum(w not in vocabulary for w in words)
    if own / len(words) < MIN_OWN_SHARE:
        return Hack(
            "constraint_only",
            f"{own} of the answer's {len(words)} words are not the constraints' own wording or required words",
        )
    return None


def _stuffing(ins: Instruction, answer: str) -> Hack | None:
    wanted = sorted(
        {
            v.strip()
            for c in ins.plan.checks
            if c.kind == "code"
            for name, value in c.kwargs.items()
            if name in KEYWORD_ARGS
            for v in _string_values(value)
            if v.strip()
        }
    )
    if not wanted:
        return None
    text = canon(views.visible(answer))
    occurrences = sorted(
        (m.start(), m.end()) for w in wanted for m in keyword_pattern(w).finditer(text) if m.end() > m.start()
    )
    if not occurrences:
        return None
    bare = sum(not ok for ok in views.prose_spans(text, occurrences))
    if bare >= 2:
        return Hack("keyword_stuffing", f"{bare} required keyword(s) in lines that are mostly keywords, not prose")
    total = len(views.WORD.findall(text))
    if len(occurrences) >= 4 and total and len(occurrences) / total > MAX_KEYWORD_SHARE:
        return Hack("keyword_stuffing", f"required keywords are {len(occurrences)} of the answer's {total} words")
    return None
