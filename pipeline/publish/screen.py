"""The hack screen of a publish: every answer a config teaches goes through `verify.hack_screen` first.

Screened: the assistant answer of every `sft` and `sft_reasoning` row (with its reasoning), the
`reference_response` of every `rl` row, and the `chosen` answer of every `preference`, `contrast` and
`siblings` row (the rejected answers are negatives by design, and `tripwires` are hacks on purpose). A row
whose answer a detector flags is dropped; the build records each dropped row with its reasons
(`screening.json` in the folder), and the card shows the contamination rate per config: dropped rows over
the rows the config had before the screen. The target is 0: the run's gates should have kept none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.models import Instruction
from pipeline.verify.hack_screen import HACK_KINDS, Hack, screen_answer

SCREEN_FILE = "screening.json"
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n\n"


def unwrap_think(content: str) -> tuple[str | None, str]:
    """(reasoning, answer) of an assistant turn written as `<think>\\n{reasoning}\\n</think>\\n\\n{answer}`
    (`rl.with_think`); only that one wrapper is taken off, so markup inside the answer stays in the answer."""
    if content.startswith(THINK_OPEN):
        end = content.find(THINK_CLOSE, len(THINK_OPEN))
        if end >= 0:
            return content[len(THINK_OPEN) : end], content[end + len(THINK_CLOSE) :]
    return None, content


def _last(messages: Any) -> str:
    return str(messages[-1]["content"]) if messages else ""


Row = dict[str, Any]
# config -> (instruction id, answer, reasoning) of a row
ANSWER_OF: dict[str, Callable[[Row], tuple[str, str, str | None]]] = {
    "sft": lambda r: (r["instruction_id"], _last(r["messages"]), r.get("reasoning")),
    "rl": lambda r: (r["id"], r.get("reference_response") or "", None),
    "preference": lambda r: (r["instruction_id"], _last(r["chosen"]), None),
    "sft_reasoning": lambda r: (r["instruction_id"], *reversed(unwrap_think(_last(r["messages"])))),
    "contrast": lambda r: (r["instruction_id"], *reversed(unwrap_think(_last(r["chosen"])))),
    "siblings": lambda r: (r["instruction_id"], *reversed(unwrap_think(_last(r["chosen"])))),
}


@dataclass(frozen=True, slots=True)
class DroppedRow:
    config: str
    id: str
    reasons: list[str]
    evidence: list[str]


@dataclass(frozen=True)
class ScreenReport:
    """Rows per screened config before the screen, and every dropped row with its reasons."""

    screened: dict[str, int] = field(default_factory=dict)
    dropped: list[DroppedRow] = field(default_factory=list)

    def dropped_in(self, config: str) -> int:
        return sum(d.config == config for d in self.dropped)

    def rate(self, config: str) -> float:
        n = self.screened.get(config, 0)
        return self.dropped_in(config) / n if n else 0.0

    def reasons(self, config: str | None = None) -> Counter[str]:
        """Dropped rows per reason (a row with two reasons counts for both)."""
        return Counter(r for d in self.dropped if config in (None, d.config) for r in d.reasons)

    def to_json(self) -> str:
        configs = {
            name: {"rows": n, "dropped": self.dropped_in(name), "contamination_rate": self.rate(name)}
            for name, n in self.screened.items()
        }
        data = {
            "detectors": list(HACK_KINDS),
            "configs": configs,
            "reasons": dict(sorted(self.reasons().items())),
            "dropped": [asdict(d) for d in self.dropped],
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def screen_tables(
    tables: Mapping[str, list[Row]], instructions: Mapping[str, Instruction]
) -> tuple[dict[str, list[Row]], ScreenReport]:
    """The tables without the rows whose answer a hack detector flags, and the report of what was dropped.

    A row whose instruction is not among `instructions` cannot be screened and stays."""
    memo: dict[tuple[str, str, str | None], list[Hack]] = {}
    out: dict[str, list[Row]] = {}
    report = ScreenReport()
    for name, rows in tables.items():
        read = ANSWER_OF.get(name)
        if read is None:
            out[name] = list(rows)
            continue
        report.screened[name] = len(rows)
        kept = []
        for row in rows:
            key = read(row)
            ins = instructions.get(key[0])
            if ins is None:
                kept.append(row)
                continue
            if key not in memo:
                memo[key] = screen_answer(ins, key[1], key[2])
            hacks = memo[key]
            if hacks:
                report.dropped.append(
                    DroppedRow(name, str(row["id"]), [h.reason for h in hacks], [h.evidence for h in hacks])
                )
            else:
                kept.append(row)
        out[name] = kept
    return out, report


def card_lines(report: ScreenReport | None) -> list[str]:
    """The card's hack-screen section: per config, the rows screened, dropped and the contamination rate."""
    if report is None or not report.screened:
        return []
    lines = [
        "", "## Hack screen", "",
        "Every answer a config teaches was screened for gaming before publishing (trip wires, the IFEval guards, "
        "verdict or override text, hidden text, instruction echo, constraint-only answers, keyword stuffing); "
        f"flagged rows were dropped (`{SCREEN_FILE}` lists them with their reasons). Contamination rate: dropped "
        "rows over the config's rows before the screen (target 0).", "",
        "| config | rows screened | dropped | contamination rate | reasons |", "|---|---:|---:|---:|---|",
    ]  # fmt: skip
    for name, n in report.screened.items():
        if not n:
            continue  # a config without rows is not published
        reasons = ", ".join(f"{r} {k}" for r, k in sorted(report.reasons(name).items())) or "-"
        lines.append(f"| {name} | {n} | {report.dropped_in(name)} | {report.rate(name):.1%} | {reasons} |")
    return lines
