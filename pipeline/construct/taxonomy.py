"""Load the constraint taxonomy (taxonomy/*.yaml) into a validated networkx graph."""

from __future__ import annotations

import hashlib
import os
import random
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from pydantic import ValidationError

from pipeline.construct.params import parse_params
from pipeline.construct.traits import TRAIT_KEYS, complete_words, entry_vocabulary, parse_traits, unfit_groups
from pipeline.errors import TaxonomyError
from pipeline.models import VOCABULARIES, ConstraintSpec
from pipeline.project import TAXONOMY_DIR

ENTRY_KEYS = {
    "id", "dimension", "description", "params", "phrasings", "checker", "question",
    "conflicts", "conflicts_except", "placement", "tags", "vocabulary", *TRAIT_KEYS,
}  # fmt: skip
FILE_KEYS = ("vocabulary", "pools", "constraints")
# Types whose value need not appear in the sentence: taken from context or fixed by the spec.
UNSTATED_PARAM_TYPES = {"context", "const"}
MIN_PHRASINGS = 3
# Groups of graph node ids that are not constraints: `type:<id>` and `dimension:<id>` nodes.
RESERVED_GROUPS = ("type", "dimension")


@dataclass
class Taxonomy:
    """The loaded taxonomy: specs, pools, dimensions and the graph that ties them together."""

    types: dict[str, str]  # type id -> description
    dimensions: dict[str, str]  # dimension -> type id
    specs: dict[str, ConstraintSpec]
    pools: dict[str, list[str]]
    graph: nx.MultiDiGraph
    version: str
    root: Path
    _conflicts: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def spec(self, spec_id: str) -> ConstraintSpec:
        """Return a spec by id, or raise naming similar ids."""
        try:
            return self.specs[spec_id]
        except KeyError:
            group = spec_id.split(":", 1)[0]
            near = sorted(s for s in self.specs if s.startswith(group + ":"))[:8]
            raise TaxonomyError(
                f"unknown constraint spec {spec_id!r}" + (f"; did you mean one of {near}?" if near else "")
            ) from None

    def conflicts(self, a: str, b: str) -> bool:
        return b in self._conflicts[a]

    def compatible(self, spec_id: str, others: Iterable[str]) -> bool:
        """True when `spec_id` conflicts with none of `others`."""
        bad = self._conflicts[spec_id]
        return not any(o in bad for o in others)

    def specs_in(self, dimension: str) -> list[ConstraintSpec]:
        return [s for s in self.specs.values() if s.dimension == dimension]

    @cached_property
    def type_of_dimension(self) -> dict[str, str]:
        return dict(self.dimensions)

    def export(self) -> dict[str, Any]:
        """Nodes with attributes and edges, as plain JSON-ready data for other tools."""
        nodes = [{"id": n, **attrs} for n, attrs in self.graph.nodes(data=True)]
        edges = [
            {"source": u, "target": v, "relation": d["relation"]}
            for u, v, d in self.graph.edges(data=True)
            if d["relation"] != "conflicts_with" or u < v  # one entry per symmetric conflict
        ]
        return {"version": self.version, "nodes": nodes, "edges": edges}


def taxonomy_dir() -> Path:
    """The taxonomy folder: $COMPLEXIFY_TAXONOMY or the one shipped with the project."""
    return Path(os.environ.get("COMPLEXIFY_TAXONOMY", TAXONOMY_DIR))


_cache: dict[tuple[Path, bool, bool], Taxonomy] = {}


def load_taxonomy(root: Path | None = None, *, check_checkers: bool = True, check_values: bool = False) -> Taxonomy:
    """Load and validate the taxonomy (cached per folder); raises TaxonomyError listing every problem.

    `check_values` (`taxonomy validate`) also runs each code checker with every value its parameters can
    take (`taxonomy_values`): a few seconds, as checkers load their sentence and language models then.
    """
    root = (root or taxonomy_dir()).resolve()
    key = (root, check_checkers, check_values)
    if key not in _cache:
        _cache[key] = _load(root, check_checkers, check_values and check_checkers)
    return _cache[key]


