"""Extended checkers (IFBench / IFTrain ids and our own): pass and fail tables, edge cases, argument errors."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.checks.counting import paragraphs, sentences, words
from pipeline.checks.registry import CHECKERS, CheckResult, checker, load_checkers, run_check, run_check_closed
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import CheckerArgumentError

TEMPLATE = "Answer: <one sentence>\nReason: <why>\nConfidence: <low, medium or high>"
FILLED = "Answer: Paris.\nReason: It is the capital.\nConfidence: high"

# (id, checker, kwargs, response, expected verdict)
CASES: list[tuple[str, str, dict[str, Any], str, bool]] = [
    # --- length:cjk_chars
    ("cjk-in-range", "length:cjk_chars", {"min_chars": 4, "max_chars": 6}, "你好，世界！OK 123", True),
    ("cjk-latin-not-counted", "length:cjk_chars", {"min_chars": 1, "max_chars": 9}, "Hello world", False),
    ("cjk-too-many", "length:cjk_chars", {"min_chars": 1, "max_chars": 2}, "你好吗", False),
    # --- letters:letter_counting (ASCII letters only)
    ("lc-less-than", "letters:letter_counting", {"N": 8, "relation": "less than"}, "Hi there! 12345", True),
    ("lc-less-than-fails", "letters:letter_counting", {"N": 7, "relation": "less than"}, "Hi there all", False),
    ("lc-at-least", "letters:letter_counting", {"N": 7, "relation": "at least"}, "Hi there all", True),
    ("lc-accents-dont-count", "letters:letter_counting", {"N": 1, "relation": "at least"}, "éü 1", False),
    # --- paragraphs:blank_line_count
    ("par-two", "paragraphs:blank_line_count", {"num_paragraphs": 2}, "One here.\nStill one.\n\nTwo here.", True),
    (
        "par-whitespace-blank-line",
        "paragraphs:blank_line_count",
        {"num_paragraphs": 2},
        "One here.\n \t\nTwo here.\n\n\n",
        True,
    ),
    # a one-word block is padding, not a paragraph
    ("par-one-word-block", "paragraphs:blank_line_count", {"num_paragraphs": 2}, "One here.\n\nTwo.", False),
    ("par-three", "paragraphs:blank_line_count", {"num_paragraphs": 2}, "A\n\nB\n\nC", False),
    ("par-single-newline-is-one", "paragraphs:blank_line_count", {"num_paragraphs": 2}, "A\nB", False),
    # --- sentence:question_count
    ("q-two", "sentence:question_count", {"N": 2}, "Why? I wonder. How so?", True),
    # a closing quote after "?" then a space ends the sentence, by the documented rule
    ("q-quoted-mid-sentence", "sentence:question_count", {"N": 1}, 'She asked "why?" and left.', True),
    ("q-mark-without-space", "sentence:question_count", {"N": 0}, "See example.com?q=1 now.", True),
    ("q-quoted-end", "sentence:question_count", {"N": 1}, 'She asked "why?" Then she left.', True),
    ("q-interrobang-run", "sentence:question_count", {"N": 1}, "Really?! Yes.", False),
    ("q-fullwidth", "sentence:question_count", {"N": 1}, "你好吗？我很好。", True),
    ("q-zero", "sentence:question_count", {"N": 0}, "No questions here.", True),
    ("q-too-many", "sentence:question_count", {"N": 1}, "A? B?", False),
    # --- count:count_increment_word
    (
        "inc-ok",
        "count:count_increment_word",
        {"keyword1": "lantern", "keyword2": "harbor"},
        "A lantern glows by the harbor, and the HARBOR sleeps.",
        True,
    ),
    (
        "inc-bare-list-is-stuffing",
        "count:count_increment_word",
        {"keyword1": "lantern", "keyword2": "harbor"},
        "Lantern, harbor, HARBOR.",
        False,
    ),
    (
        "inc-plural-not-counted",
        "count:count_increment_word",
        {"keyword1": "lantern", "keyword2": "harbor"},
        "lantern harbor harbors",
        False,
    ),
    (
        "inc-too-many-first",
        "count:count_increment_word",
        {"keyword1": "lantern", "keyword2": "harbor"},
        "lantern lantern harbor harbor",
        False,
    ),
    # --- lexical:palindrome_word
    ("pal-level", "lexical:palindrome_word", {"min_length": 5}, "Take it to the next Level.", True),
    ("pal-too-short", "lexical:palindrome_word", {"min_length": 5}, "Noon is near.", False),
    ("pal-four", "lexical:palindrome_word", {"min_length": 4}, "Noon is near.", True),
    ("pal-not-across-words", "lexical:palindrome_word", {"min_length": 5}, "top spot", False),
    # --- first_word / last_word / start_end
    ("fw-ok", "first_word:first_word_answer", {"first_word": "today"}, "**Today**, we cook.", True),
    ("fw-wrong", "first_word:first_word_answer", {"first_word": "today"}, "Yesterday, today.", False),
    ("fw-prefix-not-enough", "first_word:first_word_answer", {"first_word": "to"}, "Today we cook.", False),
    ("fw-empty", "first_word:first_word_answer", {"first_word": "today"}, "", False),
    ("lw-ok", "last_word:last_word_answer", {"last_word": "home"}, "We are going Home!\n", True),
    ("lw-wrong", "last_word:last_word_answer", {"last_word": "home"}, "Home is where we go.", False),
    ("lw-apostrophe-word", "last_word:last_word_answer", {"last_word": "don't"}, "I don’t.", True),
    ("se-ok", "keywords:start_end", {}, "Hello there, I said hello", True),
    ("se-trailing-punctuation", "keywords:start_end", {}, "Hello there, I said hello.", False),
    ("se-different", "keywords:start_end", {}, "Hello there", False),
    ("se-one-word", "keywords:start_end", {}, "Hello", False),
    # --- punctuation bans
    ("dot-none", "punctuation:punctuation_dot", {}, "No dots here! Really?", True),
    ("dot-in-number", "punctuation:punctuation_dot", {}, "Pi is 3.14", False),
    ("dot-cjk", "punctuation:punctuation_dot", {}, "好。", False),
    ("dot-ellipsis-char", "punctuation:punctuation_dot", {}, "Well…", False),
    ("excl-none", "punctuation:punctuation_exclamation", {}, "Calm text.", True),
    ("excl-ascii", "punctuation:punctuation_exclamation", {}, "Wow!", False),
    ("excl-fullwidth", "punctuation:punctuation_exclamation", {}, "好！", False),
    # --- list:numbered_items
    ("nli-ok", "list:numbered_items", {"num_items": 3}, "Steps:\n1. Boil\n2) Pour\n   1. sub\n3. Wait\nDone.", True),
    ("nli-single-letter-items", "list:numbered_items", {"num_items": 3}, "1. a\n2) b\n3. c", False),
    ("nli-too-few", "list:numbered_items", {"num_items": 3}, "1. a\n2. b", False),
    ("nli-wrong-order", "list:numbered_items", {"num_items": 3}, "1. a\n3. b\n2. c", False),
    ("nli-two-lists", "list:numbered_items", {"num_items": 2}, "1. a\n\n1. b", False),
    ("nli-needs-space", "list:numbered_items", {"num_items": 1}, "1.5 metres", False),
    # --- markdown:table_columns
    ("tab-ok", "markdown:table_columns", {"num_columns": 3}, "| a | b | c |\n|---|:--|--:|\n| 1 | 2 | 3 |", True),
    ("tab-no-outer-pipes", "markdown:table_columns", {"num_columns": 2}, "a | b\n--- | ---\n1 | 2", True),
    (
        "tab-wrong-count",
        "markdown:table_columns",
        {"num_columns": 2},
        "| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |",
        False,
    ),
    ("tab-ragged", "markdown:table_columns", {"num_columns": 2}, "| a | b |\n|---|---|\n| 1 | 2 | 3 |", False),
    ("tab-no-data-row", "markdown:table_columns", {"num_columns": 2}, "| a | b |\n|---|---|", False),
    ("tab-escaped-pipe", "markdown:table_columns", {"num_columns": 2}, "| a | b |\n|---|---|\n| x \\| y | 2 |", True),
    (
        "tab-second-table-matches",
        "markdown:table_columns",
        {"num_columns": 2},
        "|a|\n|-|\n|1|\n\n|a|b|\n|-|-|\n|1|2|",
        True,
    ),
    # --- markdown:min_headings
    ("h-ok", "markdown:min_headings", {"N": 2}, "# One\ntext\n## Two\n", True),
    ("h-needs-space", "markdown:min_headings", {"N": 2}, "# One\n#hashtag", False),
    ("h-too-deep", "markdown:min_headings", {"N": 2}, "# One\n####### Seven", False),
    # --- template:fixed_labels
    ("tpl-ok", "template:fixed_labels", {"template": TEMPLATE}, FILLED, True),
    (
        "tpl-bold-and-blank-lines",
        "template:fixed_labels",
        {"template": TEMPLATE},
        "**Answer:** Paris\n\n**Reason**: capital\nConfidence: high",
        True,
    ),
    (
        "tpl-multiline-slot",
        "template:fixed_labels",
        {"template": TEMPLATE},
        "Answer:\nParis\nReason: capital\nConfidence: high",
        True,
    ),
    ("tpl-case-insensitive", "template:fixed_labels", {"template": TEMPLATE}, FILLED.upper(), True),
    ("tpl-text-before", "template:fixed_labels", {"template": TEMPLATE}, "Sure!\n" + FILLED, False),
    ("tpl-wrong-order", "template:fixed_labels", {"template": TEMPLATE}, "Reason: x\nAnswer: y\nConfidence: z", False),
    ("tpl-missing-label", "template:fixed_labels", {"template": TEMPLATE}, "Answer: y\nReason: x", False),
    ("tpl-repeated-label", "template:fixed_labels", {"template": TEMPLATE}, FILLED + "\nAnswer: again", False),
    ("tpl-empty-slot", "template:fixed_labels", {"template": TEMPLATE}, "Answer:\nReason: x\nConfidence: high", False),
    (
        "tpl-placeholder-left",
        "template:fixed_labels",
        {"template": TEMPLATE},
        "Answer: <one sentence>\nReason: x\nConfidence: high",
        False,
    ),
    ("tpl-empty", "template:fixed_labels", {"template": TEMPLATE}, "", False),
]


@pytest.mark.parametrize(("cid", "kwargs", "response", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdicts(cid: str, kwargs: dict[str, Any], response: str, expected: bool) -> None:
    result = run_check(cid, response, kwargs)
    assert result.passed is expected, result.evidence
    assert result.evidence


BAD_KWARGS: list[tuple[str, str, dict[str, Any]]] = [
    ("cjk-str", "length:cjk_chars", {"min_chars": "1", "max_chars": 2}),
    ("lc-bad-relation", "letters:letter_counting", {"N": 5, "relation": "exactly"}),
    ("par-zero", "paragraphs:blank_line_count", {"num_paragraphs": 0}),
    ("q-negative", "sentence:question_count", {"N": -1}),
    ("inc-same-word", "count:count_increment_word", {"keyword1": "Harbor", "keyword2": "harbor"}),
    ("inc-blank", "count:count_increment_word", {"keyword1": "", "keyword2": "harbor"}),
    ("pal-too-small", "lexical:palindrome_word", {"min_length": 2}),
    ("fw-two-words", "first_word:first_word_answer", {"first_word": "good day"}),
    ("lw-punctuation", "last_word:last_word_answer", {"last_word": "end."}),
    ("nli-zero", "list:numbered_items", {"num_items": 0}),
    ("tab-float", "markdown:table_columns", {"num_columns": 2.0}),
    ("h-none", "markdown:min_headings", {"N": None}),
    ("tpl-no-slots", "template:fixed_labels", {"template": "Answer: here\nReason: there"}),
    ("tpl-one-line", "template:fixed_labels", {"template": "Answer: <x>"}),
    ("tpl-duplicate-label", "template:fixed_labels", {"template": "A: <x>\na: <y>"}),
    ("unknown-kwarg", "punctuation:punctuation_dot", {"strict": True}),
    ("sc-labels-string", "structure:selected_case", {"expected": "A", "labels": "AB"}),
    ("sc-label-not-str", "structure:selected_case", {"expected": "A", "labels": ["A", 1]}),
    ("sc-label-empty", "structure:selected_case", {"expected": "A", "labels": ["A", ""]}),
    ("sc-expected-unknown", "structure:selected_case", {"expected": "C", "labels": ["A", "B"]}),
]


@pytest.mark.parametrize(("cid", "kwargs"), [c[1:] for c in BAD_KWARGS], ids=[c[0] for c in BAD_KWARGS])
def test_malformed_kwargs_raise(cid: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(CheckerArgumentError, match=cid.split(":")[0]):
        run_check(cid, "Some response. Another one?", kwargs)


def test_selected_case_names_the_argument_at_fault() -> None:
    """An empty label list is reported as such, not as an `expected` that is missing from it."""
    with pytest.raises(CheckerArgumentError, match="'labels' must be a non-empty list"):
        run_check("structure:selected_case", "### Case A\nText.", {"expected": "A", "labels": []})


def test_a_request_that_cannot_be_checked_is_a_failed_check() -> None:
    """Unknown ids and malformed arguments become failed checks with the error as evidence, never passes."""
    for cid, kwargs in (("count:no_such_id", {}), ("count:numbers", {"N": "three"}), ("count:numbers", {"M": 1})):
        result = run_check_closed(cid, "One 2 three.", kwargs)
        assert not result.passed and result.evidence.startswith("check error: "), (cid, kwargs, result)


def test_the_registry_holds_checkers_to_their_contract() -> None:
    """A checker must take `response` first; kwargs may be omitted; a verdict that is not a bool fails closed."""
    with pytest.raises(TypeError, match="first parameter must be `response`"):
        checker("t:text_first")(lambda text: CheckResult(True, "ok"))
    assert run_check("punctuation:no_comma", "No commas here.").passed

    @checker("t:int_verdict")
    def int_verdict(response: str) -> CheckResult:
        return CheckResult(1, "one is not a verdict")  # type: ignore[arg-type]

    try:
        result = run_check("t:int_verdict", "Anything.")
        assert not result.passed and "not a CheckResult" in result.evidence
    finally:
        CHECKERS.pop("t:int_verdict", None)
        CHECKERS.pop("t:text_first", None)


def test_units() -> None:
    assert words("Don’t stop—it's 3.5 km, ok_then!") == ["Don’t", "stop", "it's", "3", "5", "km", "ok", "then"]
    assert sentences('Hi. "Yes!" he said.\nNext line 3.5 here?  Done') == [
        "Hi.",
        '"Yes!"',
        "he said.",
        "Next line 3.5 here?",
        "Done",
    ]
    assert sentences("你好。我很好！") == ["你好。", "我很好！"]
    assert sentences("--- \n***") == []
    assert paragraphs("\n\nA\nB\n  \nC\n\n") == ["A\nB", "C"]


def test_evidence_is_specific() -> None:
    assert (
        "'harbor' occurs 1 time(s) (need 2)"
        in run_check(
            "count:count_increment_word", "lantern harbor", {"keyword1": "lantern", "keyword2": "harbor"}
        ).evidence
    )


def test_every_spec_in_my_files_has_a_checker_taking_its_params() -> None:
    """The YAML and the checkers agree: ids, parameter names and bundled pools give valid kwargs."""
    tax = load_taxonomy()
    registry = load_checkers()
    mine = [s for s in tax.specs.values() if s.source_file.endswith(("complexbench.yaml", "extended.yaml"))]
    assert len([s for s in mine if "complexbench" in s.tags]) >= 11
    assert len([s for s in mine if "complexbench" not in s.tags]) >= 15
    for spec in mine:
        chk = registry[spec.checker_id]
        assert {p.name for p in spec.params} == set(chk.params), spec.id
