"""What a run will cost before it starts: per quota cell, the instructions, candidates, tokens and wall time it
will likely take to meet the quota, and the chance that the cell's attempt budget runs out first.

Every number says where it came from:

- `measured`: earlier runs under the config's output folder that used the same role models, on the same cell
  (its yield: instructions that passed, kept or turned away by a full quota, per attempt charged to the cell; its
  candidates and generated tokens per attempt, the slots' recorded costs plus the run's other requests, the
  rewrites say, spread over its attempts; prompt tokens per attempt from the runs' token ledgers; the generation
  rate from the times the runs saved their batches).
- `prior`: documented guesses, used until a run has measured the cell. Yield: 0.5 for Single, 0.35 for And, 0.2
  for Chain and Selection, 0.1 for both together, times 0.8 per nesting level past the first, held with little
  confidence (a Beta prior worth 2 attempts). Generated tokens: PRIOR_FILL (0.55) of the config's worst case per
  instruction (the default config's runs generate about 25,000 of their 46,000 worst-case tokens). Prompt tokens:
  PRIOR_PROMPT_TOKENS per request. Rate: PRIOR_TOKENS_PER_S for local CPU workers (the default run on 2 cores);
  none for endpoints, whose wall time is unknown until measured.

The yield is uncertain (a Beta distribution: the measured successes and failures on top of the prior), and so is
the luck of the draw: the instructions needed to keep q samples follow a negative binomial for each yield. The
plan gives the mean and a central 80% interval of the instructions the cell will take (never more than its
budget), and the probability that the budget runs out before the quota (a beta-binomial tail). A cell is flagged
`may run out` when that probability is above 20%, and `cannot fill` when runs measured it and kept nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np

from pipeline.run.config import RunConfig
from pipeline.run.identity import role_models
from pipeline.run.ledger import QuotaPlan
from pipeline.run.planning import quota_plan
from pipeline.run.progress import worst_tokens_per_instruction
from pipeline.store import RunPaths, StoreError, list_runs, manifests
from pipeline.store.usage import run_usage

PRIOR_YIELD = {"Single": 0.5, "And": 0.35, "Chain": 0.2, "Selection": 0.2, "Selection_and_Chain": 0.1}
PRIOR_DEPTH_FACTOR = 0.8
PRIOR_WEIGHT = 2.0  # the prior yield counts as this many attempts
PRIOR_FILL = 0.55
PRIOR_PROMPT_TOKENS = 200
PRIOR_TOKENS_PER_S = 280.0
INTERVAL = (0.1, 0.9)
RISK_FLAG = 0.2
SUCCESS = ("kept", "quota_full")  # outcomes of an instruction that passed (a full quota turned it away)
_GRID = 200  # yield values the Beta distribution is summed over


@dataclass(frozen=True)
class Measured:
    """What earlier runs measured on one cell (or run-wide, for `cell` None)."""

    runs: int = 0
    attempts: int = 0
    successes: int = 0
    candidates: int = 0
    generated: int = 0
    prompt: int = 0
    prompt_attempts: int = 0  # attempts of runs with a token ledger (the prompt tokens are known for these)
    seconds: float = 0.0  # generation time the rate is measured over
    rated_tokens: int = 0  # the tokens generated in that time


@dataclass(frozen=True)
class CellEstimate:
    cell: str
    quota: int
    budget: int
    yield_mean: float
    yield_source: str
    instructions: float  # expected, at most the budget
    interval: tuple[int, int | None]  # 80% of runs take between these (None: more than the budget)
    run_out: float  # probability the budget runs out before the quota is met
    candidates: float
    generated: float
    prompt: float
    tokens_source: str
    seconds: float | None
    time_source: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanEstimate:
    cells: list[CellEstimate]
    matched_runs: list[str] = field(default_factory=list)  # fingerprints of the runs measurements came from

    def totals(self) -> dict[str, float | None]:
        seconds = [c.seconds for c in self.cells]
        return {
            "quota": sum(c.quota for c in self.cells),
            "instructions": sum(c.instructions for c in self.cells),
            "candidates": sum(c.candidates for c in self.cells),
            "generated": sum(c.generated for c in self.cells),
            "prompt": sum(c.prompt for c in self.cells),
            "seconds": None if any(s is None for s in seconds) else sum(s for s in seconds if s is not None),
        }


def prior_yield(category: str) -> float:
    m = re.fullmatch(r"(Single|And|Chain|Selection|Selection_and_Chain)(?:_(\d))?", category)
    if m is None:
        return 0.2
    depth = int(m.group(2) or 1)
    return PRIOR_YIELD[m.group(1)] * PRIOR_DEPTH_FACTOR ** (depth - 1)


# --- what earlier runs measured ---------------------------------------------------------------------------


def matching_runs(cfg: RunConfig) -> list[RunPaths]:
    """Runs under the config's output folder whose role models are the config's."""
    root = cfg.resolve(cfg.output_dir)
    if not (root / "runs").is_dir():
        return []
    wanted = role_models(cfg)
    return [r for r in list_runs(root) if r.info.get("models") == wanted]


def _seconds(stamps: Sequence[str]) -> float:
    """Generation time between saved batches, gaps over ten minutes (a stopped run resumed later) left out."""
    times = sorted(datetime.fromisoformat(s).timestamp() for s in stamps)
    return sum(b - a for a, b in pairwise(times) if 0 < b - a < 600)


def measure(runs: Iterable[RunPaths]) -> tuple[dict[str, Measured], Measured]:
    """Per cell and run-wide, what the runs' batch manifests say (slots, their costs, token ledgers, save times)."""
    cells: dict[str, dict[str, float]] = {}
    whole: dict[str, float] = {}
    for run in runs:
        ms = [m for m in manifests(run) if m.slots is not None]
        if not ms:
            continue
        usage = run_usage(ms)
        slots = [s for m in ms for s in m.slots or ()]
        overhead = max(0, usage.total().generated_tokens - sum(s.completion_tokens for s in slots)) / len(slots)
        known = usage.batches == len(ms)  # every batch has a ledger: its prompt tokens are known
        prompt = usage.total().prompt_tokens / len(slots) if known else 0.0
        for s in slots:
            row = cells.setdefault(s.cell, dict.fromkeys(("attempts", "successes", "candidates", "generated"), 0))
            row["attempts"] += 1
            row["successes"] += s.outcome in SUCCESS
            row["candidates"] += s.candidates
            row["generated"] += s.completion_tokens + overhead
            row["prompt"] = row.get("prompt", 0) + prompt
            row["prompt_attempts"] = row.get("prompt_attempts", 0) + known
            row[f"run:{run.fingerprint}"] = 1
        ordered = sorted(ms, key=lambda m: m.batch)
        whole["runs"] = whole.get("runs", 0) + 1
        whole["seconds"] = whole.get("seconds", 0.0) + _seconds([m.written_at for m in ordered])
        rated = sum(run_usage([m]).total().generated_tokens for m in ordered[1:])
        whole["rated_tokens"] = whole.get("rated_tokens", 0) + rated
    out = {
        key: Measured(
            runs=sum(1 for k in row if k.startswith("run:")),
            attempts=int(row["attempts"]),
            successes=int(row["successes"]),
            candidates=int(row["candidates"]),
            generated=int(row["generated"]),
            prompt=int(row.get("prompt", 0)),
            prompt_attempts=int(row.get("prompt_attempts", 0)),
        )
        for key, row in cells.items()
    }
    rate = Measured(runs=int(whole.get("runs", 0)), seconds=whole.get("seconds", 0.0),
                    rated_tokens=int(whole.get("rated_tokens", 0)))  # fmt: skip
    return out, rate


