"""The judge calibration as `complexify stats`, the dataset card and the run summary show it: one row per dimension
from `RunStats.calibration` (the catalog's one statistics module), with the route its numbers suggest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import duckdb
from pydantic import ValidationError

from pipeline.run.config import CalibrationConfig
from pipeline.store.stats import calibration_pairs
from pipeline.verify.judge_calibration import DimensionCalibration, RoutingRule, auto_route, summarize

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS = (
    "dimension",
    "questions",
    "gold",
    "labelled yes",
    "judge yes",
    "precision",
    "recall",
    "margin for 95% precision",
    "injection probes",
    "false credit",
    "suggested route",
)


def rule_of(run_infos: Iterable[Mapping[str, Any]]) -> RoutingRule:
    """The `auto` thresholds of the runs' configs (run.json); the defaults when they differ or are missing."""
    rules = set()
    for info in run_infos:
        raw = info.get("config", {}).get("models", {}).get("judge", {}).get("calibration", {})
        try:
            cal = CalibrationConfig.model_validate(raw)
        except ValidationError:  # a run.json from other code: its thresholds cannot be read, so use the defaults
            cal = CalibrationConfig()
        rules.add(
            RoutingRule(
                cal.min_samples, cal.min_precision, cal.min_reward_precision, cal.untrusted_route, cal.max_false_credit
            )
        )
    return rules.pop() if len(rules) == 1 else RoutingRule()


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def calibration_cells(cal: DimensionCalibration, rule: RoutingRule) -> list[str]:
    """One dimension's row, as text, in COLUMNS order."""
    return [
        cal.dimension, str(cal.n), str(cal.gold), str(cal.positives), str(cal.judged_yes),
        _num(cal.precision, ".1%"), _num(cal.recall, ".1%"), _num(cal.margin_95, ".2f"), str(cal.probes),
        _num(cal.false_credit, ".1%"), auto_route(cal, rule),
    ]  # fmt: skip


def card_lines(calibration: Iterable[DimensionCalibration], rule: RoutingRule) -> list[str]:
    """The card's judge calibration section (nothing when the run asked no calibration questions)."""
    rows = list(calibration)
    if not rows:
        return []
    lines = [
        "", "## Judge calibration", "",
        "A share of the code-checked constraints was also asked as a judge question, with the code verdict as the "
        "label (and the gold file's judged examples, `gold`, for soft constraints). Precision and recall are the "
        "judge's YES against those labels; the margin is the smallest log-probability margin (nats, "
        "`models.judge.margin`) at which its YES was at least 95% precise (`-`: none). The suggested route follows "
        f"the run's thresholds (gate at precision >= {rule.min_precision:.0%}, reward-only at >= "
        f"{rule.min_reward_precision:.0%}, at least {rule.min_samples} questions). False credit: the share of "
        "judge-injection probes (wrong answers with override text, a verdict in the reasoning, a persuasive "
        "self-assessment or an echo of the instruction; the right answer is always NO) the judge answered YES; above "
        f"{rule.max_false_credit:.0%} a dimension cannot gate.", "",
        "| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 2) + "---|",
    ]  # fmt: skip
    return lines + ["| " + " | ".join(calibration_cells(c, rule)) + " |" for c in rows]


def judge_summary_rows(
    con: duckdb.DuckDBPyConnection, fingerprint: str, config: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The run's calibration from the catalog as JSON-able rows for the run summary, with the suggested route."""
    rule = rule_of([{"config": config}])
    return [{**asdict(c), "route": auto_route(c, rule)} for c in summarize(calibration_pairs(con, fingerprint))]


def judge_summary_lines(rows: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """Plain-text lines of `judge_summary_rows` for the end-of-run summary (none without calibration questions)."""
    rows = list(rows or [])
    if not rows:
        return []
    widths = (24, 10, 6, 10, 10, 10, 8, 10, 8, 10, 14)
    head = ["dimension", "questions", "gold", "label yes", "judge yes", "precision", "recall", "margin95", "probes",
            "false cred", "route"]  # fmt: skip
    out = ["judge calibration (code-labelled and gold questions; injection probes and their false credit):"]
    for r in rows:
        cells = [
            *calibration_cells(DimensionCalibration(**{k: v for k, v in r.items() if k != "route"}), RoutingRule())[
                :-1
            ],
            r["route"],
        ]
        out.append(_line(cells, widths))
    return [out[0], _line(head, widths), *out[1:]]


def _line(cells: list[str], widths: tuple[int, ...]) -> str:
    return "".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def rich_table(calibration: Iterable[DimensionCalibration], rule: RoutingRule) -> Table | None:
    """`complexify stats`'s judge calibration table; None when no calibration question was stored."""
    from rich.table import Table  # the CLI imports rich only when a command prints

    rows = list(calibration)
    if not rows:
        return None
    table = Table(title="judge calibration (judge YES vs code verdict or gold label)", title_justify="left")
    for i, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if i in (0, len(COLUMNS) - 1) else "right")
    for c in rows:
        table.add_row(*calibration_cells(c, rule))
    return table
