"""Shallow-reasoning detection: traces that restate the instruction vs traces that work on it."""

from __future__ import annotations

import re

import pytest

from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Instruction, Seed
from pipeline.verify.reasoning_quality import addressable_cues, bundled_similarity, count_addressed, measure_reasoning


@pytest.fixture(scope="module")
def selection() -> Instruction:
    return compose_instruction(
        Seed(id="s1", text="Describe a lighthouse at dusk."), "Selection_1", load_taxonomy(), random_seed=0
    )


def jaccard(a: str, b: str) -> float:
    sa, sb = set(re.findall(r"\w+", a.casefold())), set(re.findall(r"\w+", b.casefold()))
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def working_trace(ins: Instruction) -> str:
    """A trace that engages with every cue of the instruction, in its own words."""
    cues = [texts[0] if texts else str(nums[0]) for texts, nums in addressable_cues(ins)]
    return "Let me work this out step by step. " + " ".join(f"I must handle {cue} carefully here." for cue in cues)


def test_a_trace_that_works_on_every_constraint_is_not_shallow(selection: Instruction) -> None:
    trace = working_trace(selection)
    quality = measure_reasoning(trace, selection, similarity=jaccard)
    assert quality.addressed == quality.addressable > 0
    assert not quality.shallow


def test_the_instruction_restated_is_shallow(selection: Instruction) -> None:
    quality = measure_reasoning(selection.prompt, selection, similarity=jaccard)
    assert quality.prompt_similarity == pytest.approx(1.0)
    assert quality.shallow


def test_a_trace_that_names_no_parameter_is_shallow(selection: Instruction) -> None:
    trace = "I should write something nice and descriptive about the topic, with good flow and a clear structure. " * 2
    quality = measure_reasoning(trace, selection, similarity=jaccard)
    assert quality.addressed == 0 < quality.addressable
    assert quality.shallow


def test_a_short_trace_is_shallow(selection: Instruction) -> None:
    assert measure_reasoning("case B then.", selection, similarity=jaccard).shallow
    assert measure_reasoning("", selection, similarity=jaccard).words == 0


def test_numbers_count_in_digits_or_words_and_cues_match_whole_words(selection: Instruction) -> None:
    numbers = [n for _, nums in addressable_cues(selection) for n in nums]
    assert numbers, "the fixture instruction has a numeric parameter"
    n = int(numbers[0])
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    with_word = count_addressed(f"I will write {words[n]} of them.", selection)[0]
    with_digit = count_addressed(f"I will write {n} of them.", selection)[0]
    assert with_word == with_digit == 1
    # the selection's outcome cue is "case <label>": the bare letter inside another word does not count
    label = selection.plan.correct_branches and next(iter(selection.plan.correct_branches.values()))
    assert count_addressed(f"showcase{label} is not a mention", selection)[0] == 0


def test_the_bundled_model_sees_a_restatement_closer_to_the_prompt_than_work(selection: Instruction) -> None:
    restated = bundled_similarity(selection.prompt, selection.prompt.replace("First, ", "So first I should "))
    worked = bundled_similarity(selection.prompt, working_trace(selection))
    assert restated > worked
    assert -1.0 <= worked <= restated <= 1.0
