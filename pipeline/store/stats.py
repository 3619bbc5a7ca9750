"""The one definition of a run's statistics: a SQL query over the catalog views, for one run fingerprint.

`complexify stats`, the dataset card and the end-of-run summary all read `run_stats`, and the catalog's
`stats` table is this query materialised for every run, so they cannot disagree. One row per (level,
category, key); every count adds up over categories and over runs:

- `category` (key = the category): instructions stored, candidates (kept + rejected answers), kept, and
  the completion tokens the candidates cost. Yield = kept / instructions.
- `dimension` and `checker` (a code checker id, or `judge:<spec id>`): candidates whose verdict has such a
  check and how many of them were kept; the checks scored (not skipped), passed (own result), gated
  (passed after dependency gating) and skipped (judge checks without a judge). Dimension rows also count
  the checked constraints of kept samples (`kept_constraints`).
- `reject_reason` (the full reason, `failed_check:c1`) and `reject_kind` (the part before `:`): how many
  rejected candidates carry it.
- `difficulty` (key = a band of the student's no-reasoning baseline pass rate, DIFFICULTY_BANDS) and
  `reasoning_outcome` (key = helped / tied / hurt: the student's mean satisfied checks with reasoning vs
  without): the instructions the student was measured on, with their candidates and kept samples. Only
  instructions with a measurement count (a run that measured nothing has no rows at these levels).
- `hardening_round` (key = the round, "0" for composed instructions; only in runs that hardened something):
  instructions, candidates and kept per round, and in `checks` / `passed` the responder's first answers
  (repairs aside) and how many of them passed every check, so `pass_rate` is the first-answer pass rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

import duckdb

from pipeline.verify.judge_calibration import DimensionCalibration, LabelledScore, judge_score, summarize

LEVELS = (
    "category", "dimension", "checker", "reject_reason", "reject_kind", "difficulty", "reasoning_outcome",
    "hardening_round",
)  # fmt: skip
# Bands of the baseline pass rate, easiest last; the CASE in STATS_SQL assigns them in this order.
DIFFICULTY_BANDS = ("0 (never solved)", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1)", "1 (always solved)")
OUTCOMES = ("helped", "tied", "hurt")

STATS_SQL = """
WITH
ins AS (
    SELECT category, count(*) AS instructions FROM instructions WHERE run_fingerprint = $fingerprint GROUP BY ALL
),
cand AS (SELECT * FROM candidates WHERE run_fingerprint = $fingerprint),
per_category AS (
    SELECT category, count(*) AS candidates, count(*) FILTER (WHERE kept) AS kept,
           sum(completion_tokens) AS completion_tokens
    FROM cand GROUP BY ALL
),
outcomes AS (
    SELECT category, sample_id, kept, c.skipped AS skipped, c.passed AS passed, c.gated AS gated,
           coalesce(c.dimension, '(none)') AS dimension,
           CASE WHEN c.kind = 'judge' THEN 'judge:' || coalesce(c.spec_id, '?') ELSE coalesce(c.checker, '?')
           END AS checker
    FROM (SELECT category, sample_id, kept, unnest(checks) AS c FROM cand)
),
per_check AS (
    SELECT level, category, key, count(DISTINCT sample_id) AS candidates,
           count(DISTINCT sample_id) FILTER (WHERE kept) AS kept,
           count(*) FILTER (WHERE NOT skipped) AS checks, count(*) FILTER (WHERE passed AND NOT skipped) AS passed,
           count(*) FILTER (WHERE gated AND NOT skipped) AS gated, count(*) FILTER (WHERE skipped) AS skipped
    FROM (SELECT 'dimension' AS level, category, dimension AS key, sample_id, kept, skipped, passed, gated
          FROM outcomes
          UNION ALL
          SELECT 'checker', category, checker, sample_id, kept, skipped, passed, gated FROM outcomes)
    GROUP BY ALL
),
kept_constraints AS (
    SELECT category, coalesce(c.dimension, '(none)') AS key, count(*) AS kept_constraints
    FROM (SELECT category, unnest(constraints) AS c FROM cand WHERE kept)
    WHERE c.checked  -- constraints on the path the instruction takes (an untaken branch is not checked)
    GROUP BY ALL
),
reasons AS (SELECT category, sample_id, unnest(reject_reasons) AS reason FROM cand WHERE NOT kept),
per_reason AS (
    SELECT level, category, key, count(DISTINCT sample_id) AS candidates
    FROM (SELECT 'reject_reason' AS level, category, reason AS key, sample_id FROM reasons
          UNION ALL
          SELECT 'reject_kind', category, split_part(reason, ':', 1), sample_id FROM reasons)
    GROUP BY ALL
),
measured AS (  -- instructions the student was measured on; every candidate of one carries the same measurement
    SELECT category, instruction_id, max(baseline_pass_rate) AS pass_rate, max(reasoning_outcome) AS outcome,
           count(*) AS candidates, count(*) FILTER (WHERE kept) AS kept
    FROM cand GROUP BY category, instruction_id HAVING count(baseline_pass_rate) > 0
),
per_difficulty AS (
    SELECT level, category, key, count(*) AS instructions, sum(candidates)::BIGINT AS candidates,
           sum(kept)::BIGINT AS kept
    FROM (SELECT 'difficulty' AS level, category, candidates, kept,
                 CASE WHEN pass_rate <= 0 THEN '0 (never solved)' WHEN pass_rate <= 0.25 THEN '(0, 0.25]'
                      WHEN pass_rate <= 0.5 THEN '(0.25, 0.5]' WHEN pass_rate <= 0.75 THEN '(0.5, 0.75]'
                      WHEN pass_rate < 1 THEN '(0.75, 1)' ELSE '1 (always solved)' END AS key
          FROM measured
          UNION ALL
          SELECT 'reasoning_outcome', category, candidates, kept, outcome FROM measured WHERE outcome IS NOT NULL)
    GROUP BY ALL
)
SELECT 'category' AS level, category, category AS key,
       coalesce(instructions, 0)::BIGINT AS instructions, coalesce(candidates, 0)::BIGINT AS candidates,
       coalesce(kept, 0)::BIGINT AS kept, 0::BIGINT AS checks, 0::BIGINT AS passed, 0::BIGINT AS gated,
       0::BIGINT AS skipped, 0::BIGINT AS kept_constraints, coalesce(completion_tokens, 0)::BIGINT AS completion_tokens
