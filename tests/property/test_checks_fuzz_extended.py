"""Fuzzing the ComplexBench and extended checkers: any text gets a verdict, malformed kwargs raise,
and responses built to satisfy a constraint pass it."""

from __future__ import annotations

import json
import re
import string
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.checks import views
from pipeline.checks.registry import CheckResult, run_check
from pipeline.errors import CheckerArgumentError

TEMPLATE = "Answer: <one sentence>\nReason: <why>"
VALID_KWARGS: dict[str, dict[str, Any]] = {
    "complexbench:keywords": {"keywords": ["river", "free coffee"]},
    "complexbench:forbidden_words": {"forbidden_words": ["river"]},
    "complexbench:keyword_count": {"keywords": ["river", "sea", "lake"], "min_count": 1, "max_count": 2},
    "complexbench:starts_with": {"prefix": "Dear reader"},
    "complexbench:ends_with": {"suffix": "We value you"},
    "complexbench:not_ends_with": {"suffix": "?"},
    "complexbench:length_chars": {"min_chars": 5, "max_chars": 500},
    "complexbench:length_words": {"min_words": 2, "max_words": 50},
    "complexbench:exact_match": {"answer": "Yes"},
    "complexbench:json_keys": {"keys": ["title", "score"]},
    "complexbench:punctuation_whitelist": {"allowed": [".", ","]},
    "count:word_count_range": {"min_words": 2, "max_words": 50},
    "count:unique_word_count": {"N": 3},
    "length:cjk_chars": {"min_chars": 1, "max_chars": 50},
    "letters:letter_counting": {"N": 10, "relation": "at least"},
    "paragraphs:blank_line_count": {"num_paragraphs": 2},
    "sentence:question_count": {"N": 1},
    "count:numbers": {"N": 2},
    "count:count_increment_word": {"keyword1": "lantern", "keyword2": "harbor"},
    "sentence:keyword": {"word": "garden", "N": 2},
    "words:repeats": {"small_n": 3},
    "lexical:palindrome_word": {"min_length": 5},
    "first_word:first_word_answer": {"first_word": "today"},
    "last_word:last_word_answer": {"last_word": "home"},
    "keywords:start_end": {},
    "punctuation:punctuation_dot": {},
    "punctuation:punctuation_exclamation": {},
    "ratio:stop_words": {"percentage": 50},
    "count:conjunctions": {"small_n": 2},
    "template:fixed_labels": {"template": TEMPLATE},
    "list:numbered_items": {"num_items": 3},
    "markdown:table_columns": {"num_columns": 2},
    "markdown:min_headings": {"N": 2},
}
IDS = sorted(VALID_KWARGS)
WITH_PARAMS = [cid for cid in IDS if VALID_KWARGS[cid]]
# Invalid for every parameter type used above: not a string, not a list of strings, not an int >= 0.
GARBAGE = st.sampled_from([None, {}, 1.5, -5, True, [1, 2], b"x", ("a", 3)])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
texts = st.text(max_size=400)
markdownish = st.lists(
    st.sampled_from(
        [
            "\n",
            "\n\n",
            " ",
            "* ",
            "- ",
            "1. ",
            "# ",
            "|",
            "---",
            "{",
            "}",
            '"',
            ":",
            "?",
            "!",
            ".",
            "。",
            "Answer:",
            "word",
            "Dear reader",
            "river",
        ]
    ),
    max_size=60,
).map("".join)


def _check_shape(result: CheckResult) -> None:
    assert isinstance(result, CheckResult)
    assert isinstance(result.passed, bool)
    assert isinstance(result.evidence, str) and result.evidence
    assert len(result.evidence) < 400


@pytest.mark.parametrize("cid", IDS)
@FUZZ
@given(text=st.one_of(texts, markdownish))
def test_any_text_gets_a_verdict(cid: str, text: str) -> None:
    _check_shape(run_check(cid, text, VALID_KWARGS[cid]))


