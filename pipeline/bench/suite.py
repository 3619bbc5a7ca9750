"""Benchmark suites: held-out instructions with their verification plans, one JSON object per line.

A suite holds `per_category` instructions of every category, composed from seeds that a stored run did not
use (see `pipeline.bench.exclusion`). The same arguments give the same items, and `write_suite` writes them
byte for byte the same, so a suite file can be rebuilt instead of shipped.

A suite is composed from the constraints of some taxonomy vocabularies (by default those a training run
composes; `ifbench` alone gives an IFBench-style suite from the held-out IFBench constraint types), and every
item records them, so a report can name them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from pipeline.bench.exclusion import RunIndex
from pipeline.bench.files import first_error, parse_json, write_whole
from pipeline.checks.registry import get_checker
from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.options import HELD_OUT_BENCHMARK
from pipeline.construct.taxonomy import Taxonomy
from pipeline.errors import CheckerNotFoundError, CompositionError, UserInputError
from pipeline.models import HELD_OUT_VOCABULARIES, VOCABULARIES, Instruction, Record, Seed, Vocabulary
from pipeline.verify.plan import plan_problems

# Draws per item before giving up: each failed draw moves to the next seed of the pool.
MAX_DRAWS_PER_ITEM = 200


class SuiteItem(Record):
    """One benchmark item: a composed instruction with its ground-truth plan."""

    id: str
    suite: str
    category: str
    instruction: Instruction
    vocabularies: list[Vocabulary] | None = None  # what the suite was composed from (None: not recorded)


@dataclass
class SuiteResult:
    """The items of a suite and what was left out to keep it clean of the excluded runs."""

    items: list[SuiteItem]
    seeds_total: int
    seeds_usable: int
    drops: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # draws that repeated an earlier item's content

    def describe(self) -> str:
        """One line: items per category, the vocabularies, and what the exclusion dropped."""
        per = Counter(i.category for i in self.items)
        counts = ", ".join(f"{c}={per[c]}" for c in CATEGORIES if per[c])
        dropped = ", ".join(f"{r}={k}" for r, k in sorted(self.drops.items())) or "none"
        return (
            f"{len(self.items)} items ({counts}); {vocabularies_line(suite_vocabularies(self.items))}; "
            f"seeds usable {self.seeds_usable}/{self.seeds_total}; excluded: {dropped}; "
            f"redrawn duplicates: {self.duplicates}"
        )


def suite_vocabularies(items: Sequence[SuiteItem]) -> list[str] | None:
    """The vocabularies a suite's items were composed from (None when an item does not record them)."""
    if not items or any(i.vocabularies is None for i in items):
        return None
    found = {v for i in items for v in i.vocabularies or ()}
    return [v for v in VOCABULARIES if v in found]


def vocabularies_line(vocabularies: Sequence[str] | None) -> str:
    """'vocabularies: ifbench (held out from training: IFBench-style)', or that the suite does not say."""
    if vocabularies is None:
        return "vocabularies: not recorded (a suite made before suites recorded them)"
    held = [v for v in vocabularies if v in HELD_OUT_VOCABULARIES]
    style = f" (held out from training: {', '.join(HELD_OUT_BENCHMARK.get(v, v) for v in held)}-style)" if held else ""
    return f"vocabularies: {', '.join(vocabularies)}{style}"


def item_id(suite: str, category: str, k: int) -> str:
    return f"{suite}/{category}/{k:03d}"


def make_suite(
    name: str,
    per_category: int,
    random_seed: int,
    *,
    seeds: Sequence[Seed],
    taxonomy: Taxonomy,
    exclude: RunIndex | None = None,
    checkers: str = "code",
    categories: Sequence[str] = CATEGORIES,
    vocabularies: Sequence[str] | None = None,
) -> SuiteResult:
    """Compose `per_category` items per category from seeds the excluded runs never used; deterministic.

    `vocabularies` picks the taxonomy vocabularies the constraints come from (default: the composer's, which
    leaves the held-out ones out); `["ifbench"]` makes an IFBench-style suite."""
    if not name or "/" in name or name != name.strip():
        raise UserInputError(f"--suite {name!r}: give a name without '/' or surrounding spaces, e.g. 'heldout-v1'")
    if per_category < 1:
        raise UserInputError(f"-n must be >= 1 items per category, got {per_category}")
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown or not categories:
        raise UserInputError(
            f"--category {unknown[0] if unknown else ''!r}: known categories: {', '.join(CATEGORIES)}"
        )
    options = _options(checkers, vocabularies, taxonomy)
    drops: Counter[str] = Counter()
    pool: list[Seed] = []
    for seed in sorted(seeds, key=lambda s: s.id):  # input order must not change the suite
        reason = exclude.seed_reason(seed) if exclude is not None else None
        if reason is None:
            pool.append(seed)
        else:
            drops[reason] += 1
    if not pool:
        raise UserInputError(
            f"no seed is left after excluding the runs' seeds ({len(seeds)} given, all used by the runs); "
            "pass --seeds with held-out tasks"
        )
    random.Random(f"{name}|{random_seed}").shuffle(pool)
    items: list[SuiteItem] = []
    seen: set[str] = set()
    duplicates = 0
    cursor = 0  # every item takes the next seed of the shuffled pool, so a suite uses distinct seeds while it can
    for category in categories:
        for k in range(per_category):
            for draw in range(MAX_DRAWS_PER_ITEM):
                seed = pool[cursor % len(pool)]
                cursor += 1
                try:
                    ins = compose_instruction(
                        seed,
                        category,
                        taxonomy,
                        random_seed=f"{name}:{random_seed}:{category}:{k}:{draw}",
                        options=options,
                    )
                except CompositionError as exc:
                    raise UserInputError(
                        f"cannot compose a {category} item from the {vocabularies_line(options.vocabularies)}: "
                        f"{exc}; choose the categories that fit with --category"
                    ) from None
                reason = exclude.instruction_reason(ins) if exclude is not None else None
                if reason is not None:
                    drops[reason] += 1
                elif ins.fingerprint in seen:
                    duplicates += 1
                else:
                    break
            else:
                raise UserInputError(
                    f"could not compose a clean {category} item in {MAX_DRAWS_PER_ITEM} draws "
                    f"({len(pool)} usable seeds; excluded so far: {dict(drops)}); "
                    "pass --seeds with more held-out tasks"
                )
            seen.add(ins.fingerprint)
            items.append(
                SuiteItem(
                    id=item_id(name, category, k), suite=name, category=category, instruction=ins,
                    vocabularies=list(options.vocabularies),
                )
            )  # fmt: skip
    return SuiteResult(items=items, seeds_total=len(seeds), seeds_usable=len(pool), drops=drops, duplicates=duplicates)


