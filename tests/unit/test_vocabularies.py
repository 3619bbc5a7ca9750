"""Vocabularies: every constraint spec belongs to exactly one (its file's `vocabulary:` or its own), a run composes
only the vocabularies its config allows (`ifbench` is held out by default), and a run whose allowed specs behave like
a held-out spec is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import TaxonomyError
from pipeline.models import VOCABULARIES
from pipeline.project import TAXONOMY_DIR

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
ENTRY = """
  - id: x:{name}
    dimension: Length
    description: fine
    phrasings: ["Use few lines.", "Write few lines.", "Keep it to few lines."]
    checker: judge
    question: "Does it have few lines?"
"""


def make_taxonomy(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "tax"
    shutil.copytree(FIXTURE, root)
    (root / "constraints" / "extra.yaml").write_text(text, encoding="utf-8")
    return root


def entry(name: str, vocabulary: str | None = None) -> str:
    return ENTRY.format(name=name) + (f"    vocabulary: {vocabulary}\n" if vocabulary else "")


def test_a_spec_takes_its_files_vocabulary_unless_it_names_its_own(tmp_path: Path) -> None:
    text = "vocabulary: iftrain\nconstraints:\n" + entry("a") + entry("b", "ifbench")
    tax = load_taxonomy(make_taxonomy(tmp_path, text), check_checkers=False)
    assert tax.spec("x:a").vocabulary == "iftrain"
    assert tax.spec("x:b").vocabulary == "ifbench"
    assert tax.spec("t:lower").vocabulary == "complexify"  # the fixture file's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "vocabulary: ifbnech\nconstraints:\n" + entry("a"),
            "extra.yaml: entry 'x:a': unknown vocabulary 'ifbnech' (the file's top-level 'vocabulary:'); "
            "allowed: " + ", ".join(VOCABULARIES),
        ),
        (
            "vocabulary: iftrain\nconstraints:\n" + entry("a", "train"),
            "extra.yaml: entry 'x:a': unknown vocabulary 'train' (its own 'vocabulary:'); allowed: "
            + ", ".join(VOCABULARIES),
        ),
        ("constraints:\n" + entry("a"), "extra.yaml: entry 'x:a': no vocabulary: give the file a top-level"),
        ("vocabulary: nope\npools:\n  p: [a]\n", "extra.yaml: unknown vocabulary 'nope'; allowed: ifeval"),
    ],
    ids=["file-unknown", "entry-unknown", "missing", "file-without-entries"],
)
def test_a_bad_or_missing_vocabulary_names_file_entry_and_allowed_values(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(make_taxonomy(tmp_path, text), check_checkers=False)
    assert message in str(err.value)


def test_every_bundled_spec_has_one_vocabulary_and_ifbench_ids_are_held_out() -> None:
    tax = load_taxonomy()
    assert {s.vocabulary for s in tax.specs.values()} <= set(VOCABULARIES)
    for s in tax.specs.values():
        if "ifeval" in s.tags:
            assert s.vocabulary == "ifeval", s.id
        if "iftrain" in s.tags:
            assert s.vocabulary == "iftrain", s.id
        if "ifbench" in s.tags:
            assert s.vocabulary == "ifbench", s.id


def test_taxonomy_export_shows_the_vocabulary_of_every_spec() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "taxonomy", "export"],
        capture_output=True,
        text=True,
        check=True,
        cwd=TAXONOMY_DIR.parent,
    )
    nodes = [n for n in json.loads(out.stdout)["nodes"] if n["kind"] == "constraint"]
    assert nodes and all(n["vocabulary"] in VOCABULARIES for n in nodes)