def _read_yaml(path: Path, errors: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        errors.append(f"{path}: not valid YAML: {exc}")
    except OSError as exc:
        errors.append(f"{path}: cannot read: {exc}")
    return None


def _load(root: Path, check_checkers: bool, check_values: bool) -> Taxonomy:
    errors: list[str] = []
    types_path = root / "types.yaml"
    if not types_path.is_file():
        raise TaxonomyError(f"{types_path}: missing; the taxonomy folder must hold types.yaml and constraints/*.yaml")
    digest = hashlib.sha256()
    digest.update(types_path.read_bytes())
    types, dimensions, unfit = _load_types(types_path, errors)

    files = sorted((root / "constraints").glob("*.yaml"))
    if not files:
        errors.append(f"{root / 'constraints'}: no constraint files (*.yaml)")
    raw_entries: list[tuple[Path, int, dict[str, Any], Any]] = []
    pools: dict[str, list[str]] = {}
    pool_origin: dict[str, Path] = {}
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
        doc = _read_yaml(path, errors)
        if doc is None:
            continue
        if not isinstance(doc, dict) or set(doc) - set(FILE_KEYS):
            errors.append(f"{path}: top level must be a mapping with the keys 'vocabulary', 'pools' and 'constraints'")
            continue
        file_vocabulary = doc.get("vocabulary")  # an unknown value is reported on each entry that takes it
        if file_vocabulary is not None and file_vocabulary not in VOCABULARIES and not doc.get("constraints"):
            errors.append(f"{path}: unknown vocabulary {file_vocabulary!r}; allowed: {', '.join(VOCABULARIES)}")
        for name, values in (doc.get("pools") or {}).items():
            if name in pools:
                errors.append(f"{path}: pool {name!r} is already defined in {pool_origin[name]}")
            elif not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                errors.append(f"{path}: pool {name!r} must be a non-empty list of non-empty strings")
            else:
                pools[name], pool_origin[name] = values, path
        entries = doc.get("constraints") or []
        if not isinstance(entries, list):
            errors.append(f"{path}: 'constraints' must be a list")
            continue
        for i, entry in enumerate(entries):
            raw_entries.append((path, i, entry, file_vocabulary))

    specs: dict[str, ConstraintSpec] = {}
    for path, i, entry, file_vocabulary in raw_entries:
        spec = _parse_entry(path, i, entry, dimensions, pools, errors, unfit, file_vocabulary)
        if spec is None:
            continue
        if spec.id in specs:
            errors.append(f"{path}: entry {spec.id!r}: duplicate id (also in {specs[spec.id].source_file})")
            continue
        specs[spec.id] = spec

    _check_conflicts(specs, errors)
    if check_checkers:
        bound = _check_checker_bindings(specs, errors)
        if check_values and not errors:
            from pipeline.construct.taxonomy_values import check_param_values

            check_param_values(bound, pools, errors)
    if errors:
        raise TaxonomyError("invalid taxonomy:\n  - " + "\n  - ".join(errors))

    conflict_sets = _conflict_sets(specs)
    graph = _build_graph(types, dimensions, specs, conflict_sets)
    errors.extend(is_a_cycles(graph, specs))
    if errors:
        raise TaxonomyError("invalid taxonomy:\n  - " + "\n  - ".join(errors))
    return Taxonomy(
        types=types,
        dimensions=dimensions,
        specs=specs,
        pools=pools,
        graph=graph,
        version=digest.hexdigest()[:12],
        root=root,
        _conflicts=conflict_sets,
    )


def _load_types(path: Path, errors: list[str]) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """Types (id -> description), dimensions (id -> type) and the seed form groups each dimension does not fit."""
    doc = _read_yaml(path, errors)
    types: dict[str, str] = {}
    dimensions: dict[str, str] = {}
    unfit: dict[str, list[str]] = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("types"), list):
        errors.append(f"{path}: must have a 'types' list")
        return types, dimensions, unfit
    for t in doc["types"]:
        if not isinstance(t, dict) or "id" not in t or not isinstance(t.get("dimensions"), list):
            errors.append(f"{path}: each type needs 'id' and a 'dimensions' list (got {t!r})")
            continue
        types[t["id"]] = t.get("description", "")
        for d in t["dimensions"]:
            if not isinstance(d, dict) or "id" not in d:
                errors.append(f"{path}: type {t['id']!r}: each dimension needs an 'id' (got {d!r})")
            elif d["id"] in dimensions:
                errors.append(f"{path}: dimension {d['id']!r} listed twice")
            else:
                dimensions[d["id"]] = t["id"]
                problems: list[str] = []
                unfit[d["id"]] = unfit_groups(d.get("unfit_for", []), problems)
                errors.extend(f"{path}: dimension {d['id']!r}: {p}" for p in problems)
    return types, dimensions, unfit


