"""`publish --out`: never deletes or overwrites a file it did not write, stays clear of the run data, builds
atomically."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import store
from pipeline.errors import UserInputError
from pipeline.publish import dataset as publish
from pipeline.publish import folder as publish_folder
from pipeline.publish.dataset import build_dataset_folder, publish_run
from pipeline.publish.folder import MARKER_FILE, check_publish_target
from tests.helpers.cli import run_cli as cli
from tests.helpers.stored_run import verify_run, write_stored_run

FP = "fp-test"


@pytest.fixture(scope="module")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("out")
    write_stored_run(root, FP)
    return root


@pytest.fixture(scope="module")
def samples(run_root: Path) -> tuple[list, list]:  # type: ignore[type-arg]
    run = store.find_run(run_root, FP)
    return store.load_samples(run), store.load_samples(run, kept=False)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256 of its bytes), to prove nothing changed."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def cli_publish(root: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return cli("publish", "--repo-id", "org/cx", "--root", str(root), "--run", FP, "--dry-run", "--out", str(out))


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# --- through the command line ------------------------------------------------------------------------------


def test_cli_refuses_a_non_empty_foreign_folder_and_leaves_it_intact(run_root: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-notes"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.txt").write_text("three years of work\n")
    (mine / "sub" / "data.csv").write_text("a,b\n1,2\n")
    before = snapshot(mine)
    out = cli_publish(run_root, mine)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and "non-empty folder" in out.stderr and "Traceback" not in out.stderr
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-notes"]  # no temp folder left beside it


def test_cli_refuses_the_run_root_and_the_run_stays_intact(run_root: Path) -> None:
    before = snapshot(run_root)
    out = cli_publish(run_root, run_root)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and "output root" in out.stderr
    assert snapshot(run_root) == before
    assert verify_run(store.find_run(run_root, FP)) == []


def test_cli_republishes_into_its_own_folder(run_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "ds"
    first = cli_publish(run_root, target)
    assert first.returncode == 0, first.stderr
    assert (target / MARKER_FILE).is_file() and (target / "data" / "sft" / "train-00000-of-00001.parquet").is_file()
    ours = snapshot(target)
    (target / "left-by-the-user.txt").write_text("stays after the rebuild")
    second = cli_publish(run_root, target)
    assert second.returncode == 0, second.stderr
    assert (target / "left-by-the-user.txt").read_text() == "stays after the rebuild"
    assert {k: v for k, v in snapshot(target).items() if k != "left-by-the-user.txt"} == ours  # same run, same files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temp or backup folder left beside it


def test_cli_republish_keeps_a_git_folder_and_notes(run_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "ds"
    assert cli_publish(run_root, target).returncode == 0
    (target / ".git" / "objects" / "ab").mkdir(parents=True)
    (target / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (target / ".git" / "objects" / "ab" / "cdef").write_bytes(b"\x00blob")
    (target / "NOTES.md").write_text("# what I changed\n")
    (target / "data" / "sft" / "my-sample-notes.txt").write_text("row 3 looks odd\n")
    mine = {k: v for k, v in snapshot(target).items() if k.startswith(".git") or "notes" in k.lower()}
    again = cli_publish(run_root, target)
    assert again.returncode == 0, again.stderr
    after = snapshot(target)
    assert {k: after.get(k) for k in mine} == mine
    assert publish_folder.owned_files(target) and (target / "README.md").is_file()


@pytest.mark.parametrize(
    "marker",
    [
        '{"complexify_publish": 1}',
        '{"complexify_publish": 2, "files": {"NOTES.md": "' + "0" * 64 + '"}}',
        '{"complexify_publish": 2, "files": {"../outside.txt": "' + "0" * 64 + '"}}',
        '{"complexify_publish": 2, "files": ["README.md"]}',
        "{not json",
        "[" * 100_000,
    ],
    ids=["old-format", "foreign-path", "escaping-path", "files-a-list", "unreadable", "deeply-nested"],
)
def test_cli_refuses_a_forged_or_unreadable_marker(run_root: Path, tmp_path: Path, marker: str) -> None:
    target = tmp_path / "ds"
    target.mkdir()
    (target / MARKER_FILE).write_text(marker)
    (target / "NOTES.md").write_text("mine\n")
    (target / "README.md").write_text("my own readme\n")
    before = snapshot(target)
    out = cli_publish(run_root, target)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert MARKER_FILE in out.stderr and "new folder" in out.stderr
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


@pytest.mark.parametrize("change", ["edit", "link", "folder"])
def test_cli_refuses_to_replace_a_file_it_wrote_that_was_changed(run_root: Path, tmp_path: Path, change: str) -> None:
    target = tmp_path / "ds"
    assert cli_publish(run_root, target).returncode == 0
    readme = target / "README.md"
    if change == "edit":
        readme.write_text(readme.read_text() + "\nMy own paragraph about this dataset.\n")
    elif change == "link":
        (tmp_path / "elsewhere.md").write_text("my readme, kept elsewhere\n")
        readme.unlink()
        readme.symlink_to(tmp_path / "elsewhere.md")
    else:
        readme.unlink()
        readme.mkdir()
        (readme / "draft.txt").write_text("a draft\n")
    before = snapshot(target)
    out = cli_publish(run_root, target)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert "README.md" in out.stderr and "new folder" in out.stderr
    assert snapshot(target) == before


def test_cli_refuses_an_existing_file(run_root: Path, tmp_path: Path) -> None:
    file = tmp_path / "dataset.parquet"
    file.write_bytes(b"precious bytes")
    out = cli_publish(run_root, file)
    assert out.returncode == 2 and out.stderr.startswith("error: ")
    assert "is an existing file" in out.stderr and "--out" in out.stderr
    assert file.read_bytes() == b"precious bytes" and [p.name for p in tmp_path.iterdir()] == ["dataset.parquet"]


# --- the library -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["root", "runs", "shards", "new-inside", "parent", "hub"])
def test_targets_overlapping_the_output_root_are_refused(run_root: Path, where: str) -> None:
    target = {
        "root": run_root,
        "runs": run_root / "runs",
        "shards": run_root / "runs" / FP / "samples",
        "new-inside": run_root / "new-folder",
        "parent": run_root.parent,
        "hub": run_root / "hub",
    }[where]
    before = snapshot(run_root)
    with pytest.raises(UserInputError, match="output root"):
        publish_run(run_root, FP, "org/cx", out=target, dry_run=True)
    assert snapshot(run_root) == before and not (run_root / "new-folder").exists()


def test_default_target_under_the_roots_hub_folder_is_allowed(run_root: Path) -> None:
    result = publish_run(run_root, FP, "org/cx", dry_run=True)
    assert result.built.folder == (run_root / "hub" / "org__cx").resolve()
    assert publish_folder.owned_files(result.built.folder)
    assert publish_run(run_root, FP, "org/cx", dry_run=True).built.digest == result.built.digest  # again: replaced


def test_an_empty_folder_is_used(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    (tmp_path / "empty").mkdir()
    built = build_dataset_folder(*samples, tmp_path / "empty", repo_id="o/c", run_info={})
    assert (built.folder / "README.md").is_file() and publish_folder.owned_files(built.folder)


def test_a_folder_with_a_foreign_marker_is_not_ours(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    target = tmp_path / "x"
    target.mkdir()
    (target / MARKER_FILE).write_text('{"something": "else"}')
    (target / "keep.txt").write_text("keep")
    with pytest.raises(UserInputError, match="not a marker this complexify wrote"):
        build_dataset_folder(*samples, target, repo_id="o/c", run_info={})
    assert (target / "keep.txt").read_text() == "keep"


def test_every_file_a_build_writes_is_listed_in_its_marker(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    built = build_dataset_folder(*samples, tmp_path / "ds", repo_id="o/c", run_info={})
    files = {k: v for k, v in snapshot(built.folder).items() if k != MARKER_FILE}
    marker = json.loads((built.folder / MARKER_FILE).read_text())
    assert marker["files"] == files and sorted(files) == list(built.files)
    assert "README.md" in files and any(k.startswith("data/sft/") for k in files)


def test_a_rebuild_removes_its_own_stale_files_and_nothing_else(
    samples: tuple[list, list],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    target = tmp_path / "ds"
    build_dataset_folder(*samples, target, repo_id="o/c", run_info={}, split="train")
    stale = "data/sft/train-00000-of-00001.parquet"
    assert (target / stale).is_file()
    (target / "data" / "sft" / "mine.txt").write_text("mine\n")
    second = build_dataset_folder(*samples, target, repo_id="o/c", run_info={}, split="test")
    assert not (target / stale).exists() and (target / "data" / "sft" / "test-00000-of-00001.parquet").is_file()
    assert (target / "data" / "sft" / "mine.txt").read_text() == "mine\n"
    assert set(json.loads((target / MARKER_FILE).read_text())["files"]) == set(second.files)
    assert not any("train-" in f for f in second.files)
    monkeypatch.setattr(publish, "tripwire_rows", lambda: [])  # a config that is left out of the next build
    build_dataset_folder(*samples, target, repo_id="o/c", run_info={}, split="test")
    assert not (target / "data" / "tripwires").exists()  # the folder only our file was in goes with it
    assert (target / "data" / "sft" / "mine.txt").read_text() == "mine\n"


def test_a_file_of_the_user_where_a_build_writes_is_refused(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    target = tmp_path / "ds"
    build_dataset_folder(*samples, target, repo_id="o/c", run_info={}, split="train")
    mine = target / "data" / "sft" / "test-00000-of-00001.parquet"
    mine.write_bytes(b"my own parquet")
    before = snapshot(target)
    with pytest.raises(
        UserInputError, match=re.escape(f"{mine.relative_to(target)} is there but complexify did not write it")
    ):
        build_dataset_folder(*samples, target, repo_id="o/c", run_info={}, split="test")
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


@pytest.mark.parametrize("fail_at", [1, 4, 9])
def test_a_failure_while_moving_the_build_in_restores_the_folder(
    samples: tuple[list, list],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fail_at: int,  # type: ignore[type-arg]
) -> None:
    target = tmp_path / "ds"
    build_dataset_folder(*samples, target, repo_id="o/c", run_info={}, split="train")
    (target / "NOTES.md").write_text("mine\n")
    before = snapshot(target)
    real_rename, calls = os.rename, []

    def rename(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError(errno.EIO, "input/output error")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(publish_folder.os, "rename", rename)
    with pytest.raises(OSError, match="input/output error"):
        build_dataset_folder(*samples, target, repo_id="o/c", run_info={"run_id": "another"}, split="test")
    monkeypatch.undo()
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    build_dataset_folder(*samples, target, repo_id="o/c", run_info={})  # and the folder is still ours to rebuild


def test_a_build_interrupted_while_moving_in_can_be_rebuilt(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    """A crash while moving files in leaves old and new files mixed; the marker then accepts both versions."""
    kept, rejects = samples
    target = tmp_path / "ds"
    build_dataset_folder(kept, rejects, target, repo_id="o/c", run_info={"run_id": "a"})
    old = json.loads((target / MARKER_FILE).read_text())
    build_dataset_folder(kept, rejects, target, repo_id="o/c", run_info={"run_id": "b"})
    new = json.loads((target / MARKER_FILE).read_text())
    assert old["files"]["README.md"] != new["files"]["README.md"]  # the card names the run
    (target / MARKER_FILE).write_text(json.dumps({**new, "files": old["files"], "pending": new["files"]}))
    build_dataset_folder(kept, rejects, target, repo_id="o/c", run_info={"run_id": "c"})
    assert "pending" not in json.loads((target / MARKER_FILE).read_text())


def test_built_folder_has_normal_permissions(samples: tuple[list, list], tmp_path: Path, umask_022: None) -> None:  # type: ignore[type-arg]
    built = build_dataset_folder(*samples, tmp_path / "ds", repo_id="o/c", run_info={})
    paths = [built.folder, *built.folder.rglob("*")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_dir()} == {0o755}
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_file()} == {0o644}


def test_a_failed_rebuild_keeps_the_previous_folder(
    samples: tuple[list, list],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    target = tmp_path / "ds"
    build_dataset_folder(*samples, target, repo_id="o/c", run_info={})
    before = snapshot(target)

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(publish, "make_figures", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        build_dataset_folder(*samples, target, repo_id="o/c", run_info={})
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_unwritable_parent_is_a_clear_error(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    if os.geteuid() == 0:  # root writes through file modes; /sys refuses new folders even to root
        target = Path("/sys/complexify-publish-test/ds")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = locked / "ds"
    with pytest.raises(UserInputError, match="cannot write beside --out"):
        build_dataset_folder(*samples, target, repo_id="o/c", run_info={})
    assert not target.exists()


def test_a_file_in_the_parent_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserInputError, match="is not a folder"):
        check_publish_target(tmp_path / "afile" / "ds")


def test_only_the_files_of_the_build_are_uploaded(samples: tuple[list, list], tmp_path: Path) -> None:  # type: ignore[type-arg]
    built = build_dataset_folder(*samples, tmp_path / "ds", repo_id="o/c", run_info={})
    (built.folder / "NOTES.md").write_text("private notes\n")
    calls: list[dict[str, object]] = []

    class Hub:
        def hf_hub_download(self, **kw: object) -> str:
            from huggingface_hub.errors import EntryNotFoundError

            raise EntryNotFoundError("none yet")

        def create_repo(self, **kw: object) -> None:
            pass

        def upload_folder(self, **kw: object) -> object:
            calls.append(kw)
            return type("Info", (), {"oid": "abc"})()

    assert publish.push_folder(built, "o/c", api=Hub()) == "abc"
    allowed = calls[0]["allow_patterns"]
    assert isinstance(allowed, list) and "README.md" in allowed and "complexify.json" in allowed
    assert "NOTES.md" not in allowed and MARKER_FILE not in allowed
    assert MARKER_FILE in calls[0]["ignore_patterns"]  # type: ignore[operator]
