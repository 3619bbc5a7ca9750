"""Publish a run as a Hugging Face dataset: `sft`, `rl`, `preference`, `tripwires`, `sft_reasoning` and `contrast`
configs (the last two, and the `rl` baseline columns, from `pipeline.publish_rl`), a dataset card with statistics
and figures made from the data, and an upload in one commit (skipped when nothing changed).

A config without rows is not written (and not listed in the card's `configs:`): `datasets` cannot load an empty
Parquet file, and `load_dataset(folder, name)` then names the configs there are. The card says why it is missing.

Publishing never deletes or overwrites a file it did not write. The folder's marker (`.complexify-publish.json`)
lists every file the build wrote with its sha256; a later build replaces exactly those (and removes those it no
longer writes), leaves every other file and folder (a `.git`, your notes) alone, and refuses, changing nothing,
when a file it wrote was changed since, when one of yours is where it would write, or when the marker is not
one it wrote. The build is made in a temporary sibling folder first, so a failure leaves the folder as it was."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import store
from pipeline.card import dataset_card, dataset_stats, make_figures
from pipeline.errors import ComplexifyError, UserInputError
from pipeline.gate import preference_pairs
from pipeline.models import Sample, StudentEval
from pipeline.publish_rl import (
    BASELINE_FIELDS,
    CONTRAST_SCHEMA,
    MESSAGES,
    SFT_REASONING_SCHEMA,
    baseline_columns,
    contrast_rows,
    sft_reasoning_rows,
    student_evals,
)
from pipeline.publish_rl import chat as _chat
from pipeline.publish_rl import constraint_info as _constraint_info
from pipeline.publish_siblings import SIBLINGS_SCHEMA, sibling_rows
from pipeline.run_report import stored_grid_report
from pipeline.store import RunStats
from pipeline.store.files import file_sha256, write_files_atomic, write_json_atomic
from pipeline.verify.plan import without_checks
from pipeline.verify.reward import ground_truth_for
from pipeline.verify.tripwires import tripwire_rows

DIGEST_FILE = "complexify.json"
# Written into every folder build_dataset_folder makes: the files of the build and their sha256 (see the module docstring).
MARKER_FILE = ".complexify-publish.json"
MARKER_VERSION = 2
# The only paths a build writes (and so the only ones a marker may list).
_BUILD_PATH = re.compile(
    r"README\.md|complexify\.json|data/[A-Za-z0-9_]+/[A-Za-z0-9_][A-Za-z0-9_.-]*\.parquet|figures/[A-Za-z0-9_][A-Za-z0-9_.-]*\.png"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NEW_FOLDER = "pass --out a new folder"
CONFIGS = ("sft", "rl", "preference", "tripwires", "sft_reasoning", "contrast", "siblings")


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
    ),    # hacks of the checkers: a reward function must score every row's `response` <= 0 (reward-hacking watch)
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


def _marker_files(folder: Path) -> dict[str, set[str]]:
    """The files the marker in `folder` says a build wrote, each with the sha256 it may have (two while a build
    was being moved in). A marker this complexify did not write is a UserInputError: nothing there can be trusted."""
    path = folder / MARKER_FILE

    def refuse(why: str) -> UserInputError:
        return UserInputError(
            f"--out {folder}: its {MARKER_FILE} {why}, so complexify cannot tell the files it wrote from yours; "
            f"nothing was changed: {_NEW_FOLDER}"
        )

    if path.is_symlink() or not path.is_file():
        raise refuse("is not a regular file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise refuse(f"is unreadable ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("complexify_publish") != MARKER_VERSION or "files" not in data:
        raise refuse("is not a marker this complexify wrote (it lists no files)")
    listed: dict[str, set[str]] = {}
    for key in ("files", "pending"):
        entries = data.get(key, {})
        if not isinstance(entries, dict):
            raise refuse(f"is not a marker this complexify wrote ({key!r} is not a mapping)")
        for rel, digest in entries.items():
            if not _BUILD_PATH.fullmatch(rel) or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise refuse(f"is not a marker this complexify wrote (it lists {rel[:80]!r}, not a file a build writes)")
            listed.setdefault(rel, set()).add(digest)
    return listed


def _through_link(folder: Path, rel: str) -> bool:
    """True if `folder/rel` or a folder on the way to it is a symbolic link."""
    path = folder
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            return True
    return False


def owned_files(folder: Path) -> dict[str, str]:
    """The files in `folder` an earlier build wrote and nobody changed since (relative path -> sha256).

    A listed file that is gone is simply not ours any more. A marker this complexify did not write, or a listed
    file that was changed, replaced or linked since, is a UserInputError naming it: publishing would lose it.
    """
    owned = {}
    for rel, digests in sorted(_marker_files(folder).items()):
        path = folder / rel
        if not os.path.lexists(path):
            continue
        if _through_link(folder, rel) or not path.is_file():
            raise UserInputError(
                f"--out {folder}: {rel} is no longer the file complexify wrote there (now a link or a folder); "
                f"it is left untouched: {_NEW_FOLDER}"
            )
        digest = file_sha256(path)
        if digest not in digests:
            raise UserInputError(
                f"--out {folder}: {rel} was changed after complexify wrote it; publishing would overwrite the "
                f"change, so nothing was changed: move your version out of the folder, or {_NEW_FOLDER}"
            )
        owned[rel] = digest
    return owned


def is_publish_folder(folder: Path) -> bool:
    """True if `folder` holds a marker that build_dataset_folder wrote (its format, its list of files)."""
    try:
        _marker_files(folder)
    except UserInputError:
        return False
    return True


def _overlaps(target: Path, protected: Path) -> str | None:
    """Why `target` may not hold a publish folder next to the run data under `protected`, or None if it may.

    The root's `hub/` folder is where publish_run builds by default, so folders below it are allowed;
    the non-empty check still refuses any of them that is not a publish folder.
    """
    if target == protected:
        return "is the output root itself"
    if target in protected.parents:
        return f"contains the output root {protected}"
    if protected in target.parents and (protected / "hub") not in target.parents:
        return f"is inside the output root {protected}"
    return None


def check_publish_target(out: str | Path, *, protect: Sequence[str | Path] = ()) -> Path:
    """Resolve `out` and refuse a place a build would damage; returns the resolved folder.

    Refused (UserInputError): an existing file, a non-empty folder without a marker of an earlier build, a
    folder whose marker this complexify did not write or where a file the build wrote was changed since (see
    owned_files), and a folder that is, contains or lies inside one of `protect` (the output roots holding run
    data). Nothing is written here.
    """
    target = Path(out).expanduser().resolve()
    fix = "pass --out a new folder, an empty one, or a folder an earlier publish built"
    for root in protect:
        why = _overlaps(target, Path(root).expanduser().resolve())
        if why:
            raise UserInputError(f"--out {target} {why}: publishing there would overwrite the run's data; {fix}")
    if target.exists() and not target.is_dir():
        raise UserInputError(f"--out {target} is an existing file, not a folder; {fix}")
    if target.is_dir() and any(target.iterdir()):
        if not os.path.lexists(target / MARKER_FILE):
            raise UserInputError(
                f"--out {target} is a non-empty folder that complexify did not build (no {MARKER_FILE}); "
                f"it is left untouched: {fix}"
            )
        owned_files(target)
    parent = next((p for p in target.parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise UserInputError(f"--out {target}: {parent} is not a folder; {fix}")
    return target


def _make_sibling(target: Path, tag: str) -> Path:
    """A new, empty folder beside `target` (mode from the umask, unlike mkdtemp's 0700), for a build or a swap."""
    for _ in range(100):
        candidate = target.with_name(f".{target.name}.{tag}-{secrets.token_hex(4)}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise UserInputError(f"cannot make a temporary folder beside {target}; clean up .{target.name}.{tag}-* there")


def _write_marker(folder: Path, base: Mapping[str, Any], files: Mapping[str, str], pending: Mapping[str, str] | None = None) -> None:
    marker = {**base, "files": dict(files), **({"pending": dict(pending)} if pending is not None else {})}
    write_json_atomic(folder / MARKER_FILE, marker)


def _remove_empty_parents(folder: Path, rels: Collection[str]) -> None:
    """Remove the folders that held `rels` if nothing is left in them (a folder with anything in it stays)."""
    for rel in rels:
        parent = (folder / rel).parent
        while parent != folder:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _clash(folder: Path, rel: str, owned: Mapping[str, str]) -> bool:
    """True if writing `folder/rel` would replace something that is not ours: a file or folder there, a file
    where a folder on its way belongs, or a link on its way."""
    if rel in owned:
        return False
    path = folder
    for part in rel.split("/")[:-1]:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return True
    return os.path.lexists(folder / rel)


def _move_in(tmp: Path, target: Path, files: Mapping[str, str], owned: Mapping[str, str], base: Mapping[str, Any]) -> None:
    """Move the build `tmp` into the earlier publish folder `target` file by file; only our files change.

    The previous versions of our files go to a sibling backup first, so a failure puts them back. While the files
    move, the marker accepts both versions of each, so even a crash leaves a folder the next build recognises.
    """
    clashes = [rel for rel in files if _clash(target, rel, owned)]
    if clashes:
        raise UserInputError(
            f"--out {target}: {clashes[0]} is there but complexify did not write it; it is left untouched: move it "
            f"away, or {_NEW_FOLDER}"
        )
    previous_marker = (target / MARKER_FILE).read_bytes()
    backup = _make_sibling(target, "old")
    moved: list[str] = []
    placed: list[str] = []
    restored = False
    try:
        _write_marker(target, base, owned, pending=files)
        for rel in sorted({*owned, *files}):
            if rel in owned:
                (backup / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(target / rel, backup / rel)
                moved.append(rel)
            if rel in files:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp / rel, target / rel)
                placed.append(rel)
        _write_marker(target, base, files)
    except BaseException:
        for rel in reversed(placed):
            (target / rel).unlink(missing_ok=True)  # the new file we just put there
        for rel in reversed(moved):
            os.rename(backup / rel, target / rel)
        _remove_empty_parents(target, [r for r in placed if r not in owned])
        restored = True
        with contextlib.suppress(OSError):  # if this fails too, the marker still accepts both versions
            write_files_atomic({target / MARKER_FILE: previous_marker})
        raise
    finally:
        if restored or len(placed) == len(files):
            shutil.rmtree(backup)  # empty after a rollback; else our previous versions, replaced or no longer built
    _remove_empty_parents(target, [r for r in owned if r not in files])


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
    grid: Sequence[Mapping[str, Any]] = (),
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
    tables = {
        "sft": sft_rows(kept),
        "rl": rl_rows(kept, evals, {d for d, r in (judge_routes or {}).items() if r == "report-only"}),
        "preference": preference_rows([*kept, *rejects]),
        "tripwires": tripwire_rows(),
        "sft_reasoning": sft_reasoning_rows(kept),
        "contrast": contrast_rows(kept, evals),
        "siblings": sibling_rows([*kept, *rejects]),
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _make_sibling(target, "tmp")
    except OSError as exc:
        raise UserInputError(
            f"cannot write beside --out {target} ({exc.strerror or exc}); pass --out in a folder you can write to"
        ) from exc
    try:
        for name, rows in tables.items():
            if not rows:
                continue  # `datasets` cannot load an empty Parquet file: the config is left out (the card says so)
            _write_table(rows, SCHEMAS[name], tmp / "data" / name / f"{split}-00000-of-00001.parquet")
        digest = _data_digest(tmp)
        stats = stats or dataset_stats(kept, rejects)
        figures = make_figures(stats, tmp / "figures")
        (tmp / "README.md").write_text(dataset_card(repo_id, tables, stats, run_info, figures, split, grid), encoding="utf-8")
        (tmp / DIGEST_FILE).write_text(json.dumps({"digest": digest, "run": run_info.get("run_id")}, indent=2) + "\n")
        files = {p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        base = {"complexify_publish": MARKER_VERSION, "repo_id": repo_id, "run": run_info.get("run_id"), "digest": digest}
        # checked again just before moving in: someone may have put or changed files there while we built
        check_publish_target(target, protect=protect)
        if target.is_dir() and any(target.iterdir()):
            _move_in(tmp, target, files, owned_files(target), base)
        else:
            _write_marker(tmp, base, files)
            os.rename(tmp, target)  # rename replaces an empty folder in one step; a non-empty one makes it fail
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # our own unfinished build, or what is left of it after moving its files in
    return BuiltDataset(folder=target, counts={k: len(v) for k, v in tables.items()}, digest=digest, files=tuple(files))


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


def push_folder(built: BuiltDataset, repo_id: str, *, private: bool = False, api: Any = None, token: str | None = None) -> str:
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
        raise PublishError(f"upload to {repo_id} failed ({type(exc).__name__}: {exc}); the folder at {built.folder} is complete") from exc
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
    )  # fmt: skip
    return PublishResult(built=built, pushed=None if dry_run else push_folder(built, repo_id, private=private))