def _parse_entry(
    path: Path,
    index: int,
    entry: Any,
    dimensions: dict[str, str],
    pools: dict[str, list[str]],
    errors: list[str],
    unfit: dict[str, list[str]],
    file_vocabulary: Any = None,
) -> ConstraintSpec | None:
    where = f"{path}: entry #{index + 1}"
    if not isinstance(entry, dict):
        errors.append(f"{where}: must be a mapping")
        return None
    sid = entry.get("id")
    if isinstance(sid, str):
        where = f"{path}: entry {sid!r}"
    problems: list[str] = []
    if not isinstance(sid, str) or sid.count(":") != 1 or not all(sid.split(":")):
        problems.append("'id' must look like 'group:name'")
    elif sid.split(":")[0].lower() in RESERVED_GROUPS:
        group = sid.split(":")[0]
        problems.append(
            f"'id' uses the reserved prefix '{group}:' of the graph's {group.lower()} nodes (it would replace one and "
            f"make an is_a cycle); rename it with a group of its own, e.g. 'my_{group.lower()}:{sid.split(':')[1]}'"
        )
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        problems.append(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(ENTRY_KEYS)}")
    dim = entry.get("dimension")
    if dim not in dimensions:
        problems.append(f"unknown dimension {dim!r}; known: {sorted(dimensions)}")
    params = parse_params(entry.get("params") or {}, pools, problems)

    phrasings = entry.get("phrasings")
    stated = {p.name for p in params if p.type not in UNSTATED_PARAM_TYPES}
    known = {p.name for p in params}
    if not isinstance(phrasings, list) or len(phrasings) < MIN_PHRASINGS:
        problems.append(f"needs at least {MIN_PHRASINGS} phrasings")
    else:
        for k, text in enumerate(phrasings):
            fields = _template_fields(text, problems, f"phrasing #{k + 1}")
            if fields is None:
                continue
            if fields - known:
                problems.append(f"phrasing #{k + 1} uses unknown parameter(s) {sorted(fields - known)}")
            if stated - fields:
                problems.append(f"phrasing #{k + 1} does not state parameter(s) {sorted(stated - fields)}")

    checker = entry.get("checker")
    question = entry.get("question")
    if not isinstance(checker, str) or not (checker == "judge" or (checker.startswith("code:") and len(checker) > 5)):
        problems.append(f"'checker' must be 'code:<checker id>' or 'judge' (got {checker!r})")
    elif checker == "judge":
        if not isinstance(question, str) or not question.strip():
            problems.append("a judge-checked spec needs a 'question' template")
        else:
            fields = _template_fields(question, problems, "question")
            if fields and fields - known:
                problems.append(f"question uses unknown parameter(s) {sorted(fields - known)}")

    conflicts = entry.get("conflicts", [])
    conflicts_all = conflicts == "all"
    if not conflicts_all and not (isinstance(conflicts, list) and all(isinstance(c, str) for c in conflicts)):
        problems.append("'conflicts' must be a list of spec ids or the word 'all'")
        conflicts = []
    conflicts_except = entry.get("conflicts_except", [])
    if conflicts_except and not conflicts_all:
        problems.append("'conflicts_except' is only meaningful with 'conflicts: all'")
    traits = parse_traits(entry, params, problems)
    vocabulary = entry_vocabulary(entry, file_vocabulary, problems)

    if problems:
        errors.extend(f"{where}: {p}" for p in problems)
        return None
    assert isinstance(sid, str) and isinstance(dim, str) and isinstance(checker, str) and isinstance(phrasings, list)
    try:
        return ConstraintSpec(
            id=sid,
            dimension=dim,
            type=dimensions[dim],
            description=str(entry.get("description", "")).strip(),
            params=params,
            phrasings=phrasings,
            checker=checker,
            question=question,
            conflicts=[] if conflicts_all else conflicts,
            conflicts_all=conflicts_all,
            conflicts_except=conflicts_except or [],
            placement=entry.get("placement", ["whole", "part"]),
            tags=entry.get("tags", []),
            vocabulary=vocabulary,
            counts=traits["counts"],
            verbatim=traits["verbatim"],
            words=complete_words(params, traits),
            unfit_for=unfit_groups([*unfit.get(dim, []), *traits["unfit_for"]], []),
            source_file=str(path),
        )
    except ValidationError as exc:
        errors.extend(f"{where}: {e['loc'][0] if e['loc'] else ''}: {e['msg']}" for e in exc.errors())
        return None