@pytest.mark.parametrize("cid", IDS)
def test_empty_and_huge_responses(cid: str) -> None:
    huge = ("Dear reader, the river (42) runs. Why?\n* a\n  - b\n| x | y |\n" + "word " * 20 + "\n\n") * 3000
    for text in ["", " ", "\n\n", "\x00", "\ud7ff" * 10, huge, "{" * 50_000, "a" * 200_000]:
        start = time.perf_counter()
        _check_shape(run_check(cid, text, VALID_KWARGS[cid]))
        assert time.perf_counter() - start < 5, f"{cid} is too slow on a {len(text)}-char response"


@pytest.mark.parametrize("cid", WITH_PARAMS)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), bad=GARBAGE)
def test_malformed_kwargs_raise(cid: str, data: st.DataObject, bad: Any) -> None:
    kwargs = dict(VALID_KWARGS[cid])
    name = data.draw(st.sampled_from(sorted(kwargs)))
    kwargs[name] = bad
    with pytest.raises(CheckerArgumentError):
        run_check(cid, "Some text. Is it? 1. a", kwargs)


# --- semantics: responses built to satisfy a constraint pass it -----------------------------------

ascii_words = st.lists(st.text(string.ascii_letters, min_size=1, max_size=8), min_size=1, max_size=40)


@FUZZ
@given(ws=ascii_words)
def test_exactly_n_words_pass_the_n_n_ranges(ws: list[str]) -> None:
    n = len(ws)
    text = " ".join(ws)
    for cid in ("complexbench:length_words", "count:word_count_range"):
        assert run_check(cid, text, {"min_words": n, "max_words": n}).passed
        assert not run_check(cid, text, {"min_words": n + 1, "max_words": n + 5}).passed
        assert not run_check(cid, text, {"min_words": 0, "max_words": n - 1}).passed


@FUZZ
@given(text=texts)
def test_length_chars_counts_the_stripped_text(text: str) -> None:
    # Hidden text, invisible characters and whitespace padding do not count (checked in the adversarial suite).
    assume(views.visible(text) == text and not re.search(r"\s{3,}", text.strip()))
    n = len(text.strip())
    assert run_check("complexbench:length_chars", text, {"min_chars": n, "max_chars": n}).passed
    assert not run_check("complexbench:length_chars", text, {"min_chars": n + 1, "max_chars": n + 1}).passed


@FUZZ
@given(text=texts, keyword=st.sampled_from(["river", "free coffee", "咖啡", "AI", "safety first"]))
def test_a_found_keyword_is_a_forbidden_word(text: str, keyword: str) -> None:
    # Not complements: a keyword counts only in prose, a forbidden word anywhere and in disguise.
    found = run_check("complexbench:keywords", text, {"keywords": [keyword]}).passed
    if found:
        assert not run_check("complexbench:forbidden_words", text, {"forbidden_words": [keyword]}).passed
    assume("<" not in text)  # no reasoning block or comment that would hide the inserted sentence
    inserted = f"{text}\nWe talk about {keyword.upper()} every day.\n{text}"
    assert run_check("complexbench:keywords", inserted, {"keywords": [keyword]}).passed
    assert not run_check("complexbench:forbidden_words", inserted, {"forbidden_words": [keyword]}).passed


@FUZZ
@given(text=texts, suffix=st.sampled_from(["We value you", "?", "End of report", "好的"]))
def test_ends_with_and_not_ends_with_never_both_pass(text: str, suffix: str) -> None:
    ends = run_check("complexbench:ends_with", text, {"suffix": suffix}).passed
    if ends:
        assert not run_check("complexbench:not_ends_with", text, {"suffix": suffix}).passed
    assume("<" not in text)  # no reasoning block or comment that would hide the ending
    built = f"{text}\nWe say: {suffix}."
    assert run_check("complexbench:ends_with", built, {"suffix": suffix}).passed
    assert not run_check("complexbench:not_ends_with", built, {"suffix": suffix}).passed


@FUZZ
@given(text=texts, prefix=st.sampled_from(["Dear reader", "In short", "Note:"]))
def test_prefix_then_anything_starts_with_it(text: str, prefix: str) -> None:
    assume("<" not in text)  # no reasoning block or comment that would hide the prefix
    assert run_check("complexbench:starts_with", f"  {prefix.swapcase()} then {text}", {"prefix": prefix}).passed


