"""Exact, fast equivalents of NLTK 3.9.1's Punkt sentence split and Treebank word tokenizer.

`nltk.word_tokenize` (Punkt sentences, then `NLTKWordTokenizer` on each) dominated the cost of the
`capital_word_frequency` and `number_sentences` checkers. Both are rebuilt here from pieces that are
functions of short strings, memoised, so that repeated words and sentence-end contexts (the usual case
across responses and loose-mode variants) cost a dict lookup instead of a regex cascade.

Punkt (`FastPunkt`): NLTK decides each candidate sentence end (a match of its period-context regex) by
`text_contains_sentbreak(context)`, where `context` is the word before the candidate, the end character
and what follows it. That decision depends on nothing but the context string and the fixed model: it is
re-implemented (`contains_sentbreak`: Punkt's word split with NLTK's own regex, then both annotation
passes with the model's sets) and memoised per context. A `!` or `?` candidate is always a break. The
loop that finds candidates and contexts, the slicing and the boundary realignment follow NLTK line for
line, including its quirks: the gap scan before a candidate knows only ASCII whitespace, and whitespace
at index 0 of that gap counts as none.

Treebank (`FastTreebank`): the tokenizer only inserts spaces and rewrites quote characters, and each of
its rules looks at most one character beyond a whitespace-delimited chunk, except the end-anchored rules.
Their reach ends at the last chunk that is not made only of the closing characters `] ) } > " ' » ” ’`
(the class the final-period rule may skip over, with spaces). So:

- a chunk before that point tokenizes as NLTK tokenizes `prev + chunk + next + "x"` minus the final
  `x`, where `prev`/`next` are the whitespace characters around it (`prev` is empty at the start of
  the text, which the `^"` rule needs). Literal spaces matter to the opening-quote and `' ` rules
  before whitespace is normalised, so the real characters are kept; the trailing `x` keeps the
  end-anchored rules away. A word (a run of `\\w`) needs no NLTK call: only the `cannot`-style splits touch it;
- the tail (from that chunk to the end of the text, with the whitespace character before it) is
  tokenized by NLTK as it is, except a word with at most one of `. ! ?` after it (split off).

Results are memoised per (whitespace, chunk, whitespace) and per tail; chunks or contexts longer than
100 characters are not kept. `tests/unit/test_tokenize_fast.py` checks equality with NLTK on a large
generated corpus and with hypothesis.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_MEMO_LIMIT = 200_000  # entries per memo; cleared when full
_MEMO_KEY_CHARS = 100  # longer chunks and contexts are computed but not kept: memos stay small
_NON_WS_RUN = re.compile(r"[^ \t\n\r\x0b\x0c]*")  # not `string.whitespace`, what Punkt's gap scan looks for
_CLOSERS = "])}>\"'»”’"  # the final-period rule's skippable class, minus the space
_SPLIT = re.compile(r"(\s+)")  # same whitespace as str.split() and the tokenizer's \s
_WORD = re.compile(r"\w+")
_WORD_END = re.compile(r"(\w+)([.!?]?)\s*")


class _NotLocal(Exception):
    """A chunk whose tokens leaked into its context: the caller tokenizes the whole text with NLTK."""


def _upper_count(tokens: tuple[str, ...]) -> int:
    return sum(1 for t in tokens if t.isupper())


class FastPunkt:
    """`PunktSentenceTokenizer.span_tokenize` (realign_boundaries=True), re-implemented with memoised decisions."""

    def __init__(self, punkt: Any) -> None:
        from nltk.tokenize import punkt as nltk_punkt  # NLTK loads lazily: importing it costs ~0.5 s

        self._lc, self._uc = nltk_punkt._ORTHO_LC, nltk_punkt._ORTHO_UC
        self._mid_uc, self._beg_lc = nltk_punkt._ORTHO_MID_UC, nltk_punkt._ORTHO_BEG_LC
        token = nltk_punkt.PunktToken
        self._ellipsis, self._initial, self._numeric = token._RE_ELLIPSIS, token._RE_INITIAL, token._RE_NUMERIC
        params, lang = punkt._params, punkt._lang_vars
        self._period_context = lang.period_context_re()
        self._realign = lang.re_boundary_realignment
        self._words = lang._word_tokenizer_re()
        self._end_chars = frozenset(lang.sent_end_chars)
        self._punct = frozenset(punkt.PUNCTUATION)
        self._abbrevs = frozenset(params.abbrev_types)
        self._collocations = frozenset(params.collocations)  # NLTK keeps a list of pairs: same membership
        self._starters = frozenset(params.sent_starters)
        self._ortho = dict(params.ortho_context)  # a defaultdict(int) in NLTK: read with .get(k, 0)
        self._decisions: dict[str, bool] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget memoised decisions."""
        self._decisions.clear()

    def _breaks(self, context: str) -> bool:
        found = self._decisions.get(context)
        if found is None:
            found = self.contains_sentbreak(context)
            if len(context) > _MEMO_KEY_CHARS:
                return found
            with self._lock:
                if len(self._decisions) >= _MEMO_LIMIT:
                    self._decisions.clear()
                self._decisions[context] = found
        return found

    def _type(self, tok: str) -> str:
        """`PunktToken.type`: the lowercased token, numbers replaced by `##number##`."""
        return self._numeric.sub("##number##", tok.lower())

    def _first_pass(self, tok: str) -> tuple[bool, bool, bool]:
        """(sentbreak, abbr, ellipsis) of `_first_pass_annotation`."""
        if tok in self._end_chars:
            return True, False, False
        if self._ellipsis.match(tok):
            return False, False, True
        if tok.endswith(".") and not tok.endswith(".."):
            stem = tok[:-1].lower()
            if stem in self._abbrevs or stem.split("-")[-1] in self._abbrevs:
                return False, True, False
            return True, False, False
        return False, False, False

    def _ortho_heuristic(self, tok: str, typ: str) -> bool | None:
        """`_ortho_heuristic`: True (starts a sentence), False (does not) or None (unknown); `typ` is
        the token's `type_no_sentperiod`."""
        if tok in self._punct:
            return False
        ortho = self._ortho.get(typ, 0)
        if tok[0].isupper() and (ortho & self._lc) and not (ortho & self._mid_uc):
            return True
        if tok[0].islower() and ((ortho & self._uc) or not (ortho & self._beg_lc)):
            return False
        return None

    def contains_sentbreak(self, text: str) -> bool:
        """`PunktSentenceTokenizer.text_contains_sentbreak`: does a token other than the last end a sentence
        once both annotation passes ran? The second pass sees only the next token's first-pass marks."""
        toks = [w for line in text.split("\n") if line.strip() for w in self._words.findall(line)]
        if len(toks) < 2:
            return False
        nxt = self._first_pass(toks[0])
        for i in range(len(toks) - 1):
            tok, tok2 = toks[i], toks[i + 1]
            (sentbreak, abbr, ellipsis), nxt = nxt, self._first_pass(toks[i + 1])
            if tok.endswith("."):
                sentbreak = self._second_pass(tok, tok2, nxt[0], sentbreak, abbr or ellipsis)
            if sentbreak:
                return True
        return False

    def _second_pass(self, tok: str, tok2: str, tok2_break: bool, sentbreak: bool, abbr_or_ellipsis: bool) -> bool:
        """The sentbreak mark of a period-final `tok` after `_second_pass_annotation` with `tok2` next."""
        typ = self._type(tok)
        if len(typ) > 1 and typ[-1] == ".":
            typ = typ[:-1]
        next_typ = self._type(tok2)
        if tok2_break and len(next_typ) > 1 and next_typ[-1] == ".":
            next_typ = next_typ[:-1]
        initial = self._initial.match(tok) is not None
        if (typ, next_typ) in self._collocations:
            return False
        if abbr_or_ellipsis and not initial:
            if self._ortho_heuristic(tok2, next_typ) is True:
                return True
            if tok2[0].isupper() and next_typ in self._starters:
                return True
        if initial or typ == "##number##":
            starter = self._ortho_heuristic(tok2, next_typ)
            if starter is False:
                return False
            if starter is None and initial and tok2[0].isupper() and not (self._ortho.get(next_typ, 0) & self._lc):
                return False
        return sentbreak

    def _slices(self, text: str) -> list[tuple[int, int]]:
        """NLTK's `_slices_from_text`, with `_match_potential_end_contexts` inlined."""
        slices: list[tuple[int, int]] = []
        last_break = 0
        prev_match: Any = None
        prev_start = prev_stop = 0
        pending: list[tuple[Any, int, int]] = []
        n, backwards = len(text), text[::-1]
        for match in self._period_context.finditer(text):
            mstart = match.start()
            # Index in the gap text[prev_stop:mstart] of its last ASCII whitespace (-1 if none), found as the
            # length of the non-whitespace run that ends the gap, read on the reversed text (linear time).
            run = _NON_WS_RUN.match(backwards, n - mstart, n - prev_stop).end() - (n - mstart)  # type: ignore[union-attr]
            last_ws = mstart - prev_stop - 1 - run
            # NLTK returns 0 both for "none" and for "at index 0", and then keeps the previous start.
            word_start = prev_stop + last_ws + 1 if last_ws > 0 else prev_start
            if prev_match is not None and prev_stop <= word_start:
                pending.append((prev_match, prev_start, prev_stop))
            prev_match, prev_start, prev_stop = match, word_start, mstart
        if prev_match is not None:
            pending.append((prev_match, prev_start, prev_stop))
        for match, start, stop in pending:
            # A `!` or `?` is always a token of its own, marked as a break by the first pass and kept by the
            # second (which only revisits period-final tokens), and a token follows it: always a break.
            end = match.group()
            if end != "." or self._breaks(text[start:stop] + end + match.group("after_tok")):
                slices.append((last_break, match.end()))
                last_break = match.start("next_tok") if match.group("next_tok") else match.end()
        slices.append((last_break, len(text.rstrip())))
        return slices

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence, as `span_tokenize` yields them."""
        slices = self._slices(text)
        out: list[tuple[int, int]] = []
        realign = 0
        for i, (start1, stop1) in enumerate(slices):
            start1 += realign
            if i + 1 == len(slices):
                if start1 < stop1:
                    out.append((start1, stop1))
                continue
            start2, stop2 = slices[i + 1]
            m = self._realign.match(text, start2, stop2)  # as on text[start2:stop2]: `$` matches at stop2
            if m:
                out.append((start1, start2 + len(m.group(0).rstrip())))
                realign = m.end() - start2
            else:
                realign = 0
                if start1 < stop1:
                    out.append((start1, stop1))
        return out

    def sentences(self, text: str) -> list[str]:
        """`PunktSentenceTokenizer.tokenize(text)`."""
        return [text[s:e] for s, e in self.spans(text)]


class FastTreebank:
    """`NLTKWordTokenizer.tokenize` (default options), assembled from memoised per-chunk results."""

    def __init__(self, treebank: Any) -> None:
        self._tb = treebank
        self._chunks: dict[tuple[str, str, str], tuple[tuple[str, ...], int]] = {}
        self._plain: dict[str, tuple[tuple[str, ...], int]] = {}  # chunks of texts without quotes
        self._tails: dict[tuple[str, str], tuple[tuple[str, ...], int]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget memoised chunks and tails."""
        self._chunks.clear()
        self._plain.clear()
        self._tails.clear()

    def _store(self, memo: dict[Any, Any], key: Any, value: Any) -> None:
        if len(key if isinstance(key, str) else key[1]) > _MEMO_KEY_CHARS:
            return
        with self._lock:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = value

    def _chunk(self, key: tuple[str, str, str]) -> tuple[tuple[str, ...], int]:
        """Tokens of chunk `key[1]` between the whitespace characters `key[0]` and `key[2]` (memo miss)."""
        prev, chunk, nxt = key
        if _WORD.fullmatch(chunk) and not any(r.search(chunk + nxt) for r in self._tb.CONTRACTIONS2):
            # Only the `cannot`-style splits touch a run of \w (`wanna` needs the whitespace after it).
            tokens: tuple[str, ...] = (chunk,)
        else:
            out = self._tb.tokenize(prev + chunk + nxt + "x")
            if not out or out[-1] != "x":  # never seen (it would break the locality argument): use NLTK whole
                raise _NotLocal(chunk)
            tokens = tuple(out[:-1])
        found = (tokens, _upper_count(tokens))
        self._store(self._chunks, key, found)
        return found

    def _plain_chunk(self, chunk: str) -> tuple[tuple[str, ...], int]:
        """Tokens of a chunk of a text without `"` or `'` (memo miss): without quotes no rule can tell one
        whitespace character from another or the start of the text from a space (the `^` rule wants `"`),
        so any context gives the same tokens."""
        found = self._chunks.get((" ", chunk, " ")) or self._chunk((" ", chunk, " "))
        self._store(self._plain, chunk, found)
        return found

    def _tail(self, key: tuple[str, str]) -> tuple[tuple[str, ...], int]:
        """Tokens of the end of a text `key[1]` after the whitespace character `key[0]` (memo miss)."""
        m = _WORD_END.fullmatch(key[1])
        if m and not any(r.search(m[1] + " ") for r in self._tb.CONTRACTIONS2):
            # A word, then maybe one of . ! ? (split off by the final-period or ?! rules), then whitespace.
            tokens = (m[1], m[2]) if m[2] else (m[1],)
        else:
            tokens = tuple(self._tb.tokenize(key[0] + key[1]))
        found = (tokens, _upper_count(tokens))
        self._store(self._tails, key, found)
        return found

    def _pieces(self, text: str) -> list[tuple[tuple[str, ...], int]]:
        """The memoised results whose concatenation is the token list of `text`."""
        if '"' not in text and "'" not in text:
            words = text.split()
            if words and words[-1].strip(_CLOSERS):  # the tail is the last chunk alone
                last = words.pop()
                start = len(text.rstrip()) - len(last)
                plain = self._plain
                pieces = [plain.get(c) or self._plain_chunk(c) for c in words]
                tail_key = (text[start - 1] if start else "", text[start:])
                pieces.append(self._tails.get(tail_key) or self._tail(tail_key))
                return pieces
        parts = _SPLIT.split(text)  # chunk, whitespace, chunk, ..., chunk (first/last may be empty)
        n = len(parts)
        tail = n - 1 if parts[-1] else n - 3  # index of the last non-empty chunk
        while tail >= 2 and not parts[tail].strip(_CLOSERS):  # made only of closers
            tail -= 2
        if tail < 0 or not parts[tail]:  # no chunk at all, or the tail reaches the leading gap
            tail = 0 if parts[0] or n == 1 else 2
            if tail >= n:
                return []
        chunks, pieces = self._chunks, []
        for i in range(0 if parts[0] else 2, tail, 2):
            key = (parts[i - 1][-1] if i else "", parts[i], parts[i + 1][0])
            pieces.append(chunks.get(key) or self._chunk(key))
        tail_key = (parts[tail - 1][-1] if tail else "", "".join(parts[tail:]))
        pieces.append(self._tails.get(tail_key) or self._tail(tail_key))
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """`NLTKWordTokenizer().tokenize(text)`."""
        try:
            return [t for tokens, _ in self._pieces(text) for t in tokens]
        except _NotLocal:
            return list(self._tb.tokenize(text))

    def count_upper(self, text: str) -> int:
        """How many of `tokenize(text)` are `str.isupper()`."""
        try:
            return sum(count for _, count in self._pieces(text))
        except _NotLocal:
            return _upper_count(tuple(self._tb.tokenize(text)))
