"""The dataset card: statistics of the published samples (the catalog's one statistics query), figures drawn
from them, and README.md with the Hub's YAML front matter."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.construct.options import vocabulary_card_lines
from pipeline.models import Sample
from pipeline.publish.screen import ScreenReport
from pipeline.publish.screen import card_lines as screen_card_lines
from pipeline.run.judge_report import card_lines as judge_card_lines
from pipeline.run.judge_report import rule_of
from pipeline.run.report import GridRow, grid_markdown
from pipeline.store import RunStats
from pipeline.store.stats import OUTCOMES
from pipeline.store.usage import UsageTable, prices_of, usage_card_lines


def dataset_stats(kept: Sequence[Sample], rejects: Sequence[Sample]) -> RunStats:
    """The run statistics of samples in hand: the catalog's statistics query over an in-memory catalog of them."""
    samples = [*kept, *rejects]
    with store.records_catalog(samples) as con:
        return store.run_stats(con, sorted({s.run_fingerprint for s in samples}))


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
    made.append(_save(fig, plt, folder, "categories"))
    dims = _dimension_counts(stats)
    if dims:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh(list(dims)[::-1], list(dims.values())[::-1], color="#3b6db3")
        ax.set_title("Constraints per dimension (kept samples)")
        made.append(_save(fig, plt, folder, "dimensions"))
    made += _student_figures(stats, folder, plt)
    return made


def _save(fig: Any, plt: Any, folder: Path, name: str) -> str:
    """Write a figure as `folder/NAME.png`, close it, and return its path as the card links it."""
    fig.tight_layout()
    fig.savefig(folder / f"{name}.png", dpi=110)
    plt.close(fig)
    return f"figures/{name}.png"


def outcome_shares(stats: RunStats) -> dict[str, dict[str, float]]:
    """Per category (then `all`): the share of measured instructions reasoning helped, tied or hurt."""
    out = {}
    for cat in [*stats.level("category"), None]:
        rows = stats.reasoning_outcomes(cat)
        n = sum(r.instructions for r in rows.values())
        if n:
            out[cat or "all"] = {k: r.instructions / n for k, r in rows.items()}
    return out


