"""Taxonomy validation that runs the checkers: every value a code spec's parameters can take from the
taxonomy (each `choice` value, pool entry and `const`, the ends of an independent int or float range) must
be one its checker accepts, or a constraint made with it could never pass."""

from __future__ import annotations

import random
from typing import Any

from pipeline.checks.registry import run_check
from pipeline.construct.params import sample_params
from pipeline.errors import CheckerArgumentError
from pipeline.models import ConstraintSpec, ParamSpec

# The text every code checker runs on once per parameter value when the taxonomy is validated: only an
# error (a value the checker refuses or breaks on) matters there, never the verdict.
SAMPLE_TASK = "Describe a walk along the river to a friend."
SAMPLE_RESPONSE = (
    "### Part 1\nSection 1\nThe river runs past the old mill, and the path follows it.\n\n"
    "* A bright morning.\n* A quiet bridge.\n\nSection 2\nWe walked for an hour. Was it far? Not really!\n\n"
    "P.S. Bring good shoes."
)
MAX_VALUE_ERRORS = 3  # refused values reported per parameter; the rest are counted
BASE_DRAWS = 32  # draws tried for the parameters held fixed while one parameter's values are checked


def _candidates(p: ParamSpec, pools: dict[str, list[str]], others: set[str]) -> list[tuple[Any, str]]:
    """(value, where it comes from) for every value of `p` the taxonomy itself lists, and the ends of an
    int or float range that no other parameter depends on."""
    if p.type == "choice":
        return [(v, "its 'values'") for v in p.values or []]
    if p.type in ("word", "text"):
        return [(v, f"pool {p.pool!r}") for v in dict.fromkeys(pools.get(p.pool or "", []))]
    if p.type == "words":
        distinct = list(dict.fromkeys(pools.get(p.pool or "", [])))
        size = p.count[0] if p.count else 1
        return [([v, *[w for w in distinct if w != v][: size - 1]], f"pool {p.pool!r}") for v in distinct]
    if p.type == "const":
        return [(p.value, "its 'value'")]
    independent = p.offset_from is None and p.at_most is None and p.name not in others
    if p.type in ("int", "float") and independent and p.min is not None and p.max is not None:
        cast = int if p.type == "int" else float
        return [(cast(p.min), "its 'min'"), (cast(p.max), "its 'max'")]
    return []


def _refusal(checker_id: str, kwargs: dict[str, Any]) -> str | None:
    """Why the checker cannot run with `kwargs` (its argument validation, or an error it raises), or None."""
    try:
        result = run_check(checker_id, SAMPLE_RESPONSE, kwargs)
    except CheckerArgumentError as exc:
        return str(exc)
    for prefix in ("check error: ", "pattern too slow: "):
        if result.evidence.startswith(prefix):
            return result.evidence.removeprefix("check error: ")
    return None


def check_param_values(specs: list[ConstraintSpec], pools: dict[str, list[str]], errors: list[str]) -> None:
    """Run each code spec's checker once with every value its parameters can take from the taxonomy (pool
    entries, choices, constants, range ends), the other parameters drawn as composition draws them, and
    report every value the checker refuses: a constraint made with it could never pass."""
    for s in specs:
        cid = s.checker_id
        assert cid is not None
        # Other parameters come from a draw the checker accepts (the draw itself may hit a refused value).
        base, refused_draw = None, None
        for seed in range(BASE_DRAWS):
            draw = sample_params(s, pools, random.Random(seed), SAMPLE_TASK)
            problem = _refusal(cid, dict(draw))
            if problem is None:
                base = draw
                break
            refused_draw = refused_draw or (draw, problem)
        if base is None:
            assert refused_draw is not None
            errors.append(
                f"{s.source_file}: entry {s.id!r}: checker {cid!r} refuses every drawn set of parameters, e.g. "
                f"{refused_draw[0]} ({refused_draw[1]}); change the parameters' values to ones the checker accepts"
            )
            continue
        referenced = {r for p in s.params for r in (p.offset_from, p.at_most) if r is not None}
        for p in s.params:
            refused = []
            for value, origin in _candidates(p, pools, referenced):
                reason = _refusal(cid, {**base, p.name: value})
                if reason is not None:
                    refused.append((value, origin, reason))
            for value, origin, reason in refused[:MAX_VALUE_ERRORS]:
                errors.append(
                    f"{s.source_file}: entry {s.id!r}: param {p.name!r} value {value!r} (from {origin}) is refused by "
                    f"checker {cid!r} ({reason}); change it to a value the checker accepts"
                )
            if len(refused) > MAX_VALUE_ERRORS:
                errors.append(
                    f"{s.source_file}: entry {s.id!r}: param {p.name!r}: "
                    f"{len(refused) - MAX_VALUE_ERRORS} more refused value(s)"
                )
