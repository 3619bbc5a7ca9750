"""The benchmark report: rates with 95% bootstrap intervals per category, composition type, dimension and
checker, and the overall row, laid out like RAIF's Table 2 for ComplexBench.

With several samples per item, an item's all-pass rate is its pass@1 averaged over the samples, and its
DRFR numerator is its satisfied checks averaged over the samples; rates are then micro-averaged over items
(ComplexBench's DRFR: satisfied checks / all checks). `report.json` holds every number; `report.md` the tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.bench.files import REPORT_JSON, REPORT_MD
from pipeline.bench.score import ScoredAnswer
from pipeline.bench.stats import Estimate, bootstrap_ratio
from pipeline.bench.suite import vocabularies_line
from pipeline.construct.compose import CATEGORIES

# RAIF's Table 2 columns: And (nesting depth 1), Chain (1, 2), Selection (1, 2, 3), Selection & Chain (2, 3).
TABLE2_COLUMNS = (
    "And_1", "Chain_1", "Chain_2", "Selection_1", "Selection_2", "Selection_3",
    "Selection_and_Chain_2", "Selection_and_Chain_3",
)  # fmt: skip
COMPOSITIONS = ("Single", "And", "Chain", "Selection")


@dataclass
class ItemScore:
    """One item's scores averaged over its samples, with per-group check tallies."""

    item_id: str
    category: str
    composition: list[str]
    samples: int
    all_pass: float  # pass@1 averaged over samples
    passed: float  # satisfied checks, averaged over samples
    checks: int
    by_dimension: dict[str, list[float]] = field(default_factory=dict)  # name -> [avg satisfied, checks]
    by_checker: dict[str, list[float]] = field(default_factory=dict)


def item_scores(scored: Iterable[ScoredAnswer]) -> list[ItemScore]:
    """Average every item's answers over its samples (items in first-seen order)."""
    groups: dict[str, list[ScoredAnswer]] = defaultdict(list)
    for s in scored:
        groups[s.item_id].append(s)
    out = []
    for item_id, answers in groups.items():
        k = len(answers)
        first = answers[0]
        item = ItemScore(
            item_id=item_id,
            category=first.category,
            composition=list(first.composition),
            samples=k,
            all_pass=sum(a.all_pass for a in answers) / k,
            passed=sum(a.n_passed for a in answers) / k,
            checks=first.n_checks,
        )
        for tallies, attr in ((item.by_dimension, "dimension"), (item.by_checker, "checker")):
            for c in first.checks:  # every sample of an item has the same checks
                tallies.setdefault(getattr(c, attr), [0.0, 0.0])[1] += 1
            for a in answers:
                for c in a.checks:
                    tallies[getattr(c, attr)][0] += c.gated / k
        out.append(item)
    return out


def _estimate_json(e: Estimate) -> dict[str, float]:
    return {"value": e.value, "low": e.low, "high": e.high}


def _item_row(name: str, items: Sequence[ItemScore], key: str, seed: int) -> dict[str, Any]:
    """All-pass rate and DRFR of a group of items."""
    return {
        "name": name,
        "items": len(items),
        "checks": sum(i.checks for i in items),
        "all_pass": _estimate_json(
            bootstrap_ratio([i.all_pass for i in items], [1.0] * len(items), key=f"{key}|all_pass", seed=seed)
        ),
        "drfr": _estimate_json(
            bootstrap_ratio([i.passed for i in items], [i.checks for i in items], key=f"{key}|drfr", seed=seed)
        ),
    }


def _check_rows(items: Sequence[ItemScore], attr: str, seed: int) -> list[dict[str, Any]]:
    """Pass rate (after dependency gating) of the checks of each dimension or checker."""
    names = sorted({n for i in items for n in getattr(i, attr)})
    rows = []
    for name in names:
        tallies = [getattr(i, attr)[name] for i in items if name in getattr(i, attr)]
        est = bootstrap_ratio([t[0] for t in tallies], [t[1] for t in tallies], key=f"{attr}|{name}", seed=seed)
        rows.append(
            {
                "name": name,
                "items": len(tallies),
                "checks": int(sum(t[1] for t in tallies)),
                "pass_rate": _estimate_json(est),
            }
        )
    return rows


