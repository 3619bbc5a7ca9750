"""Checkers: IFBench `words:*` and `sentence:*` ids, with the reference's semantics exactly.

Each checker decides what IFBench's own checker decides for the same response and arguments (its units
are in `pipeline.checks.ifbench_text`), including what it lets through: these ids belong to the held-out
`ifbench` vocabulary, so they are not hardened, and the hacks they accept are recorded as known weaknesses
in `taxonomy/adversarial/ifbench_words.yaml`. Differences, all on inputs the reference cannot score:

- an empty (blank) response fails, as the reference's evaluation scores it;
- where the reference raises (`words:last_first` on a sentence that is punctuation only), the check
  fails and its evidence says so;
- a missing or malformed argument raises `CheckerArgumentError` instead of being replaced at random;
- `words:start_verb` fails closed when NLTK's English part-of-speech tagger is not installed
  (`ifbench_text`).
"""

from __future__ import annotations

import string
from collections import Counter
from functools import lru_cache
from itertools import islice, pairwise

from pipeline.checks.ifbench_text import (
    BLANK,
    TAGGER,
    drop_punctuation,
    edge_word_tokens,
    iter_word_tokens,
    lstrip_punctuation,
    missing_data_result,
    pos_tagger,
    rstrip_punctuation,
    split_into_sentences,
    strip_punctuation,
    want_count,
    want_text,
    word_tokenize,
)
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import short

ALPHABET = string.ascii_lowercase
VOWELS = frozenset("aeiou")
CONSONANTS = frozenset("bcdfghjklmnpqrstvwxyz")
PRIMES = frozenset({2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97})


@checker("words:alphabet")
def check_alphabet(response: str) -> CheckResult:
    """With ASCII punctuation removed, the first whitespace word starts with an ASCII letter and each next word
    starts with the letter after the previous word's (any case, z is followed by a)."""
    if not response.strip():
        return BLANK
    tokens = strip_punctuation(drop_punctuation(response)).split()
    if not tokens:
        return CheckResult(False, "no words once punctuation is removed")
    letter = tokens[0][0].lower()
    if letter not in ALPHABET:
        return CheckResult(False, f"the first word {short(tokens[0])} does not start with a letter a-z")
    for i, token in enumerate(tokens[1:], start=2):
        word = strip_punctuation(token).lower()
        if not word:
            continue
        letter = ALPHABET[(ALPHABET.index(letter) + 1) % 26]
        if word[0] != letter:
            return CheckResult(False, f"word {i} ({short(token)}) should start with {letter!r}")
    return CheckResult(True, f"{len(tokens)} word(s) follow the alphabet")


@checker("words:vowel")
def check_vowel(response: str) -> CheckResult:
    """One line (no newline inside the stripped response) that uses at most three of the vowels a, e, i, o, u
    (any case)."""
    if not response.strip():
        return BLANK
    lines = response.strip().split("\n")
    if len(lines) != 1:
        return CheckResult(False, f"found {len(lines)} lines, need a single paragraph on one line")
    used = sorted(VOWELS & set(lines[0].lower()))
    return CheckResult(len(used) <= 3, f"uses the vowels {' '.join(used) or '(none)'}, need at most 3 kinds")


@checker("words:consonants")
def check_consonants(response: str) -> CheckResult:
    """Every whitespace token (lowercased, punctuation kept) has two ASCII consonants side by side."""
    if not response.strip():
        return BLANK
    for token in response.lower().strip().split():
        if not any(a in CONSONANTS and b in CONSONANTS for a, b in pairwise(token)):
            return CheckResult(False, f"{short(token)} has no consonant cluster")
    return CheckResult(True, "every word has a consonant cluster")


def _alliteration(sentence: str) -> int:
    """The reference's alliteration score of a sentence: over adjacent word pairs with the same first character
    (words lowercased, leading ASCII punctuation stripped), 2 for a pair that starts a run, 1 for each next one."""
    words = [w for w in (lstrip_punctuation(t) for t in sentence.lower().split()) if w]
    score, in_run = 0, False
    for left, right in pairwise(words):
        if left[0] == right[0]:
            score += 1 if in_run else 2
            in_run = True
        else:
            in_run = False
    return score


@checker("sentence:alliteration_increment")
def check_alliteration_increment(response: str) -> CheckResult:
    """Each sentence's alliteration score (see `_alliteration`) is greater than the previous sentence's."""
    if not response.strip():
        return BLANK
    previous = -1
    for i, sentence in enumerate(split_into_sentences(response), start=1):
        score = _alliteration(sentence)
        if score <= previous:
            return CheckResult(False, f"sentence {i} scores {score} alliterative words, the one before {previous}")
        previous = score
    return CheckResult(True, "each sentence has more alliterative words than the one before")


