"""Publishing again after any edits of the folder: refused with nothing changed, or every file the user wrote
intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import store
from pipeline.errors import UserInputError
from pipeline.models import Sample
from pipeline.publish.dataset import build_dataset_folder
from pipeline.publish.folder import MARKER_FILE
from tests.helpers.stored_run import write_stored_run

FP = "fp-prop"
USER_PATHS = (
    "NOTES.md",
    ".git/HEAD",
    ".git/objects/ab/cdef",
    "data/sft/notes.txt",
    "figures/mine.png",
    "data/extra/train-00000-of-00001.parquet",
    "data/sft/test-00000-of-00001.parquet",  # where a build with split "test" writes
    "README.md.orig",
)
OUR_PATHS = ("README.md", "complexify.json", "data/sft/train-00000-of-00001.parquet", "figures/categories.png")

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(USER_PATHS)),
        st.tuples(st.sampled_from(["edit", "delete"]), st.sampled_from(OUR_PATHS)),
    ),
    max_size=4,
)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Sample], list[Sample]]:
    root = tmp_path_factory.mktemp("out")
    write_stored_run(root, FP)
    run = store.find_run(root, FP)
    return store.load_samples(run), store.load_samples(run, kept=False)


@pytest.fixture(scope="module")
def first_build(samples: tuple[list[Sample], list[Sample]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("built") / "ds"
    build_dataset_folder(*samples, folder, repo_id="o/c", run_info={"run_id": "first"}, split="train")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=ops, split=st.sampled_from(["train", "test"]))
def test_a_rebuild_never_loses_a_file_it_did_not_write(
    samples: tuple[list[Sample], list[Sample]], first_build: Path, edits: list[tuple[str, str]], split: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "ds"
        shutil.copytree(first_build, target)
        user: set[str] = set()
        edited: set[str] = set()  # our files changed and still there
        for op, rel in edits:
            path = target / rel
            if op == "add":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"the user's {rel}\n")
                user.add(rel)
            elif op == "edit" and path.is_file():
                path.write_bytes(path.read_bytes() + b"\nedited")
                edited.add(rel)
            elif op == "delete":
                path.unlink(missing_ok=True)
                edited.discard(rel)
        changed = bool(edited)
        before = snapshot(target)
        clash = split == "test" and "data/sft/test-00000-of-00001.parquet" in user
        try:
            built = build_dataset_folder(*samples, target, repo_id="o/c", run_info={"run_id": "second"}, split=split)
        except UserInputError:
            assert changed or clash
            assert snapshot(target) == before
        else:
            assert not changed and not clash
            after = snapshot(target)
            assert {rel: after.get(rel) for rel in user} == {rel: before[rel] for rel in user}
            marker = json.loads((target / MARKER_FILE).read_text())
            assert marker["files"] == {rel: after[rel] for rel in built.files}
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["ds"]