def _options(checkers: str, vocabularies: Sequence[str] | None, taxonomy: Taxonomy) -> ComposeOptions:
    """The composer's options for a suite; a vocabulary without a usable constraint is an error naming it."""
    code = checkers == "code"
    if vocabularies is None:
        return ComposeOptions(checkers="code" if code else "any")
    try:
        options = ComposeOptions.of(checkers="code" if code else "any", vocabularies=list(vocabularies))
    except CompositionError as exc:
        raise UserInputError(f"--vocabulary: {str(exc).removeprefix('vocabularies: ')}") from None
    usable = {s.vocabulary for s in taxonomy.specs.values() if s.is_code or not code}
    empty = [v for v in options.vocabularies if v not in usable]
    if empty:
        kind = "code-checkable constraint" if code else "constraint"
        raise UserInputError(f"--vocabulary {empty[0]}: the taxonomy has no {kind} of that vocabulary")
    return options


def suite_text(items: Sequence[SuiteItem]) -> str:
    """The suite file's content: one item per line, fields in model order (stable bytes)."""
    return "".join(item.model_dump_json() + "\n" for item in items)


def write_suite(path: Path, items: Sequence[SuiteItem]) -> None:
    """Write the suite atomically (a temporary file renamed into place): a failure leaves an earlier file whole."""
    if path.is_dir():
        raise UserInputError(f"--out {path} is a folder; name a .jsonl file")
    if not path.parent.is_dir():
        raise UserInputError(f"--out {path}: folder {path.parent} does not exist; create it first")
    write_whole({path: suite_text(items).encode()})


def item_problems(item: SuiteItem) -> list[str]:
    """Why `item` cannot be scored: an unknown category, no checks, an invalid plan, an unknown checker or argument."""
    problems = []
    if item.category not in CATEGORIES:
        problems.append(f"unknown category {item.category!r} (known: {', '.join(CATEGORIES)})")
    elif item.instruction.category != item.category:
        problems.append(f"category {item.category!r} differs from its instruction's {item.instruction.category!r}")
    checks = item.instruction.plan.checks
    if not checks:
        problems.append("no checks: an item is scored by its plan's checks, so it needs at least one")
    problems += plan_problems(item.instruction.plan)
    for c in checks:
        if c.kind != "code" or not c.checker:
            continue
        try:
            chk = get_checker(c.checker)
        except CheckerNotFoundError as exc:
            problems.append(f"check {c.id!r}: {str(exc).rstrip('.')}")
            continue
        unknown, missing = sorted(set(c.kwargs) - chk.params), sorted(chk.required - set(c.kwargs))
        if unknown:
            problems.append(
                f"check {c.id!r}: checker {c.checker!r} has no argument {unknown[0]!r} (it takes {sorted(chk.params)})"
            )
        elif missing:
            problems.append(f"check {c.id!r}: checker {c.checker!r} needs the argument {missing[0]!r}")
    return problems


def read_suite(path: Path) -> list[SuiteItem]:
    """Read and validate a suite file; every problem names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"suite {path} not found; make one with `complexify bench make`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"suite {path}: cannot read it as UTF-8 text ({exc})") from None
    items: list[SuiteItem] = []
    ids: set[str] = set()
    fix = "suite lines come from `complexify bench make` (make the suite again)"
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        data = parse_json(line, f"{path}:{n}", fix)
        try:
            item = SuiteItem.model_validate(data)
        except ValidationError as exc:
            raise UserInputError(f"{path}:{n}: not a suite item ({first_error(exc)}); {fix}") from None
        except RecursionError:
            raise UserInputError(f"{path}:{n}: not a suite item (nested too deeply); {fix}") from None
        if item.id in ids:
            raise UserInputError(f"{path}:{n}: item id {item.id!r} appears twice; item ids must be unique")
        problems = item_problems(item)
        if problems:
            raise UserInputError(f"{path}:{n}: item {item.id!r}: {problems[0]}; {fix}")
        ids.add(item.id)
        items.append(item)
    if not items:
        raise UserInputError(f"suite {path} holds no items; make one with `complexify bench make`")
    return items
