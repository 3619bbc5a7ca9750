"""A run's token budget: where it stops before its quotas are met, read off the run's token ledger.

The budget (`budget.max_generated_tokens`, `budget.max_cost` at the config's `prices`) is checked before each batch
is planned, against the ledger of every batch the run saved, resumed sessions included. Once a limit is reached no
further batch is planned; the batches already in flight are finished and saved, so the run stops at a batch
boundary, never in the middle of one (it can go past the limit by at most the batches in flight). Rerunning with a
larger budget goes on with the same run (the budget is not part of its identity).
"""

from __future__ import annotations

from pipeline.run.config import RunConfig
from pipeline.store.usage import ModelPrice, UsageTable, prices_of


def run_prices(cfg: RunConfig) -> dict[str, ModelPrice]:
    """The config's prices per model (the same reading a stored run's recorded config gets)."""
    return prices_of(cfg.model_dump(mode="json"))


def budget_reached(cfg: RunConfig, usage: UsageTable) -> str | None:
    """What the run's ledger has met of its budget, said in one line; None while it is within it."""
    budget = cfg.budget
    total = usage.total()
    limit = budget.max_generated_tokens
    if limit is not None and total.generated_tokens >= limit:
        return f"budget.max_generated_tokens met: {total.generated_tokens} tokens generated, the budget is {limit}"
    if budget.max_cost is not None:
        cost = usage.cost(run_prices(cfg))
        if cost is not None and cost >= budget.max_cost:
            return f"budget.max_cost met: the run cost {cost:.4f}, the budget is {budget.max_cost:g}"
    return None