@FUZZ
@given(
    answer=st.sampled_from(["Yes", "Option A", "Not enough information"]), pad=st.sampled_from(["", " ", "\n", "."])
)
def test_exact_match_tolerates_case_space_and_full_stop(answer: str, pad: str) -> None:
    assert run_check("complexbench:exact_match", f" {answer.upper()}{pad}", {"answer": answer}).passed
    assert not run_check("complexbench:exact_match", f"{answer} indeed", {"answer": answer}).passed


@FUZZ
@given(
    keys=st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=6), min_size=1, max_size=5, unique=True),
    values=st.recursive(
        st.integers() | st.text(max_size=10).filter(str.strip),
        lambda c: st.lists(c, min_size=1, max_size=3),
        max_leaves=5,
    ),
    fence=st.sampled_from(["{}", " {} ", "```json\n{}\n```", "\n```\n{}\n```\n"]),
    # prose: at least one letter or digit (invisible characters alone, e.g. a soft hyphen, are not prose)
    around=st.text(alphabet=st.characters(blacklist_characters="{"), min_size=1, max_size=30).filter(
        lambda t: any(ch.isalnum() for ch in t)
    ),
)
def test_json_with_the_keys_passes_and_an_extra_key_fails(
    keys: list[str], values: Any, fence: str, around: str
) -> None:
    obj = {k: values for k in keys}
    assert run_check("complexbench:json_keys", fence.replace("{}", json.dumps(obj)), {"keys": keys}).passed
    assert not run_check("complexbench:json_keys", f"{around}\n{json.dumps(obj)}", {"keys": keys}).passed  # prose
    obj["zz_extra"] = 1
    assert not run_check("complexbench:json_keys", json.dumps(obj), {"keys": keys}).passed


@FUZZ
@given(text=texts, allowed=st.lists(st.sampled_from(list(string.punctuation)), min_size=1, max_size=6, unique=True))
def test_text_without_other_punctuation_passes_the_whitelist(text: str, allowed: list[str]) -> None:
    from pipeline.checks.rules import punctuation_view

    # Drop every character whose folded form (look-alike and compatibility forms undone) is banned punctuation.
    kept = "".join(ch for ch in text if all(c not in string.punctuation or c in allowed for c in punctuation_view(ch)))
    assert run_check("complexbench:punctuation_whitelist", kept, {"allowed": allowed}).passed
    banned = next(p for p in string.punctuation if p not in allowed)
    assert not run_check("complexbench:punctuation_whitelist", kept + banned, {"allowed": allowed}).passed


@FUZZ
@given(ws=st.lists(st.text(string.ascii_letters, min_size=2, max_size=8), min_size=2, max_size=40))
def test_layouts_built_from_words_pass(ws: list[str]) -> None:
    # Items need content (two letters) and paragraphs two words.
    numbered = "\n".join(f"{i}. {w}" for i, w in enumerate(ws, start=1))
    assert run_check("list:numbered_items", numbered, {"num_items": len(ws)}).passed
    row = "| " + " | ".join(ws) + " |"
    table = "\n".join([row, "|" + "---|" * len(ws), row])
    assert run_check("markdown:table_columns", table, {"num_columns": len(ws)}).passed
    paras = "\n\n".join(f"{w} {w}" for w in ws)
    assert run_check("paragraphs:blank_line_count", paras, {"num_paragraphs": len(ws)}).passed


@FUZZ
@given(ws=ascii_words, word=st.sampled_from(["today", "home", "river"]))
def test_first_last_and_start_end_words(ws: list[str], word: str) -> None:
    text = " ".join([word.title(), *ws, word])
    assert run_check("first_word:first_word_answer", f"**{text}!", {"first_word": word}).passed
    assert run_check("last_word:last_word_answer", f"{text}!", {"last_word": word}).passed
    assert run_check("keywords:start_end", text, {}).passed
    assert not run_check("keywords:start_end", text + ".", {}).passed


@FUZZ
@given(n=st.integers(1, 6), filler=ascii_words)
def test_question_count_on_built_text(n: int, filler: list[str]) -> None:
    assume(not {"garden"} & {w.lower() for w in filler})
    body = " ".join(filler)
    sents = [f"{body}." for _ in range(n - 1)] + [f"The garden {body}?"]
    text = " ".join(sents)
    assert run_check("sentence:question_count", text, {"N": 1}).passed
