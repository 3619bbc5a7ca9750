"""Fast, bit-exact `langdetect.detect` with `DetectorFactory.seed = 0`.

langdetect 1.0.9 classifies a text by 7 random-sampling trials over its character n-grams, each trial
multiplying a 55-language probability vector by (alpha/10000 + p_lang(ngram)) for randomly drawn
n-grams and normalising every 5 draws until one language passes 0.99999 (or 1000 draws). With a fixed
seed the verdict is a pure function of the text, and IFEval's verdicts depend on it, so a faster
version must reproduce every floating-point operation and every random draw, not just the idea.

How this stays exact:
- Profiles, language order, URL/e-mail regexes, the Vietnamese normaliser and the per-character
  normaliser are langdetect's own objects (we call them; nothing is re-derived).
- The detector reseeds `random.Random` with 0 before every text, so the 32-bit Mersenne Twister output
  stream is the same for every text. We generate it once and replay it: `choice(ngrams)` is
  `getrandbits(k) >> ...` rejection sampling over that stream, and `gauss()` is CPython's Box-Muller on
  two `random()` doubles built from four stream words (the second value is kept for the next trial).
- The sampling loop runs in a small C kernel (compiled once with the system C compiler, without
  fast-math or FMA contraction, so each multiply, add, division and the sequential sum round exactly as
  CPython's float arithmetic does). Without a C compiler a NumPy version of the same loop is used
  (elementwise ops are exact; the sum is a sequential `cumsum`).

`tests/unit/test_langid.py` compares both paths with `langdetect.detect` on thousands of texts.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import random
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

N_TRIAL = 7
ITERATION_LIMIT = 1000
CONV_THRESHOLD = 0.99999
ALPHA = 0.5
ALPHA_WIDTH = 0.05
BASE_FREQ = 10000
PROB_THRESHOLD = 0.1
MAX_TEXT_LENGTH = 10000
UNKNOWN_LANG = "unknown"
SEED = 0

_STREAM_WORDS = 1 << 16  # enough for 7 trials of 1001 draws at the worst rejection rate (< 1/2) with room to spare
_LATIN_RE = re.compile("[A-z]")  # langdetect's 'A' <= ch <= 'z' (includes [\]^_`)
# langdetect counts "non-Latin" as ch >= U+0300 whose block != 'Latin Extended Additional'; its block
# function returns ints, so that string comparison is always true and every ch >= U+0300 counts.
_NON_LATIN_RE = re.compile("[\u0300-\U0010ffff]")
_SPACES_RE = re.compile("  +")  # a space right after a space is dropped


class LangIdError(Exception):
    """The text has no n-gram langdetect knows (langdetect raises LangDetectException then)."""


@dataclass(frozen=True)
class _Model:
    """langdetect's profiles as arrays: row per n-gram, column per language (langdetect's order)."""

    langs: tuple[str, ...]
    rows: dict[str, int]
    probs: np.ndarray  # float64 (n_ngrams, n_langs), C-contiguous
    url_re: re.Pattern[str]
    mail_re: re.Pattern[str]
    normalize_vi: Any
    normalize_char: Any


@lru_cache(maxsize=1)
def _model() -> _Model:
    """Load langdetect's profiles once (its own loader, so the language order matches) and pack them."""
    from langdetect import detector_factory
    from langdetect.detector import Detector
    from langdetect.utils.ngram import NGram

    detector_factory.init_factory()
    factory = detector_factory._factory
    table = factory.word_lang_prob_map
    probs = np.array(list(table.values()), dtype=np.float64)
    return _Model(
        langs=tuple(factory.langlist),
        rows={w: i for i, w in enumerate(table)},
        probs=np.ascontiguousarray(probs),
        url_re=Detector.URL_RE,
        mail_re=Detector.MAIL_RE,
        normalize_vi=NGram.normalize_vi,
        normalize_char=NGram.normalize,
    )


