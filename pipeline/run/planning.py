"""Planning a run: the quota plan of a config, the ledger of a run (started or resumed), the order of its seeds and
the hardener its follow-up slots are composed with. The ledger itself plans the batches (pipeline/run/ledger.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Sequence

from pipeline import store
from pipeline.construct.hardening import harden_unique
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.tree import allocate
from pipeline.models import Instruction, Seed
from pipeline.run.config import RunConfig
from pipeline.run.grid import cell_quotas, grid_cells
from pipeline.run.ledger import Cell, Ledger, QuotaPlan


def quotas_for(cfg: RunConfig) -> dict[str, int]:
    """Per-category quotas of the whole run (categories with none left out), or per grid cell with a grid."""
    if cfg.grid.enabled():
        return cell_quotas(cfg)
    return {c: k for c, k in allocate(cfg.samples, cfg.mix).items() if k > 0}


def quota_plan(cfg: RunConfig) -> QuotaPlan:
    """The facts the run's planning rests on (recorded in run.json when the run starts): cells, quotas, budgets."""
    cells = grid_cells(cfg) if cfg.grid.enabled() else {}
    quotas = {cells.get(key, Cell(key)): q for key, q in quotas_for(cfg).items()}
    rounds = cfg.hardening.rounds if cfg.hardening.enabled else 0
    return QuotaPlan.of(
        quotas, cfg.attempts_factor, batch_size=cfg.batch_size, window=cfg.batches_in_flight, hardening_rounds=rounds
    )


def open_ledger(cfg: RunConfig, run: store.RunPaths) -> Ledger:
    """The ledger of the run: its recorded quota plan (the config's, for a run recorded before plans were) and the
    slots and outcomes of its saved batches."""
    plan = QuotaPlan.from_run_info(run.info, str(run.dir / store.RUN_FILE)) or quota_plan(cfg)
    return Ledger.replay(plan, store.manifests(run))


def stored_ledger(run: store.RunPaths) -> Ledger | None:
    """The ledger of a stored run from its records alone (no config); None for a run recorded before quota plans."""
    plan = QuotaPlan.from_run_info(run.info, str(run.dir / store.RUN_FILE))
    return None if plan is None else Ledger.replay(plan, store.manifests(run))


def seed_order(n_seeds: int, random_seed: int) -> list[int]:
    """The fixed shuffled order in which a run uses its seeds (cycling)."""
    order = list(range(n_seeds))
    random.Random(f"seeds:{random_seed}").shuffle(order)
    return order


Hardener = Callable[[Instruction, Container[str]], Instruction | None]


def hardener(cfg: RunConfig, taxonomy: Taxonomy, seeds: Sequence[Seed]) -> Hardener:
    """The run's hardener: the harder child of an instruction, redrawn while it repeats a fingerprint of `seen`
    (None when no move fits); the run's `seeds` keep each child within what its seed's task can take."""
    options = cfg.compose
    moves = tuple(cfg.hardening.moves)
    by_id = {s.id: s for s in seeds}

    def harden(ins: Instruction, seen: Container[str]) -> Instruction | None:
        return harden_unique(
            ins,
            taxonomy,
            seen=seen,
            options=options,
            random_seed=cfg.random_seed,
            moves=moves,
            seed=by_id.get(ins.seed_id),
        )

    return harden
