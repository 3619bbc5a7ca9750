"""The publish folder on disk: which files a build wrote, where a build may go, and moving a new build in.

Publishing never deletes or overwrites a file it did not write. The folder's marker (`.complexify-publish.json`)
lists every file the build wrote with its sha256; a later build replaces exactly those (and removes those it no
longer writes), leaves every other file and folder (a `.git`, your notes) alone, and refuses, changing nothing,
when a file it wrote was changed since, when one of yours is where it would write, or when the marker is not
one it wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.errors import UserInputError
from pipeline.store.files import file_sha256, write_files_atomic, write_json_atomic

# Written into every folder a build makes: the files of the build and their sha256 (see the module docstring).
MARKER_FILE = ".complexify-publish.json"
MARKER_VERSION = 2
# The only paths a build writes (and so the only ones a marker may list).
_BUILD_PATH = re.compile(
    r"README\.md|complexify\.json|screening\.json"
    r"|data/[A-Za-z0-9_]+/[A-Za-z0-9_][A-Za-z0-9_.-]*\.parquet|figures/[A-Za-z0-9_][A-Za-z0-9_.-]*\.png"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NEW_FOLDER = "pass --out a new folder"


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
                raise refuse(
                    f"is not a marker this complexify wrote (it lists {rel[:80]!r}, not a file a build writes)"
                )
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


def make_sibling(target: Path, tag: str) -> Path:
    """A new, empty folder beside `target` (mode from the umask, unlike mkdtemp's 0700), for a build or a swap."""
    for _ in range(100):
        candidate = target.with_name(f".{target.name}.{tag}-{secrets.token_hex(4)}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise UserInputError(f"cannot make a temporary folder beside {target}; clean up .{target.name}.{tag}-* there")


def write_marker(
    folder: Path, base: Mapping[str, Any], files: Mapping[str, str], pending: Mapping[str, str] | None = None
) -> None:
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


def move_in(
    tmp: Path, target: Path, files: Mapping[str, str], owned: Mapping[str, str], base: Mapping[str, Any]
) -> None:
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
    backup = make_sibling(target, "old")
    moved: list[str] = []
    placed: list[str] = []
    restored = False
    try:
        write_marker(target, base, owned, pending=files)
        for rel in sorted({*owned, *files}):
            if rel in owned:
                (backup / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(target / rel, backup / rel)
                moved.append(rel)
            if rel in files:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp / rel, target / rel)
                placed.append(rel)
        write_marker(target, base, files)
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
