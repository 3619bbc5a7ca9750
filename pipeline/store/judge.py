"""The run's scored gold examples for judge calibration and its judge-injection probes (`source: injection`):
`runs/<fingerprint>/judge_gold.parquet`, written once at run start (before any batch), read by the catalog's
`judge_gold` table, with what asking them cost (`judge_calibration_usage.json`, ledger rows outside any batch).
Calibration pairs of code checks live in the sample shards instead (`judge_calibration` column), since they
belong to one answer each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.models import JudgeProbe
from pipeline.store.files import create_json_once, write_shard_atomic
from pipeline.store.manifest import UsageRow
from pipeline.store.runs import RunPaths, current_names
from pipeline.store.schema import _STR, JUDGE_PROBE_COLUMNS, Column, Columns

GOLD_FILE = "judge_gold.parquet"
ROUTES_FILE = "judge_routes.json"  # dimension -> gate / reward-only / report-only, as the run decided at start
CALIBRATION_USAGE_FILE = "judge_calibration_usage.json"  # ledger rows of the gold and probe questions
# The probe columns plus the run they belong to (the catalog's `judge_gold` table holds every run's).
JUDGE_GOLD_COLUMNS = Columns(*JUDGE_PROBE_COLUMNS, Column("run_fingerprint", _STR, None))
JUDGE_GOLD_SCHEMA = JUDGE_GOLD_COLUMNS.schema("judge_gold")


def judge_gold_to_table(probes: Sequence[JudgeProbe], *, run_fingerprint: str) -> pa.Table:
    """Scored gold examples as a table of the judge_gold schema."""
    given = {"run_fingerprint": run_fingerprint}
    return pa.Table.from_pydict(
        {c.name: [c.cell(p, given) for p in probes] for c in JUDGE_GOLD_COLUMNS}, schema=JUDGE_GOLD_SCHEMA
    )


def judge_gold_from_table(table: pa.Table) -> list[JudgeProbe]:
    """Scored gold examples back from their table."""
    return [JudgeProbe(**row) for row in JUDGE_GOLD_COLUMNS.decode_table(table)]


def judge_gold_path(run: RunPaths) -> Path:
    return run.dir / GOLD_FILE


def write_judge_gold(run: RunPaths, probes: Sequence[JudgeProbe]) -> None:
    """Store the run's scored gold examples (atomically; a resumed run reads them back instead of asking again)."""
    write_shard_atomic(judge_gold_path(run), judge_gold_to_table(probes, run_fingerprint=run.fingerprint))


def read_judge_gold(run: RunPaths) -> list[JudgeProbe] | None:
    """The run's scored gold examples, or None when it has none stored."""
    path = judge_gold_path(run)
    return judge_gold_from_table(pq.read_table(path)) if path.is_file() else None


def write_calibration_usage(run: RunPaths, rows: Sequence[UsageRow]) -> None:
    """Record what the run's calibration questions cost, once (written before the gold file: a run that stops
    between the two asks again at its next start and keeps the first record)."""
    create_json_once(run.dir / CALIBRATION_USAGE_FILE, [r.model_dump() for r in rows])


def read_calibration_usage(run: RunPaths) -> tuple[UsageRow, ...]:
    """The ledger rows of the run's calibration questions; () for a run that asked none (or before they counted)."""
    path = run.dir / CALIBRATION_USAGE_FILE
    if not path.is_file():
        return ()
    return tuple(UsageRow.model_validate(r) for r in json.loads(path.read_text(encoding="utf-8")))


def write_judge_routes(run: RunPaths, routes: dict[str, str]) -> None:
    """Record the run's judge routes once (every process of a run decides the same routes; the first one writes)."""
    create_json_once(run.dir / ROUTES_FILE, dict(sorted(routes.items())))


def read_judge_routes(run: RunPaths) -> dict[str, str]:
    """The run's judge routes by dimension; {} for a run that recorded none (no judge, or from before routes)."""
    path = run.dir / ROUTES_FILE
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def judge_gold_table(runs: Sequence[RunPaths]) -> pa.Table:
    """Every run's scored gold examples in one table (empty, of the right schema, when there are none)."""
    tables = [
        current_names(pq.read_table(p)).select(JUDGE_GOLD_SCHEMA.names).cast(JUDGE_GOLD_SCHEMA)
        for run in runs
        if (p := judge_gold_path(run)).is_file()
    ]
    return pa.concat_tables([JUDGE_GOLD_SCHEMA.empty_table(), *tables])
