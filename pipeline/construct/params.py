"""Drawing a constraint's parameters from its spec (the taxonomy's parameter types, `taxonomy/README.md`)."""

from __future__ import annotations

import random

from pipeline.models import ConstraintSpec, ParamSpec, ParamValue


def sample_params(spec: ConstraintSpec, pools: dict[str, list[str]], rng: random.Random, task_text: str) -> dict[str, ParamValue]:
    """Draw every parameter of `spec` in declaration order."""
    out: dict[str, ParamValue] = {}
    for p in spec.params:
        out[p.name] = _sample_param(p, pools, rng, task_text, out)
    return out


def _sample_param(p: ParamSpec, pools: dict[str, list[str]], rng: random.Random, task_text: str, done: dict[str, ParamValue]) -> ParamValue:
    if p.type == "int":
        assert p.min is not None and p.max is not None
        lo, hi = int(p.min), int(p.max)
        if p.at_most is not None:
            cap = done[p.at_most]
            assert isinstance(cap, int)
            hi = max(lo, min(hi, cap))
        value = rng.randint(lo, hi)
        if p.offset_from is not None:
            base = done[p.offset_from]
            assert isinstance(base, int)
            value += base
        return value
    if p.type == "float":
        assert p.min is not None and p.max is not None
        return round(rng.uniform(p.min, p.max), p.decimals)
    if p.type == "choice":
        assert p.values
        return rng.choice(p.values)
    if p.type in ("word", "text"):
        assert p.pool is not None
        return rng.choice(pools[p.pool])
    if p.type == "words":
        assert p.pool is not None and p.count is not None
        distinct = sorted(set(pools[p.pool]), key=pools[p.pool].index)
        return rng.sample(distinct, rng.randint(*p.count))
    if p.type == "context":
        return task_text
    return p.value