FROM ins FULL JOIN per_category USING (category)
UNION ALL
SELECT p.level, p.category, p.key, 0, p.candidates, p.kept, p.checks, p.passed, p.gated, p.skipped,
       coalesce(k.kept_constraints, 0), 0
FROM per_check p LEFT JOIN kept_constraints k ON p.level = 'dimension' AND k.category = p.category AND k.key = p.key
UNION ALL
SELECT level, category, key, 0, candidates, 0, 0, 0, 0, 0, 0, 0 FROM per_reason
UNION ALL
SELECT level, category, key, instructions, candidates, kept, 0, 0, 0, 0, 0, 0 FROM per_difficulty
UNION ALL
SELECT 'hardening_round', category, coalesce(hardening_round, 0)::VARCHAR, count(DISTINCT instruction_id),
       count(*), count(*) FILTER (WHERE kept), count(*) FILTER (WHERE "round" = 0),
       count(*) FILTER (WHERE "round" = 0 AND all_pass), 0, 0, 0, 0
FROM cand WHERE EXISTS (SELECT 1 FROM cand WHERE hardening_round > 0) GROUP BY ALL
ORDER BY level, category, key
"""


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One row of the statistics query (see the module docstring for what each count means at each level)."""

    level: str
    category: str
    key: str
    instructions: int = 0
    candidates: int = 0
    kept: int = 0
    checks: int = 0
    passed: int = 0
    gated: int = 0
    skipped: int = 0
    kept_constraints: int = 0
    completion_tokens: int = 0

    @property
    def yield_rate(self) -> float:
        """Kept samples per instruction (0 when there were none)."""
        return self.kept / self.instructions if self.instructions else 0.0

    @property
    def pass_rate(self) -> float:
        """Scored checks that passed on their own (0 when none were scored)."""
        return self.passed / self.checks if self.checks else 0.0


_COUNTS = [f.name for f in fields(StatsRow) if f.name not in ("level", "category", "key")]


def _summed(rows: Iterable[StatsRow], level: str, category: str, key: str) -> StatsRow:
    rows = list(rows)
    return StatsRow(level, category, key, **{name: sum(getattr(r, name) for r in rows) for name in _COUNTS})


@dataclass(frozen=True)
class RunStats:
    """The statistics rows of one or more runs, with the sums the reports show, and the judge's calibration."""

    rows: tuple[StatsRow, ...]
    # per dimension, pooled over the runs (see the end of the module)
    calibration: tuple[DimensionCalibration, ...] = ()

    def level(self, level: str, category: str | None = None) -> dict[str, StatsRow]:
        """Rows of `level` by key (sorted), summed over categories and runs, or of one `category` only."""
        if level not in LEVELS:
            raise ValueError(f"unknown statistics level {level!r}; known: {', '.join(LEVELS)}")
        groups: dict[str, list[StatsRow]] = {}
        for r in self.rows:
            if r.level == level and (category is None or r.category == category):
                groups.setdefault(r.key, []).append(r)
        return {key: _summed(group, level, category or "*", key) for key, group in sorted(groups.items())}

    def total(self) -> StatsRow:
        """Instructions, candidates, kept and tokens over every category."""
        return _summed((r for r in self.rows if r.level == "category"), "total", "*", "*")

    def _ordered(self, level: str, keys: Sequence[str], category: str | None) -> dict[str, StatsRow]:
        rows = self.level(level, category)
        if not rows:
            return {}
        return {k: rows.get(k) or StatsRow(level, category or "*", k) for k in keys}

    def difficulty(self, category: str | None = None) -> dict[str, StatsRow]:
        """Measured instructions per baseline pass-rate band, every band in order; empty when nothing was measured."""
        return self._ordered("difficulty", DIFFICULTY_BANDS, category)

    def hardening_rounds(self, category: str | None = None) -> dict[int, StatsRow]:
        """Instructions, candidates and first-answer pass rate per hardening round; empty when nothing was hardened."""
        return {
            int(key): row
            for key, row in sorted(self.level("hardening_round", category).items(), key=lambda kv: int(kv[0]))
        }

    def reasoning_outcomes(self, category: str | None = None) -> dict[str, StatsRow]:
        """Measured instructions per reasoning outcome (helped, tied, hurt); empty when none was measured."""
        return self._ordered("reasoning_outcome", OUTCOMES, category)