def _template_fields(text: Any, problems: list[str], what: str) -> set[str] | None:
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{what} must be a non-empty string")
        return None
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError as exc:
        problems.append(f"{what} is not a valid template ({exc}); write literal braces as {{{{ and }}}}")
        return None


def _check_conflicts(specs: dict[str, ConstraintSpec], errors: list[str]) -> None:
    for s in specs.values():
        for other in [*s.conflicts, *s.conflicts_except]:
            if other not in specs:
                errors.append(f"{s.source_file}: entry {s.id!r}: conflict list names unknown spec {other!r}")
        # A conflict is declared once, on either entry (the loader adds the reverse edge); a `conflicts_except`
        # that the other entry contradicts cannot hold.
        for other in s.conflicts:
            o = specs.get(other)
            if o is not None and o.conflicts_all and s.id in o.conflicts_except:
                errors.append(
                    f"{s.source_file}: entry {s.id!r}: lists {other!r} as a conflict, but {other!r} ({o.source_file}) "
                    f"names it in conflicts_except; keep one of the two"
                )
        for other in s.conflicts_except if s.conflicts_all else []:
            o = specs.get(other)
            if o is not None and o.conflicts_all and s.id not in o.conflicts_except:
                errors.append(
                    f"{s.source_file}: entry {s.id!r}: names {other!r} in conflicts_except, but {other!r} "
                    f"({o.source_file}) conflicts with every spec; "
                    f"add {s.id!r} to its conflicts_except too, or drop it here"
                )
        placement = set(s.placement)
        if not placement or not placement <= {"whole", "part"}:
            errors.append(f"{s.source_file}: entry {s.id!r}: placement must be a non-empty subset of [whole, part]")


def _check_checker_bindings(specs: dict[str, ConstraintSpec], errors: list[str]) -> list[ConstraintSpec]:
    """Report code specs whose checker is missing or takes other arguments; return the well-bound ones."""
    from pipeline.checks.registry import load_checkers

    registry = load_checkers()
    bound = []
    for s in specs.values():
        cid = s.checker_id
        if cid is None:
            continue
        chk = registry.get(cid)
        if chk is None:
            errors.append(
                f"{s.source_file}: entry {s.id!r}: missing checker {cid!r}; register a function with "
                f"@checker({cid!r}) in pipeline/checks/"
            )
            continue
        names = {p.name for p in s.params}
        if names - chk.params:
            errors.append(
                f"{s.source_file}: entry {s.id!r}: params {sorted(names - chk.params)} "
                f"are not accepted by checker {cid!r}"
            )
        if chk.required - names:
            errors.append(
                f"{s.source_file}: entry {s.id!r}: checker {cid!r} requires {sorted(chk.required - names)}, "
                "which the spec does not define"
            )
        if not names - chk.params and not chk.required - names:
            bound.append(s)
    return bound