def _student_figures(stats: RunStats, folder: Path, plt: Any) -> list[str]:
    """The difficulty histogram and the reasoning-outcome shares, when the run measured them."""
    made = []
    bands = stats.difficulty()
    if bands:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.bar(list(bands), [r.instructions for r in bands.values()], color="#3b6db3")
        ax.set_title("Instructions per student baseline pass rate (no reasoning)")
        ax.set_xlabel("pass rate of the student's rollouts")
        ax.set_ylabel("instructions")
        ax.tick_params(axis="x", rotation=20)
        made.append(_save(fig, plt, folder, "difficulty"))
    shares = outcome_shares(stats)
    if shares:
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(shares)))
        names = list(shares)[::-1]
        left = [0.0] * len(names)
        for outcome, color in zip(OUTCOMES, ("#3b8f4f", "#b0b0b0", "#c0504d"), strict=True):
            widths = [shares[n].get(outcome, 0.0) for n in names]
            ax.barh(names, widths, left=left, color=color, label=outcome)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_xlim(0, 1)
        ax.set_title("Did reasoning help the student? (share of measured instructions)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        made.append(_save(fig, plt, folder, "reasoning_outcome"))
    return made


STUDENT_FIGURES = ("figures/difficulty.png", "figures/reasoning_outcome.png")


def _rl_baseline_lines(tables: dict[str, list[dict[str, Any]]], stats: RunStats) -> list[str]:
    """What the `rl` baseline columns hold in this build."""
    if not stats.difficulty():
        return ["  The run did not measure the student: `baseline_*` columns are null."]
    left_out = len(tables["sft"]) - len(tables["rl"])
    return [
        "  `baseline_model`, `baseline_rollouts`, `baseline_pass_rate` (share of the student's no-reasoning rollouts "
        "that passed every check) and `baseline_mean_satisfied` (their mean satisfied checks, also in "
        "`ground_truth`): apply RAIF's contrast rule (train on a reasoning rollout only when it beats the baseline) "
        "without rolling out again."
        + (
            f" {left_out} kept answers to instructions the student was not measured on are left out."
            if left_out
            else ""
        )
    ]


def _missing_configs(tables: dict[str, list[dict[str, Any]]], stats: RunStats) -> dict[str, str]:
    """Why each config without rows is missing."""
    measured = bool(stats.difficulty())
    why = {
        "rl": "no kept instruction has a student measurement",
        "preference": "no instruction has both a kept answer and a rejected one with a lower DRFR",
        "sft_reasoning": "no kept answer has reasoning that the shallow-reasoning gate measured and passed",
        "contrast": "no instruction has a reasoning completion that beat the student's best no-reasoning one and a "
        "failing one to pair it with"
        if measured
        else "the run did not measure the student (no rollouts)",
        "siblings": "no sibling group has a kept answer paired with a lower-scoring wrong-branch one "
        "(compose.siblings)",
        "gym": "no kept instruction has only whole-response IFEval/IFBench checks (NeMo Gym verifies nothing else)",
    }
    return {name: why.get(name, "no rows") for name, rows in tables.items() if not rows}


def _student_sections(stats: RunStats, figures: list[str]) -> list[str]:
    """The difficulty histogram and the reasoning outcome per category, when the run measured them."""
    bands = stats.difficulty()
    if not bands:
        return []
    n = sum(r.instructions for r in bands.values())
    lines = [
        "", "## Difficulty for the student", "",
        f"Baseline pass rate of the student's rollouts without reasoning, over the {n} measured instructions.", "",
        "| baseline pass rate | instructions | share |", "|---|---:|---:|",
    ]  # fmt: skip
    lines += [f"| {band} | {r.instructions} | {r.instructions / n:.1%} |" for band, r in bands.items()]
    shares = outcome_shares(stats)
    if shares:
        lines += [
            "", "## Did reasoning help?", "",
            "Share of measured instructions where the student's mean satisfied checks with reasoning beat (helped), "
            "matched (tied) or fell below (hurt) its baseline without reasoning.", "",
            "| category | helped | tied | hurt |", "|---|---:|---:|---:|",
        ]  # fmt: skip
        lines += [f"| {cat} | " + " | ".join(f"{s[o]:.1%}" for o in OUTCOMES) + " |" for cat, s in shares.items()]
    return [*lines, "", *[f"![{Path(f).stem}]({f})" for f in figures]]


def _hardening_section(stats: RunStats) -> list[str]:
    """Pass rate by hardening round, when the run hardened instructions its responder found easy."""
    rounds = stats.hardening_rounds()
    if not rounds:
        return []
    lines = [
        "", "## Hardening", "",
        "Instructions whose measured pass rate was above the run's threshold were made harder (one more compatible "
        "constraint, or a new Chain or Selection level) and answered again (round k = hardened k times). Pass rate: "
        "the responder's first answers that passed every "
        "check.", "",
        "| round | instructions | first answers | pass rate | kept |", "|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    lines += [f"| {k} | {r.instructions} | {r.checks} | {r.pass_rate:.1%} | {r.kept} |" for k, r in rounds.items()]
    return lines


def dataset_card(
    repo_id: str,
    tables: dict[str, list[dict[str, Any]]],
    stats: RunStats,
    run_info: dict[str, Any],
    figures: list[str],
    split: str,
    grid: Sequence[GridRow] = (),
    usage: UsageTable | None = None,
    screen: ScreenReport | None = None,
) -> str:
    """README.md with YAML front matter (`configs:` so `load_dataset(repo, config)` works) and a readable report."""
    front = [
        "---",
        "license: apache-2.0",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- synthetic",
        "- instruction-following",
        "- complexify",
        "configs:",
    ]
    for name in (n for n, rows in tables.items() if rows):  # an empty config is not written (see publish)
        front += [
            f"- config_name: {name}",
            "  data_files:",
            f"  - split: {split}",
            f"    path: data/{name}/{split}-*.parquet",
        ]
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
        f"- `sft` ({len(tables['sft'])} rows): chat `messages` (user instruction, assistant answer), optional "
        "`reasoning`.",
        f"- `rl` ({len(tables['rl'])} rows): `prompt` plus `ground_truth`, a JSON verification plan the reward "
        "functions in `pipeline.verify.reward` score (TRL `reward`, verl `compute_score`).",
        *_rl_baseline_lines(tables, stats),
        f"- `preference` ({len(tables['preference'])} rows): `chosen` (passed every check) vs `rejected` (lower "
        "DRFR) answers to the same instruction.",
        f"- `tripwires` ({len(tables['tripwires'])} rows): `prompt`, `ground_truth` and a `response` that games one "
        "checker (keyword stuffing, empty bullets, answers hidden in a think block, look-alike letters, ...). Every "
        "row must get a reward <= 0: score them now and then during RL training to watch for reward hacking.",
        f"- `sft_reasoning` ({len(tables['sft_reasoning'])} rows): behaviour cloning of the expert's reasoning: "
        "`messages` (user instruction; assistant `<think>` reasoning `</think>` then the answer), only kept answers "
        "whose reasoning the shallow-reasoning gate measured and found not shallow (not a restatement of the prompt; "
        "it works on the constraints). `prompt_similarity`, `constraints_addressed` / `constraints_addressable` and "
        "`reasoning_words` are the gate's measures.",
        f"- `contrast` ({len(tables['contrast'])} rows): RAIF's sample-wise contrast, one pair per instruction: "
        "`chosen`, a completion with reasoning that satisfied more checks than the student's best answer without "
        "reasoning (`baseline_best_satisfied`), and `rejected`, a completion that failed a check; `chosen_score` > "
        "`rejected_score` (RAIF content reward: +2 all checks, -2 none, else the fraction satisfied), "
        "`*_has_reasoning`, `*_source` (`student` rollout or kept `expert` answer).",
        f"- `siblings` ({len(tables.get('siblings', []))} rows): counterfactual pairs per prompt of a sibling group "
        "(the same instruction with only a Selection condition's facts, or one Chain step's requirement, changed): "
        "`chosen` took the right branch, `rejected` the wrong one (a rejected answer to this prompt, or a sibling's "
        "kept answer); `chosen_score` > `rejected_score` (DRFR under the prompt's plan, in `ground_truth`), "
        "`chosen_branch` / `rejected_branch`, `sibling_group`.",
        f"- `gym` ({len(tables.get('gym', []))} rows): NeMo Gym `instruction_following` rows "
        "(`responses_create_params`, `instruction_id_list`, `kwargs`, plus our `ground_truth`) for the kept "
        "instructions whose checks are all whole-response IFEval/IFBench ids; the server rewards all-pass, "
        "`ground_truth` gives the dependency-gated `drfr`/`raif` (`pipeline/publish/gym.py`).",
        *[f"- `{name}` is not in this build: {why}." for name, why in _missing_configs(tables, stats).items()],
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{repo_id}", "sft")',
        "```",
        "",
        "## How it was made",
        "",
        f"- models: {', '.join(f'{k}: `{v}`' for k, v in models.items()) or 'n/a'}",
        f"- run fingerprint: `{store.recorded_fingerprint(run_info) or 'n/a'}`; config hash: "
        f"`{(run_info.get('inputs') or {}).get('config', 'n/a')}`; run: `{run_info.get('run_id', 'n/a')}`",
        f"- taxonomy version: `{run_info.get('taxonomy_version', 'n/a')}`",
        *vocabulary_card_lines((run_info.get("vocabularies") or {}).get("composed")),
        f"- {total.instructions} instructions, {total.candidates} candidate answers, {total.kept} kept.",
        "",
        "## Yield per category",
        "",
        "| category | instructions | kept | yield |",
        "|---|---:|---:|---:|",
    ]
    for cat, row in stats.level("category").items():
        lines.append(f"| {cat} | {row.instructions} | {row.kept} | {row.yield_rate:.1%} |")
    shown = [f for f in figures if f not in STUDENT_FIGURES]
    lines += [
        "",
        *[f"![{Path(f).stem}]({f})" for f in shown],
        "",
        "## Constraints per dimension (kept samples)",
        "",
        "| dimension | constraints |",
        "|---|---:|",
    ]
    lines += [f"| {d} | {n} |" for d, n in _dimension_counts(stats).items()]
    # judge checks run without a judge: no rate
    checkers = {k: r for k, r in stats.level("checker").items() if r.checks}
    lines += ["", "## Verifier pass rates (all candidates)", "", "| check | checks | pass rate |", "|---|---:|---:|"]
    lines += [f"| `{k}` | {r.checks} | {r.pass_rate:.1%} |" for k, r in checkers.items()]
    kinds = sorted(stats.level("reject_kind").values(), key=lambda r: (-r.candidates, r.key))
    if kinds:
        lines += ["", "## Why candidates were rejected", "", "| reason | candidates |", "|---|---:|"]
        lines += [f"| {r.key} | {r.candidates} |" for r in kinds]
    lines += screen_card_lines(screen)
    lines += judge_card_lines(stats.calibration, rule_of([run_info]))
    lines += _student_sections(stats, [f for f in figures if f in STUDENT_FIGURES])
    lines += _hardening_section(stats)
    if grid:  # the run's quotas per dimension x band x rendering cell, and what each cost
        lines += [
            "",
            "## Grid cells",
            "",
            "Kept samples per quota cell (category/dimension/band/rendering).",
            grid_markdown(grid),
        ]
    lines += usage_card_lines(usage, prices_of(run_info.get("config")))  # the run's token ledger and its cost
    return "\n".join(front) + "\n\n" + "\n".join(lines) + "\n"