# --- the yield's uncertainty ------------------------------------------------------------------------------


def _beta_grid(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Yields on a grid and their Beta(a, b) weights (summing to 1), the negligible ones left out."""
    points = (np.arange(_GRID) + 0.5) / _GRID
    logs = (a - 1) * np.log(points) + (b - 1) * np.log1p(-points)
    weights = np.exp(logs - logs.max())
    weights /= weights.sum()
    keep = weights > 1e-9
    return points[keep], weights[keep]


def _met_by(n: int, q: int, ps: np.ndarray, ws: np.ndarray) -> float:
    """P(the quota q is met within n instructions): P(Binomial(n, p) >= q) averaged over the yield's weights."""
    if q <= 0:
        return 1.0
    if n < q:
        return 0.0
    if q > 60:  # normal approximation with continuity correction: exact sums get slow and add nothing here
        z = (q - 0.5 - n * ps) / np.sqrt(np.maximum(n * ps * (1 - ps), 2e-12))
        return float(0.5 * _erfc(z).astype(float) @ ws)
    term = (1 - ps) ** n  # P(X = 0), then P(X = k) for k < q
    below = np.zeros_like(ps)
    for k in range(q):
        below += term
        term = term * ((n - k) / (k + 1)) * ps / (1 - ps)
    return float(np.clip(1.0 - below, 0.0, 1.0) @ ws)


_erfc = np.frompyfunc(lambda x: math.erfc(x / math.sqrt(2)), 1, 1)


@functools.lru_cache(maxsize=4096)  # cells with the same quota, budget and yield (a grid's, say) are worked out once
def instructions_needed(q: int, budget: int, a: float, b: float) -> tuple[float, tuple[int, int | None], float]:
    """Expected instructions (capped at the budget), the central 80% interval, P(the budget runs out first).

    P(met within n) is computed at up to 400 values of n and interpolated in between (exact for small budgets)."""
    ps, ws = _beta_grid(a, b)
    at = np.unique(np.linspace(0, budget, min(budget + 1, 401)).round().astype(int))
    met = np.interp(np.arange(budget + 1), at, [_met_by(int(n), q, ps, ws) for n in at])
    expected = float((1.0 - met[:budget]).sum())  # E[min(N, budget)] = sum over n < budget of P(N > n)

    def quantile(level: float) -> int | None:
        reached = np.nonzero(met >= level)[0]
        return int(reached[0]) if reached.size else None

    low = quantile(INTERVAL[0])
    return expected, (budget if low is None else low, quantile(INTERVAL[1])), float(1.0 - met[budget])


# --- the plan ---------------------------------------------------------------------------------------------


def estimate(cfg: RunConfig, runs: Sequence[RunPaths] | None = None) -> PlanEstimate:
    """The plan of `cfg` (see the module docstring); `runs`: where measurements come from (default: the runs under
    the config's output folder with the same role models)."""
    plan: QuotaPlan = quota_plan(cfg)
    runs = matching_runs(cfg) if runs is None else list(runs)
    measured, rate = measure(runs)
    m = cfg.models
    worst = worst_tokens_per_instruction(cfg)
    requests = 1 + int(m.rewriter.enabled) + (1 if m.responder.reasoning == "plan_first" else 0)
    requests += m.student.rollouts * (2 if m.student.reasoning else 1) if m.student.enabled else 0
    tokens_per_s: float | None = None
    time_source = "unknown (endpoints: no measured rate yet)"
    if rate.seconds > 0 and rate.rated_tokens > 0:
        tokens_per_s = rate.rated_tokens / rate.seconds
        time_source = f"measured: {tokens_per_s:.0f} tok/s over {rate.runs} run(s)"
    elif cfg.workers.local:
        tokens_per_s, time_source = PRIOR_TOKENS_PER_S, f"prior: {PRIOR_TOKENS_PER_S:.0f} tok/s (local CPU worker)"
    cells = []
    for c in plan.cells:
        key, q, budget = c.cell.key, c.quota, c.budget
        seen = measured.get(key)
        p0 = prior_yield(c.cell.category)
        a, b = p0 * PRIOR_WEIGHT, (1 - p0) * PRIOR_WEIGHT
        flags = []
        if seen is not None and seen.attempts:
            a, b = a + seen.successes, b + seen.attempts - seen.successes
            y_source = f"measured: {seen.successes}/{seen.attempts} over {seen.runs} run(s)"
            prompt = (
                seen.prompt / seen.prompt_attempts
                if seen.prompt_attempts
                else PRIOR_PROMPT_TOKENS * (requests + cfg.repair_rounds * (1 - a / (a + b)))
            )
            per = seen.candidates / seen.attempts, seen.generated / seen.attempts, prompt
            t_source = f"measured: {seen.attempts} attempts" + ("" if seen.prompt_attempts else " (prompt: prior)")
            if seen.successes == 0 and seen.attempts >= q:
                flags.append("cannot fill: no measured success")
        else:
            y_source = f"prior: {p0:.2f}"
            fails = 1 - p0
            per = (m.responder.n + cfg.repair_rounds * fails, worst * PRIOR_FILL,
                   PRIOR_PROMPT_TOKENS * (requests + cfg.repair_rounds * fails))  # fmt: skip
            t_source = "prior"
        expected, interval, run_out = instructions_needed(q, budget, a, b)
        if run_out > RISK_FLAG:
            flags.append(f"may run out ({run_out:.0%})")
        generated = expected * per[1]
        cells.append(
            CellEstimate(
                key, q, budget, a / (a + b), y_source, expected, interval, run_out, expected * per[0], generated,
                expected * per[2], t_source, None if tokens_per_s is None else generated / tokens_per_s, time_source,
                tuple(flags),
            )
        )  # fmt: skip
    return PlanEstimate(cells, [r.fingerprint for r in runs])


PLAN_KEY = "plan"  # where run.json keeps the plan made when the run started


def plan_record(cfg: RunConfig) -> dict[str, Any] | None:
    """The plan as run.json keeps it (per cell: expected instructions, their interval, generated tokens, the yield
    and its source), for the run summary to compare with what the run took; None when earlier runs cannot be read."""
    try:
        est = estimate(cfg)
    except (StoreError, ValueError, OSError):
        return None
    return {
        c.cell: {"instructions": round(c.instructions, 1), "interval": list(c.interval),
                 "yield": round(c.yield_mean, 3), "yield_source": c.yield_source, "generated": round(c.generated),
                 "run_out": round(c.run_out, 3)}
        for c in est.cells
    }  # fmt: skip
