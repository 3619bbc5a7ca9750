"""Views of a response that the hardened checkers read, so hidden or disguised text cannot game them.

Each rule reads the view that makes any doubt go against the response (fail closed):

- `visible(text)`: what a reader takes as the answer. Reasoning (`<think>` blocks and every other format
  `pipeline.reasoning` knows; the answer is what the reward functions take as the answer), HTML
  comments and invisible characters (zero-width spaces and joiners, soft hyphens, bidi controls,
  variation selectors, tag characters) are removed. Rules that *require* something (a keyword, a
  minimum count, content under a marker) read this view, so hidden text earns nothing.
- `folded(text)`: all of the answer, hidden comments included, with disguises undone: compatibility forms
  folded by NFKC (full-width, mathematical and circled letters, small and presentation forms of
  punctuation), invisible characters removed, and letters that imitate Latin ones (Cyrillic and
  Greek look-alikes, small capitals) mapped to the Latin letters they imitate. Rules that *forbid*
  something (a word, a mark, more than N of something) read this view, so a disguised occurrence
  still counts.

Reasoning blocks are never part of the answer, in either view (the reward functions drop them too).

Markdown structure (bullets, numbered items, tables, headings, case lines) is read outside fenced
code blocks only (`unfenced`): a code block shows its lines verbatim, so they are not structure.

Keyword-like rules count an occurrence only in prose (`in_prose`): in a sentence where the listed
words are at most half of the words, so a bare list of keywords ("river, kitchen, journey") or a
label line ("Keywords: river, kitchen") earns nothing.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence

from pipeline.reasoning import strip_reasoning

# Characters that render as nothing (Unicode format controls, fillers, selectors): they split or glue
# words invisibly. ZWNJ/ZWJ are among them; dropping them only merges or splits, never hides text.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e0fff]"
)

# Letters of other scripts that look like Latin letters; small capitals map to capitals, which is what
# they look like (so "ᴛʜɪs" is not all lowercase once folded).
_LOOKALIKES = {
    # Cyrillic (lowercase в, м, н and т look like small capitals, so they fold to capitals)
    "а": "a", "в": "B", "е": "e", "ё": "e", "к": "k", "м": "M", "н": "H", "о": "o", "р": "p", "с": "c",
    "т": "T", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ӏ": "l", "һ": "h",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ї": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
    "Һ": "H",
    # Greek
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "ι": "i", "κ": "k", "υ": "u", "ϲ": "c", "ϳ": "j",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C",
    # Latin small capitals and other letters that pass for Latin ones
    "ᴀ": "A", "ʙ": "B", "ᴄ": "C", "ᴅ": "D", "ᴇ": "E", "ꜰ": "F", "ɢ": "G", "ʜ": "H", "ɪ": "I", "ᴊ": "J",
    "ᴋ": "K", "ʟ": "L", "ᴍ": "M", "ɴ": "N", "ᴏ": "O", "ᴘ": "P", "ʀ": "R", "ꜱ": "S", "ᴛ": "T", "ᴜ": "U",
    "ᴠ": "V", "ᴡ": "W", "ʏ": "Y", "ᴢ": "Z", "ı": "i", "ȷ": "j", "ℓ": "l", "ɡ": "g",
}  # fmt: skip
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKES)
# Marks that imitate ASCII punctuation and that NFKC leaves alone (NFKC already folds full-width,
# small and presentation forms such as "﹗", "︖", "․" and "‼"). Dashes stay what they are.
_PUNCT_LOOKALIKES = {
    "ǃ": "!", "¡": "!", "❗": "!", "❕": "!", "❢": "!", "ꜝ": "!",
    "ꓸ": ".", "·": ".", "‧": ".", "∙": ".", "⋅": ".", "ꓹ": ",", "‚": ",", "،": ",", "⸲": ",", "٫": ",",
    "꞉": ":", "∶": ":", "ː": ":", "˸": ":", "⁏": ";", "؛": ";", "¿": "?", "؟": "?", "⸮": "?", "‽": "?", "⸘": "?",
    "ʻ": "'", "ʼ": "'", "ʽ": "'", "′": "'", "‛": "'", "″": '"', "‟": '"', "〝": '"', "〞": '"',
    "∗": "*", "⁎": "*", "٭": "*", "∕": "/", "⧸": "/", "∖": "\\", "⧵": "\\",
}  # fmt: skip
_PUNCT_TABLE = str.maketrans(_PUNCT_LOOKALIKES)
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # the word unit of counting.py (kept here to avoid a cycle)
_ALNUM = re.compile(r"[^\W_]")
# Scripts written without spaces: each of their characters counts as one word of context.
_UNSPACED_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_SENTENCE_END = re.compile(
    r"(?<=[.!?。！？])[\"'”’)\]*_]?\s+|(?<=[。！？])|(?<=[.!?])(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])|\n+"
)


def strip_invisible(text: str) -> str:
    """The text without characters that render as nothing."""
    return _INVISIBLE.sub("", text)


def strip_reasoning_blocks(text: str) -> str:
    """The answer without its reasoning, as the reward functions take it (`pipeline.reasoning.strip_reasoning`:
    every format it knows, one linear pass); text without reasoning markers is unchanged."""
    return strip_reasoning(text)


def strip_comments(text: str) -> str:
    """The text without HTML comments (an unclosed `<!--` hides the rest, so the rest is dropped)."""
    if "<!--" not in text:
        return text
    out, pos = [], 0
    while True:
        p = text.find("<!--", pos)
        if p < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:p])
        q = text.find("-->", p + 4)
        if q < 0:
            break
        pos = q + 3
    return "".join(out)


def visible(text: str) -> str:
    """What a reader takes as the answer: no reasoning blocks, no HTML comments, no invisible characters."""
    return strip_invisible(strip_comments(strip_reasoning_blocks(text)))


def fold(text: str) -> str:
    """A disguise-free form of text: NFKC, invisible characters removed, Latin look-alikes mapped to Latin."""
    return unicodedata.normalize("NFKC", strip_invisible(text)).translate(_LOOKALIKE_TABLE)


def folded(text: str) -> str:
    """All of the answer (reasoning blocks aside, hidden comments included) with disguises undone; see `fold`."""
    return fold(strip_reasoning_blocks(text))


def folded_and_seen(text: str) -> str:
    """The folded answer, then the folded visible answer: what a "no X anywhere" check searches.

    Hidden text counts (a forbidden word inside a comment is in the answer), and so do the words a reader sees
    where a hidden comment joins two pieces into one (`extra<!-- -->ordinary` reads as one long word)."""
    return folded(text) + "\n\n" + fold(visible(text))


def fold_punctuation(text: str) -> str:
    """Map marks that imitate ASCII punctuation to it (apply after `fold`, which handles the NFKC forms)."""
    return text.translate(_PUNCT_TABLE)


def unfenced(text: str) -> str:
    """The text with every fenced code block (``` or ~~~ lines and what lies between) blanked out.

    Fenced lines become empty lines, so line numbers and paragraph breaks around them are kept; an
    unclosed fence runs to the end, as markdown renders it.
    """
    if "```" not in text and "~~~" not in text:
        return text
    out: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                out.append("")
            else:
                out.append(line)
        else:
            out.append("")
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip().strip(fence[0]):
                fence = None
    return "\n".join(out)


def has_content(text: str, min_alnum: int = 2) -> bool:
    """True when text has at least `min_alnum` letters or digits (a marker alone or "a" is not content)."""
    count = 0
    for _ in _ALNUM.finditer(text):
        count += 1
        if count >= min_alnum:
            return True
    return False


def word_count(text: str) -> int:
    """Number of words (letters/digits with inner apostrophes)."""
    return sum(1 for _ in WORD.finditer(text))


def sentence_bounds(text: str) -> list[int]:
    """Start offsets of the sentences of text (our unit: ended by . ! ? or a line break)."""
    return [0, *(m.end() for m in _SENTENCE_END.finditer(text))]


def prose_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[bool]:
    """For each (start, end) occurrence, whether it lies in prose: its sentence has at least as many
    other words as listed occurrences (so the listed words are at most half of the sentence).

    Characters of scripts written without spaces (CJK, kana) outside the occurrences count as one word
    each, so "我们喝咖啡了" is prose for 咖啡 while "咖啡" alone is not.
    """
    if not spans:
        return []
    starts = sentence_bounds(text)
    by_sentence: dict[int, list[int]] = {}
    for i, (s, _) in enumerate(spans):
        by_sentence.setdefault(bisect.bisect_right(starts, s) - 1, []).append(i)
    longest = max(e - s for s, e in spans)
    out = [False] * len(spans)
    for k, members in by_sentence.items():
        lo = starts[k]
        hi = starts[k + 1] if k + 1 < len(starts) else len(text)
        covered = sorted(spans[i] for i in members)
        firsts = [a for a, _ in covered]
        others = 0
        for w in WORD.finditer(text, lo, hi):
            ws, we = w.start(), w.end()
            # Occurrences overlapping this word start at most `longest` characters before it.
            near = [
                (a, b)
                for a, b in covered[bisect.bisect_left(firsts, ws - longest) : bisect.bisect_left(firsts, we)]
                if b > ws
            ]
            if not near:
                others += 1
            elif _UNSPACED_CHAR.search(text, ws, we):  # a CJK run around the occurrence: its other characters count
                inside = sum(_count_unspaced(text, max(a, ws), min(b, we)) for a, b in near)
                others += max(0, _count_unspaced(text, ws, we) - inside)
        ok = others >= len(members) and others > 0
        for i in members:
            out[i] = ok
    return out


def _count_unspaced(text: str, start: int, end: int) -> int:
    """Characters of scripts written without spaces in text[start:end]."""
    return sum(1 for _ in _UNSPACED_CHAR.finditer(text, start, end))


def in_prose(text: str, patterns: Iterable[re.Pattern[str]]) -> list[bool]:
    """For each pattern, whether it has an occurrence in prose (see `prose_spans`); all patterns of the
    list count as listed words, so a line made only of them is not prose for any of them."""
    pats = list(patterns)
    spans: list[tuple[int, int]] = []
    owner: list[int] = []
    for k, pat in enumerate(pats):
        for m in pat.finditer(text):
            if m.end() > m.start():
                spans.append((m.start(), m.end()))
                owner.append(k)
    ok = prose_spans(text, spans)
    found = [False] * len(pats)
    for k, good in zip(owner, ok, strict=True):
        found[k] = found[k] or good
    return found
