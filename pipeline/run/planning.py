"""Planning a run: per-category quotas, which categories each batch composes, and quota state on resume."""

from __future__ import annotations

import random

from pipeline import store
from pipeline.construct.tree import allocate, split_by_weight
from pipeline.run.config import RunConfig
from pipeline.run.gate import QuotaTracker
from pipeline.run.grid import cell_quotas
from pipeline.run.stages import BatchSpec


def quotas_for(cfg: RunConfig) -> dict[str, int]:
    """Per-category quotas of the whole run (categories with none left out), or per grid cell with a grid."""
    if cfg.grid.enabled():
        return cell_quotas(cfg)
    return {c: k for c, k in allocate(cfg.samples, cfg.mix).items() if k > 0}


def plan_batch(index: int, tracker: QuotaTracker, batch_size: int) -> BatchSpec | None:
    """The next batch: open categories (or grid cells) get instructions in proportion to what they still lack.

    Attempts are counted when planned, so a category never exceeds quota x attempts_factor instructions.
    """
    open_cats = tracker.open_categories()
    if not open_cats:
        return None
    deficit = {c: tracker.quotas[c] - tracker.kept[c] for c in open_cats}
    room = {c: tracker.limit(c) - tracker.attempts[c] for c in open_cats}
    counts = split_by_weight(min(batch_size, sum(room.values())), deficit)
    counts = {c: min(k, room[c]) for c, k in counts.items()}
    if sum(counts.values()) == 0:  # tiny batches: give the slot to the neediest open category
        neediest = max(open_cats, key=lambda c: (deficit[c], c))
        counts = {neediest: 1}
    cats = [c for c in sorted(counts) for _ in range(counts[c])]
    items = tuple((index * batch_size + j, c) for j, c in enumerate(cats))
    for _, c in items:
        tracker.attempts[c] += 1
    return BatchSpec(index=index, items=items)


def seed_order(n_seeds: int, random_seed: int) -> list[int]:
    """The fixed shuffled order in which a run uses its seeds (cycling)."""
    order = list(range(n_seeds))
    random.Random(f"seeds:{random_seed}").shuffle(order)
    return order


def rebuild_tracker(cfg: RunConfig, run: store.RunPaths) -> QuotaTracker:
    """Quota state from the batches already written: attempts = instructions, kept = kept samples (per grid
    cell with a grid: instructions composed for the cell, samples kept in it)."""
    tracker = QuotaTracker(quotas_for(cfg), cfg.attempts_factor)
    for manifest in store.manifests(run):
        counted = manifest.get("cells", {}) if cfg.grid.enabled() else manifest["categories"]
        for cat, counts in counted.items():
            if cat in tracker.quotas:
                tracker.attempts[cat] += counts["instructions"]
                tracker.kept[cat] += counts["kept"]
    return tracker
