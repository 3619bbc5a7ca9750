"""Shallow-reasoning detection: does a reasoning trace work on the instruction or only paraphrase it?

RAIF found that small models' chain-of-thought mostly restates the instruction. Three measures, all cheap:

- **prompt similarity**: cosine similarity of the trace to the prompt (the bundled sentence-embedding model).
  A restatement sits close to the prompt; a trace that plans an answer drifts toward the content.
- **constraints addressed**: of the instruction's constraints that carry parameters (numbers, keywords,
  labels, markers) and of its Selections, how many the trace engages with: it names a parameter value (a
  number in digits or words counts either way); a Selection counts twice, once for its condition (the
  trace names one of the condition's facts) and once for its outcome (it names the case that applies,
  "case B"). Constraints without parameters ("use no commas") give no cue and are not counted.
- **length** in words.

A trace is shallow when it is too short, engages with too few of the addressable constraints, or is
nearly the prompt itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from pipeline.construct.tree import iter_constraints, iter_selections
from pipeline.models import Instruction, ReasoningQuality
from pipeline.verify.fidelity import default_relevance, numbers_in

Similarity = Callable[[str, str], float]

DEFAULT_MIN_ADDRESSED_SHARE = 0.34
DEFAULT_MAX_PROMPT_SIMILARITY = 0.9
DEFAULT_MIN_WORDS = 20


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text_cues(value: object) -> list[str]:
    """The word-like cues of one parameter value (a list parameter gives one cue per item)."""
    if isinstance(value, list):
        return [cue for item in value for cue in _text_cues(item)]
    if isinstance(value, str) and value.strip() and _number(value) is None:
        return [value.strip()]
    return []


def _number_cues(value: object) -> list[Decimal]:
    if isinstance(value, list):
        return [n for item in value for n in _number_cues(item)]
    number = _number(value)
    return [number] if number is not None else []


def addressable_cues(instruction: Instruction) -> list[tuple[list[str], list[Decimal]]]:
    """Per addressable item (a constraint with parameters, or a Selection): its text cues and number cues."""
    items: list[tuple[list[str], list[Decimal]]] = []
    for _, constraint in iter_constraints(instruction.tree):
        texts = [cue for value in constraint.params.values() for cue in _text_cues(value)]
        numbers = [n for value in constraint.params.values() for n in _number_cues(value)]
        if texts or numbers:
            items.append((texts, numbers))
    for selection in iter_selections(instruction.tree):
        # the condition: its facts (the word and letter, the number to compare...); the outcome: the case it selects
        facts = list(selection.condition.facts.values())
        condition = (
            [cue for fact in facts for cue in _text_cues(fact) if len(cue) > 1],
            [n for fact in facts for n in _number_cues(fact)],
        )
        if condition != ([], []):
            items.append(condition)
        items.append(([f"case {selection.correct}"], []))
    return items


def _mentions(text_folded: str, cue: str) -> bool:
    cue = cue.casefold()
    # Word boundaries where the cue starts or ends with a word character, so "art" is not found in "start".
    left = r"(?<!\w)" if re.match(r"\w", cue) else ""
    right = r"(?!\w)" if re.search(r"\w$", cue) else ""
    return re.search(left + re.escape(cue) + right, text_folded) is not None


def count_addressed(trace: str, instruction: Instruction) -> tuple[int, int]:
    """(addressed, addressable): how many of the instruction's cue-bearing items the trace engages with."""
    items = addressable_cues(instruction)
    folded = trace.casefold()
    numbers = set(numbers_in(trace)) if any(nums for _, nums in items) else set()
    addressed = sum(
        1 for texts, nums in items if any(_mentions(folded, t) for t in texts) or any(n in numbers for n in nums)
    )
    return addressed, len(items)


def bundled_similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts with the bundled sentence-embedding model."""
    return min(1.0, max(-1.0, default_relevance().similarities(a, [b])[0]))  # rounding can step past 1


def measure_reasoning(
    trace: str,
    instruction: Instruction,
    *,
    similarity: Similarity | None = None,
    min_addressed_share: float = DEFAULT_MIN_ADDRESSED_SHARE,
    max_prompt_similarity: float = DEFAULT_MAX_PROMPT_SIMILARITY,
    min_words: int = DEFAULT_MIN_WORDS,
) -> ReasoningQuality:
    """Measure one reasoning trace against its instruction and decide whether it is shallow."""
    words = len(trace.split())
    addressed, addressable = count_addressed(trace, instruction)
    prompt_similarity = (similarity or bundled_similarity)(instruction.prompt, trace) if words else 0.0
    shallow = (
        words < min_words
        or (addressable > 0 and addressed / addressable < min_addressed_share)
        or prompt_similarity > max_prompt_similarity
    )
    return ReasoningQuality(
        prompt_similarity=round(float(prompt_similarity), 4),
        addressed=addressed,
        addressable=addressable,
        words=words,
        shallow=shallow,
    )