@checker("words:palindrome")
def check_palindrome(response: str) -> CheckResult:
    """At least 10 whitespace words (ASCII punctuation removed, lowercased, repeats counted) of 5 or more
    characters read the same backwards."""
    if not response.strip():
        return BLANK
    found = [w for w in drop_punctuation(response).lower().split() if len(w) >= 5 and w == w[::-1]]
    return CheckResult(len(found) >= 10, f"found {len(found)} palindrome(s) of 5+ characters, need at least 10")


@checker("words:prime_lengths")
def check_prime_lengths(response: str) -> CheckResult:
    """Every whitespace word, ASCII punctuation removed, has a prime number of characters (below 100)."""
    if not response.strip():
        return BLANK
    for word in drop_punctuation(response).split():
        if len(word) not in PRIMES:
            return CheckResult(False, f"{short(word)} has {len(word)} characters, not a prime number")
    return CheckResult(True, "every word has a prime length")


@checker("words:start_verb")
def check_start_verb(response: str) -> CheckResult:
    """NLTK's English tagger tags the first `nltk.word_tokenize` token as a verb (its tag holds "VB")."""
    if not response.strip():
        return BLANK
    tagger = pos_tagger()
    if tagger is None:
        return missing_data_result(TAGGER)
    tokens = word_tokenize(response)
    if not tokens:
        return CheckResult(False, "no tokens")
    tag = tagger.tag(tokens)[0][1]
    return CheckResult("VB" in tag, f"the first word {short(tokens[0])} is tagged {tag}, need a verb (VB*)")


@checker("words:repeats")
def check_repeats(response: str, *, small_n: int) -> CheckResult:
    """No whitespace word (lowercased, ASCII punctuation removed) occurs more than small_n times."""
    limit = want_count("words:repeats", "small_n", small_n)
    if not response.strip():
        return BLANK
    counts = Counter(drop_punctuation(response.lower()).split())
    # most_common()'s order (by count, ties as first seen), sorting only the words over the limit
    over = sorted(((w, c) for w, c in counts.items() if c > limit), key=lambda wc: wc[1], reverse=True)
    if over:
        listed = ", ".join(f"{short(w)} x{c}" for w, c in over[:4])
        return CheckResult(False, f"{len(over)} word(s) occur more than {limit} times: {listed}")
    return CheckResult(True, f"no word occurs more than {limit} times")


@checker("sentence:keyword")
def check_sentence_keyword(response: str, *, word: str, N: int) -> CheckResult:
    """The N-th sentence holds `word` as a case-insensitive substring."""
    cid = "sentence:keyword"
    keyword = want_text(cid, "word", word)
    index = want_count(cid, "N", N, minimum=1)
    if not response.strip():
        return BLANK
    sentences = split_into_sentences(response)
    if len(sentences) < index:
        return CheckResult(False, f"found {len(sentences)} sentence(s), need at least {index}")
    target = sentences[index - 1]
    ok = keyword.lower() in target.lower()
    verb = "contains" if ok else "does not contain"
    return CheckResult(ok, f"sentence {index} {verb} {short(keyword)}: {short(target)}")


@checker("words:odd_even_syllables")
def check_odd_even_syllables(response: str) -> CheckResult:
    """Consecutive whitespace words (ASCII punctuation removed, lowercased) alternate between an odd and an even
    syllable count as `syllapy` counts them."""
    if not response.strip():
        return BLANK
    words = [w for w in drop_punctuation(response).lower().split() if w.strip()]
    previous = -1
    for i, w in enumerate(words):  # counted word by word: the first repeated parity decides
        parity = _syllable_parity(w)
        if parity == previous:
            kind = "odd" if parity else "even"
            return CheckResult(False, f"{short(words[i - 1])} and {short(w)} both have an {kind} syllable count")
        previous = parity
    return CheckResult(True, f"{len(words)} word(s) alternate odd and even syllable counts")


@lru_cache(maxsize=65_536)
def _syllable_parity(word: str) -> int:
    """syllapy's syllable count of `word`, mod 2 (a pure function of the word, so kept per word)."""
    import syllapy

    return int(syllapy.count(word)) % 2


