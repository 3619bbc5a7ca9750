"""A batch's completion manifest as a typed record: its shards, per-category counts, and its planned slots.

The manifest is the last file of a batch (the batch is done when, and only when, it exists). Besides the shards
it lists each slot the run planned for the batch: the quota cell the slot was planned for (its attempt counts
there), the instruction composed for it, the follow-up request it answered (a hardened child names its parent),
and its outcome (the cell its kept sample counts in, or why none; whether it asked to be hardened; what it cost),
and the batch's token ledger: what each stage's requests to each role's model cost (`usage`, None in manifests
written before ledgers: unknown).
A resumed run, `complexify stats` and `publish` read these facts instead of planning the run again
(pipeline/run/ledger.py). Manifests written before slots were recorded have `slots` None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from pipeline.store.errors import StoreError


class _Record(BaseModel):
    # unknown keys are ignored: a manifest written by a newer version still reads
    model_config = ConfigDict(frozen=True, extra="ignore")


class ShardEntry(_Record):
    """One shard of the batch: its path under the run folder, rows, bytes and sha256 (None: written before hashes)."""

    file: str
    rows: int
    bytes: int
    sha256: str | None = None


class CategoryCounts(_Record):
    """Instructions of one category in the batch, and their kept and rejected samples."""

    instructions: int = 0
    kept: int = 0
    rejects: int = 0


class SlotRecord(_Record):
    """One planned slot of the batch and what became of it.

    `cell` is the quota cell the slot was planned for: its attempt counts there, and so does what it cost. A
    follow-up slot (`parent_id` set) holds the harder child of an instruction that proved easy; it is charged to
    the cell of that instruction's slot. `kept_in` is the cell the slot's kept sample counts in (None: nothing
    kept; `outcome` says why).
    """

    position: int  # the slot's place in the run: its seed and random draws follow from it
    cell: str
    instruction_id: str
    parent_id: str | None = None
    hardening_round: int = 0
    kept_in: str | None = None
    outcome: str = "kept"  # kept, unresolved (no answer passed), quota_full, outside_grid, too_easy, too_hard
    harden: bool = False  # proved easy: its harder child is planned as a follow-up slot
    candidates: int = 0  # answers of the slot's instruction (repairs included)
    completion_tokens: int = 0  # tokens those answers and the student's rollouts on it generated


class DroppedRequest(_Record):
    """A request to harden an instruction that got no follow-up slot while this batch was planned, and why:
    no_fit (no harder child fits, or every one repeats an instruction of the run), no_budget (the cell it would be
    charged to is out of attempts) or settled (every quota is met or out of attempts)."""

    parent_id: str
    reason: str


class UsageRow(_Record):
    """What one stage's requests to one role's model cost in the batch (the batch's token ledger, one row per stage,
    role and model): requests asked (answered from the request cache or not), the prompt and generated tokens their
    answers record (a replayed answer counts what it cost to generate), requests the server refused, requests the
    cache answered, and tries beyond the first. Judge questions are rows of role `judge` under the stage that asked.
    """

    stage: str
    role: str
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    failures: int = 0
    cached: int = 0
    retries: int = 0


class Writer(_Record):
    host: str
    pid: int


class BatchManifest(_Record):
    format_version: int
    # the run's fingerprint; manifests of format 1 name it config_fingerprint
    run_fingerprint: str = Field(validation_alias=AliasChoices("run_fingerprint", "config_fingerprint"))
    run_id: str
    batch: int
    files: dict[str, ShardEntry]
    categories: dict[str, CategoryCounts]
    written_at: str
    writer: Writer
    slots: tuple[SlotRecord, ...] | None = None  # None: written before slots were recorded
    dropped: tuple[DroppedRequest, ...] = ()
    cells: dict[str, dict[str, int]] | None = None  # a grid run's costs per cell, in manifests before slots
    usage: tuple[UsageRow, ...] | None = None  # the batch's token ledger; None: written before ledgers (unknown)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def parse_manifest(data: Any, path: Path) -> BatchManifest:
    """The manifest in `data` (read from `path`); a StoreError naming the file when it does not have its shape."""
    try:
        return BatchManifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise StoreError(
            f"{path} is not a batch manifest ({where}: {first['msg']}); it is written atomically, so "
            "something else changed it"
        ) from exc
