"""Held-out overlap: whether a constraint a run may compose is a held-out constraint in disguise, judged by what its
checker does, not by its id.

Two code-checked specs count as the same constraint type when their checkers give the same verdicts on a fixed
corpus of probe texts for matched parameter draws:

- **Matched draws.** Each spec's parameters are drawn `DRAWS` times. Draw i of a parameter uses a random stream named
  by i and by what the parameter is (its type, range, values, pool entries, whether it is offset from or capped by
  another), never by its name or place: a copy of a spec whose id, parameter names or parameter order changed draws
  the same values.
- **Probes.** The adversarial suite's responses (`taxonomy/adversarial/*.yaml`) and texts made here from the
  taxonomy's pools in many layouts (lists, paragraphs, JSON, capitals, counts, ...), so keyword constraints see
  their words.
- **Same type.** For every draw the two specs give the same verdict on every probe, and for at least one draw the
  held-out spec passes some probe and fails another (a spec that fails every probe tells nothing). Only specs with
  the same parameter types are compared (a copy keeps them), and the comparison stops at the first block of probes
  that differs.

`find_overlaps` compares two lists of specs (a test that new specs equal no IFBench type uses it directly);
`held_out_overlaps` compares the specs a run may compose with those it holds out, cached per taxonomy version,
checker code and suite content. Judge-checked specs are not compared: they have no checker to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from pipeline.checks.registry import run_check_closed
from pipeline.construct.params import sample_param
from pipeline.construct.taxonomy import Taxonomy
from pipeline.llm.paths import cache_dir
from pipeline.models import HELD_OUT_VOCABULARIES, ConstraintSpec, ParamSpec, ParamValue

DRAWS = 6
CHUNK = 64  # probes compared at a time
PROBE_TASK = "Describe a walk through a city park in spring."
ALGORITHM = 1  # part of the cache key: bump when the draws, the probes or the rule change
_CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"

Verdicts = tuple[bool, ...]
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when PyYAML has it: several times faster


@dataclass(frozen=True)
class Overlap:
    """An allowed spec that behaves like a held-out one."""

    allowed: str
    allowed_vocabulary: str
    held_out: str
    held_out_vocabulary: str
    probes: int  # probe texts compared
    draws: int  # matched parameter draws compared

    def message(self) -> str:
        return (
            f"the spec {self.allowed!r} (vocabulary {self.allowed_vocabulary}) behaves like the held-out spec "
            f"{self.held_out!r} (vocabulary {self.held_out_vocabulary}): the same verdicts on {self.probes} probe "
            f"texts for {self.draws} parameter draws; remove it or give it vocabulary {self.held_out_vocabulary}, "
            f"or list {self.held_out_vocabulary} in compose.vocabularies"
        )


# --- matched draws ----------------------------------------------------------------------------------------------


def _param_kind(p: ParamSpec, pools: dict[str, list[str]]) -> str:
    """What a parameter is, without its name: two parameters of the same kind draw the same values."""
    return json.dumps(
        [
            p.type,
            p.min,
            p.max,
            p.decimals,
            p.values,
            pools.get(p.pool) if p.pool else None,
            p.count,
            p.offset_from is not None,
            p.at_most is not None,
            p.value,
        ],
        sort_keys=True,
        default=str,
    )


def matched_draws(spec: ConstraintSpec, pools: dict[str, list[str]], n: int = DRAWS) -> list[dict[str, ParamValue]]:
    """`n` parameter draws of `spec`, each parameter from a stream named by the draw and the parameter's kind."""
    out = []
    for i in range(n):
        done: dict[str, ParamValue] = {}
        seen: dict[str, int] = {}
        for p in spec.params:
            kind = _param_kind(p, pools)
            seen[kind] = seen.get(kind, 0) + 1
            rng = random.Random(f"overlap|{i}|{kind}|{seen[kind]}")
            done[p.name] = sample_param(p, pools, rng, PROBE_TASK, done)
        out.append(done)
    return out


# --- probes -----------------------------------------------------------------------------------------------------


