"""`pipeline.checks.tokenize_fast` gives exactly what NLTK 3.9.1 gives: Punkt sentences, Treebank tokens,
`nltk.word_tokenize`, and the all-capital token count of `capital_word_frequency`."""

from __future__ import annotations

import random
import time

import nltk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktTokenizer

from pipeline.checks import text as text_helpers
from pipeline.checks.tokenize_fast import FastPunkt, FastTreebank

text_helpers.ensure_nltk_data()
PUNKT = PunktTokenizer("english")  # fresh NLTK objects: nothing shared with the code under test
TREEBANK = NLTKWordTokenizer()

WORDS = [
    "the", "The", "THE", "river", "River", "RIVER", "a", "A", "I", "i", "ok", "OK", "Hello", "HELLO", "world",
    "x", "X", "NASA", "Smith", "smith", "and", "And", "AND", "mill", "Mill", "cannot", "CANNOT", "Cannot",
    "gonna", "Gonna", "wanna", "WANNA", "gimme", "lemme", "gotta", "whaddya", "whatcha", "can't", "CAN'T",
    "don't", "I'm", "I'M", "we'll", "WE'LL", "they're", "you've", "he'd", "she's", "SHE'S", "o'clock",
    "'twas", "'Tis", "'tis", "d'ye", "D'YE", "more'n", "rock'n'roll", "y'all", "ma'am", "it's", "its'",
    "Mr.", "Mrs.", "Dr.", "St.", "e.g.", "i.e.", "etc.", "vs.", "U.S.A.", "U.S.", "U.N.", "p.m.", "P.M.",
    "a.m.", "Jan.", "Feb.", "No.", "no.", "Co.", "Inc.", "Ltd.", "J.", "K.", "Ph.D.", "approx.", "cf.",
    "3.14", "1,000", "12:30", "-5", "5th", "5TH", "1990s", "2.", "42.", "1.", "iv.", "IV.", "$3.88", "50%",
    "#1", "@user", "a&b", "AT&T", "foo_bar", "naïve", "NAÏVE", "café", "Straße", "STRASSE", "ǅemal", "Ǆ", "ǆ",
    "İstanbul", "ı", "ﬁne", "Ωμέγα", "ΩΜΕΓΑ", "Москва", "МОСКВА", "東京", "あ", "한국", "🙂", "e\u0301", "K",
    "ſ", "http://example.com/a.b?q=1", "https://X.Y/Z.", "www.site.org.", "someone@example.org",
    "HELLO-WORLD", "well-known", "--", "-", "—", "...", "..", "....", ". . .", "…", "*", "**", "***",
    "(", ")", "[", "]", "{", "}", "<", ">", "(a)", "[1]", "{x}", "<tag>", "(U.S.)", "(Sent.)", "\"", "'",
    "''", "``", "`", "```", "«", "»", "“", "”", "‘", "’", "„", "\"Hi\"", "'hi'", "\"HI.\"", "(\"OK.\")",
    ",", ";", ":", "!", "?", "!!", "?!", "!?", ".", ".\"", ".'", ".)", "?)", "!]", ".”", ".’", "。", "！", "？",
    "a,b", "1,2", "a:b", "a:1", "x;y", "ok?", "OK!", "yes.", "YES.", "no,", "A.", "B.", "a.", "I.", "Z.",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", " \n", "\r\n", "\xa0", "\u2028", "\x0b", "\x0c", "\x1c",
              "\u3000", "\x85", "", "", ""]  # fmt: skip
SENTENCE_ENDS = [".", "!", "?", "...", '."', "?'", ".)", "!!", '?"', ". )", ".\n", "", ". ''", ".”"]


def generated_text(rng: random.Random) -> str:
    """A random mix of words, punctuation, quotes, abbreviations, numbers, unicode and whitespace."""
    out: list[str] = []
    for _ in range(rng.randint(0, 4)):
        n = rng.randint(0, 14)
        for _ in range(n):
            out.append(rng.choice(WORDS))
            out.append(rng.choice(SEPARATORS))
        out.append(rng.choice(SENTENCE_ENDS))
        out.append(rng.choice(SEPARATORS[:10]))
    text = "".join(out)
    if rng.random() < 0.15:
        text = text.upper()
    if rng.random() < 0.1:
        text = rng.choice(SEPARATORS) + text
    return text


def prose_text(rng: random.Random) -> str:
    """Real-looking sentences: capitalised starts, abbreviations, initials, numbers, quotes, paragraphs."""
    starts = ["The", "It", "We", "Mr. Smith", "Dr. J. Bach", "In 1990", '"Yes," she said,', "(See Fig. 2.)"]
    bodies = [
        "arrived at 3 p.m. and left early", "met the U.S. delegation on Jan. 5", "said it was 3.14 or so",
        "WENT TO THE STORE", "can't believe it's not butter", "bought 1,000 apples for $3.88 (roughly)",
        "visited St. Louis, Mo. and Washington, D.C.", "wrote \"hello\" -- then 'bye'", "read ch. 3, vol. II",
    ]  # fmt: skip
    paragraphs = []
    for _ in range(rng.randint(1, 3)):
        sents = [
            f"{rng.choice(starts)} {rng.choice(bodies)}{rng.choice(SENTENCE_ENDS[:8])}"
            for _ in range(rng.randint(1, 5))
        ]
        paragraphs.append(" ".join(sents))
    return rng.choice(["\n\n", "\n", " "]).join(paragraphs)


