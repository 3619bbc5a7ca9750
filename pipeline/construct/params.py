"""A constraint's parameters: read from its taxonomy entry and checked (the parameter types, `taxonomy/README.md`),
and drawn from its spec."""

from __future__ import annotations

import random
from typing import Any

from pydantic import ValidationError

from pipeline.models import ConstraintSpec, ParamSpec, ParamValue

PARAM_KEYS = {"type", "min", "max", "decimals", "values", "pool", "count", "offset_from", "at_most", "source", "value"}


def sample_params(
    spec: ConstraintSpec, pools: dict[str, list[str]], rng: random.Random, task_text: str
) -> dict[str, ParamValue]:
    """Draw every parameter of `spec` in declaration order."""
    out: dict[str, ParamValue] = {}
    for p in spec.params:
        out[p.name] = _sample_param(p, pools, rng, task_text, out)
    return out


def sample_param(
    p: ParamSpec, pools: dict[str, list[str]], rng: random.Random, task_text: str, done: dict[str, ParamValue]
) -> ParamValue:
    """One parameter drawn with `rng`, given the parameters `done` before it (those it is offset from or capped by)."""
    return _sample_param(p, pools, rng, task_text, done)


def _sample_param(
    p: ParamSpec, pools: dict[str, list[str]], rng: random.Random, task_text: str, done: dict[str, ParamValue]
) -> ParamValue:
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


def parse_params(raw: Any, pools: dict[str, list[str]], problems: list[str]) -> list[ParamSpec]:
    if not isinstance(raw, dict):
        problems.append("'params' must be a mapping of name -> {type: ...}")
        return []
    params: list[ParamSpec] = []
    seen: dict[str, ParamSpec] = {}
    for name, desc in raw.items():
        bad = f"param {name!r}"
        if not isinstance(desc, dict) or "type" not in desc:
            problems.append(f"{bad}: must be a mapping with a 'type'")
            continue
        if set(desc) - PARAM_KEYS:
            problems.append(f"{bad}: unknown key(s) {sorted(set(desc) - PARAM_KEYS)}")
            continue
        try:
            p = ParamSpec(name=name, **desc)
        except ValidationError as exc:
            problems.append(
                f"{bad}: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            )
            continue
        problems.extend(f"{bad}: {msg}" for msg in param_problems(p, pools, seen))
        params.append(p)
        seen[name] = p
    return params


def param_problems(p: ParamSpec, pools: dict[str, list[str]], earlier: dict[str, ParamSpec]) -> list[str]:
    out: list[str] = []
    if p.type in ("int", "float"):
        if p.min is None or p.max is None:
            out.append("needs 'min' and 'max'")
        elif p.min > p.max:
            out.append(f"bad range: min {p.min} > max {p.max}")
        elif p.type == "int" and (p.min != int(p.min) or p.max != int(p.max)):
            out.append("int range bounds must be whole numbers")
        for ref in (p.offset_from, p.at_most):
            if ref is not None and (ref not in earlier or earlier[ref].type != "int"):
                out.append(f"refers to {ref!r}, which must be an earlier int parameter")
    elif p.type == "choice":
        if not p.values:
            out.append("a choice needs a non-empty 'values' list")
    elif p.type in ("word", "words", "text"):
        if p.pool not in pools:
            out.append(f"unknown pool {p.pool!r}; define it under 'pools:' in a constraint file")
        elif p.type == "words":
            if p.count is None or p.count[0] < 1 or p.count[0] > p.count[1]:
                out.append("'words' needs 'count: [lo, hi]' with 1 <= lo <= hi")
            elif p.count[1] > len(set(pools[p.pool])):
                out.append(
                    f"count {p.count[1]} exceeds the {len(set(pools[p.pool]))} distinct entries of pool {p.pool!r}"
                )
    elif p.type == "context":
        if p.source != "task":
            out.append("a context parameter needs 'source: task'")
    elif p.type == "const" and p.value is None:
        out.append("a const parameter needs a 'value'")
    return out
