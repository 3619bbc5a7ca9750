"""The 25 IFEval checkers: a passing and a failing response each, the reference's quirks, bad kwargs."""

from __future__ import annotations

import re

import pytest

from pipeline.checks.detectable import count_bullet_lines, count_placeholders, has_title
from pipeline.checks.registry import load_checkers, run_check
from pipeline.errors import CheckerArgumentError

LT, AL = "less than", "at least"
EN = "The weather was pleasant and we walked along the river to the old market square in the morning."

CASES = [
    # keywords
    ("keywords:existence", {"keywords": ["river", "Market"]}, EN, True),
    ("keywords:existence", {"keywords": ["river", "castle"]}, EN, False),
    ("keywords:existence", {"keywords": ["arm"]}, "a farmer", True),  # substring, no word boundary
    ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": AL}, EN, True),
    ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": LT}, EN, False),
    ("keywords:frequency", {"keyword": " river ", "frequency": 1, "relation": AL}, "RIVERS", True),  # stripped
    ("keywords:forbidden_words", {"forbidden_words": ["castle", "king"]}, EN, True),
    ("keywords:forbidden_words", {"forbidden_words": ["castle", "RIVER"]}, EN, False),
    ("keywords:forbidden_words", {"forbidden_words": ["river"]}, "rivers and _river", True),  # whole words only
    ("keywords:letter_frequency", {"letter": "W", "let_frequency": 3, "let_relation": AL}, EN, True),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 1, "let_relation": AL}, EN, False),
    # language
    ("language:response_language", {"language": "en"}, EN, True),
    ("language:response_language", {"language": "fr"}, EN, False),
    ("language:response_language", {"language": "fr"}, "12345 !!!", True),  # undetectable text passes
    # length
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": AL}, "Mr. Smith came. He sat!", True),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": LT}, "Mr. Smith came. He sat!", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\nTwo.", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n\nTwo.", False),
    # ends may be empty
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "***\nOne.\n***\nTwo.\n***", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\n***\nTwo.", False),  # empty middle
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "One.\n****\nTwo", False),
    ("length_constraints:number_words", {"num_words": 5, "relation": AL}, "one two three four five", True),
    ("length_constraints:number_words", {"num_words": 5, "relation": LT}, "one two three four five", False),
    ("length_constraints:number_words", {"num_words": 3, "relation": AL}, "don't stop-now", True),  # \w+ runs
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First part.\n\n\"Then, the rest.", True),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First part.\n\nAfter that.", False),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "first"},
     "First part.\n\n\n\nSecond.", True),  # blank pieces do not count as paragraphs
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "second"},
     "First part.\n\n\n\nSecond.", False),  # ...but the n-th raw piece is the blank one
    # detectable content
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name\n], at [address].", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello.\n\nP.S. See you.", True),
    # not anchored
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello, p. s. mid-text and more.", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello.\nPS see you", False),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.P.S later", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.S. later", False),
    # detectable format
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Intro\n* one\n* two", True),
    # "-" lines count
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Intro\n* one\n* two\n---", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "**Bold** line\n- one", True),  # "**" is no bullet
    ("detectable_format:constrained_response", {}, "Well. My answer is yes.", True),
    ("detectable_format:constrained_response", {}, "My answer is Yes.", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and *two*", True),
    # bold counts via **
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**bold** and *it*", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "* * and **", False),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nA\nSection 2\nB", True),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "Section 1\nA\nSection 2\nB", False),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True),
    ("detectable_format:json_format", {}, "```python\n{\"a\": 1}\n```", False),
    ("detectable_format:json_format", {}, "{'a': 1}", False),
    ("detectable_format:json_format", {}, "[" * 100000 + "]" * 100000, False),  # the reference crashes here
    ("detectable_format:title", {}, "<<A Poem>>\nroses", True),
    ("detectable_format:title", {}, "<< >> and <<a\nb>>", False),
    # combination
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", True),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False),
    ("combination:two_responses", {}, "******\nA\n******\nB\n******", True),  # empty ends allowed
    ("combination:two_responses", {}, "A\n******\n\n******\nB", False),  # empty middle
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "  write a POEM. Roses...", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "Sure! Write a poem.", False),
    # start/end
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Done. any other questions?"\n', True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Any other questions? Bye.", False),
    ("startend:quotation", {}, '  "quoted"  ', True),
    ("startend:quotation", {}, "“curly”", False),
    ("startend:quotation", {}, '"', False),
    # case
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": AL}, "I SAW THE dog", True),
    # DO + N'T
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": LT}, "DON'T go", False),
    ("change_case:english_capital", {}, EN.upper(), True),
    ("change_case:english_capital", {}, EN, False),
    ("change_case:english_capital", {}, "LE PETIT CHAT DORT SUR LE CANAPÉ PENDANT QUE LA PLUIE TOMBE.", False),
    ("change_case:english_lowercase", {}, EN.lower(), True),
    ("change_case:english_lowercase", {}, EN, False),
    # punctuation
    ("punctuation:no_comma", {}, "No commas here，only full-width ones.", True),
    ("punctuation:no_comma", {}, "A, B", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("checker_id", "kwargs", "response", "expected"),
    CASES,
    ids=[f"{c[0]}-{i}-{'pass' if c[3] else 'fail'}" for i, c in enumerate(CASES)],
)
def test_checker_verdict(checker_id: str, kwargs: dict, response: str, expected: bool) -> None:
    result = run_check(checker_id, response, kwargs)
    assert result.passed is expected, result.evidence
    assert result.evidence


