"""The IFBench checkers' fast paths give the plain computation's results.

Screened sentence splitting (a step skipped when its pattern cannot match), lazy word tokenization (only the
sentences a checker reaches), per-word syllable parities and the memoised reference trigrams are compared with
the straightforward computation on generated texts built from the pieces each rule looks at.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import syllapy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.checks import ifbench_counting, ifbench_format, ifbench_text, ifbench_words
from pipeline.checks import text as text_helpers
from pipeline.checks.ifbench_text import (
    _split,
    drop_punctuation,
    edge_word_tokens,
    iter_word_tokens,
    split_into_sentences,
    strip_punctuation,
    word_tokenize,
)
from pipeline.checks.rules import short

PIECES = st.sampled_from(
    [" ", "  ", "\n", ".", "..", "...", "!", "?", "!?", '"', "”", "'", "(", ")", ",", ";", "Mr.", "Mrs.", "St.",
     "Dr.", "Ms.", "Ph.D.", " Inc.", " Co.", " Jr.", ".com", ".io", "3.5", "1.", "a.", "J.", "U.S.", "e.g.",
     "i.e.", "A.B.C.", "He ", "She ", "The", "the", "tHE", "iPhone", "THE", "Word", "word", "n't", "don't", "x",
     "level", "racecar", "banana", "radar", "-", "*", "12"]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=30).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(TEXTS)
def test_screened_sentence_split_equals_the_plain_one(text: str) -> None:
    assert _split(text, screened=True) == _split(text, screened=False)
    assert split_into_sentences(text) == list(_split(text, screened=False))


@SETTINGS
@given(TEXTS, st.integers(min_value=1, max_value=4))
def test_lazy_word_tokens_equal_word_tokenize(text: str, k: int) -> None:
    tokens = word_tokenize(text)
    assert list(iter_word_tokens(text)) == tokens
    head, tail = edge_word_tokens(text, k)
    if len(tokens) < k:
        assert head == tail == tuple(tokens)
    else:
        assert head == tuple(tokens[:k]) and tail == tuple(tokens[-k:])


def _plain_title_case(text: str) -> bool:
    return not any(t[0].islower() and (t[1:].isupper() or t[1:].islower()) for t in word_tokenize(text))


def _plain_words_position(text: str, keyword: str) -> bool:
    tokens = word_tokenize(text)
    return len(tokens) >= 2 and tokens[1] == tokens[-2] == keyword


def _plain_specific_position(text: str, keyword: str, n: int, m: int) -> bool:
    sentences = split_into_sentences(text)
    if len(sentences) < n:
        return False
    tokens = word_tokenize(sentences[n - 1])
    return len(tokens) >= m and tokens[m - 1] == keyword


def _plain_odd_even(text: str) -> bool:
    words = [w for w in drop_punctuation(text).lower().split() if w.strip()]
    parity = [syllapy.count(w) % 2 for w in words]
    return all(a != b for a, b in pairwise(parity))


def _plain_overlap(text: str, reference: str, percentage: int) -> bool:
    mine = set(zip(text, text[1:], text[2:], strict=False))
    theirs = set(zip(reference, reference[1:], reference[2:], strict=False))
    share = len(mine & theirs) / len(mine) * 100
    return percentage - 2 <= share <= percentage + 2


@SETTINGS
@given(TEXTS, st.sampled_from(["word", "Word", "the", "x", "."]), st.integers(1, 3), st.integers(1, 4))
def test_lazy_checkers_decide_as_the_plain_computation(text: str, keyword: str, n: int, m: int) -> None:
    if not text.strip():
        return
    assert ifbench_format.check_title_case(text).passed == _plain_title_case(text)
    assert ifbench_words.check_words_position(text, keyword=keyword).passed == _plain_words_position(text, keyword)
    got = ifbench_words.check_keywords_specific_position(text, keyword=keyword, n=n, m=m).passed
    assert got == _plain_specific_position(text, keyword, n, m)
    assert ifbench_words.check_odd_even_syllables(text).passed == _plain_odd_even(text)


@SETTINGS
@given(TEXTS, st.sampled_from(["The word level.", "racecar banana", "Mr. Smith said 3.5 things"]),
       st.integers(0, 100))  # fmt: skip
def test_overlap_with_memoised_reference_trigrams_equals_the_plain_share(
    text: str, reference: str, percentage: int
) -> None:
    if not text.strip() or len(text) < 3:
        return
    for _ in range(2):  # the second call reads the memo
        got = ifbench_counting.check_overlap(text, reference_text=reference, percentage=percentage).passed
        assert got == _plain_overlap(text, reference, percentage)


def test_title_case_tokenizes_only_up_to_the_first_failing_word(monkeypatch) -> None:
    text_helpers.clear_memos()
    ifbench_text.sentence_word_tokens.cache_clear()
    calls: list[str] = []
    inner = ifbench_text.sentence_word_tokens

    def counting(sentence: str) -> tuple[str, ...]:
        calls.append(sentence)
        return inner(sentence)

    monkeypatch.setattr(ifbench_text, "sentence_word_tokens", counting)
    answer = "The answer is here. " + " ".join(f"Sentence Number {i} Goes Here." for i in range(50))
    assert not ifbench_format.check_title_case(answer).passed
    assert len(calls) == 1  # the first sentence holds "answer": the 50 others are never tokenized


TITLE_PIECES = st.sampled_from(
    [" ", "\n", ".", ",", ":", ";", "!", "?", '"', "''", "``", "'", "’", "“", "(", ")", "[", "-", "--", "_", "*",
     "#", "@", "&", "/", "1", "2nd", "²x", "Hello", "World", "The", "A", "I", "iPhone", "eBay", "It's", "Don't",
     "DON'T", "Cannot", "CANNOT", "Gonna", "Wanna", "Gotta", "Gimme", "Lemme", "'Tis", "'TWAS", "More'n", "D'ye",
     "St.", "Mr.", "e.g.", "x", "and", "ª", "\u0345", "ǅ", "É", "é", "ß", "Straße", "ſ", "K", "İ", "ı", "'T", "ıs",
     "Ca", "nnot", "N'T", "Go", "nna"]
)  # fmt: skip


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TITLE_PIECES, max_size=25).map("".join))
def test_title_case_screen_passes_only_what_the_tokens_pass(text: str) -> None:
    if not text.strip():
        return
    assert ifbench_format.check_title_case(text).passed == _plain_title_case(text)


def _plain_parentheses(text: str) -> bool:
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    deepest = 0
    for ch in text:
        if ch in pairs:
            stack.append(ch)
            deepest = max(deepest, len(stack))
        elif ch in pairs.values():
            if stack and pairs[stack[-1]] == ch:
                stack.pop()
                if deepest >= 5:
                    return True
            else:
                stack, deepest = [], 0
    return False


def _plain_quotes(text: str) -> bool:
    stack: list[str] = []
    deepest = 0
    for ch in text:
        if stack and ch == stack[-1]:
            stack.pop()
            if deepest - len(stack) >= 3:
                return True
        elif ch in "\"'":
            stack.append(ch)
            deepest = max(deepest, len(stack))
    return False


NESTING = st.lists(st.sampled_from(["(", ")", "[", "]", "{", "}", '"', "'", "a", " ", "x y"]), max_size=40).map(
    "".join
)


@settings(max_examples=1000, deadline=None)
@given(NESTING)
def test_bracket_and_quote_scans_over_their_characters_only_decide_as_the_full_scan(text: str) -> None:
    if not text.strip():
        return
    assert ifbench_format.check_parentheses(text).passed == _plain_parentheses(text)
    assert ifbench_format.check_quotes(text).passed == _plain_quotes(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "A", "b.", "dd"]), max_size=30).map(" ".join), st.integers(0, 4))
def test_repeats_lists_the_words_over_the_limit_in_most_common_order(text: str, limit: int) -> None:
    if not text.strip():
        return
    counts = Counter(drop_punctuation(text.lower()).split())
    over = [(w, c) for w, c in counts.most_common() if c > limit]
    result = ifbench_words.check_repeats(text, small_n=limit)
    assert result.passed == (not over)
    if over:
        assert ", ".join(f"{short(w)} x{c}" for w, c in over[:4]) in result.evidence


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["and", "And", "and,", "(or)", "but", "So", "yet.", "nor", "x", "...", "-", "dog"]),
         max_size=30).map(" ".join),
    st.integers(0, 8),
)  # fmt: skip
def test_distinct_token_counts_equal_the_per_token_computation(text: str, n: int) -> None:
    if not text.strip():
        return
    unique = {strip_punctuation(t) for t in text.lower().split()}
    conjunctions = {t for t in text.split() if strip_punctuation(t).lower() in ifbench_counting.CONJUNCTIONS}
    assert ifbench_counting.check_unique_word_count(text, N=n).passed == (len(unique) >= n)
    assert ifbench_counting.check_conjunctions(text, small_n=n).passed == (len(conjunctions) >= n)
