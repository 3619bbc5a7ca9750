"""Checkers: IFBench `format:*` ids, with the exact semantics of IFBench's reference checkers.

These ids belong to the held-out `ifbench` vocabulary: they are scored the way IFBench scores them, so
nothing here is hardened. Where the reference accepts an answer that games the instruction (an unclosed
bracket after the fifth level, a whitespace-only line that makes room for two words on another line, a
response in capitals passing as title case), so do these checkers; the adversarial suite records those
hacks as known weaknesses. A blank response fails, as the reference's evaluator scores it before any checker.

Units are the reference's: Python's `str.split`, `str.strip` and `str.isspace` (Unicode whitespace),
and from `pipeline.checks.ifbench_text`: ASCII punctuation (`string.punctuation`), NLTK's `word_tokenize`
(Punkt offline) and IFBench's regex sentence splitter.
"""

from __future__ import annotations

import re
import string
from collections import deque

from pipeline.checks.ifbench_text import (
    BLANK,
    drop_punctuation,
    iter_word_tokens,
    split_into_sentences,
    strip_punctuation,
    want_text,
)
from pipeline.checks.registry import CheckResult, checker

_PUNCT = string.punctuation
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_OPENERS.values())
_BRACKET = re.compile(r"[()\[\]{}]")
_QUOTE = re.compile(r"[\"']")


