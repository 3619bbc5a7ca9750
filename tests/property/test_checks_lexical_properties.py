"""Property tests of the lexical pattern and sentence shape checkers: any text gets a verdict, hidden and invisible
text earns nothing, bounds are monotone, and answers built to satisfy a constraint pass it."""

from __future__ import annotations

import string
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.checks.lexical_patterns import NUMBER_WORDS
from pipeline.checks.registry import CheckResult, run_check
from pipeline.construct.taxonomy import load_taxonomy

VALID_KWARGS: dict[str, dict[str, Any]] = {
    "lexical:max_word_length": {"max_letters": 8},
    "lexical:no_double_letter": {"letter": "p"},
    "lexical:suffix_words": {"affix": "ness", "N": 2},
    "lexical:prefix_words": {"affix": "re", "N": 2},
    "lexical:long_words": {"min_letters": 8, "N": 2},
    "lexical:hyphenated_words": {"N": 1},
    "lexical:spelled_numbers": {"N": 1},
    "lexical:numbers_ascending": {"N": 2},
    "lexical:acronyms_defined": {"N": 1},
    "lexical:percentages": {"N": 1},
    "lexical:word_first_paragraph_only": {"word": "river"},
    "lexical:word_every_paragraph": {"word": "river", "N": 2},
    "lexical:keywords_in_order": {"keywords": ["river", "bridge"]},
    "lexical:no_em_dash": {},
    "lexical:no_contractions": {},
    "lexical:no_first_person": {},
    "lexical:semicolon_clauses": {"N": 1},
    "lexical:parentheticals": {"N": 1},
    "shape:max_sentence_words": {"max_words": 8},
    "shape:short_and_long": {"short_max": 5, "long_min": 12},
    "shape:adjacent_lengths_differ": {"N": 2},
    "shape:first_sentence_short": {"max_words": 6},
    "shape:unique_openers": {"N": 2},
    "shape:banned_opener": {"word": "the"},
    "shape:last_sentence_opener": {"opener": "In short"},
    "shape:opens_with_question": {},
    "shape:commas_per_sentence": {"max_commas": 1},
    "shape:long_word_each_sentence": {"min_letters": 7},
    "shape:no_repeat_within_sentence": {"min_letters": 4},
}
IDS = sorted(VALID_KWARGS)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PIECES = [
    " ", " ", " ", "\n", "\n\n", ". ", "? ", "! ", ", ", "; ", "(", ")", "-", "—", "1", "2,000", "3.5", "'s", "n't",
    "the", "The", "river", "bridge", "kindness", "rebuild", "well-known", "happen", "twenty-one", "three",
    "In short", "Why", "I", "we", "45%", " percent", "WHO", "World Health Organization", "extraordinary", "* ",
    "1. ", "# ", "```", "|---|", "<!--", "-->",
]  # fmt: skip
texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(PIECES), max_size=60).map("".join))


def _shape(result: CheckResult) -> None:
    assert isinstance(result.passed, bool)
    assert isinstance(result.evidence, str) and 0 < len(result.evidence) < 400


def test_the_kwargs_cover_every_spec_of_the_file() -> None:
    mine = {s.id for s in load_taxonomy().specs.values() if s.source_file.endswith("complexify_lexical.yaml")}
    assert mine == set(IDS)


@pytest.mark.parametrize("cid", IDS)
@FUZZ
@given(text=texts)
def test_any_text_gets_a_verdict(cid: str, text: str) -> None:
    _shape(run_check(cid, text, VALID_KWARGS[cid]))


@pytest.mark.parametrize("cid", IDS)
def test_empty_and_huge_responses(cid: str) -> None:
    block = "Why do rivers bend? The well-known river (a long one) runs 2 to 3,000 km; we don't know — why.\n"
    huge = (block + "kindness happiness sadness " * 30 + "\n\n") * 1500
    for text in ["", " ", "\n\n", "\x00", huge, "a" * 200_000, "(" * 50_000, "- " * 50_000, "a." * 60_000]:
        start = time.perf_counter()
        _shape(run_check(cid, text, VALID_KWARGS[cid]))
        assert time.perf_counter() - start < 5, f"{cid} is too slow on a {len(text)}-char response"


# --- hidden and invisible text earns nothing -----------------------------------------------------------

ZERO_WIDTH = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])


@pytest.mark.parametrize("cid", IDS)
@FUZZ
@given(text=texts, where=st.lists(st.integers(0, 400), max_size=5), mark=ZERO_WIDTH)
def test_invisible_characters_change_no_verdict(cid: str, text: str, where: list[int], mark: str) -> None:
    # no markup an invisible character could break up ("<\u200b!--" is not a comment, so it hides nothing)
    assume(text == text.replace(mark, "") and "<" not in text)
    spiked = text
    for i in sorted(where, reverse=True):
        spiked = spiked[:i] + mark + spiked[i:]
    kwargs = VALID_KWARGS[cid]
    assert run_check(cid, spiked, kwargs).passed == run_check(cid, text, kwargs).passed