def assert_same(text: str, punkt: FastPunkt, treebank: FastTreebank) -> None:
    """Every quantity equals NLTK's own, on the text and on each of its sentences."""
    sents = PUNKT.tokenize(text)
    assert punkt.sentences(text) == sents, text
    assert treebank.tokenize(text) == TREEBANK.tokenize(text), text  # the whole text as one "sentence"
    for sent in sents:
        assert treebank.tokenize(sent) == TREEBANK.tokenize(sent), sent
    words = nltk.word_tokenize(text)
    assert [t for s in punkt.sentences(text) for t in treebank.tokenize(s)] == words, text
    assert sum(treebank.count_upper(s) for s in sents) == sum(1 for w in words if w.isupper()), text


def test_generated_corpus_matches_nltk() -> None:
    """Several thousand seeded texts (bounded to a few seconds) give NLTK's exact output."""
    rng = random.Random(20260)
    punkt, treebank = FastPunkt(PUNKT), FastTreebank(TREEBANK)
    deadline, checked = time.monotonic() + 6.0, 0
    while checked < 6000 and (checked < 1500 or time.monotonic() < deadline):
        text = generated_text(rng) if checked % 4 else prose_text(rng)
        if checked % 3 == 1:  # texts without quotes take another path in FastTreebank
            text = text.replace('"', "").replace("'", "")
        assert_same(text, punkt, treebank)
        checked += 1
    assert checked >= 1500


def test_edge_texts_match_nltk() -> None:
    """Hand-picked edge cases: empty, whitespace-only, closers-only tails, quotes at the very start."""
    punkt, treebank = FastPunkt(PUNKT), FastTreebank(TREEBANK)
    texts = [
        "", " ", "\n", " \t\n ", "a", ".", "..", "\"", "'", "''", "``", ")", ") )", " ) ) ", "\"Hi.\" ) '",
        "A. ) )", "A. )\n)", "Hi . )", "x ' ' y", "a' ' b", "a' 'b", "\"\"", " \"a\"", "\n\"a\"", "a: b", "a:",
        "a,", "a:\n", "ok.\n", "Mr. Smith.", "end. \"", "end.'  ", "It's 5 p.m. Now.", "(Sent1.) Sent2.",
        "Very bad acting!!! I promise.", " leading space. Next.", "wanna\n", "cannot.", "Gimme!", "'Tis true.",
        "A\u2028B. C", "x\x85y. Z", "ǅ. Ǆ", "U.S.A.", "e.g. THIS", "... and ... ", "a -- b --c-- d",
    ]  # fmt: skip
    for text in texts:
        assert_same(text, punkt, treebank)


def test_memo_persists_across_texts_and_can_be_cleared() -> None:
    """A second text reuses memoised chunks; clearing empties the memos and changes nothing."""
    punkt, treebank = FastPunkt(PUNKT), FastTreebank(TREEBANK)
    text = 'The U.S. team WON. It was "great," he said.'
    first = (punkt.sentences(text), treebank.tokenize(text))
    assert treebank._chunks and punkt._decisions
    punkt.clear()
    treebank.clear()
    assert not treebank._chunks and not punkt._decisions
    assert (punkt.sentences(text), treebank.tokenize(text)) == first


def test_text_helpers_use_the_fast_path() -> None:
    """`text.word_tokens`, `count_capital_words` and `count_sentences` equal NLTK's."""
    rng = random.Random(7)
    for _ in range(300):
        text = generated_text(rng)
        words = nltk.word_tokenize(text)
        assert list(text_helpers.word_tokens(text)) == words
        assert text_helpers.count_capital_words(text) == sum(1 for w in words if w.isupper())
        assert text_helpers.count_sentences(text) == len(PUNKT.tokenize(text))


PIECES = st.sampled_from(WORDS + SEPARATORS + SENTENCE_ENDS)
FREE = st.text(alphabet=st.sampled_from(list(" \n\t.,;:!?'\"`()[]{}<>-*&aAbBzZ019ǅ»”’«“‘„…\xa0")), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(PIECES, FREE), max_size=40))
def test_property_any_mix_matches_nltk(pieces: list[str]) -> None:
    """Any concatenation of pieces (including free strings of punctuation and whitespace) matches NLTK."""
    assert_same("".join(pieces), FastPunkt(PUNKT), FastTreebank(TREEBANK))


def test_sentbreak_decisions_match_nltk() -> None:
    """The re-implemented `text_contains_sentbreak` agrees with NLTK's on every candidate context."""
    rng = random.Random(11)
    punkt = FastPunkt(PUNKT)
    for _ in range(3000):
        context = "".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(rng.randint(1, 4)))
        assert punkt.contains_sentbreak(context) == PUNKT.text_contains_sentbreak(context), context


def test_a_chunk_that_is_not_local_falls_back_to_nltk_on_the_whole_text() -> None:
    """If a chunk's tokens ever leaked into its context, the whole text goes through NLTK instead."""

    class Leaky:
        CONTRACTIONS2 = TREEBANK.CONTRACTIONS2

        def tokenize(self, text: str) -> list[str]:
            out = TREEBANK.tokenize(text)
            return out[:-1] if out and out[-1] == "x" else out  # swallows the marker after each chunk

    fast = FastTreebank(Leaky())
    assert fast.tokenize("A, B; C.") == ["A", ",", "B", ";", "C", "."]
    assert fast.count_upper("A, B; c.") == 2