# --- random stream ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _stream(words: int) -> np.ndarray:
    """The first `words` 32-bit outputs of `random.Random(SEED)` (what every detection replays)."""
    rng = random.Random(SEED)
    return np.fromiter((rng.getrandbits(32) for _ in range(words)), dtype=np.uint32, count=words)


def _uniform(a: int, b: int) -> float:
    """CPython's `random()` from two consecutive 32-bit words."""
    return ((a >> 5) * 67108864.0 + (b >> 6)) * (1.0 / 9007199254740992.0)


# --- text preparation --------------------------------------------------------------------------------


def _prepare(text: str, model: _Model) -> str:
    """langdetect's `append` then `cleaning_text`: drop URLs and e-mails, normalise, squeeze, de-Latinise."""
    text = model.mail_re.sub(" ", model.url_re.sub(" ", text))
    text = model.normalize_vi(text)
    text = _SPACES_RE.sub(" ", text[:MAX_TEXT_LENGTH])
    if text.isascii():  # no character >= U+0300, so the Latin letters always stay
        return text
    latin = len(_LATIN_RE.findall(text))
    if latin * 2 < len(_NON_LATIN_RE.findall(text)):
        text = _LATIN_RE.sub("", text)
    return text


class _NormTable(dict[int, str]):
    """`str.translate` table applying langdetect's per-character normaliser, filled on first sight of a
    character (the normaliser is a pure function of the character; memoising makes it C-speed)."""

    def __init__(self, normalize_char: Any) -> None:
        super().__init__()
        self._normalize = normalize_char

    def __missing__(self, code: int) -> str:
        out = self[code] = self._normalize(chr(code))
        return out


_WORD_CACHE_MAX = 200_000


@lru_cache(maxsize=1)
def _norm_table() -> _NormTable:
    return _NormTable(_model().normalize_char)


@lru_cache(maxsize=1)
def _word_caches() -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Memo of n-gram rows per normalised word: (words followed by a space, the final word)."""
    return {}, {}


def _word_rows(word: str, trailing: bool, rows: dict[str, int]) -> tuple[int, ...]:
    """Rows langdetect's NGram buffer yields while reading `word` (then a space, if `trailing`).

    The buffer restarts as " " at every word, so what a word yields does not depend on its neighbours:
    at each position the last 1, 2 and 3 characters of " " + word (+ " "), skipping lone spaces and
    positions inside an all-capital run (two or more capitals in a row, until a non-capital).
    """
    s = " " + word + (" " if trailing else "")
    out: list[int] = []
    capital = False
    for j in range(1, len(s)):
        ch = s[j]
        if ch.isupper():
            if s[j - 1].isupper():
                capital = True
        else:
            capital = False
        if capital:
            continue
        if ch != " ":
            r = rows.get(ch)
            if r is not None:
                out.append(r)
        r = rows.get(s[j - 1 : j + 1])
        if r is not None:
            out.append(r)
        if j >= 2:
            r = rows.get(s[j - 2 : j + 1])
            if r is not None:
                out.append(r)
    return tuple(out)


def _ngram_rows(text: str, model: _Model) -> list[int]:
    """Rows of the known 1-, 2- and 3-grams langdetect extracts from `text`, in its order (with repeats)."""
    parts = text.translate(_norm_table()).split(" ")
    inner, final = _word_caches()
    if len(inner) > _WORD_CACHE_MAX:
        inner.clear()
    rows = model.rows
    out: list[int] = []
    last = len(parts) - 1
    for i, word in enumerate(parts):
        if not word:  # consecutive spaces: langdetect skips a space after a space
            continue
        cache = inner if i < last else final
        got = cache.get(word)
        if got is None:
            got = cache[word] = _word_rows(word, i < last, rows)
        out.extend(got)
    if len(final) > _WORD_CACHE_MAX:
        final.clear()
    return out


# --- sampling: C kernel -----------------------------------------------------------------------------

_C_SOURCE = r"""
#include <math.h>
#include <stdint.h>