@pytest.mark.parametrize("cid", IDS)
@FUZZ
@given(text=texts, hidden=texts, where=st.integers(0, 400))
def test_hidden_text_never_turns_a_fail_into_a_pass(cid: str, text: str, hidden: str, where: int) -> None:
    assume("<" not in text and "<" not in hidden and "-->" not in hidden)
    commented = f"{text[:where]}<!-- {hidden} -->{text[where:]}"
    thought = f"<think>{hidden}</think>{text}"
    kwargs = VALID_KWARGS[cid]
    plain = run_check(cid, text, kwargs).passed
    if run_check(cid, commented, kwargs).passed:
        assert plain, "a hidden comment earned the pass"
    assert run_check(cid, thought, kwargs).passed == plain, "a reasoning block changed the verdict"


# --- bounds are monotone -----------------------------------------------------------------------------

AT_LEAST = {  # id -> the count parameter a pass stays a pass under when lowered
    "lexical:suffix_words": "N",
    "lexical:prefix_words": "N",
    "lexical:long_words": "N",
    "lexical:hyphenated_words": "N",
    "lexical:spelled_numbers": "N",
    "lexical:numbers_ascending": "N",
    "lexical:acronyms_defined": "N",
    "lexical:word_every_paragraph": "N",
    "shape:adjacent_lengths_differ": "N",
    "shape:unique_openers": "N",
}
AT_MOST = {  # id -> the limit parameter a pass stays a pass under when raised
    "lexical:max_word_length": "max_letters",
    "shape:max_sentence_words": "max_words",
    "shape:first_sentence_short": "max_words",
    "shape:commas_per_sentence": "max_commas",
}


@pytest.mark.parametrize("cid", sorted(AT_LEAST))
@FUZZ
@given(text=texts, n=st.integers(2, 6))
def test_a_minimum_that_passes_passes_when_lowered(cid: str, text: str, n: int) -> None:
    kwargs = {**VALID_KWARGS[cid], AT_LEAST[cid]: n}
    if run_check(cid, text, kwargs).passed:
        assert run_check(cid, text, {**kwargs, AT_LEAST[cid]: n - 1}).passed


@pytest.mark.parametrize("cid", sorted(AT_MOST))
@FUZZ
@given(text=texts, n=st.integers(2, 12))
def test_a_limit_that_passes_passes_when_raised(cid: str, text: str, n: int) -> None:
    kwargs = {**VALID_KWARGS[cid], AT_MOST[cid]: n}
    if run_check(cid, text, kwargs).passed:
        assert run_check(cid, text, {**kwargs, AT_MOST[cid]: n + 1}).passed


# --- answers built to satisfy a constraint pass it ---------------------------------------------------------

lower_words = st.lists(st.text("bcdfghjklmnrstvwxz", min_size=1, max_size=5).map(lambda w: w + "a"), min_size=3)


@FUZZ
@given(values=st.lists(st.integers(0, 10**6), min_size=2, max_size=8, unique=True))
def test_rising_numbers_pass_and_a_fall_fails(values: list[int]) -> None:
    rising = sorted(values)
    text = " ".join(f"Then came {v:,} more." for v in rising)
    assert run_check("lexical:numbers_ascending", text, {"N": len(values)}).passed
    falling = " ".join(f"Then came {v:,} more." for v in reversed(rising))
    assert not run_check("lexical:numbers_ascending", falling, {"N": 2}).passed


@FUZZ
@given(numbers=st.lists(st.sampled_from(sorted(NUMBER_WORDS)), min_size=1, max_size=6))
def test_numbers_in_words_pass_and_one_digit_fails(numbers: list[str]) -> None:
    text = " ".join(f"We counted {n} birds there." for n in numbers)
    assert run_check("lexical:spelled_numbers", text, {"N": len(numbers)}).passed
    assert not run_check("lexical:spelled_numbers", text + " Also 7.", {"N": 1}).passed


@FUZZ
@given(lengths=st.lists(st.integers(3, 12), min_size=1, max_size=8), limit=st.integers(3, 12))
def test_max_sentence_words_is_the_longest_sentence(lengths: list[int], limit: int) -> None:
    text = " ".join(" ".join(["word"] * n) + "." for n in lengths)
    assert run_check("shape:max_sentence_words", text, {"max_words": limit}).passed == (max(lengths) <= limit)


@FUZZ
@given(openers=st.lists(st.text(string.ascii_lowercase, min_size=2, max_size=6), min_size=2, max_size=8))
def test_unique_openers_is_no_repeated_first_word(openers: list[str]) -> None:
    text = " ".join(f"{w.capitalize()} walks home today." for w in openers)
    unique = len({w.lower() for w in openers}) == len(openers)
    assert run_check("shape:unique_openers", text, {"N": len(openers)}).passed == unique


@FUZZ
@given(commas=st.lists(st.integers(0, 4), min_size=1, max_size=6), limit=st.integers(0, 4))
def test_commas_per_sentence_is_the_most_commas_in_a_sentence(commas: list[int], limit: int) -> None:
    text = " ".join("We walk" + ", and rest" * c + " today." for c in commas)
    assert run_check("shape:commas_per_sentence", text, {"max_commas": limit}).passed == (max(commas) <= limit)