def _suite_responses(suite_dir: Path) -> list[str]:
    texts: list[str] = []
    for path in sorted(suite_dir.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        for case in data.get("cases") or [] if isinstance(data, dict) else []:
            if isinstance(case, dict) and isinstance(case.get("response"), str):
                texts.append(case["response"])
    return texts


def _layouts(words: Sequence[str], k: int) -> list[str]:
    """Texts around `words` in several layouts and sizes (k varies which layouts and how long)."""
    w = list(words) or ["river"]
    sentence = " ".join(f"The {a} is near the {b}." for a, b in zip(w, w[1:] + w[:1], strict=True))
    long_text = " ".join([sentence] * (3 + k % 5))
    return [
        sentence,
        sentence.upper(),
        sentence.lower(),
        sentence.title(),
        "\n".join(f"* {x}" for x in w),
        "\n".join(f"{i + 1}. {x}" for i, x in enumerate(w)),
        "\n\n".join(f"{x.capitalize()} matters here, and {x} is said twice: {x}!" for x in w),
        json.dumps({"answer": sentence, "words": w}),
        f"{w[0].capitalize()}, {', '.join(w)}? Yes! {long_text}",
        f"# {w[0].title()}\n\n{sentence}\n\n*** \n\n{long_text}\n\nP.S. {w[-1]}",
        " ".join(w * (1 + k % 3)),
        f'"{sentence}"',
        f"{sentence} There are {k + 2} of them, {k * 7 + 3} in all, since {1990 + k}.",
    ]


def probe_corpus(taxonomy: Taxonomy, suite_dir: Path | None = None) -> list[str]:
    """The probe texts: the adversarial suite's responses, then texts made from every pool entry, four at a time, in
    four of the layouts (a different four for each group)."""
    texts = _suite_responses(suite_dir or taxonomy.root / "adversarial")
    k = 0
    for name in sorted(taxonomy.pools):
        entries = taxonomy.pools[name]
        for start in range(0, len(entries), 4):
            layouts = _layouts(entries[start : start + 4], k)
            texts.extend(layouts[(k + j * 3) % len(layouts)] for j in range(4))
            k += 1
    return list(dict.fromkeys(texts))  # each text once, in a fixed order


# --- verdicts and comparison ------------------------------------------------------------------------------------


class _Verdicts:
    """Verdicts of specs' draws on the probes, each (checker, arguments, probe) run once, and only when asked for."""

    def __init__(self, probes: Sequence[str]) -> None:
        self.probes = probes
        self.memo: dict[str, list[bool | None]] = {}

    def vectors(self, spec: ConstraintSpec, draws: Sequence[dict[str, ParamValue]]) -> list[list[bool | None]]:
        """One vector per draw, filled as verdicts are asked for (`fill`); the same checker and arguments share one."""
        keys = [json.dumps([spec.checker_id, d], sort_keys=True, default=str) for d in draws]
        return [self.memo.setdefault(k, [None] * len(self.probes)) for k in keys]

    def fill(self, spec: ConstraintSpec, vector: list[bool | None], draw: dict[str, ParamValue], js: range) -> None:
        """Run the checks of probes `js` not run yet."""
        for j in js:
            if vector[j] is None:
                vector[j] = run_check_closed(spec.checker_id, self.probes[j], dict(draw)).passed

    def all(self, spec: ConstraintSpec, draws: Sequence[dict[str, ParamValue]]) -> list[Verdicts]:
        """Every verdict of every draw (what a test looks at)."""
        out = []
        for vector, draw in zip(self.vectors(spec, draws), draws, strict=True):
            self.fill(spec, vector, draw, range(len(self.probes)))
            out.append(tuple(bool(v) for v in vector))
        return out


def _shape(spec: ConstraintSpec) -> tuple[str, ...]:
    """The types of a spec's parameters: a copy, whatever it renamed, keeps them."""
    return tuple(sorted(p.type for p in spec.params))


def _same(
    verdicts: _Verdicts, a: ConstraintSpec, h: ConstraintSpec, draws: dict[str, list[dict[str, ParamValue]]]
) -> bool:
    """Equal verdicts for every matched draw on every probe, and at least one draw of `h` telling probes apart.
    Compared a block of CHUNK probes at a time, draw by draw, so most pairs are ruled out after a block or two."""
    n = len(verdicts.probes)
    va, vh = verdicts.vectors(a, draws[a.id]), verdicts.vectors(h, draws[h.id])
    informative = False
    for start in range(0, n, CHUNK):
        js = range(start, min(n, start + CHUNK))
        for i in range(DRAWS):
            verdicts.fill(h, vh[i], draws[h.id][i], js)
            verdicts.fill(a, va[i], draws[a.id][i], js)
            if va[i][js.start : js.stop] != vh[i][js.start : js.stop]:
                return False
            informative = informative or len(set(vh[i][: js.stop])) == 2
    return informative


def find_overlaps(
    taxonomy: Taxonomy,
    allowed: Iterable[ConstraintSpec],
    held_out: Iterable[ConstraintSpec],
    probes: Sequence[str] | None = None,
) -> list[Overlap]:
    """Every (allowed, held-out) pair of code-checked specs whose checkers behave the same (module docstring)."""
    verdicts = _Verdicts(list(probes) if probes is not None else probe_corpus(taxonomy))
    left = [s for s in allowed if s.is_code]
    right = [s for s in held_out if s.is_code and s.id not in {a.id for a in left}]
    draws = {s.id: matched_draws(s, taxonomy.pools) for s in [*left, *right]}
    return [
        Overlap(a.id, a.vocabulary, h.id, h.vocabulary, len(verdicts.probes), DRAWS)
        for h in right
        for a in left
        if _shape(a) == _shape(h) and _same(verdicts, a, h, draws)  # a copy keeps its parameter types
    ]


# --- the run's check, cached ------------------------------------------------------------------------------------


def _digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_file(taxonomy: Taxonomy, composed: Sequence[str]) -> Path:
    key = json.dumps(
        [
            ALGORITHM,
            taxonomy.version,
            _digest((taxonomy.root / "adversarial").glob("*.yaml")),
            _digest(_CHECKS_DIR.glob("*.py")),
            sorted(composed),
        ]
    )
    return cache_dir() / "overlap" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


_memo: dict[Path, list[Overlap]] = {}


def held_out_overlaps(taxonomy: Taxonomy, composed: Sequence[str], *, use_cache: bool = True) -> list[Overlap]:
    """The allowed specs (vocabularies `composed`) that behave like a spec of a held-out vocabulary left out. Cached
    in the project cache (and in this process) per taxonomy version, suite, checker code and `composed`."""
    path = _cache_file(taxonomy, composed) if use_cache else None
    if path is not None and path in _memo:
        return _memo[path]
    if path is not None and path.is_file():
        try:
            _memo[path] = [Overlap(**o) for o in json.loads(path.read_text(encoding="utf-8"))]
            return _memo[path]
        except (ValueError, TypeError):
            pass  # a damaged cache file is computed again
    allowed = [s for s in taxonomy.specs.values() if s.vocabulary in composed]
    left_out = [
        s for s in taxonomy.specs.values() if s.vocabulary in HELD_OUT_VOCABULARIES and s.vocabulary not in composed
    ]
    found = find_overlaps(taxonomy, allowed, left_out)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([asdict(o) for o in found]), encoding="utf-8")
        tmp.replace(path)
        _memo[path] = found
    return found