static double uniform01(const uint32_t *w, long *pos) {
    uint32_t a = w[*pos] >> 5, b = w[*pos + 1] >> 6;
    *pos += 2;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

/* langdetect's _detect_block on pre-extracted n-gram rows; 0 = ok, -1 = random stream too short. */
int langid_detect(const double *probs, int nlang, const int32_t *rows, long n,
                  const uint32_t *stream, long nstream, double *langprob) {
    double prob[256];
    int k = 0;
    while ((n >> k) != 0) k++;
    int shift = 32 - k;
    long pos = 0;
    int have_next = 0;
    double gauss_next = 0.0;
    if (nlang > 256) return -2;
    for (int j = 0; j < nlang; j++) langprob[j] = 0.0;
    for (int t = 0; t < 7; t++) {
        double init = 1.0 / (double)nlang;
        for (int j = 0; j < nlang; j++) prob[j] = init;
        double z;
        if (!have_next) {
            if (pos + 4 > nstream) return -1;
            double x2pi = uniform01(stream, &pos) * (2.0 * 3.141592653589793);
            double g2rad = sqrt(-2.0 * log(1.0 - uniform01(stream, &pos)));
            z = cos(x2pi) * g2rad;
            gauss_next = sin(x2pi) * g2rad;
            have_next = 1;
        } else {
            z = gauss_next;
            have_next = 0;
        }
        double g = 0.0 + z * 1.0;
        double alpha = 0.5 + g * 0.05;
        double weight = alpha / 10000.0;
        for (long i = 0;; i++) {
            uint32_t r;
            do {
                if (pos >= nstream) return -1;
                r = stream[pos++] >> shift;
            } while ((long)r >= n);
            const double *lp = probs + (long)rows[r] * nlang;
            for (int j = 0; j < nlang; j++) prob[j] *= weight + lp[j];
            if (i % 5 == 0) {
                double s = 0.0, maxp = 0.0;
                for (int j = 0; j < nlang; j++) s += prob[j];
                for (int j = 0; j < nlang; j++) {
                    double p = prob[j] / s;
                    if (maxp < p) maxp = p;
                    prob[j] = p;
                }
                if (maxp > 0.99999 || i >= 1000) break;
            }
        }
        for (int j = 0; j < nlang; j++) langprob[j] += prob[j] / 7.0;
    }
    return 0;
}
"""
# No fast-math and no FMA contraction: every operation must round like CPython's float arithmetic.
_C_FLAGS = ("-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math")


def _cache_dir() -> Path:
    cache = os.environ.get("COMPLEXIFY_CACHE") or str(Path.home() / ".cache" / "complexify")
    return Path(cache) / "langid"


@lru_cache(maxsize=1)
def _kernel() -> Any | None:
    """The compiled C kernel (built once per source version into the cache), or None without a compiler."""
    if os.environ.get("COMPLEXIFY_LANGID_PURE"):
        return None
    digest = hashlib.sha256((_C_SOURCE + " ".join(_C_FLAGS)).encode()).hexdigest()[:16]
    target = _cache_dir() / f"langid-{digest}.so"
    try:
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                src, out = Path(tmp) / "langid.c", Path(tmp) / "langid.so"
                src.write_text(_C_SOURCE, encoding="utf-8")
                cc = os.environ.get("CC", "cc")
                subprocess.run(
                    [cc, *_C_FLAGS, "-o", str(out), str(src), "-lm"], check=True, capture_output=True, timeout=120
                )
                os.replace(out, target)  # atomic: concurrent builders all end with a complete file
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError):
        return None
    fn = lib.langid_detect
    fn.restype = ctypes.c_int
    fn.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_void_p,
    ]
    return fn


def _sample_c(fn: Any, model: _Model, rows: np.ndarray) -> np.ndarray | None:
    """Run the C kernel; None if the precomputed random stream ran out (caller retries with more)."""
    words = _STREAM_WORDS
    langprob = np.empty(len(model.langs), dtype=np.float64)
    while True:
        stream = _stream(words)
        status = fn(model.probs.ctypes.data, len(model.langs), rows.ctypes.data, len(rows), stream.ctypes.data,
                    len(stream), langprob.ctypes.data)  # fmt: skip
        if status == 0:
            return langprob
        if status != -1 or words >= 1 << 24:
            return None
        words *= 4


# --- sampling: NumPy fallback -------------------------------------------------------------------------


def _sample_numpy(model: _Model, rows: np.ndarray) -> np.ndarray:
    """The same loop as the C kernel with NumPy vectors (slower; used when no C compiler exists)."""
    n = len(rows)
    shift = 32 - n.bit_length()
    nlang = len(model.langs)
    words = _STREAM_WORDS
    while True:
        stream = _stream(words)
        drawn = stream >> np.uint32(shift)
        accepted = np.flatnonzero(drawn < n)  # stream positions whose draw is kept by rejection sampling
        result = _trials_numpy(model, rows, stream, drawn, accepted, nlang)
        if result is not None:
            return result
        words *= 4


def _trials_numpy(
    model: _Model, rows: np.ndarray, stream: np.ndarray, drawn: np.ndarray, accepted: np.ndarray, nlang: int
) -> np.ndarray | None:
    langprob = np.zeros(nlang)
    pos = 0
    gauss_next: float | None = None
    for _ in range(N_TRIAL):
        prob = np.full(nlang, 1.0 / nlang)
        if gauss_next is None:
            if pos + 4 > len(stream):
                return None
            w = [int(x) for x in stream[pos : pos + 4]]
            pos += 4
            x2pi = _uniform(w[0], w[1]) * (2.0 * math.pi)
            g2rad = math.sqrt(-2.0 * math.log(1.0 - _uniform(w[2], w[3])))
            z, gauss_next = math.cos(x2pi) * g2rad, math.sin(x2pi) * g2rad
        else:
            z, gauss_next = gauss_next, None
        weight = (ALPHA + (0.0 + z * 1.0) * ALPHA_WIDTH) / BASE_FREQ
        first = int(np.searchsorted(accepted, pos))
        if first + ITERATION_LIMIT + 1 > len(accepted):
            return None  # the trial might need more draws than the stream we have holds
        picks = accepted[first : first + ITERATION_LIMIT + 1]
        factors = model.probs[rows[drawn[picks]]] + weight
        i = 0
        while True:
            prob *= factors[i]
            if i % 5 == 0:
                total = np.cumsum(prob)[-1]  # sequential, like Python's sum() over floats
                prob /= total
                if prob.max() > CONV_THRESHOLD or i >= ITERATION_LIMIT:
                    break
            i += 1
        pos = int(picks[i]) + 1
        langprob += prob / N_TRIAL
    return langprob


# --- public API -------------------------------------------------------------------------------------


# langdetect initialises its global tables lazily and unguarded (the profile factory, NGram's character maps),
# and the memos here keep whatever a racing thread saw: concurrent first calls gave empty or wrong languages.
# Detection is fast, so it runs one at a time.
_DETECT_LOCK = threading.Lock()


def detect(text: str) -> str:
    """`langdetect.detect(text)` with seed 0: the language code, or 'unknown'; LangIdError if no features."""
    with _DETECT_LOCK:
        return _detect(text)


def _detect(text: str) -> str:
    model = _model()
    row_list = _ngram_rows(_prepare(text, model), model)
    if not row_list:
        raise LangIdError("No features in text.")
    rows = np.array(row_list, dtype=np.int32)
    fn = _kernel()
    langprob = _sample_c(fn, model, rows) if fn is not None else None
    if langprob is None:
        langprob = _sample_numpy(model, rows)
    best = int(np.argmax(langprob))  # first of equal maxima, as langdetect's stable descending sort keeps
    return model.langs[best] if langprob[best] > PROB_THRESHOLD else UNKNOWN_LANG


def detect_or_none(text: str) -> str | None:
    """`detect`, with None where langdetect raises."""
    try:
        return detect(text)
    except LangIdError:
        return None
