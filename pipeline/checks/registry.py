"""The checker registry: one pure function per code-checkable constraint, keyed by the spec id.

Checks fail closed. `run_check` raises only for a request that names an unknown id or malformed kwargs
(the IFEval evaluator reports those as bad input, as the reference does); anything else that goes wrong
while checking (a checker exception, a response that is not text, a malformed result, an argument used
as a pattern that runs past its time budget, see `pipeline.checks.patterns`) is a failed check whose
evidence names the error, never a pass. `run_check_closed`, which verification plans use, turns
the unknown id and malformed kwargs into failed checks too, so one bad check never stops a batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.checks.patterns import PatternTooSlow, begin_check, end_check
from pipeline.errors import CheckerArgumentError, CheckerNotFoundError, ComplexifyError


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Verdict of one checker on one text: pass/fail and short evidence ("found 212 words, need at least 300")."""

    passed: bool
    evidence: str = ""


CheckerFn = Callable[..., CheckResult]


@dataclass(frozen=True, slots=True)
class Checker:
    """A registered checker with the keyword arguments its function accepts."""

    id: str
    fn: CheckerFn
    params: frozenset[str]
    required: frozenset[str]

    def __call__(self, response: str, **kwargs: Any) -> CheckResult:
        return self.fn(response, **kwargs)


CHECKERS: dict[str, Checker] = {}


def checker(checker_id: str) -> Callable[[CheckerFn], CheckerFn]:
    """Register `fn(response: str, *, kwarg...) -> CheckResult` under `checker_id` (the taxonomy spec id).

    The signature is checked when the decorator is applied, so a malformed checker fails at import time.
    """

    def register(fn: CheckerFn) -> CheckerFn:
        if checker_id in CHECKERS:
            raise ValueError(
                f"checker id {checker_id!r} registered twice "
                f"({CHECKERS[checker_id].fn.__module__} and {fn.__module__})"
            )
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].name != "response":
            raise TypeError(
                f"checker {checker_id!r}: first parameter must be `response`, got {[p.name for p in params]}"
            )
        rest = params[1:]
        for p in rest:
            if p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                raise TypeError(f"checker {checker_id!r}: parameter {p.name!r} must be a plain keyword parameter")
        CHECKERS[checker_id] = Checker(
            id=checker_id,
            fn=fn,
            params=frozenset(p.name for p in rest),
            required=frozenset(p.name for p in rest if p.default is inspect.Parameter.empty),
        )
        return fn

    return register


def get_checker(checker_id: str) -> Checker:
    """Return the checker registered under `checker_id`, or raise naming the nearest known ids."""
    load_checkers()
    try:
        return CHECKERS[checker_id]
    except KeyError:
        family = checker_id.split(":", 1)[0]
        near = sorted(k for k in CHECKERS if k.startswith(family + ":"))[:8]
        hint = f" Known ids in {family!r}: {', '.join(near)}." if near else ""
        raise CheckerNotFoundError(f"no checker registered for {checker_id!r}.{hint}") from None


def _validated(checker_id: str, names: tuple[str, ...]) -> Checker:
    """The checker for `checker_id` after checking that `names` are exactly acceptable argument names."""
    chk = get_checker(checker_id)
    unknown = set(names) - chk.params
    missing = chk.required - set(names)
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown argument(s) {sorted(unknown)}")
        if missing:
            parts.append(f"missing argument(s) {sorted(missing)}")
        raise CheckerArgumentError(f"checker {checker_id!r}: {'; '.join(parts)}; it accepts {sorted(chk.params)}")
    return chk


# (checker id, argument names) pairs already validated: name checks depend on nothing else, and a
# registered id never changes its checker, so a hit skips the lookup and set arithmetic on hot paths.
_VALID: dict[tuple[str, tuple[str, ...]], Checker] = {}
_VALID_MAX = 4096


MAX_EVIDENCE = 300


def _short(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE else text[: MAX_EVIDENCE - 3] + "..."


def error_result(exc: BaseException, context: str = "") -> CheckResult:
    """The failed check that stands for an error: its evidence names the error (kept short)."""
    return CheckResult(False, "check error: " + _short(f"{context}{type(exc).__name__}: {exc}"))


def run_check(checker_id: str, response: str, kwargs: Mapping[str, Any] | None = None) -> CheckResult:
    """Run one checker after validating the names of its keyword arguments.

    Raises CheckerNotFoundError or CheckerArgumentError for an unknown id or malformed kwargs; every other
    failure is returned as a failed check (see the module docstring).
    """
    if type(kwargs) is dict:  # the usual case: skips the ABC check and the copy (** unpacking copies anyway)
        kw = kwargs
    elif kwargs is None:
        kw = {}
    elif isinstance(kwargs, Mapping):
        kw = dict(kwargs)
    else:
        raise CheckerArgumentError(f"checker {checker_id!r}: kwargs must be a mapping, got {type(kwargs).__name__}")
    key = (checker_id, tuple(kw))
    chk = _VALID.get(key)
    if chk is None:
        chk = _validated(checker_id, key[1])
        if len(_VALID) >= _VALID_MAX:
            _VALID.clear()
        _VALID[key] = chk
    if not isinstance(response, str):
        return CheckResult(False, f"check error: the response must be text, got {type(response).__name__}")
    owner = begin_check()  # argument patterns share one time budget per check (see pipeline.checks.patterns)
    try:
        result = chk.fn(response, **kw)
    except CheckerArgumentError:
        raise
    except PatternTooSlow as exc:  # an argument used as a pattern that backtracks without end: fail closed
        return CheckResult(False, "pattern too slow: " + _short(str(exc)))
    except Exception as exc:  # fail closed: a checker that breaks on some input must not pass it or stop the batch
        return error_result(exc, f"{checker_id}: ")
    finally:
        if owner:
            end_check()
    if (
        not isinstance(result, CheckResult)
        or not isinstance(result.passed, bool)
        or not isinstance(result.evidence, str)
    ):
        return CheckResult(False, f"check error: {checker_id} returned {type(result).__name__}, not a CheckResult")
    return result


def run_check_closed(checker_id: Any, response: Any, kwargs: Any = None) -> CheckResult:
    """Like `run_check`, but an unknown id or malformed kwargs is a failed check too: this never raises."""
    try:
        if not isinstance(checker_id, str):
            raise CheckerNotFoundError(f"a checker id must be a string, got {checker_id!r:.60}")
        return run_check(checker_id, response, kwargs)
    except ComplexifyError as exc:
        return error_result(exc)
    except Exception as exc:  # fail closed: e.g. unhashable argument names; a bad check must not stop the batch
        return error_result(exc, f"{checker_id}: ")


def load_checkers() -> dict[str, Checker]:
    """The registry. Every checker is in it: importing this module first runs the `pipeline.checks` package,
    which imports every family module, and each family registers its checkers."""
    return CHECKERS
