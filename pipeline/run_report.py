"""A finished run's report per category, from the catalog's statistics query: quota, kept, attempts, yield,
reject reasons and the generated tokens each kept sample cost. Shown at the end of a run and as Prefect artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from pipeline.store import StatsRow, run_stats


def category_report(
    con: duckdb.DuckDBPyConnection, fingerprint: str, quota: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per category of the run: its quota row (quota, kept, attempts, met) plus what the catalog holds.

    Yield and tokens per kept sample are the stored numbers (`complexify stats` and the dataset card show
    the same): kept samples in the catalog per instruction, completion tokens of every candidate per kept sample.
    """
    stats = run_stats(con, fingerprint)
    stored = stats.level("category")
    rows = []
    for q in quota:
        cat = str(q["category"])
        s = stored.get(cat) or StatsRow("category", cat, cat)  # a quota category with nothing stored yet
        reasons = sorted(stats.level("reject_reason", cat).values(), key=lambda r: (-r.candidates, r.key))
        rows.append(
            {
                **q,
                "instructions": s.instructions,
                "candidates": s.candidates,
                "yield": round(s.yield_rate, 4),
                "tokens_per_kept": round(s.completion_tokens / s.kept) if s.kept else None,
                "completion_tokens": s.completion_tokens,
                "reject_reasons": {r.key: r.candidates for r in reasons},
            }
        )
    return rows


def report_markdown(summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """The run summary as Markdown: headline, per-category table, where the shards are."""
    lines = [
        f"# complexify run `{summary['run_id']}`",
        "",
        f"Kept **{summary['kept']} of {summary['target']}** samples; run folder "
        f"`{summary['output_dir']}/runs/{summary['run_fingerprint']}` (Parquet shards under "
        "`instructions/`, `samples/`, `rejects/`; catalog `catalog.duckdb` in the output folder).",
        "",
        "| category | quota | kept | met | instructions | yield | tokens per kept | top reject reasons |",
        "|---|---:|---:|:---:|---:|---:|---:|---|",
    ]
    for r in rows:
        top = ", ".join(f"{k} {v}" for k, v in list(r["reject_reasons"].items())[:3]) or "-"
        per_kept = "-" if r["tokens_per_kept"] is None else str(r["tokens_per_kept"])
        lines.append(
            f"| {r['category']} | {r['quota']} | {r['kept']} | {'yes' if r['met'] else 'no'} | {r['instructions']} "
            f"| {r['yield']:.1%} | {per_kept} | {top} |"
        )
    return "\n".join(lines) + "\n"
