"""IFBench's count:, ratio:, sentence: and words: ids (pipeline/checks/ifbench_counting.py, ifbench_words.py): the
verdicts IFBench's reference gives. Cases marked `ref:` restate an assertion of the reference's own test file
(instructions_test.py, by its constant's name); the rest were scored with the reference's checker."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks import ifbench_text
from pipeline.checks.ifbench_text import split_into_sentences
from pipeline.checks.registry import load_checkers, run_check
from pipeline.errors import CheckerArgumentError

SHORT = "\n    This message has five words."
MEDIUM = "\n    This message has exactly ten words in the entire text."
LONG = (
    "\n    This message has many more words than the previous messages because \n    we need to test the upper"
    " bounds of our word count range checker with \n    a sufficiently long piece of text."
)
NAMES_47 = (
    "Certainly! Here are 47 notable individuals Jackson, Olivia, Noah, Ava, Lucas, Isabella, Mason, Mia, Ethan, "
    "Charlotte, Alexander, Amelia, Benjamin, Harper, Leo, Zoe, Daniel, Chloe, Samuel, Lily, Matthew, Grace, Owen, "
    "Abigail, Gabriel, Ella, Jacob, Scarlett, Nathan, Victoria, Elijah, Layla, Nicholas, Audrey, David, Hannah, "
    "Christopher, Penelope, Thomas, Nora, Andrew, Aria, Joseph, Claire, Ryan, Stella, Jonathan"
)
PALINDROMES = (
    "Racecar, radar, and level are palindromes. So are madam and civic. Three more include refer, tenet, and "
    "deified. The last two are repaper and reviver."
)
PALINDROMES_9 = (
    "Racecar, radar, and level are palindromes. So are madam and civic. Three more include refer, tenet, and "
    "deified. The last one is repaper. There are only nine."
)
KW = {"keyword1": "door", "keyword2": "bread", "keyword3": "blue", "keyword4": "lamp", "keyword5": "river"}
KW_TEXT = "door. " + "bread " * 2 + "blue " * 3 + "lamp " * 5 + "river " * 7
POSITION = ". ".join(["One sentence here"] * 2) + ". Two three the keyword here."

# (case name, checker id, kwargs, response, verdict of the reference)
CASES = [
    # count:word_count_range
    ("wcr-short", "count:word_count_range", {"min_words": 5, "max_words": 5}, SHORT, True),  # ref: SHORT_MESSAGE
    ("wcr-medium", "count:word_count_range", {"min_words": 10, "max_words": 10}, MEDIUM, True),  # ref: MEDIUM
    ("wcr-long", "count:word_count_range", {"min_words": 20, "max_words": 20}, LONG, False),  # ref: LONG_MESSAGE
    ("wcr-apostrophe-splits", "count:word_count_range", {"min_words": 3, "max_words": 3}, "don't stop", True),
    # count:unique_word_count
    ("uwc-five", "count:unique_word_count", {"N": 5}, "\n    This message has five unique words.", True),  # ref
    ("uwc-case-folded", "count:unique_word_count", {"N": 3}, "Red red RED blue", False),
    ("uwc-punctuation-token-is-a-word", "count:unique_word_count", {"N": 3}, "red -- blue", True),
    # ratio:sentence_type
    (
        "st-two-to-one",
        "ratio:sentence_type",
        {},
        "\n    This is a declarative sentence. Is this a question? I am not sure.",
        True,
    ),  # ref: TEST_SENTENCE_TYPE_MESSAGE_1
    ("st-one-to-one", "ratio:sentence_type", {}, "This is a statement. Is this a question?", False),
    # ratio:sentence_balance
    (
        "sb-balanced",
        "ratio:sentence_balance",
        {},
        "\n        This is a declarative sentence. Is this a question? I am not sure!",
        True,
    ),  # ref: SENT_BALANCE_1
    ("sb-unbalanced", "ratio:sentence_balance", {}, "One. Two. Three? Four!", False),
    # count:conjunctions
    (
        "conj-three",
        "count:conjunctions",
        {"small_n": 3},
        "I don't like it but I will do it and I will do it well yet I will not like it.",
        True,
    ),  # ref: TEST_CONJ
    ("conj-same-twice", "count:conjunctions", {"small_n": 2}, "Tea and cake and milk.", False),
    # count:person_names
    ("names-three", "count:person_names", {"N": 3}, "Abigail, Gabriel, Nora", True),  # ref: TEST_PERSON_NAMES
    ("names-47", "count:person_names", {"N": 47}, NAMES_47, True),  # ref: TEST_PERSON_NAMES_47
    (
        "names-47-false",
        "count:person_names",
        {"N": 47},
        "Certainly! Here’s a list of individuals: Audrey, Ben, Yanai, Ryan.",
        False,
    ),  # ref: PERSON_NAMES_47_FALSE
    # ratio:overlap
    (
        "overlap-100",
        "ratio:overlap",
        {"reference_text": "This is the test.", "percentage": 100},
        "This is the test.",
        True,
    ),  # ref: TEST_NGRAM_OVERLAP
    ("overlap-none", "ratio:overlap", {"reference_text": "This is the test.", "percentage": 50}, "xyz qwv", False),
    # count:numbers
    ("num-3", "count:numbers", {"N": 3}, "This is 1 number. This is not 10 numbers. It is 3.", True),  # ref
    ("num-decimal", "count:numbers", {"N": 3}, "Decimals like 3.14 should only count as one number 2.", False),  # ref
    ("num-false2", "count:numbers", {"N": 3}, "This is more than 3 numbers: 1 2 3.", False),  # ref
    ("num-simple", "count:numbers", {"N": 3}, "1 2 3", True),  # ref: TEST_NUMBERS_COUNT_SIMPLE
    ("num-comma", "count:numbers", {"N": 1}, "This is one number: 100,000", True),  # ref: TEST_NUMBERS_COUNT_COMMA
    ("num-punctuation", "count:numbers", {"N": 2}, "This is number 1. 2 comes next.", True),  # ref
    # count:punctuation
    ("punct-no-interrobang", "count:punctuation", {}, "Some punctuation.,?!", False),  # ref: TEST_PUNCTUATION
    ("punct-all", "count:punctuation", {}, "All the punctuation marks: . , ! ? ; : !?", True),  # ref: PUNCTUATION2
    # ratio:sentence_words
    ("sw3-equal", "ratio:sentence_words", {}, "This is one. Now it's 22. On to three.", True),  # ref: CHAR_COUNT_SENT
    ("sw3-four", "ratio:sentence_words", {}, "This. Is. Not. Correct.", False),  # ref: TEST_CHAR_COUNT_SENT_FALSE
    # count:words_japanese
    ("jp-every-2nd", "count:words_japanese", {"N": 2}, "I 猫 like ねこ very カタカナ", True),
    ("jp-missing", "count:words_japanese", {"N": 2}, "I 猫 like cats", False),
    # count:pronouns
    (
        "pron-5",
        "count:pronouns",
        {"N": 5},
        "I am a pronoun. It is a pronoun. He, she, and they are pronouns.",
        True,
    ),  # ref
    ("pron-3-of-5", "count:pronouns", {"N": 5}, "She is his sister. They share their parents.", False),  # ref
    ("pron-slashes", "count:pronouns", {"N": 4}, "My pronouns are she/her/hers.", True),  # ref: PRONOUN_COUNT2
    # count:keywords_multiple
    ("kw-exact", "count:keywords_multiple", KW, KW_TEXT, True),
    ("kw-one-short", "count:keywords_multiple", KW, KW_TEXT.replace("river ", "", 1), False),
    # words:alphabet
    ("abc-start", "words:alphabet", {}, "Be cause dandelions eat freedom.", True),  # ref: TEST_ALPHABET_START
    ("abc-wrap", "words:alphabet", {}, "Zooming around back.", True),  # ref: TEST_ALPHABET_START2
    ("abc-spacing", "words:alphabet", {}, "A big cat. Dogs eat food. . . Good", True),  # ref: TEST_ALPHABET_START3
    ("abc-no-wrap", "words:alphabet", {}, "Your zoo is very xeric.", False),  # ref: TEST_ALPHABET_START_FALSE
    ("abc-reverse", "words:alphabet", {}, "Great finds enter dark caves.", False),  # ref: TEST_ALPHABET_START_FALSE2
    # words:vowel
    ("vowel-two", "words:vowel", {}, "With I this is in.", True),  # ref: TEST_THREE_VOWEL
    ("vowel-two-lines", "words:vowel", {}, "the eel eek eked.\nyeah.", False),  # ref: TEST_THREE_VOWEL_FALSE
    ("vowel-three", "words:vowel", {}, "the eel eek eked out.", True),  # ref: TEST_THREE_VOWEL_TRUE
    # words:consonants
    ("cons-all", "words:consonants", {}, "This employs consonant clusters.", True),  # ref: TEST_CONSONANT_CLUSTER
    ("cons-does", "words:consonants", {}, "This does not.", False),  # ref: TEST_CONSONANT_CLUSTER_FALSE
    # sentence:alliteration_increment
    (
        "allit-growing",
        "sentence:alliteration_increment",
        {},
        "No alliteration. Some semblance of alliteration. Alliterating across alphabet is interesting.",
        True,
    ),  # ref
    (
        "allit-drops",
        "sentence:alliteration_increment",
        {},
        "No alliteration. Some semblance of alliteration. Alliterating across alphabet is interesting. But not here.",
        False,
    ),  # ref: TEST_ALLITERATION_FALSE
    # words:palindrome
    ("pal-ten", "words:palindrome", {}, PALINDROMES, True),  # ref: TEST_PALINDROME
    (
        "pal-repeats",
        "words:palindrome",
        {},
        "Palindromes needn't be real words. " + ", ".join(["abcba"] * 10) + ".",
        True,
    ),  # ref: TEST_PALINDROME2
    ("pal-none", "words:palindrome", {}, "This is not a palindrome.", False),  # ref: TEST_PALINDROME_FALSE
    ("pal-nine", "words:palindrome", {}, PALINDROMES_9, False),  # ref: TEST_PALINDROME_FALSE_QUANTITY
    # words:prime_lengths
    ("prime-ok", "words:prime_lengths", {}, "Prime numbers are in.", True),  # ref: TEST_PRIME_LENGTHS
    ("prime-composite", "words:prime_lengths", {}, "Composite numbers are not.", False),  # ref: PRIME_LENGTHS_FALSE
    ("prime-punctuation-removed", "words:prime_lengths", {}, "aren't hy-phens?", True),  # ref: TEST_PRIME_LENGTHS2
    # words:repeats
    ("rep-2", "words:repeats", {"small_n": 2}, "This is one. This is two. This is three.", False),  # ref: THREE_REPEAT
    ("rep-3", "words:repeats", {"small_n": 3}, "This is one. This is two. This is three.", True),  # ref: THREE_REPEAT
    # sentence:keyword
    (
        "sk-fifth",
        "sentence:keyword",
        {"word": "it", "N": 5},
        "I am it. It is me. I am not it. It is not me. I am not it.",
        True,
    ),  # ref: TEST_KEYWORD
    ("sk-two-sentences", "sentence:keyword", {"word": "it", "N": 5}, "I am not it. It is not me.", False),  # ref
    # words:odd_even_syllables
    (
        "syl-alternate",
        "words:odd_even_syllables",
        {},
        "Children have little to regret. They enjoy the sunshine.",
        True,
    ),
    (
        "syl-breaks",
        "words:odd_even_syllables",
        {},
        "Children have little to regret. They enjoy the sunshine. But not the rain.",
        False,
    ),  # ref: SYLLABLE_FALSE
    ("syl-boundaries", "words:odd_even_syllables", {}, "Chil-dren have lit'tle to regret.", True),  # ref
    # words:last_first
    (
        "lf-chain",
        "words:last_first",
        {},
        "This feels unnatural. Unnatural is this test.",
        True,
    ),  # ref: TEST_LAST_FIRST
    ("lf-paragraphs", "words:last_first", {}, "This must also work.\n\nWork across paragraphs.", True),  # ref
    ("lf-broken", "words:last_first", {}, "This is not a success. This is a failure.", False),  # ref: LAST_FIRST_FALSE
    # words:paragraph_last_first
    (
        "plf-two",
        "words:paragraph_last_first",
        {},
        "This paragraph started with this.\n\nAnother paragraph starts with another.",
        True,
    ),  # ref
    (
        "plf-one-line",
        "words:paragraph_last_first",
        {},
        "This paragraph started with this. Another paragraph starts with another.",
        False,
    ),  # ref
    # sentence:increment
    (
        "inc-two",
        "sentence:increment",
        {"small_n": 2},
        "This has three. This sentence has 5 words. This sentence will have two more words.",
        True,
    ),  # ref
    (
        "inc-two-vs-three",
        "sentence:increment",
        {"small_n": 2},
        "This has three. This sentence now has 6 words. This sentence has three more words, total is nine.",
        False,
    ),  # ref
    (
        "inc-three-vs-two",
        "sentence:increment",
        {"small_n": 3},
        "This has three. This sentence has 5 words. This sentence will have two more words.",
        False,
    ),  # ref
    (
        "inc-three",
        "sentence:increment",
        {"small_n": 3},
        "This has three. This sentence now has 6 words. This sentence has three more words, total is nine.",
        True,
    ),  # ref
    # words:no_consecutive
    ("nc-same", "words:no_consecutive", {}, "This shouldn't succeed.", False),  # ref: CONSECUTIVE_FIRST_LETTER
    ("nc-ok", "words:no_consecutive", {}, "This words, though. ", True),  # ref: TEST_CONSECUTIVE_FIRST_LETTER2
    # words:keywords_specific_position
    ("ksp-hit", "words:keywords_specific_position", {"keyword": "keyword", "n": 3, "m": 4}, POSITION, True),
    ("ksp-case", "words:keywords_specific_position", {"keyword": "Keyword", "n": 3, "m": 4}, POSITION, False),
    # words:words_position
    ("wp-hit", "words:words_position", {"keyword": "river"}, "The river runs past the river .", True),
    ("wp-period-is-last", "words:words_position", {"keyword": "river"}, "The river runs past the river.", True),
    ("wp-miss", "words:words_position", {"keyword": "river"}, "The river runs past the old mill.", False),
]
IDS_WITH_DATA = {"ratio:stop_words", "words:start_verb"}


@pytest.mark.parametrize(("name", "cid", "kwargs", "response", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reference_verdicts(name: str, cid: str, kwargs: dict, response: str, expected: bool) -> None:
    result = run_check(cid, response, kwargs)
    assert result.passed is expected, f"{name}: {result.evidence}"
    assert result.evidence


def test_every_id_of_the_four_groups_has_a_positive_and_a_negative_case() -> None:
    ours = {
        cid
        for cid, chk in load_checkers().items()
        if chk.fn.__module__ in ("pipeline.checks.ifbench_counting", "pipeline.checks.ifbench_words")
    }
    assert len(ours) == 30
    covered = {(cid, expected) for _, cid, _, _, expected in CASES}
    missing = sorted(cid for cid in ours - IDS_WITH_DATA for verdict in (True, False) if (cid, verdict) not in covered)
    assert not missing


@pytest.mark.parametrize("cid", sorted(c for c in {c[1] for c in CASES}))
def test_an_empty_response_is_not_followed(cid: str) -> None:
    kwargs = next(c[2] for c in CASES if c[1] == cid)
    for blank in ("", "  \n\t"):
        assert not run_check(cid, blank, kwargs).passed


def test_where_the_reference_raises_the_check_fails_and_says_so() -> None:
    no_trigrams = run_check("ratio:overlap", "ab", {"reference_text": "abc", "percentage": 0})
    assert not no_trigrams.passed and "ZeroDivisionError" in no_trigrams.evidence
    lone_mark = run_check("words:last_first", "Wow!! Wow", {})  # sentences "Wow!", "!", "Wow"
    assert not lone_mark.passed and "IndexError" in lone_mark.evidence


@pytest.mark.parametrize(
    ("cid", "kwargs"),
    [
        ("count:word_count_range", {"min_words": -1, "max_words": 5}),
        ("count:unique_word_count", {"N": 2.5}),
        ("count:numbers", {"N": "three"}),
        ("count:words_japanese", {"N": 0}),
        ("sentence:keyword", {"word": "it", "N": 0}),
        ("sentence:keyword", {"word": " ", "N": 1}),
        ("words:repeats", {"small_n": True}),
        ("ratio:overlap", {"reference_text": "", "percentage": 50}),
        ("count:keywords_multiple", {**KW, "keyword3": ""}),
        ("words:keywords_specific_position", {"keyword": "x", "n": 1, "m": 0}),
    ],
)
def test_malformed_arguments_raise_instead_of_being_drawn_at_random(cid: str, kwargs: dict) -> None:
    with pytest.raises(CheckerArgumentError):
        run_check(cid, "Some text here.", kwargs)


def test_whole_float_counts_as_in_ifbench_rows_are_accepted() -> None:
    assert run_check("count:numbers", "1 2 3", {"N": 3.0}).passed
    assert run_check("sentence:increment", "One two. One two three four.", {"small_n": 2.0}).passed


# --- the reference's sentence splitter ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Hello Mr. Smith. He is here! Really?? Yes... ok",
            ["Hello Mr. Smith.", "He is here!", "Really?", "?", "Yes...", "ok"],
        ),
        ("It costs 3.5 dollars at www.shop.com today.", ["It costs 3.5 dollars at www.", "shop.com today."]),
        ('He said "stop." Then left.', ['He said "stop".', "Then left."]),
        ("Line one\nline two. Next", ["Line one line two.", "Next"]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_into_sentences(text: str, sentences: list[str]) -> None:
    assert split_into_sentences(text) == sentences


# --- NLTK data no package ships: found or missing -------------------------------------------------------


@pytest.fixture
def no_nltk_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("COMPLEXIFY_NLTK_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("NLTK_DATA", raising=False)
    return tmp_path


def test_stop_words_fail_closed_without_the_corpus(no_nltk_data: Path) -> None:
    result = run_check("ratio:stop_words", "Quick brown foxes jump over lazy dogs.", {"percentage": 100})
    assert not result.passed
    assert "corpora/stopwords" in result.evidence and "NLTK_DATA" in result.evidence


def test_stop_words_score_with_the_corpus_when_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    corpus = tmp_path / "nltk" / "corpora" / "stopwords"
    corpus.mkdir(parents=True)
    (corpus / "english").write_text("this\nhas\na\n", encoding="utf-8")
    monkeypatch.delenv("COMPLEXIFY_NLTK_DATA", raising=False)
    monkeypatch.setenv("NLTK_DATA", os.pathsep.join([str(tmp_path / "elsewhere"), str(tmp_path / "nltk")]))
    text = "\n    This message has a high stop word ratio."  # ref: TEST_STOP_WORD_RATIO_MESSAGE_1 (3 of 8 here)
    assert run_check("ratio:stop_words", text, {"percentage": 50}).passed
    low = run_check("ratio:stop_words", text, {"percentage": 37})
    assert not low.passed and "37.5%" in low.evidence
    assert not run_check("ratio:stop_words", "!!!", {"percentage": 100}).passed  # the reference divides by zero


def test_stop_words_added_after_a_miss_are_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPLEXIFY_NLTK_DATA", str(tmp_path))
    monkeypatch.delenv("NLTK_DATA", raising=False)
    assert not run_check("ratio:stop_words", "the cat", {"percentage": 100}).passed
    (tmp_path / "corpora" / "stopwords").mkdir(parents=True)
    (tmp_path / "corpora" / "stopwords" / "english").write_text("the\n", encoding="utf-8")
    assert run_check("ratio:stop_words", "the cat", {"percentage": 50}).passed


def test_start_verb_fails_closed_without_the_tagger(no_nltk_data: Path) -> None:
    result = run_check("words:start_verb", "Does this sentence start with a verb?", {})
    assert not result.passed
    assert "averaged_perceptron_tagger_eng" in result.evidence and "NLTK_DATA" in result.evidence


def test_start_verb_tags_with_the_tagger_when_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json

    from nltk.tag.perceptron import TAGGER_JSONS

    folder = tmp_path / "taggers" / "averaged_perceptron_tagger_eng"
    folder.mkdir(parents=True)
    names = TAGGER_JSONS["eng"]
    # A tiny model: the tag dictionary decides every word it lists, as in NLTK's real model.
    (folder / names["weights"]).write_text(json.dumps({}), encoding="utf-8")
    (folder / names["tagdict"]).write_text(json.dumps({"Does": "VBZ", "This": "DT"}), encoding="utf-8")
    (folder / names["classes"]).write_text(json.dumps(["VBZ", "DT"]), encoding="utf-8")
    monkeypatch.setenv("COMPLEXIFY_NLTK_DATA", str(tmp_path))
    assert run_check("words:start_verb", "Does this sentence start with a verb?", {}).passed  # ref: START_WITH_VERB
    assert not run_check("words:start_verb", "This sentence does not start with a verb.", {}).passed  # ref


# --- properties of the counting checkers ------------------------------------------------------------------

words = st.lists(st.sampled_from(["river", "and", "I", "she", "42", "3.5", "cat", "but", "Emma", "it's"]), max_size=30)
seps = st.sampled_from([" ", "  ", "\n", " , ", ". ", "; "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(words)
    return "".join(word + draw(seps) for word in parts) or "x"


@settings(max_examples=150, deadline=None)
@given(texts(), st.integers(0, 40), st.integers(0, 40))
def test_word_count_range_is_monotone_in_its_bounds(text: str, lo: int, hi: int) -> None:
    passed = run_check("count:word_count_range", text, {"min_words": lo, "max_words": hi}).passed
    if passed:  # widening the range keeps a pass
        assert run_check("count:word_count_range", text, {"min_words": max(lo - 1, 0), "max_words": hi + 1}).passed
    else:  # narrowing it keeps a fail
        assert not run_check("count:word_count_range", text, {"min_words": lo + 1, "max_words": hi}).passed


@settings(max_examples=150, deadline=None)
@given(texts(), st.integers(0, 20))
@pytest.mark.parametrize(
    ("cid", "name"),
    [
        ("count:unique_word_count", "N"),
        ("count:conjunctions", "small_n"),
        ("count:pronouns", "N"),
        ("count:person_names", "N"),
    ],
)
def test_at_least_counts_are_monotone_in_the_bound(cid: str, name: str, text: str, n: int) -> None:
    if run_check(cid, text, {name: n + 1}).passed:
        assert run_check(cid, text, {name: n}).passed


@settings(max_examples=150, deadline=None)
@given(texts(), st.integers(1, 10))
def test_repeats_limit_is_monotone(text: str, n: int) -> None:
    if run_check("words:repeats", text, {"small_n": n}).passed:
        assert run_check("words:repeats", text, {"small_n": n + 1}).passed


@settings(max_examples=150, deadline=None)
@given(texts(), st.sampled_from(list(string.punctuation)))
def test_numbers_ignore_ascii_punctuation_and_case(text: str, mark: str) -> None:
    """The reference removes ASCII punctuation before counting digit runs: an added mark next to a space, or a
    change of letter case, never changes the verdict."""
    n = len([t for t in text.translate(str.maketrans("", "", string.punctuation)).split() if t.isdigit()])
    for variant in (text.replace(" ", f" {mark}", 1), text.upper(), text.lower()):
        for want in (n, n + 1):
            assert (
                run_check("count:numbers", variant, {"N": want}).passed
                == run_check("count:numbers", text, {"N": want}).passed
            )


@settings(max_examples=150, deadline=None)
@given(texts())
def test_word_count_and_unique_words_ignore_case_and_spacing(text: str) -> None:
    """\\w runs and lowercased whitespace tokens do not see letter case or the width of the whitespace."""
    for variant in (text.upper(), text.replace(" ", "   "), text.replace(" ", "\t")):
        for cid, kwargs in (
            ("count:word_count_range", {"min_words": 3, "max_words": 9}),
            ("count:unique_word_count", {"N": 4}),
            ("words:repeats", {"small_n": 2}),
        ):
            assert run_check(cid, variant, kwargs).passed == run_check(cid, text, kwargs).passed


@settings(max_examples=100, deadline=None)
@given(texts(), st.integers(0, 100))
def test_overlap_of_a_text_with_itself_is_100_percent(text: str, pct: int) -> None:
    if len(text) >= 3:
        passed = run_check("ratio:overlap", text, {"reference_text": text, "percentage": pct}).passed
        assert passed == (pct >= 98)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["river", "stone", "light", "cat's", "3.5", "Mr. Lee"]), min_size=1, max_size=8),
       st.integers(1, 6))  # fmt: skip
def test_sentence_keyword_finds_the_word_in_the_nth_built_sentence(filler: list[str], n: int) -> None:
    body = " ".join(filler)
    text = " ".join([f"{body}." for _ in range(n - 1)] + [f"The garden {body}?", f"{body}!"])
    assert len(split_into_sentences(text)) == n + 1
    assert run_check("sentence:keyword", text, {"word": "GARDEN", "N": n}).passed  # any case, as a substring
    assert not run_check("sentence:keyword", text, {"word": "garden", "N": n + 1}).passed


def test_helpers_are_exported() -> None:
    for name in (
        "split_into_sentences",
        "count_words",
        "word_runs",
        "word_tokenize",
        "drop_punctuation",
        "strip_punctuation",
        "want_count",
        "english_stopwords",
        "pos_tagger",
        "missing_data_result",
    ):
        assert callable(getattr(ifbench_text, name))