@checker("words:last_first")
def check_last_first(response: str) -> CheckResult:
    """The last whitespace word of each sentence (trailing ASCII punctuation stripped) is the first word of the next
    (leading punctuation stripped), compared case-insensitively; inner punctuation stays ("it's" is not "its")."""
    if not response.strip():
        return BLANK
    sentences = split_into_sentences(response)
    for i in range(len(sentences) - 1):
        ends = rstrip_punctuation(sentences[i]).split()
        starts = lstrip_punctuation(sentences[i + 1]).split()
        if not ends or not starts:
            empty = i + 1 if not ends else i + 2
            return CheckResult(
                False,
                f"sentence {empty} has no word (the reference raises IndexError here): {short(sentences[empty - 1])}",
            )
        if ends[-1].lower() != starts[0].lower():
            return CheckResult(
                False, f"sentence {i + 1} ends with {short(ends[-1])}, the next starts with {short(starts[0])}"
            )
    return CheckResult(True, "each sentence starts with the last word of the one before")


@checker("words:paragraph_last_first")
def check_paragraph_last_first(response: str) -> CheckResult:
    """Each non-blank line, lowercased and stripped of ASCII punctuation at both ends, has whitespace words and its
    first equals its last (a line of punctuation only fails)."""
    if not response.strip():
        return BLANK
    for i, line in enumerate(response.split("\n"), start=1):
        text = line.strip().lower()
        if not text:
            continue
        words = strip_punctuation(text).split()
        if not words:
            return CheckResult(False, f"line {i} has no words once punctuation is stripped")
        if words[0] != words[-1]:
            return CheckResult(False, f"line {i} starts with {short(words[0])} and ends with {short(words[-1])}")
    return CheckResult(True, "every paragraph ends with the word it starts with")


@checker("sentence:increment")
def check_increment(response: str, *, small_n: int) -> CheckResult:
    """Each sentence has exactly small_n more whitespace words (ASCII punctuation removed) than the one before."""
    step = want_count("sentence:increment", "small_n", small_n)
    if not response.strip():
        return BLANK
    counts = [len(drop_punctuation(s).split()) for s in split_into_sentences(response)]
    for i in range(1, len(counts)):
        if counts[i] != counts[i - 1] + step:
            return CheckResult(
                False,
                f"sentence {i + 1} has {counts[i]} word(s), need {counts[i - 1] + step} (word counts {counts[:8]})",
            )
    return CheckResult(True, f"sentence word counts {counts[:8]} grow by {step}")


@checker("words:no_consecutive")
def check_no_consecutive(response: str) -> CheckResult:
    """No two consecutive whitespace words (lowercased, ASCII punctuation removed) share their first character."""
    if not response.strip():
        return BLANK
    words = drop_punctuation(response.lower()).split()
    for left, right in pairwise(words):
        if left[0] == right[0]:
            return CheckResult(False, f"{short(left)} and {short(right)} start with the same letter")
    return CheckResult(True, "no two consecutive words share a first letter")


@checker("words:keywords_specific_position")
def check_keywords_specific_position(response: str, *, keyword: str, n: int, m: int) -> CheckResult:
    """The m-th `nltk.word_tokenize` token of the n-th sentence is exactly `keyword` (case-sensitive)."""
    cid = "words:keywords_specific_position"
    word = want_text(cid, "keyword", keyword).strip()
    nth = want_count(cid, "n", n, minimum=1)
    mth = want_count(cid, "m", m, minimum=1)
    if not response.strip():
        return BLANK
    sentences = split_into_sentences(response)
    if len(sentences) < nth:
        return CheckResult(False, f"found {len(sentences)} sentence(s), need at least {nth}")
    tokens = list(islice(iter_word_tokens(sentences[nth - 1]), mth))  # the tokens up to the m-th only
    if len(tokens) < mth:
        return CheckResult(False, f"sentence {nth} has {len(tokens)} token(s), need at least {mth}")
    got = tokens[mth - 1]
    return CheckResult(got == word, f"token {mth} of sentence {nth} is {short(got)}, need {short(word)}")


@checker("words:words_position")
def check_words_position(response: str, *, keyword: str) -> CheckResult:
    """The second and the second-to-last `nltk.word_tokenize` tokens are both exactly `keyword` (case-sensitive)."""
    word = want_text("words:words_position", "keyword", keyword).strip()
    if not response.strip():
        return BLANK
    head, tail = edge_word_tokens(response, 2)  # only the sentences at both ends are tokenized
    if len(head) < 2:
        return CheckResult(False, f"found {len(head)} token(s), need at least 2")
    tokens = head + tail
    return CheckResult(
        tokens[1] == tokens[-2] == word,
        f"the second token is {short(tokens[1])} and the second to last {short(tokens[-2])}, need {short(word)}",
    )