def build_report(scored: Sequence[ScoredAnswer], meta: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Every table of the report as plain data (what report.json holds)."""
    items = item_scores(scored)
    if not items:
        raise ValueError("no scored answers to report on")
    by_cat: dict[str, list[ItemScore]] = defaultdict(list)
    for i in items:
        by_cat[i.category].append(i)
    order = [c for c in CATEGORIES if c in by_cat] + sorted(set(by_cat) - set(CATEGORIES))
    categories = [_item_row(c, by_cat[c], f"category|{c}", seed) for c in order]
    overall = _item_row("overall", items, "overall", seed)
    compositions = []
    for kind in COMPOSITIONS:
        members = [i for i in items if (kind in i.composition if kind != "Single" else not i.composition)]
        if members:
            compositions.append(_item_row(kind, members, f"composition|{kind}", seed))
    cat_rows = {r["name"]: r for r in categories}
    table2: dict[str, Any] = {"columns": [*TABLE2_COLUMNS, "overall"]}
    for metric in ("drfr", "all_pass"):
        table2[metric] = {c: (cat_rows[c][metric]["value"] if c in cat_rows else None) for c in TABLE2_COLUMNS}
        table2[metric]["overall"] = overall[metric]["value"]
    return {
        "meta": {
            **meta,
            "items": len(items),
            "answers": len(scored),
            "samples_per_item": max(i.samples for i in items),
        },
        "counts": {
            "rejected_requests": sum(s.failure is not None for s in scored),
            "truncated": sum(s.finish_reason == "length" for s in scored),
            "judge_checks_skipped": sum(s.n_skipped for s in scored),
        },
        "overall": overall,
        "categories": categories,
        "compositions": compositions,
        "dimensions": _check_rows(items, "by_dimension", seed),
        "checkers": _check_rows(items, "by_checker", seed),
        "table2": table2,
    }


# --- rendering -------------------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    """A rate as a percentage with two decimals, as RAIF reports them ("-" when there is no value)."""
    return "-" if value is None else f"{100 * value:.2f}"


def ci(e: dict[str, float]) -> str:
    return f"[{pct(e['low'])}, {pct(e['high'])}]"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the Table 2 layout first, then every breakdown with its 95% intervals."""
    meta = report["meta"]
    t2 = report["table2"]
    lines = [
        f"# {meta.get('model') or 'model'} on suite {meta.get('suite') or '?'}",
        "",
        f"{meta['items']} items, {meta['samples_per_item']} sample(s) per item"
        + (", reasoning stripped" if meta.get("reasoning") else "")
        + ". Rates in %, 95% intervals from an item-level bootstrap. "
        + "All-pass: every check of the answer passes (pass@1 averaged over samples); "
        + "DRFR: satisfied checks / all checks after dependency gating (micro average).",
        "",
        *([f"Constraint {vocabularies_line(meta['vocabularies'])}.", ""] if "vocabularies" in meta else []),
        "## ComplexBench layout (RAIF Table 2)",
        "",
    ]
    header = ["metric", *t2["columns"]]
    lines += _md_table(
        header,
        [
            [name, *(pct(t2[key][c]) for c in t2["columns"])]
            for key, name in (("drfr", "DRFR"), ("all_pass", "all-pass"))
        ],
    )
    head = ["", "items", "all-pass", "95% CI", "DRFR", "95% CI"]

    def item_rows(rows: Iterable[dict[str, Any]]) -> list[list[str]]:
        return [
            [
                r["name"],
                str(r["items"]),
                pct(r["all_pass"]["value"]),
                ci(r["all_pass"]),
                pct(r["drfr"]["value"]),
                ci(r["drfr"]),
            ]
            for r in rows
        ]

    lines += ["", "## Per category", ""]
    lines += _md_table(["category", *head[1:]], item_rows([*report["categories"], report["overall"]]))
    lines += ["", "## Per composition type", "", "An item counts under every composition type its tree contains.", ""]
    lines += _md_table(["composition", *head[1:]], item_rows(report["compositions"]))
    for key, title in (("dimensions", "dimension"), ("checkers", "checker")):
        lines += ["", f"## Per {title}", ""]
        lines += _md_table(
            [title, "items", "checks", "pass rate", "95% CI"],
            [
                [r["name"], str(r["items"]), str(r["checks"]), pct(r["pass_rate"]["value"]), ci(r["pass_rate"])]
                for r in report[key]
            ],
        )
    counts = report["counts"]
    lines += [
        "",
        f"Rejected requests (scored as failing every check): {counts['rejected_requests']}; "
        f"answers cut at max tokens: {counts['truncated']}; "
        f"judge checks skipped (no judge): {counts['judge_checks_skipped']}.",
    ]
    settings = {k: v for k, v in meta.items() if k not in ("items", "samples_per_item")}
    lines += ["", "Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]
    return "\n".join(lines)


def summary_line(report: dict[str, Any]) -> str:
    """One line for the end of a command."""
    o = report["overall"]
    return (
        f"{report['meta']['items']} items x {report['meta']['samples_per_item']} sample(s): "
        f"all-pass {pct(o['all_pass']['value'])}% {ci(o['all_pass'])}, DRFR {pct(o['drfr']['value'])}% {ci(o['drfr'])}"
    )


def report_files(report: dict[str, Any]) -> dict[str, bytes]:
    """The contents of report.json and report.md."""
    return {
        REPORT_JSON: (json.dumps(report, indent=2, sort_keys=False) + "\n").encode(),
        REPORT_MD: report_markdown(report).encode(),
    }


def estimate_of(row: dict[str, Any], metric: str) -> Estimate:
    """A report row's estimate back as an Estimate (for figures)."""
    e = row[metric]
    return Estimate(e["value"], e["low"], e["high"], int(row.get("items", 0)))
