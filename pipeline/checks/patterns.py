"""Regular expressions built from check arguments, run in bounded time.

IFEval's reference uses some arguments as regular expressions (keywords, forbidden words, a section
splitter, a postscript marker), and our IFEval checkers do too, so that their verdicts are the
reference's. An argument such as ``(a+)+c`` would then make a search backtrack for hours on a few
thousand characters, so every such pattern goes through this module:

- An argument is *plain* when its pattern has no repetition and no alternation: literal characters,
  character classes, ``.``, anchors, word boundaries, back-references, and groups and lookarounds of
  those, at most ``MAX_PLAIN`` characters long. A plain pattern tries one fixed path per position, so a
  search costs at most len(text) x len(argument) steps. It runs on `re`, exactly as the reference runs
  it. Every argument in IFEval's data and in the bundled taxonomy is plain.
- Any other argument runs on the `regex` engine (which reads `re`'s syntax the same way) under a time
  budget: the patterns of one check share ``BUDGET_S`` seconds from its first such search (the registry
  ends the budget with the check; the IFEval evaluator's loose variants share one), and a check that has
  not finished by then raises `PatternTooSlow`, which the registry turns into a failed check ("pattern
  too slow").

An argument that is not a valid `re` pattern raises `CheckerArgumentError`, as before ("invalid pattern").
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

import regex  # a dependency of nltk; its `timeout` bounds a search

from pipeline.errors import CheckerArgumentError

BUDGET_S = 0.05  # `regex` checks its timeout coarsely: a search stops within about twice this
MAX_PLAIN = 100

# Parse-tree nodes that match one fixed path: no repetition, no alternation, no conditional groups.
_FLAT = frozenset(getattr(sre_constants, name) for name in ("LITERAL", "NOT_LITERAL", "ANY", "IN", "AT", "GROUPREF"))
_SUBPATTERN = sre_constants.SUBPATTERN
_LOOKAROUND = frozenset((sre_constants.ASSERT, sre_constants.ASSERT_NOT))
_ATOMIC = getattr(sre_constants, "ATOMIC_GROUP", None)
_REGEX_FLAGS = {re.IGNORECASE: regex.IGNORECASE, re.MULTILINE: regex.MULTILINE, re.DOTALL: regex.DOTALL}

# The running check's deadline (time.monotonic()); _NOT_STARTED inside a check before its first bounded
# search; None outside any check.
_NOT_STARTED = -1.0
_deadline: ContextVar[float | None] = ContextVar("pattern_deadline", default=None)


class PatternTooSlow(RuntimeError):
    """A pattern built from a check argument did not finish within the check's time budget."""


def _flat(items: Any) -> bool:
    for op, av in items:
        if op in _FLAT:
            continue
        if op is _SUBPATTERN:
            if not _flat(av[-1]):
                return False
        elif op in _LOOKAROUND:
            if not _flat(av[1]):
                return False
        elif _ATOMIC is not None and op is _ATOMIC:
            if not _flat(av):
                return False
        else:
            return False
    return True


@lru_cache(maxsize=4096)
def is_plain(piece: str) -> bool:
    """Whether an argument used as a pattern matches along one fixed path (see the module docstring)."""
    if len(piece) > MAX_PLAIN:
        return False
    try:
        return _flat(sre_parser.parse(piece))
    except (re.error, RecursionError, OverflowError):
        return False


@contextmanager
def shared_budget() -> Iterator[None]:
    """Pattern searches inside share one time budget of `BUDGET_S` from now; inside another, the outer one holds."""
    if _deadline.get() is not None:
        yield
        return
    _deadline.set(time.monotonic() + BUDGET_S)
    try:
        yield
    finally:
        _deadline.set(None)


def begin_check() -> bool:
    """Open one check's budget, its clock started by its first bounded search; False inside an open budget."""
    if _deadline.get() is not None:
        return False
    _deadline.set(_NOT_STARTED)
    return True


def end_check() -> None:
    """Close the budget `begin_check` opened."""
    _deadline.set(None)


@dataclass(frozen=True, slots=True)
class ArgPattern:
    """A pattern built from a check argument: `re` when the argument is plain, else `regex` under the budget."""

    checker_id: str
    name: str
    argument: str
    plain: re.Pattern[str] | None
    bounded: Any  # regex.Pattern, when the argument is not plain

    def _timeout(self) -> float:
        deadline = _deadline.get()
        if deadline is None:  # outside any check: this search alone gets the budget
            return BUDGET_S
        if deadline == _NOT_STARTED:  # the first bounded search of this check starts its clock
            _deadline.set(time.monotonic() + BUDGET_S)
            return BUDGET_S
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._too_slow()
        return left

    def _too_slow(self) -> PatternTooSlow:
        shown = self.argument if len(self.argument) <= 60 else self.argument[:57] + "..."
        return PatternTooSlow(
            f"{self.checker_id}: {self.name!r} pattern {shown!r} did not finish within {BUDGET_S:g} s; "
            "use a plain word or phrase (no repetition or alternation)"
        )

    def search(self, text: str) -> bool:
        """Whether the pattern occurs in text."""
        if self.plain is not None:
            return self.plain.search(text) is not None
        try:
            return self.bounded.search(text, timeout=self._timeout()) is not None
        except TimeoutError:
            raise self._too_slow() from None

    def count(self, text: str) -> int:
        """Number of non-overlapping matches, as `len(re.findall(...))`."""
        if self.plain is not None:
            return sum(1 for _ in self.plain.finditer(text))
        try:
            return sum(1 for _ in self.bounded.finditer(text, timeout=self._timeout()))
        except TimeoutError:
            raise self._too_slow() from None

    def split(self, text: str) -> list[str]:
        """The text split at the matches, as `re.split` (group contents included)."""
        if self.plain is not None:
            return self.plain.split(text)
        try:
            return list(self.bounded.split(text, timeout=self._timeout()))
        except TimeoutError:
            raise self._too_slow() from None


@lru_cache(maxsize=4096)
def _compiled(checker_id: str, name: str, argument: str, pattern: str, flags: int) -> ArgPattern:
    try:
        exact = re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise CheckerArgumentError(
            f"{checker_id}: {name!r} is used as a regular expression (as in IFEval) and is an invalid pattern: {exc}"
        ) from None
    if is_plain(argument):
        return ArgPattern(checker_id, name, argument, exact, None)
    engine_flags = 0
    for flag, engine_flag in _REGEX_FLAGS.items():
        if flags & flag:
            engine_flags |= engine_flag
    try:
        bounded = regex.compile(pattern, engine_flags)
    except (regex.error, RecursionError, OverflowError) as exc:  # `re` syntax `regex` reads otherwise: refuse it
        raise CheckerArgumentError(f"{checker_id}: {name!r} is an unsupported pattern: {exc}") from None
    return ArgPattern(checker_id, name, argument, None, bounded)


def arg_pattern(checker_id: str, name: str, argument: str, pattern: str | None = None, flags: int = 0) -> ArgPattern:
    """The pattern `pattern` (default: the argument itself) built from `argument`, ready to run in bounded time.

    Raises CheckerArgumentError when the pattern is invalid, as the reference's `re` would raise.
    """
    return _compiled(checker_id, name, argument, argument if pattern is None else pattern, flags)