def test_every_ifeval_id_is_covered_with_a_pass_and_a_fail() -> None:
    ids = {c[0] for c in CASES}
    assert len(ids) == 25
    assert ids <= set(load_checkers())
    for cid in ids:
        assert {c[3] for c in CASES if c[0] == cid} == {True, False}, cid


def test_evidence_is_specific() -> None:
    r = run_check("length_constraints:number_words", "one two", {"num_words": 300, "relation": AL})
    assert r.evidence == "found 2 word(s), need at least 300"


BAD_KWARGS = [
    ("keywords:existence", {"keywords": []}, "must not be empty"),
    ("keywords:existence", {"keywords": "river"}, "list of strings"),
    ("keywords:existence", {"keywords": ["ok", "("]}, "regular expression"),
    ("keywords:frequency", {"keyword": "a", "frequency": "3", "relation": AL}, "integer"),
    ("keywords:frequency", {"keyword": "a", "frequency": 3, "relation": "at most"}, "must be one of"),
    ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 1, "let_relation": AL}, "single letter"),
    ("keywords:letter_frequency", {"letter": "é", "let_frequency": 1, "let_relation": AL}, "single letter"),
    ("keywords:letter_frequency", {"letter": 1, "let_frequency": 1, "let_relation": AL}, "single letter"),
    ("keywords:letter_frequency", {"letter": "\u0130", "let_frequency": 1, "let_relation": AL}, "single letter"),
    ("language:response_language", {"language": "xx"}, "must be one of"),
    ("language:response_language", {"language": ["en"]}, "must be one of"),
    ("length_constraints:number_words", {"num_words": -1, "relation": AL}, ">= 0"),
    ("length_constraints:number_words", {"num_words": True, "relation": AL}, "integer"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"},
     "<="),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 0, "nth_paragraph": 1, "first_word": "a"},
     ">= 1"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 0, "first_word": "a"},
     ">= 1"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": " "},
     "non-empty"),
    ("detectable_content:postscript", {"postscript_marker": None}, "string"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2.5}, "integer"),
    ("combination:repeat_prompt", {"prompt_to_repeat": ""}, "non-empty"),
    ("startend:end_checker", {"end_phrase": 3}, "string"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": None}, "must be one of"),
    ("punctuation:no_comma", {"extra": 1}, "unknown argument"),
    ("keywords:frequency", {"keyword": "a", "frequency": 1}, "missing argument"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("checker_id", "kwargs", "message"), BAD_KWARGS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_KWARGS)]
)
def test_malformed_kwargs_raise(checker_id: str, kwargs: dict, message: str) -> None:
    with pytest.raises(CheckerArgumentError, match=re.escape(message)):
        run_check(checker_id, "Some response text.", kwargs)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "  * a\n\n\t- b\n*\n*x\n**y\n   \n- \n-",
        "\n\n\n* a",
        "*\n",
        "x\n  \u00a0\n\u2028*a",
        "[a] [b\n] [[c]] ][",
    ],
)
def test_linear_scans_match_the_reference_regexes(text: str) -> None:
    stars = len(re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE))
    dashes = len(re.findall(r"^\s*-.*$", text, flags=re.MULTILINE))
    assert count_bullet_lines(text) == (stars, dashes)
    assert count_placeholders(text) == len(re.findall(r"\[.*?\]", text))
    titles = re.findall(r"<<[^\n]+>>", text)
    assert has_title(text) == any(t.lstrip("<").rstrip(">").strip() for t in titles)


def test_huge_pathological_inputs_stay_fast() -> None:
    # The reference regexes backtrack quadratically on these; ours must answer at once.
    blank = "\n " * 200_000
    assert run_check("detectable_format:number_bullet_lists", blank + "* x", {"num_bullets": 1}).passed
    assert not run_check("detectable_content:number_placeholders", "[" * 400_000, {"num_placeholders": 1}).passed
    assert not run_check("detectable_format:title", "<<" * 200_000, {}).passed
    assert not run_check("detectable_content:postscript", " " * 400_000, {"postscript_marker": "P.S."}).passed
