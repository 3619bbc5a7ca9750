"""Compare benchmark results of several models on the same suite, item by item.

Every later folder is compared with the first (the baseline) on the items both answered: per category and
overall, the difference B - A of the all-pass rate and of DRFR, a 95% interval from a paired item-level
bootstrap, and an exact sign test over the items whose scores differ. "B is better on Selection_2" then
comes with its uncertainty: an interval that excludes 0 (and a small p) is a difference the suite can see.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.bench.figures import category_png
from pipeline.bench.files import COMPARE_FILES, REPORT_JSON, VERDICTS, first_error, parse_json
from pipeline.bench.report import ItemScore, item_scores, pct
from pipeline.bench.score import ScoredAnswer, read_verdicts
from pipeline.bench.stats import paired_difference
from pipeline.construct.compose import CATEGORIES
from pipeline.errors import UserInputError

METRICS = (("all_pass", "all-pass"), ("drfr", "DRFR"))


@dataclass
class Side:
    """One result folder: its label, report, scored answers and the sha256 of the suite file they answer."""

    label: str
    folder: Path
    report: dict[str, Any]
    scored: list[ScoredAnswer]
    suite_sha256: str = ""


class _Estimate(BaseModel):
    value: float
    low: float
    high: float


class _Row(BaseModel):
    name: str
    items: int
    all_pass: _Estimate
    drfr: _Estimate


class _Meta(BaseModel):
    suite_sha256: str
    model: str | None = None


class _Report(BaseModel):
    """What `bench compare` reads of a report.json (other fields are left as they are)."""

    meta: _Meta
    overall: _Row
    categories: list[_Row]


def load_side(folder: Path) -> Side:
    """Read a folder written by `bench run` or `bench score`; a file that is not one is a one-line error."""
    report_path, verdicts_path = folder / REPORT_JSON, folder / VERDICTS
    fix = "give folders written by `bench run` or `bench score`"
    for path in (report_path, verdicts_path):
        if not path.is_file():
            raise UserInputError(f"{folder}: {path.name} not found; {fix}")
    try:
        text = report_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{report_path}: not a readable report ({exc}); {fix}") from None
    report = parse_json(text, str(report_path), fix)
    try:
        meta = _Report.model_validate(report).meta
    except ValidationError as exc:
        raise UserInputError(f"{report_path}: not a bench report ({first_error(exc)}); {fix}") from None
    return Side(meta.model or folder.name, folder, report, read_verdicts(verdicts_path), meta.suite_sha256)


def check_same_suite(sides: Sequence[Side]) -> None:
    """Refuse results of different suite files: their items may share ids, categories and check counts only."""
    base = sides[0]
    for side in sides[1:]:
        if side.suite_sha256 != base.suite_sha256:
            raise UserInputError(
                f"{base.folder} and {side.folder} hold results of different suites (suite sha256 {base.suite_sha256} "
                f"vs {side.suite_sha256}); compare results of the same suite file"
            )


def label_sides(sides: Sequence[Side]) -> None:
    """Make labels unique: a model name shared by several folders gets the folder name added."""
    counts: dict[str, int] = defaultdict(int)
    for s in sides:
        counts[s.label] += 1
    for s in sides:
        if counts[s.label] > 1:
            s.label = f"{s.label} ({s.folder.name})"
    if len({s.label for s in sides}) < len(sides):
        for s in sides:
            s.label = str(s.folder)


def _paired_items(a: Side, b: Side) -> list[tuple[ItemScore, ItemScore]]:
    a_items = {i.item_id: i for i in item_scores(a.scored)}
    b_items = {i.item_id: i for i in item_scores(b.scored)}
    common = [k for k in a_items if k in b_items]
    if not common:
        raise UserInputError(f"{a.folder} and {b.folder} share no item ids; compare results of the same suite")
    pairs = []
    for k in common:
        x, y = a_items[k], b_items[k]
        if x.checks != y.checks or x.category != y.category:
            raise UserInputError(
                f"item {k!r} has different plans in {a.folder} and {b.folder}: they answered different suites"
            )
        pairs.append((x, y))
    return pairs


def _row(name: str, pairs: Sequence[tuple[ItemScore, ItemScore]], key: str, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "items": len(pairs)}
    for metric, _ in METRICS:
        if metric == "all_pass":
            a_num, b_num, den = [x.all_pass for x, _ in pairs], [y.all_pass for _, y in pairs], [1.0] * len(pairs)
        else:
            a_num, b_num, den = (
                [x.passed for x, _ in pairs],
                [y.passed for _, y in pairs],
                [float(x.checks) for x, _ in pairs],
            )
        diff = paired_difference(a_num, b_num, den, key=f"{key}|{metric}", seed=seed)
        total = sum(den)
        row[metric] = {"a": sum(a_num) / total, "b": sum(b_num) / total, **asdict(diff)}
    return row


def compare_pair(a: Side, b: Side, *, seed: int = 0) -> dict[str, Any]:
    """Per category and overall paired differences B - A."""
    pairs = _paired_items(a, b)
    by_cat: dict[str, list[tuple[ItemScore, ItemScore]]] = defaultdict(list)
    for p in pairs:
        by_cat[p[0].category].append(p)
    order = [c for c in CATEGORIES if c in by_cat] + sorted(set(by_cat) - set(CATEGORIES))
    rows = [_row(c, by_cat[c], f"compare|{c}", seed) for c in order]
    rows.append(_row("overall", pairs, "compare|overall", seed))
    only_a = len({s.item_id for s in a.scored}) - len(pairs)
    only_b = len({s.item_id for s in b.scored}) - len(pairs)
    return {"a": a.label, "b": b.label, "items": len(pairs), "only_a": only_a, "only_b": only_b, "rows": rows}


def compare_sides(sides: Sequence[Side], *, seed: int = 0) -> dict[str, Any]:
    """Every later side against the first."""
    if len(sides) < 2:
        raise UserInputError("give at least two result folders to compare")
    check_same_suite(sides)
    label_sides(sides)
    return {
        "baseline": sides[0].label,
        "labels": [s.label for s in sides],
        "folders": [str(s.folder) for s in sides],
        "comparisons": [compare_pair(sides[0], s, seed=seed) for s in sides[1:]],
    }


def comparison_files(result: dict[str, Any], sides: Sequence[Side]) -> dict[str, bytes]:
    """The contents of compare.md, compare.json and compare.png (the per-category figure)."""
    md, js, png = COMPARE_FILES
    return {
        md: comparison_markdown(result).encode(),
        js: (json.dumps(result, indent=2) + "\n").encode(),
        png: category_png([s.report for s in sides], [s.label for s in sides]),
    }


def _signed(value: float) -> str:
    return f"{100 * value:+.2f}"


def comparison_markdown(result: dict[str, Any]) -> str:
    """One table per comparison: A, B, B - A with its 95% interval and the sign test's p per metric."""
    lines = [f"# Comparison against {result['baseline']}", ""]
    lines.append(
        "Rates in %. B - A with a 95% paired item-level bootstrap interval; p: exact two-sided sign test over "
        "items whose scores differ (wins/losses = items where B/A scores higher)."
    )
    for comp in result["comparisons"]:
        lines += ["", f"## A = {comp['a']}, B = {comp['b']} ({comp['items']} paired items)", ""]
        if comp["only_a"] or comp["only_b"]:
            lines += [f"Left out: {comp['only_a']} items only in A, {comp['only_b']} only in B.", ""]
        header = ["category", "items"]
        for _, name in METRICS:
            header += [f"A {name}", f"B {name}", "B - A", "95% CI", "wins/losses", "p"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for r in comp["rows"]:
            cells = [r["name"], str(r["items"])]
            for metric, _ in METRICS:
                m = r[metric]
                cells += [
                    pct(m["a"]), pct(m["b"]), _signed(m["value"]), f"[{_signed(m['low'])}, {_signed(m['high'])}]",
                    f"{m['wins']}/{m['losses']}", f"{m['p_value']:.3g}",
                ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
