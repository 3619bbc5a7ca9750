"""ComplexBench rule checkers (`complexbench:*`): pass and fail tables, edge cases, argument errors."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from pipeline.checks.registry import run_check
from pipeline.checks.rules import canon, first_json_object, short
from pipeline.errors import CheckerArgumentError

KW = {"keywords": ["free coffee", "sunlight"]}
FULL_LIST = {"allowed": [",", "."]}

# (id, checker, kwargs, response, expected verdict)
CASES: list[tuple[str, str, dict[str, Any], str, bool]] = [
    # keywords: case-insensitive, whole words for Latin, whitespace runs, CJK substrings
    ("kw-all-present", "complexbench:keywords", KW, "Free coffee in the sunlight.", True),
    ("kw-case-and-spaces", "complexbench:keywords", KW, "We serve FREE\n  COFFEE in the Sunlight here.", True),
    ("kw-bare-list-is-stuffing", "complexbench:keywords", KW, "FREE COFFEE, Sunlight", False),
    ("kw-one-missing", "complexbench:keywords", KW, "Free coffee at dawn.", False),
    ("kw-substring-not-a-word", "complexbench:keywords", {"keywords": ["art"]}, "We start now.", False),
    ("kw-plural-is-another-word", "complexbench:keywords", {"keywords": ["river"]}, "Two rivers meet.", False),
    (
        "kw-punctuation-edges",
        "complexbench:keywords",
        {"keywords": ["river"]},
        "We swam in the (river), 'river'!",
        True,
    ),
    ("kw-cjk-substring", "complexbench:keywords", {"keywords": ["咖啡"]}, "我们喝咖啡了。", True),
    ("kw-latin-next-to-cjk", "complexbench:keywords", {"keywords": ["AI"]}, "我喜欢AI技术", True),
    (
        "kw-fullwidth-keyword",
        "complexbench:keywords",
        {"keywords": ["safety first!"]},
        "Always remember: safety first！",
        True,
    ),
    ("kw-empty-response", "complexbench:keywords", KW, "", False),
    # forbidden words
    ("fw-absent", "complexbench:forbidden_words", {"forbidden_words": ["budget"]}, "We plan the costs.", True),
    (
        "fw-present-any-case",
        "complexbench:forbidden_words",
        {"forbidden_words": ["budget"]},
        "The BUDGET is tight.",
        False,
    ),
    (
        "fw-inside-other-word-ok",
        "complexbench:forbidden_words",
        {"forbidden_words": ["art"]},
        "Start the party.",
        True,
    ),
    ("fw-empty-response", "complexbench:forbidden_words", {"forbidden_words": ["budget"]}, "", True),
    # keyword count: number of distinct listed keywords present
    (
        "kc-in-range",
        "complexbench:keyword_count",
        {"keywords": ["river", "kitchen", "journey"], "min_count": 1, "max_count": 2},
        "A river runs past the kitchen. The river is wide.",
        True,
    ),
    (
        "kc-too-many",
        "complexbench:keyword_count",
        {"keywords": ["river", "kitchen", "journey"], "min_count": 1, "max_count": 2},
        "river kitchen journey",
        False,
    ),
    (
        "kc-too-few",
        "complexbench:keyword_count",
        {"keywords": ["river", "kitchen", "journey"], "min_count": 2, "max_count": 3},
        "Only the river, the river and the river.",
        False,
    ),
    (
        "kc-zero-allowed",
        "complexbench:keyword_count",
        {"keywords": ["river", "kitchen"], "min_count": 0, "max_count": 0},
        "Nothing listed here.",
        True,
    ),
    # starts with
    ("sw-exact", "complexbench:starts_with", {"prefix": "Dear reader"}, "Dear reader, welcome.", True),
    ("sw-case-and-leading-space", "complexbench:starts_with", {"prefix": "Dear reader"}, "\n  dear  READER, hi", True),
    ("sw-not-at-start", "complexbench:starts_with", {"prefix": "Dear reader"}, "Hello. Dear reader, hi", False),
    ("sw-fullwidth-equals-ascii", "complexbench:starts_with", {"prefix": "Note:"}, "Note： read this", True),
    ("sw-empty-response", "complexbench:starts_with", {"prefix": "Dear reader"}, "", False),
    # ends with: one trailing . or 。 tolerated
    ("ew-exact", "complexbench:ends_with", {"suffix": "We value you"}, "Sorry again. We value you", True),
    ("ew-trailing-dot", "complexbench:ends_with", {"suffix": "We value you"}, "Sorry. We value you.  \n", True),
    ("ew-trailing-cjk-stop", "complexbench:ends_with", {"suffix": "We value you"}, "Sorry. We value you。", True),
    ("ew-two-dots-too-many", "complexbench:ends_with", {"suffix": "We value you"}, "We value you..", False),
    ("ew-other-mark", "complexbench:ends_with", {"suffix": "We value you"}, "We value you!", False),
    ("ew-text-after", "complexbench:ends_with", {"suffix": "We value you"}, "We value you. Bye.", False),
    ("ew-suffix-with-own-dot", "complexbench:ends_with", {"suffix": "End."}, "The end.", True),
    # not ends with
    ("new-ok", "complexbench:not_ends_with", {"suffix": "I hope this helps"}, "That is all.", True),
    ("new-ends", "complexbench:not_ends_with", {"suffix": "I hope this helps"}, "Done. I hope this helps.", False),
    ("new-question-mark", "complexbench:not_ends_with", {"suffix": "?"}, "Is that clear?", False),
    ("new-fullwidth-question-mark", "complexbench:not_ends_with", {"suffix": "?"}, "清楚吗？", False),
    ("new-mark-inside-ok", "complexbench:not_ends_with", {"suffix": "?"}, "Why? Because.", True),
    ("new-empty-response", "complexbench:not_ends_with", {"suffix": "?"}, "", True),
    # length in characters (stripped) and in whitespace-separated words
    ("lc-in-range", "complexbench:length_chars", {"min_chars": 5, "max_chars": 5}, "  hello \n", True),
    ("lc-too-long", "complexbench:length_chars", {"min_chars": 1, "max_chars": 4}, "hello", False),
    ("lc-cjk-counts-per-char", "complexbench:length_chars", {"min_chars": 3, "max_chars": 3}, "你好吗", True),
    ("lc-empty-too-short", "complexbench:length_chars", {"min_chars": 1, "max_chars": 10}, "   ", False),
    ("lw-in-range", "complexbench:length_words", {"min_words": 3, "max_words": 4}, "one two, three", True),
    ("lw-lone-dash-is-no-word", "complexbench:length_words", {"min_words": 3, "max_words": 3}, "a - b", False),
    ("lw-too-few", "complexbench:length_words", {"min_words": 3, "max_words": 4}, "one two", False),
    ("lw-too-many", "complexbench:length_words", {"min_words": 1, "max_words": 2}, "one two three", False),
    # exact match
    ("em-exact", "complexbench:exact_match", {"answer": "Option A"}, "Option A", True),
    ("em-case-space-dot", "complexbench:exact_match", {"answer": "Option A"}, "  option   a. ", True),
    ("em-cjk-stop", "complexbench:exact_match", {"answer": "Yes"}, "Yes。", True),
    ("em-extra-words", "complexbench:exact_match", {"answer": "Yes"}, "Yes, definitely.", False),
    ("em-quoted-is-different", "complexbench:exact_match", {"answer": "Yes"}, '"Yes"', False),
    ("em-empty", "complexbench:exact_match", {"answer": "Yes"}, "", False),
    # JSON with exactly the keys
    ("json-exact-keys", "complexbench:json_keys", {"keys": ["title", "score"]}, '{"title": "x", "score": 3}', True),
    (
        "json-in-a-fence",
        "complexbench:json_keys",
        {"keys": ["title", "score"]},
        '```json\n{"score": 1, "title": "a } brace"}\n```',
        True,
    ),
    (
        "json-text-around-is-prose",
        "complexbench:json_keys",
        {"keys": ["title", "score"]},
        'Sure:\n```json\n{"score": 1, "title": "a } brace"}\n```\nDone.',
        False,
    ),
    ("json-empty-value", "complexbench:json_keys", {"keys": ["title"]}, '{"title": " "}', False),
    ("json-missing-key", "complexbench:json_keys", {"keys": ["title", "score"]}, '{"title": "x"}', False),
    ("json-extra-key", "complexbench:json_keys", {"keys": ["title"]}, '{"title": "x", "score": 3}', False),
    ("json-invalid", "complexbench:json_keys", {"keys": ["title"]}, "{title: 'x'}", False),
    ("json-no-object", "complexbench:json_keys", {"keys": ["title"]}, '["title"]', False),
    ("json-first-block-wins", "complexbench:json_keys", {"keys": ["a"]}, '{"b": 1} then {"a": 1}', False),
    ("json-empty", "complexbench:json_keys", {"keys": ["a"]}, "", False),
    # punctuation whitelist
    ("punc-only-allowed", "complexbench:punctuation_whitelist", FULL_LIST, "Hello, world. Bye.", True),
    ("punc-none-used", "complexbench:punctuation_whitelist", FULL_LIST, "Hello world", True),
    ("punc-forbidden-ascii", "complexbench:punctuation_whitelist", FULL_LIST, "Hello, world!", False),
    ("punc-fullwidth-comma-allowed", "complexbench:punctuation_whitelist", FULL_LIST, "你好，世界。", True),
    ("punc-fullwidth-bang-forbidden", "complexbench:punctuation_whitelist", FULL_LIST, "你好！", False),
    ("punc-curly-quote-is-apostrophe", "complexbench:punctuation_whitelist", FULL_LIST, "It’s fine.", False),
    ("punc-em-dash-unrestricted", "complexbench:punctuation_whitelist", FULL_LIST, "Wait — what.", True),
    ("punc-allowed-fullwidth-form", "complexbench:punctuation_whitelist", {"allowed": ["！"]}, "Hi!", True),
]


@pytest.mark.parametrize(("cid", "kwargs", "response", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdicts(cid: str, kwargs: dict[str, Any], response: str, expected: bool) -> None:
    result = run_check(cid, response, kwargs)
    assert result.passed is expected, result.evidence
    assert result.evidence


BAD_KWARGS: list[tuple[str, str, dict[str, Any]]] = [
    ("kw-string-not-list", "complexbench:keywords", {"keywords": "river"}),
    ("kw-empty-list", "complexbench:keywords", {"keywords": []}),
    ("kw-blank-item", "complexbench:keywords", {"keywords": ["river", "  "]}),
    ("fw-none", "complexbench:forbidden_words", {"forbidden_words": None}),
    ("kc-min-above-max", "complexbench:keyword_count", {"keywords": ["a", "b"], "min_count": 2, "max_count": 1}),
    ("kc-min-above-list", "complexbench:keyword_count", {"keywords": ["a", "b"], "min_count": 3, "max_count": 3}),
    ("kc-bool-count", "complexbench:keyword_count", {"keywords": ["a"], "min_count": True, "max_count": 1}),
    ("sw-empty-prefix", "complexbench:starts_with", {"prefix": ""}),
    ("ew-not-str", "complexbench:ends_with", {"suffix": 3}),
    ("new-blank", "complexbench:not_ends_with", {"suffix": "   "}),
    ("lc-negative", "complexbench:length_chars", {"min_chars": -1, "max_chars": 3}),
    ("lc-reversed", "complexbench:length_chars", {"min_chars": 9, "max_chars": 3}),
    ("lw-float", "complexbench:length_words", {"min_words": 1.5, "max_words": 3}),
    ("em-none", "complexbench:exact_match", {"answer": None}),
    ("json-duplicate-keys", "complexbench:json_keys", {"keys": ["a", "a"]}),
    ("json-not-list", "complexbench:json_keys", {"keys": "a"}),
    ("punc-not-a-mark", "complexbench:punctuation_whitelist", {"allowed": ["a"]}),
    ("punc-two-marks-in-one", "complexbench:punctuation_whitelist", {"allowed": [",."]}),
    ("punc-string", "complexbench:punctuation_whitelist", {"allowed": ",."}),
    ("missing-kwarg", "complexbench:length_words", {"min_words": 1}),
    ("unknown-kwarg", "complexbench:starts_with", {"prefix": "a", "case": True}),
]


@pytest.mark.parametrize(("cid", "kwargs"), [c[1:] for c in BAD_KWARGS], ids=[c[0] for c in BAD_KWARGS])
def test_malformed_kwargs_raise(cid: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(CheckerArgumentError, match=cid.split(":")[0]):
        run_check(cid, "Some response.", kwargs)


def test_evidence_names_counts_and_bounds() -> None:
    result = run_check("complexbench:length_words", "one two", {"min_words": 3, "max_words": 9})
    assert result.evidence == "found 2 words, need at least 3"
    result = run_check("complexbench:keywords", "a river", {"keywords": ["river", "kitchen"]})
    assert "'kitchen'" in result.evidence and "'river'" not in result.evidence


def test_evidence_stays_short_on_huge_responses() -> None:
    huge = "word " * 50_000
    for cid, kwargs in [
        ("complexbench:starts_with", {"prefix": "Dear reader"}),
        ("complexbench:ends_with", {"suffix": "We value you"}),
        ("complexbench:exact_match", {"answer": "Yes"}),
    ]:
        result = run_check(cid, huge, kwargs)
        assert not result.passed
        assert len(result.evidence) < 200


def test_canon_maps_fullwidth_and_curly_forms_to_ascii() -> None:
    assert canon("！，。、“x”‘y’：（）") == "!,.,\"x\"'y':()"


def test_first_json_object_at_the_very_start() -> None:
    assert first_json_object('{"a": 1} and a tail') == ({"a": 1}, None)


def test_evidence_excerpts_quote_at_most_40_characters() -> None:
    """Evidence stays one short line: long excerpts are cut to 40 characters, ellipsis included."""
    excerpt = ast.literal_eval(short("word " * 50))
    assert len(excerpt) == 40 and excerpt.endswith("...")
    assert ast.literal_eval(short("x" * 40)) == "x" * 40


def test_first_json_object_reports_why() -> None:
    assert first_json_object('x {"a": [1, {"b": 2}]} y') == ({"a": [1, {"b": 2}]}, None)
    assert first_json_object("no braces")[1] == "no '{' found"
    value, reason = first_json_object("{" * 100_000)
    assert value is None and reason