def is_a_cycles(graph: nx.MultiDiGraph, specs: dict[str, ConstraintSpec]) -> list[str]:
    """The is_a edges must form a hierarchy (constraint -> dimension -> type); a cycle is reported with its files."""
    is_a = nx.DiGraph([(u, v) for u, v, d in graph.edges(data=True) if d["relation"] == "is_a"])
    try:
        cycle = nx.find_cycle(is_a)
    except nx.NetworkXNoCycle:
        return []
    nodes = [u for u, _ in cycle]
    files = sorted({specs[n].source_file for n in nodes if n in specs})
    return [
        f"{', '.join(files) or 'types.yaml'}: is_a cycle {' -> '.join([*nodes, nodes[0]])}; a constraint id must not "
        f"name a type or dimension node (rename it)"
    ]


def _conflict_sets(specs: dict[str, ConstraintSpec]) -> dict[str, frozenset[str]]:
    ids = set(specs)
    out: dict[str, set[str]] = {sid: {sid, *s.conflicts} for sid, s in specs.items()}
    for sid, s in specs.items():
        if s.conflicts_all:
            out[sid] |= ids - set(s.conflicts_except)
    for sid in ids:  # symmetric: a conflict declared on one entry (a list or `all`) holds both ways
        for other in list(out[sid]):
            out[other].add(sid)
    return {k: frozenset(v) for k, v in out.items()}


def _build_graph(
    types: dict[str, str],
    dimensions: dict[str, str],
    specs: dict[str, ConstraintSpec],
    conflicts: dict[str, frozenset[str]],
) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    for t, desc in types.items():
        g.add_node(f"type:{t}", kind="type", name=t, description=desc)
    for d, t in dimensions.items():
        g.add_node(f"dimension:{d}", kind="dimension", name=d, type=t)
        g.add_edge(f"dimension:{d}", f"type:{t}", relation="is_a")
    for s in specs.values():
        g.add_node(
            s.id,
            kind="constraint",
            dimension=s.dimension,
            type=s.type,
            description=s.description,
            checker=s.checker,
            question=s.question,
            params={p.name: p.model_dump(exclude_none=True, exclude={"name"}) for p in s.params},
            phrasings=s.phrasings,
            placement=s.placement,
            tags=s.tags,
            vocabulary=s.vocabulary,
            counts=[b.model_dump(exclude_none=True) for b in s.counts],
            verbatim=[v.model_dump() for v in s.verbatim],
            words=s.words.model_dump(),
            unfit_for=s.unfit_for,
        )
        g.add_edge(s.id, f"dimension:{s.dimension}", relation="is_a")
    for a, others in conflicts.items():
        for b in others:
            if a != b:
                g.add_edge(a, b, relation="conflicts_with")
    return g


_max_compatible_cache: dict[tuple[str, str, str, str, tuple[str, ...] | None, int], int] = {}


def max_compatible(
    taxonomy: Taxonomy, placement: str, checkers: str, vocabularies: Iterable[str] | None = None, tries: int = 64
) -> int:
    """Size of the largest conflict-free constraint set found by randomized greedy search (cached), among the specs
    of `vocabularies` (all, if None)."""
    vocab = None if vocabularies is None else tuple(sorted(vocabularies))
    key = (str(taxonomy.root), taxonomy.version, placement, checkers, vocab, tries)
    if key not in _max_compatible_cache:
        _max_compatible_cache[key] = _greedy_max_compatible(taxonomy, placement, checkers, vocab, tries)
    return _max_compatible_cache[key]


def _greedy_max_compatible(
    taxonomy: Taxonomy, placement: str, checkers: str, vocabularies: tuple[str, ...] | None, tries: int
) -> int:
    rng = random.Random(0)
    ids = [
        s.id
        for s in taxonomy.specs.values()
        if placement in s.placement
        and (checkers == "any" or s.is_code)
        and (vocabularies is None or s.vocabulary in vocabularies)
    ]
    best = 0
    for _ in range(tries):
        rng.shuffle(ids)
        chosen: list[str] = []
        for sid in ids:
            if taxonomy.compatible(sid, chosen):
                chosen.append(sid)
        best = max(best, len(chosen))
    return best