def _short(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


# --- Brackets and quotes -----------------------------------------------------------------------------


@checker("format:parentheses")
def check_parentheses(response: str) -> CheckResult:
    """Brackets ( [ { reach a depth of 5 and a bracket is then closed by its partner; a closing bracket that
    does not match the innermost open one (or closes nothing) resets the count. Outer brackets may stay open."""
    if not response.strip():
        return BLANK
    stack: list[str] = []
    deepest = 0
    for ch in _BRACKET.findall(response):  # other characters change nothing
        if ch in _OPENERS:
            stack.append(ch)
            deepest = max(deepest, len(stack))
        elif ch in _CLOSERS:
            if stack and _OPENERS[stack[-1]] == ch:
                stack.pop()
                if deepest >= 5:
                    return CheckResult(True, f"brackets nested {deepest} levels deep")
            else:
                stack, deepest = [], 0
    return CheckResult(False, f"no closed group of brackets nested 5 levels deep (deepest run: {deepest})")


@checker("format:quotes")
def check_quotes(response: str) -> CheckResult:
    """Double and single quotes (apostrophes included) nest: a quote equal to the innermost open one closes it,
    any other opens a level; passes once the text has closed 3 levels below the deepest level reached."""
    if not response.strip():
        return BLANK
    stack: list[str] = []
    deepest = 0
    for ch in _QUOTE.findall(response):  # the stack holds quotes only: other characters change nothing
        if stack and ch == stack[-1]:
            stack.pop()
            if deepest - len(stack) >= 3:
                return CheckResult(True, f"quotes nested {deepest} levels deep, 3 levels closed")
        elif ch in "\"'":
            stack.append(ch)
            deepest = max(deepest, len(stack))
    return CheckResult(False, f"no 3 nested levels of alternating quotes closed (deepest: {deepest})")


# --- Options -----------------------------------------------------------------------------------------


def _options(options: str) -> tuple[list[str], bool]:
    """The listed options and whether they are letters a, b, c... (then the answer must equal one exactly).
    The separator is "/" if present, else "or" (anywhere, even inside a word), else ","."""
    lettered = re.match(r"\W*[aA]\W*[bB]\W*[cC]\W*", options) is not None
    sep = "/" if "/" in options else "or" if "or" in options else ","
    return [option.strip() for option in options.split(sep)], lettered


@checker("format:options")
def check_options(response: str, *, options: str) -> CheckResult:
    """The response is one of the options: for lettered options exactly (nothing stripped); otherwise after
    stripping ASCII punctuation and spaces from both ends, compared case-insensitively."""
    choices, lettered = _options(want_text("format:options", "options", options))
    if not response.strip():
        return BLANK
    if lettered:
        if response in choices:
            return CheckResult(True, f"answer is exactly the option {response!r}")
        return CheckResult(False, f"answer {_short(response)} is not exactly one of {choices}")
    answer = strip_punctuation(response).lower()
    for choice in choices:
        if strip_punctuation(choice).lower() == answer:
            return CheckResult(True, f"answer matches the option {choice!r}")
    return CheckResult(False, f"answer {_short(response)} is none of {choices}")


# --- Lines -------------------------------------------------------------------------------------------


@checker("format:newline")
def check_newline(response: str) -> CheckResult:
    """After deleting ASCII punctuation, the non-empty lines (a line of spaces counts) are exactly as many as
    the whitespace-separated words."""
    if not response.strip():
        return BLANK
    text = drop_punctuation(response).strip()
    lines = [line for line in text.split("\n") if line != ""]
    words = len(text.split())
    if len(lines) == words:
        return CheckResult(True, f"{words} word(s) on {len(lines)} line(s)")
    return CheckResult(False, f"{words} word(s) on {len(lines)} non-empty line(s); need one word per line")


def _drop_blank_lines_as_reference(lines: list[str]) -> list[str]:
    """The lines the reference keeps. It removes blank lines while iterating over the same list: each blank line
    it meets removes the first remaining line equal to it (itself, or an equal blank line skipped before), and
    the line after it is then skipped. Computed in one pass (the reference's removals take quadratic time)."""
    equal_blanks: dict[str, deque[int]] = {}
    for i, line in enumerate(lines):
        if not line.strip():
            equal_blanks.setdefault(line, deque()).append(i)
    removed = set()
    i = 0
    while i < len(lines):
        if lines[i].strip():
            i += 1
        else:
            removed.add(equal_blanks[lines[i]].popleft())
            i += 2
    return [line for i, line in enumerate(lines) if i not in removed]


@checker("format:line_indent")
def check_line_indent(response: str) -> CheckResult:
    """Each line is indented by more leading spaces (tabs do not count) than the line before; blank lines are
    skipped the way the reference skips them (see `_drop_blank_lines_as_reference`)."""
    if not response.strip():
        return BLANK
    lines = _drop_blank_lines_as_reference(response.split("\n"))
    indents = [len(line) - len(line.lstrip(" ")) for line in lines]
    for i in range(len(indents) - 1):
        if indents[i + 1] <= indents[i]:
            return CheckResult(
                False, f"line {i + 2} is indented {indents[i + 1]} space(s), not more than the {indents[i]} before it"
            )
    return CheckResult(True, f"{len(lines)} line(s), each indented more than the last")


# --- Quotes and explanations -------------------------------------------------------------------------


@checker("format:quote_unquote")
def check_quote_unquote(response: str) -> CheckResult:
    """Curly double quotes count as straight ones and the literal '"' is ignored; with all whitespace removed,
    no two double quotes touch, and the text does not end in a quote (digits and other punctuation at the
    ends aside)."""
    if not response.strip():
        return BLANK
    text = response.replace("“", '"').replace("”", '"').replace("'\"'", "")
    text = "".join(text.split())
    if '""' in text:
        return CheckResult(False, "a quoted phrase is followed directly by another quote")
    core = text.strip(string.digits + _PUNCT.replace('"', ""))
    if not core:  # the reference raises an IndexError here: a failed check
        return CheckResult(False, "no text besides digits and punctuation")
    if core[-1] == '"':
        return CheckResult(False, "the response ends with a quoted phrase, with no explanation after it")
    return CheckResult(True, "no quoted phrase without an unquoted explanation after it")


# --- Lists ---------------------------------------------------------------------------------------------


@checker("format:list")
def check_list(response: str, *, sep: str) -> CheckResult:
    """The marker `sep` occurs at least twice (non-overlapping), anywhere in the text."""
    marker = want_text("format:list", "sep", sep)
    if not response.strip():
        return BLANK
    found = response.count(marker)  # = len(re.findall(re.escape(sep), response))
    if found >= 2:
        return CheckResult(True, f"found the marker {marker!r} {found} times")
    return CheckResult(False, f"found the marker {marker!r} {found} time(s), need at least 2")


@checker("format:sub-bullets")
def check_sub_bullets(response: str) -> CheckResult:
    """Every piece of text after a `*` (up to the next `*`) contains a `-`; a text without `*` passes."""
    if not response.strip():
        return BLANK
    pieces = response.split("*")[1:]
    for n, piece in enumerate(pieces, start=1):
        if "-" not in piece:
            return CheckResult(False, f"the text after '*' number {n} has no '-': {_short(piece.strip())}")
    return CheckResult(True, f"each of the {len(pieces)} '*' is followed by a '-' before the next")


@checker("format:no_bullets_bullets")
def check_no_bullets_bullets(response: str) -> CheckResult:
    """Lines of prose with at least two sentences in all, then only lines that start with `*` (at least two).

    As in the reference: sentences are counted while the lines before the first bullet are read, and a line
    with no sentence (an empty line) ends that reading, so any later line that is not a bullet fails, as does
    any line after the bullets that is not a bullet, a final empty line included."""
    if not response.strip():
        return BLANK
    reading_prose = True
    n_sentences = n_bullets = 0
    for number, line in enumerate(response.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("*"):
            reading_prose = False
            if n_sentences < 2:
                return CheckResult(False, f"a bullet on line {number} after {n_sentences} sentence(s), need 2 first")
            n_bullets += 1
        elif reading_prose:
            found = split_into_sentences(stripped)
            n_sentences += len(found)
            reading_prose = bool(found)
        else:
            return CheckResult(False, f"line {number} is neither a bullet nor part of the opening sentences")
    if n_bullets >= 2:
        return CheckResult(True, f"{n_sentences} sentence(s), then {n_bullets} bullet(s)")
    return CheckResult(False, f"found {n_bullets} bullet(s) after the sentences, need at least 2")


# --- Emphasis, case, template, whitespace ------------------------------------------------------------


@checker("format:thesis")
def check_thesis(response: str) -> CheckResult:
    """From the first `<i>` (else `<em>`), up to the next `</i>` (else `</em>`): the text from the 4th character
    to the closing tag is not blank, and the text from 4 characters after that tag's start is not blank (for
    `<em>`/`</em>` these offsets keep the tag's last character, as in the reference)."""
    if not response.strip():
        return BLANK
    start = response.find("<i>")
    if start == -1:
        start = response.find("<em>")
        if start == -1:
            return CheckResult(False, "no <i> or <em> tag")
    rest = response[start:]
    end = rest.find("</i>")
    if end == -1:
        end = rest.find("</em>")
        if end == -1:
            return CheckResult(False, "the italics are never closed with </i> or </em>")
    if not rest[3:end].strip():
        return CheckResult(False, "the italic thesis is empty")
    if not rest[end + 4 :].strip():
        return CheckResult(False, "no text after the italic thesis")
    return CheckResult(True, f"italic thesis {_short(rest[3:end].strip(' >'))} followed by text")


# A token can start only where the text starts, after whitespace, next to a character the Treebank tokenizer splits
# off (never a letter) or inside the contractions it splits ("can|not", "gon|na", "'t|is", "do|n't"...). So when
# no lowercase character follows a non-letter and no such contraction occurs, no token starts lowercase and the
# answer passes without tokenizing it (the usual case for an answer in title case). "Letter" here is `\w` minus
# digits and `_`; anything else before a lowercase character, or any doubt, goes to the tokenizer.
_AFTER_NON_LETTER = re.compile(r"(?<![^\W\d_])[^A-Z0-9\s]")
# The contractions, lowercase; the tokenizer matches them ignoring case, where besides ASCII case "İ" and "ı" match
# "i", "ſ" matches "s" and the Kelvin sign "k": those are folded first, then the text is lowercased.
_SPLIT_CONTRACTIONS = ("cannot", "gimme", "lemme", "gonna", "wanna", "gotta", "'tis", "'twas", "n't", "more'n", "d'ye")


def _may_start_lowercase(text: str) -> bool:
    folded = text.lower()  # the Kelvin sign lowercases to "k"
    if not folded.isascii():
        folded = text.replace("İ", "i").replace("ı", "i").replace("ſ", "s").lower()
    if any(c in folded for c in _SPLIT_CONTRACTIONS):
        return True
    return any(m.group().islower() for m in _AFTER_NON_LETTER.finditer(text))


@checker("format:title_case")
def check_title_case(response: str) -> CheckResult:
    """No NLTK word token starts with a lowercase letter followed only by lowercase letters or only by capitals
    (so "the" and "tHE" fail; "a", "iPhone", "THE" and tokens that start with a digit or a mark pass)."""
    if not response.strip():
        return BLANK
    if not _may_start_lowercase(response):
        return CheckResult(True, "every word is capitalised")
    for token in iter_word_tokens(response):  # most answers fail early: tokenize lazily
        head, tail = token[0], token[1:]
        if head.isupper() and tail.islower():
            continue
        if head.islower() and (tail.isupper() or tail.islower()):
            return CheckResult(False, f"the word {_short(token)} is not in title case")
    return CheckResult(True, "every word is capitalised")


_TEMPLATE_LABELS = ("My Answer:", "My Conclusion:", "Future Outlook:")


@checker("format:output_template")
def check_output_template(response: str) -> CheckResult:
    """The labels "My Answer:", "My Conclusion:" and "Future Outlook:" each occur (case-sensitive, any order)."""
    if not response.strip():
        return BLANK
    missing = [label for label in _TEMPLATE_LABELS if label not in response]
    if missing:
        return CheckResult(False, f"missing the label(s) {missing}")
    return CheckResult(True, "all three template labels present")


@checker("format:no_whitespace")
def check_no_whitespace(response: str) -> CheckResult:
    """No character for which `str.isspace` is true."""
    if not response.strip():
        return BLANK
    for i, ch in enumerate(response):
        if ch.isspace():
            return CheckResult(False, f"whitespace {ch!r} at position {i}")
    return CheckResult(True, "no whitespace")


# --- Emoji -------------------------------------------------------------------------------------------


def _is_emoji(ch: str) -> bool:
    import emoji

    return bool(emoji.is_emoji(ch))


@checker("format:emoji")
def check_emoji(response: str) -> CheckResult:
    """Every sentence (IFBench's splitter), with ASCII punctuation deleted and stripped, ends in an emoji in its
    last or second-to-last character; otherwise the next sentence must start with one (the splitter often
    cuts right before an emoji that follows the period). The last sentence has no next one."""
    if not response.strip():
        return BLANK
    found = split_into_sentences(response)
    for i, sentence in enumerate(found):
        core = drop_punctuation(sentence).strip()
        if not core:
            return CheckResult(False, f"sentence {i + 1} is only punctuation")
        if _is_emoji(core[-1]) or _is_emoji(core[-2] if len(core) > 1 else core[-1]):
            continue
        if i == len(found) - 1:
            return CheckResult(False, f"the last sentence does not end with an emoji: {_short(sentence)}")
        following = drop_punctuation(found[i + 1]).strip()
        if not following:
            return CheckResult(False, f"sentence {i + 2} is only punctuation")
        if not _is_emoji(following[0]):
            return CheckResult(False, f"sentence {i + 1} does not end with an emoji: {_short(sentence)}")
    return CheckResult(True, f"all {len(found)} sentence(s) end with an emoji")
