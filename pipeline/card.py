"""The dataset card: statistics of the published samples (the catalog's one statistics query), figures drawn
from them, and README.md with the Hub's YAML front matter."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.models import Sample
from pipeline.store import RunStats


def dataset_stats(kept: Sequence[Sample], rejects: Sequence[Sample]) -> RunStats:
    """The run statistics of samples in hand: the catalog's statistics query over an in-memory catalog of them."""
    samples = [*kept, *rejects]
    with store.records_catalog(samples) as con:
        return store.run_stats(con, sorted({s.config_fingerprint for s in samples}))


def _dimension_counts(stats: RunStats) -> dict[str, int]:
    """Checked constraints of kept samples per dimension, most first."""
    counts = {k: r.kept_constraints for k, r in stats.level("dimension").items() if r.kept_constraints}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def make_figures(stats: RunStats, folder: Path) -> list[str]:
    """PNG bar charts of the category and constraint-dimension distributions, drawn from the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    cats = stats.level("category")
    fig, ax = plt.subplots(figsize=(8, 4))
    names = list(cats)
    ax.bar(names, [cats[c].instructions for c in names], label="instructions", color="#c7d4e8")
    ax.bar(names, [cats[c].kept for c in names], label="kept samples", color="#3b6db3")
    ax.set_title("Instructions and kept samples per category")
    ax.tick_params(axis="x", rotation=35)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "categories.png", dpi=110)
    plt.close(fig)
    made.append("figures/categories.png")
    dims = _dimension_counts(stats)
    if dims:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh(list(dims)[::-1], list(dims.values())[::-1], color="#3b6db3")
        ax.set_title("Constraints per dimension (kept samples)")
        fig.tight_layout()
        fig.savefig(folder / "dimensions.png", dpi=110)
        plt.close(fig)
        made.append("figures/dimensions.png")
    return made


def dataset_card(
    repo_id: str, tables: dict[str, list[dict[str, Any]]], stats: RunStats, run_info: dict[str, Any], figures: list[str], split: str
) -> str:
    """README.md with YAML front matter (`configs:` so `load_dataset(repo, config)` works) and a readable report."""
    front = ["---", "license: apache-2.0", "task_categories:", "- text-generation", "tags:", "- synthetic", "- instruction-following", "- complexify", "configs:"]
    for name in tables:
        front += [f"- config_name: {name}", "  data_files:", f"  - split: {split}", f"    path: data/{name}/{split}-*.parquet"]
    front.append("---")
    models = run_info.get("models", {})
    total = stats.total()
    lines = [
        f"# {repo_id.split('/')[-1]}",
        "",
        "Complex instruction-following data made with complexify: seed tasks wrapped in composite constraints "
        "(And / Chain / Selection, ComplexBench's composition types) from a constraint taxonomy, answered by an LLM, "
        "and kept only when every check of the instruction's verification plan passed.",
        "",
        "## Configs",
        "",
        f"- `sft` ({len(tables['sft'])} rows): chat `messages` (user instruction, assistant answer), optional `reasoning`.",
        f"- `rl` ({len(tables['rl'])} rows): `prompt` plus `ground_truth`, a JSON verification plan the reward functions "
        "in `pipeline.verify.reward` score (TRL `reward`, verl `compute_score`).",
        f"- `preference` ({len(tables['preference'])} rows): `chosen` (passed every check) vs `rejected` (lower DRFR) answers to the same instruction.",
        f"- `tripwires` ({len(tables['tripwires'])} rows): `prompt`, `ground_truth` and a `response` that games one checker "
        "(keyword stuffing, empty bullets, answers hidden in a think block, look-alike letters, ...). Every row must get "
        "a reward <= 0: score them now and then during RL training to watch for reward hacking.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{repo_id}", "sft")',
        "```",
        "",
        "## How it was made",
        "",
        f"- models: {', '.join(f'{k}: `{v}`' for k, v in models.items()) or 'n/a'}",
        f"- config fingerprint: `{run_info.get('config_fingerprint', 'n/a')}`; run: `{run_info.get('run_id', 'n/a')}`",
        f"- taxonomy version: `{run_info.get('taxonomy_version', 'n/a')}`",
        f"- {total.instructions} instructions, {total.candidates} candidate answers, {total.kept} kept.",
        "",
        "## Yield per category",
        "",
        "| category | instructions | kept | yield |",
        "|---|---:|---:|---:|",
    ]
    for cat, row in stats.level("category").items():
        lines.append(f"| {cat} | {row.instructions} | {row.kept} | {row.yield_rate:.1%} |")
    lines += ["", *[f"![{Path(f).stem}]({f})" for f in figures], "", "## Constraints per dimension (kept samples)", "", "| dimension | constraints |", "|---|---:|"]
    lines += [f"| {d} | {n} |" for d, n in _dimension_counts(stats).items()]
    checkers = {k: r for k, r in stats.level("checker").items() if r.checks}  # judge checks run without a judge: no rate
    lines += ["", "## Verifier pass rates (all candidates)", "", "| check | checks | pass rate |", "|---|---:|---:|"]
    lines += [f"| `{k}` | {r.checks} | {r.pass_rate:.1%} |" for k, r in checkers.items()]
    kinds = sorted(stats.level("reject_kind").values(), key=lambda r: (-r.candidates, r.key))
    if kinds:
        lines += ["", "## Why candidates were rejected", "", "| reason | candidates |", "|---|---:|"]
        lines += [f"| {r.key} | {r.candidates} |" for r in kinds]
    return "\n".join(front) + "\n\n" + "\n".join(lines) + "\n"