def run_stats(con: duckdb.DuckDBPyConnection, fingerprints: str | Sequence[str]) -> RunStats:
    """The statistics of the run(s) with these run fingerprints, from the catalog views on `con`."""
    wanted = [fingerprints] if isinstance(fingerprints, str) else list(fingerprints)
    rows = [StatsRow(*r) for fp in wanted for r in con.execute(STATS_SQL, {"fingerprint": fp}).fetchall()]
    return RunStats(tuple(rows), tuple(summarize(p for fp in wanted for p in calibration_pairs(con, fp))))


def create_stats_table(con: duckdb.DuckDBPyConnection, fingerprints: Sequence[str]) -> None:
    """Materialise the query as the catalog's `stats` table: one row per (run_fingerprint, level, category, key)."""
    select = f"SELECT $fingerprint::VARCHAR AS run_fingerprint, * FROM ({STATS_SQL})"
    con.execute(f"CREATE TABLE stats AS {select} LIMIT 0", {"fingerprint": ""})
    for fp in fingerprints:
        con.execute(f"INSERT INTO stats {select}", {"fingerprint": fp})


# --- judge calibration -------------------------------------------------------------------------------------
# Not a sum, so not a row of STATS_SQL: per dimension, the judge's precision and recall against known labels
# and its 95%-precision margin, from the stored pairs (the candidates' `judge_calibration` and the run's
# `judge_gold` table) through judge_calibration.summarize. The catalog's `judge_calibration` table is the
# same numbers per run.

_PAIRS_FROM_CANDIDATES = """
SELECT p.dimension, p.logprob_yes, p.logprob_no, p.judged_yes, p.label, p.source = 'gold', false
FROM (SELECT unnest(judge_calibration) AS p FROM candidates WHERE run_fingerprint = $fingerprint)
"""
_PAIRS_FROM_GOLD = """
SELECT dimension, logprob_yes, logprob_no, judged_yes, label, source IS DISTINCT FROM 'injection',
    source = 'injection'
FROM judge_gold WHERE run_fingerprint = $fingerprint
"""


def _has(con: duckdb.DuckDBPyConnection, table: str, column: str | None = None) -> bool:
    """Whether the catalog has this table or view (and column): catalogs and shards of older runs may lack them."""
    sql = "SELECT count(*) FROM information_schema.columns WHERE table_name = ?" + (
        " AND column_name = ?" if column else ""
    )
    row = con.execute(sql, [table, column] if column else [table]).fetchone()
    return bool(row and row[0])


def calibration_pairs(con: duckdb.DuckDBPyConnection, fingerprint: str) -> list[LabelledScore]:
    """The stored judge calibration pairs of one run: code-labelled questions of its candidates, then gold ones and
    the judge-injection probes (stored with the gold examples)."""
    wanted = (
        (_PAIRS_FROM_CANDIDATES, _has(con, "candidates", "judge_calibration")),
        (_PAIRS_FROM_GOLD, _has(con, "judge_gold")),
    )
    rows = [r for sql, ok in wanted if ok for r in con.execute(sql, {"fingerprint": fingerprint}).fetchall()]
    return [
        LabelledScore(dim, judge_score(y, n), bool(yes), bool(label), bool(gold), bool(injection))
        for dim, y, n, yes, label, gold, injection in rows
    ]


def create_judge_calibration_table(con: duckdb.DuckDBPyConnection, fingerprints: Sequence[str]) -> None:
    """The calibration as the catalog's `judge_calibration` table: one row per (run_fingerprint, dimension)."""
    con.execute(
        "CREATE TABLE judge_calibration (run_fingerprint VARCHAR, dimension VARCHAR, n BIGINT, gold BIGINT, "
        "positives BIGINT, judged_yes BIGINT, true_yes BIGINT, precision DOUBLE, recall DOUBLE, margin_95 DOUBLE, "
        "probes BIGINT, false_credit DOUBLE)"
    )
    rows = [(fp, *astuple(c)) for fp in fingerprints for c in summarize(calibration_pairs(con, fp))]
    if rows:
        con.executemany("INSERT INTO judge_calibration VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
