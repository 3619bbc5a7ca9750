"""Publish a run as a Hugging Face dataset: `sft`, `rl`, `preference`, `tripwires`, `sft_reasoning` and `contrast`
configs (the last two, and the `rl` baseline columns, from `pipeline.publish.rl`), a dataset card with statistics
and figures made from the data, and an upload in one commit (skipped when nothing changed).

A config without rows is not written (and not listed in the card's `configs:`): `datasets` cannot load an empty
Parquet file, and `load_dataset(folder, name)` then names the configs there are. The card says why it is missing.

Publishing never deletes or overwrites a file it did not write (`pipeline.publish.folder`). The build is made in a
temporary sibling folder first, so a failure leaves the folder as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import store
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import ComplexifyError, UserInputError
from pipeline.models import Sample, StudentEval
from pipeline.publish.card import dataset_card, dataset_stats, make_figures
from pipeline.publish.folder import (
    MARKER_FILE,
    MARKER_VERSION,
    check_publish_target,
    make_sibling,
    move_in,
    owned_files,
    write_marker,
)
from pipeline.publish.gym import gym_ids, gym_rows, gym_schema
from pipeline.publish.rl import (
    BASELINE_FIELDS,
    CONTRAST_SCHEMA,
    MESSAGES,
    SFT_REASONING_SCHEMA,
    baseline_columns,
    contrast_rows,
    sft_reasoning_rows,
    student_evals,
)
from pipeline.publish.rl import chat as _chat
from pipeline.publish.rl import constraint_info as _constraint_info
from pipeline.publish.screen import SCREEN_FILE, ScreenReport, screen_tables
from pipeline.publish.siblings import SIBLINGS_SCHEMA, sibling_rows
from pipeline.run.gate import preference_pairs
from pipeline.run.report import GridRow, stored_grid_report
from pipeline.store import RunStats
from pipeline.store.files import file_sha256
from pipeline.store.usage import UsageTable, stored_run_usage
from pipeline.verify.plan import without_checks
from pipeline.verify.reward import ground_truth_for
from pipeline.verify.tripwires import tripwire_rows

DIGEST_FILE = "complexify.json"


class PublishError(ComplexifyError):
    """Uploading failed; the local folder is complete and can be pushed again."""


SCHEMAS: dict[str, pa.Schema] = {
    "sft": pa.schema(
        [
            ("id", pa.string()),
            ("instruction_id", pa.string()),
            ("messages", MESSAGES),
            ("reasoning", pa.string()),
            ("category", pa.string()),
            ("composition", pa.list_(pa.string())),
            ("constraint_ids", pa.list_(pa.string())),
            ("dimensions", pa.list_(pa.string())),
            ("model", pa.string()),
        ]
    ),
    "rl": pa.schema(
        [
            ("id", pa.string()),
            ("data_source", pa.string()),
            ("prompt", MESSAGES),
            ("ground_truth", pa.string()),
            ("category", pa.string()),
            ("composition", pa.list_(pa.string())),
            ("depth", pa.int32()),
            ("constraint_ids", pa.list_(pa.string())),
            ("dimensions", pa.list_(pa.string())),
            ("n_checks", pa.int32()),
            ("reference_response", pa.string()),
            *BASELINE_FIELDS,
        ]
    ),
    "preference": pa.schema(
        [
            ("id", pa.string()),
            ("instruction_id", pa.string()),
            ("prompt", MESSAGES),
            ("chosen", MESSAGES),
            ("rejected", MESSAGES),
            ("chosen_drfr", pa.float64()),
            ("rejected_drfr", pa.float64()),
            ("category", pa.string()),
        ]
    ),  # hacks of the checkers: a reward function must score every row's `response` <= 0 (reward-hacking watch)
    "tripwires": pa.schema(
        [
            ("id", pa.string()),
            ("data_source", pa.string()),
            ("prompt", MESSAGES),
            ("ground_truth", pa.string()),
            ("response", pa.string()),
            ("checker", pa.string()),
            ("family", pa.string()),
            ("why", pa.string()),
            ("known_weakness", pa.string()),
        ]
    ),
    "sft_reasoning": SFT_REASONING_SCHEMA,
    "contrast": CONTRAST_SCHEMA,
    "siblings": SIBLINGS_SCHEMA,
}


def sft_rows(kept: Sequence[Sample]) -> list[dict[str, Any]]:
    rows = []
    for s in kept:
        ids, dims = _constraint_info(s)
        rows.append(
            {
                "id": s.id,
                "instruction_id": s.instruction.id,
                "messages": _chat(s.instruction.prompt, s.response.text),
                "reasoning": s.response.reasoning,
                "category": s.instruction.category,
                "composition": s.instruction.composition,
                "constraint_ids": ids,
                "dimensions": dims,
                "model": s.response.model,
            }
        )
    return rows


def rl_rows(
    kept: Sequence[Sample], evals: dict[str, StudentEval] | None = None, report_only: Collection[str] = ()
) -> list[dict[str, Any]]:
    """RL rows with the student's baseline; when `evals` (the run's measurements) is non-empty, only measured ones.

    Judge checks of `report_only` dimensions (the run's judge routes) leave the published plan, so the
    rewards never count them."""
    rows = []
    for s in kept:
        ev = (evals or {}).get(s.instruction.id)
        if evals and ev is None:
            continue  # a run that measured difficulty publishes measured instructions only (see publish_rl)
        plan = without_checks(s.instruction.plan, lambda c: c.kind == "judge" and c.dimension in report_only)
        ids, dims = _constraint_info(s)
        rows.append(
            {
                "id": s.instruction.id,
                "data_source": "complexify",
                "prompt": _chat(s.instruction.prompt),
                "ground_truth": ground_truth_for(
                    s.instruction.model_copy(update={"plan": plan}), ev.baseline.mean_satisfied if ev else None
                ),
                "category": s.instruction.category,
                "composition": s.instruction.composition,
                "depth": s.instruction.depth,
                "constraint_ids": ids,
                "dimensions": dims,
                "n_checks": len(plan.checks),
                "reference_response": s.response.text,
                **baseline_columns(ev),
            }
        )
    return rows


def preference_rows(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    rows = []
    for chosen, rejected in preference_pairs(samples):
        rows.append(
            {
                "id": f"{chosen.id}__vs__{rejected.id}",
                "instruction_id": chosen.instruction.id,
                "prompt": _chat(chosen.instruction.prompt),
                "chosen": _chat(chosen.instruction.prompt, chosen.response.text),
                "rejected": _chat(chosen.instruction.prompt, rejected.response.text),
                "chosen_drfr": chosen.verdict.drfr,
                "rejected_drfr": rejected.verdict.drfr,
                "category": chosen.instruction.category,
            }
        )
    return rows


def _write_table(rows: list[dict[str, Any]], schema: pa.Schema, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


@dataclass(frozen=True)
class BuiltDataset:
    folder: Path
    counts: dict[str, int]
    digest: str
    files: tuple[str, ...] = ()  # what the build wrote (relative paths): what push_folder uploads
    screen: ScreenReport | None = None  # the hack screen: rows dropped per config, with reasons


def build_dataset_folder(
    kept: Sequence[Sample],
    rejects: Sequence[Sample],
    out: Path,
    *,
    repo_id: str,
    run_info: dict[str, Any],
    split: str = "train",
    protect: Sequence[str | Path] = (),
    stats: RunStats | None = None,
    judge_routes: Mapping[str, str] | None = None,
    grid: Sequence[GridRow] = (),
    usage: UsageTable | None = None,
) -> BuiltDataset:
    """Write the Hub-layout folder (data/{config}/{split}-00000-of-00001.parquet, README.md, figures).

    The build is written beside `out` under a temporary name; a new or empty `out` is then replaced by it in one
    rename, an earlier publish folder gets its own files replaced one by one and keeps every other file (see the
    module docstring). A failed build leaves `out` as it was. `out` must be new, empty, or an earlier publish
    folder (see check_publish_target); `protect` lists output roots that `out` must stay clear of. The card
    shows `stats` (a stored run's, from its catalog), or by default the same statistics of `kept` and `rejects`.
    """
    if not kept:
        raise UserInputError("nothing to publish: the run has no kept samples")
    target = check_publish_target(out, protect=protect)
    evals = student_evals([*kept, *rejects])
    ifbench_specs = [s for s in load_taxonomy().specs.values() if s.vocabulary == "ifbench"]  # ids NeMo Gym knows
    tables = {
        "sft": sft_rows(kept),
        "rl": rl_rows(kept, evals, {d for d, r in (judge_routes or {}).items() if r == "report-only"}),
        "preference": preference_rows([*kept, *rejects]),
        "tripwires": tripwire_rows(),
        "sft_reasoning": sft_reasoning_rows(kept),
        "contrast": contrast_rows(kept, evals),
        "siblings": sibling_rows([*kept, *rejects]),
        "gym": gym_rows(kept, gym_ids(str(s.checker_id) for s in ifbench_specs)),
    }
    tables, screen = screen_tables(tables, {s.instruction.id: s.instruction for s in [*kept, *rejects]})
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_sibling(target, "tmp")
    except OSError as exc:
        raise UserInputError(
            f"cannot write beside --out {target} ({exc.strerror or exc}); pass --out in a folder you can write to"
        ) from exc
    try:
        for name, rows in tables.items():
            if not rows:
                continue  # `datasets` cannot load an empty Parquet file: the config is left out (the card says so)
            schema = SCHEMAS[name] if name in SCHEMAS else gym_schema(rows)  # gym: its kwargs struct is the rows'
            _write_table(rows, schema, tmp / "data" / name / f"{split}-00000-of-00001.parquet")
        digest = _data_digest(tmp)
        stats = stats or dataset_stats(kept, rejects)
        figures = make_figures(stats, tmp / "figures")
        (tmp / "README.md").write_text(
            dataset_card(repo_id, tables, stats, run_info, figures, split, grid, usage=usage, screen=screen),
            encoding="utf-8",
        )
        (tmp / SCREEN_FILE).write_text(screen.to_json(), encoding="utf-8")
        (tmp / DIGEST_FILE).write_text(json.dumps({"digest": digest, "run": run_info.get("run_id")}, indent=2) + "\n")
        files = {p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        base = {
            "complexify_publish": MARKER_VERSION,
            "repo_id": repo_id,
            "run": run_info.get("run_id"),
            "digest": digest,
        }
        # checked again just before moving in: someone may have put or changed files there while we built
        check_publish_target(target, protect=protect)
        if target.is_dir() and any(target.iterdir()):
            move_in(tmp, target, files, owned_files(target), base)
        else:
            write_marker(tmp, base, files)
            os.rename(tmp, target)  # rename replaces an empty folder in one step; a non-empty one makes it fail
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # our own unfinished build, or what is left of it after moving its files in
    return BuiltDataset(
        folder=target, counts={k: len(v) for k, v in tables.items()}, digest=digest, files=tuple(files), screen=screen
    )


def _data_digest(folder: Path) -> str:
    """Content hash of the data files: equal digests mean an unchanged dataset."""
    h = hashlib.sha256()
    for p in sorted((folder / "data").rglob("*.parquet")):
        h.update(p.relative_to(folder).as_posix().encode())
        for row in pq.read_table(p).to_pylist():  # rows, not bytes: parquet metadata may vary between writers
            h.update(json.dumps(row, sort_keys=True, default=str).encode())
    return h.hexdigest()


# --- pushing ------------------------------------------------------------------------------------------


def remote_digest(api: Any, repo_id: str) -> str | None:
    """The digest recorded in the repo's last publish, or None if the repo or file does not exist."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    try:
        path = api.hf_hub_download(repo_id=repo_id, filename=DIGEST_FILE, repo_type="dataset")
    except (EntryNotFoundError, RepositoryNotFoundError):
        return None
    return str(json.loads(Path(path).read_text()).get("digest"))


def push_folder(
    built: BuiltDataset, repo_id: str, *, private: bool = False, api: Any = None, token: str | None = None
) -> str:
    """Create the repo if needed and upload the folder in one commit; skip when the data is unchanged."""
    from huggingface_hub import HfApi

    if os.environ.get("HF_HUB_OFFLINE") == "1" and api is None:
        raise PublishError(
            f"cannot push to {repo_id}: HF_HUB_OFFLINE=1 (no network). The dataset folder is ready at {built.folder}; "
            "push it later with network access and a token (HF_TOKEN or `huggingface-cli login`)."
        )
    from huggingface_hub import get_token

    token = token or os.environ.get("HF_TOKEN") or get_token()
    if api is None and not token:
        raise PublishError(
            f"no Hugging Face token: set HF_TOKEN or run `huggingface-cli login`. The dataset folder is ready at "
            f"{built.folder}; nothing was uploaded."
        )
    api = api or HfApi(token=token)
    try:
        if remote_digest(api, repo_id) == built.digest:
            return "unchanged"
        api.create_repo(repo_id=repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(built.folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message=f"complexify: publish {built.digest[:12]}",
            allow_patterns=list(built.files) or None,  # the build only: not the notes or other files kept beside it
            ignore_patterns=[MARKER_FILE],  # a local bookkeeping file, not part of the dataset
        )
    except Exception as exc:  # network, auth, quota: the folder stays complete for a later push
        raise PublishError(
            f"upload to {repo_id} failed ({type(exc).__name__}: {exc}); the folder at {built.folder} is complete"
        ) from exc
    return str(getattr(info, "oid", None) or getattr(info, "commit_url", "") or "uploaded")


@dataclass(frozen=True)
class PublishResult:
    built: BuiltDataset
    pushed: str | None  # commit id, "unchanged", or None for a dry run


def publish_run(
    root: str | Path,
    fingerprint: str,
    repo_id: str,
    *,
    out: str | Path | None = None,
    dry_run: bool = False,
    private: bool = False,
) -> PublishResult:
    """Build the Hub folder for one stored run and, unless `dry_run`, push it.

    `out` (default `<root>/hub/ORG__NAME`) must not overlap the run data under `root`; see check_publish_target.
    """
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UserInputError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    target = Path(out) if out is not None else Path(root) / "hub" / repo_id.replace("/", "__")
    check_publish_target(target, protect=[root])  # fail before reading the run
    run = store.find_run(root, fingerprint)
    kept = store.load_samples(run)
    rejects = store.load_samples(run, kept=False)
    with store.open_catalog(root) as con:  # the card shows what `complexify stats` and the run summary show
        stats = store.run_stats(con, run.fingerprint)
    run_info = {**run.info, "run_id": run.run_id}
    built = build_dataset_folder(
        kept, rejects, target, repo_id=repo_id, run_info=run_info, protect=[root], stats=stats,
        judge_routes=store.read_judge_routes(run), grid=stored_grid_report(run),
        usage=stored_run_usage(run),
    )  # fmt: skip
    return PublishResult(built=built, pushed=None if dry_run else push_folder(built, repo_id, private=private))
