"""Vocabularies: every constraint spec belongs to exactly one (its file's `vocabulary:` or its own), a run composes
only the vocabularies its config allows (`ifbench` is held out by default), and a run whose allowed specs behave like
a held-out spec is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.construct.options import DEFAULT_VOCABULARIES, ComposeOptions
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import TaxonomyError
from pipeline.models import VOCABULARIES
from pipeline.project import TAXONOMY_DIR
from pipeline.publish.card import dataset_card
from pipeline.run.config import ConfigError, RunConfig, parse_config
from pipeline.run.generate import open_run_context
from pipeline.run.identity import config_hash
from pipeline.run.preflight import check_grid
from pipeline.store import RunStats

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


# --- the run config -----------------------------------------------------------------------------------------------


def run_config(tmp_path: Path, **compose: Any) -> RunConfig:
    return parse_config(
        {
            "samples": 2,
            "mix": {"Single": 1},
            "compose": {"checkers": "code", **compose},
            "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
            "output_dir": str(tmp_path / "out"),
            "seeds": {"sources": [{"path": str(TAXONOMY_DIR.parent / "seeds" / "complexify-seeds.jsonl")}]},
        }
    )


def test_by_default_every_vocabulary_but_the_held_out_ifbench_is_composed() -> None:
    opts = ComposeOptions()
    assert opts.vocabularies == [v for v in VOCABULARIES if v != "ifbench"]
    assert (opts.held_out, opts.opted_in) == (["ifbench"], [])
    assert parse_config({"samples": 1}).compose.vocabularies == opts.vocabularies


def test_the_vocabularies_are_kept_in_one_order_and_count_in_the_config_hash(tmp_path: Path) -> None:
    a = run_config(tmp_path, vocabularies=["complexify", "ifeval", "ifeval"])
    b = run_config(tmp_path, vocabularies=["ifeval", "complexify"])
    assert a.compose.vocabularies == ["ifeval", "complexify"]
    assert config_hash(a) == config_hash(b) != config_hash(run_config(tmp_path))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["ifbnech"], "compose.vocabularies: unknown vocabulary 'ifbnech'; allowed: " + ", ".join(VOCABULARIES)),
        ([], "compose.vocabularies: name at least one vocabulary"),
    ],
)
def test_a_bad_vocabularies_value_is_a_config_error(tmp_path: Path, value: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_config(tmp_path, vocabularies=value)
    assert message in str(err.value)


HELD_OUT_WARNING = (
    "WARNING: compose.vocabularies includes the held-out vocabulary 'ifbench': IFBench's test constraint types will "
    "be in the training data, and results on IFBench are no longer out-of-distribution"
)


def test_a_run_says_its_vocabularies_at_start_and_records_them(tmp_path: Path) -> None:
    logs: list[str] = []
    with open_run_context(run_config(tmp_path), log=logs.append, with_models=False) as ctx:
        info = ctx.run.info
    assert "vocabularies: ifeval, iftrain, complexbench, complexify (held out: ifbench)" in logs
    assert not any("WARNING" in line for line in logs)
    assert info["vocabularies"] == {
        "composed": ["ifeval", "iftrain", "complexbench", "complexify"],
        "held_out": ["ifbench"],
        "opted_in": [],
    }


def test_opting_in_to_ifbench_warns_loudly_at_start_and_the_run_records_it(tmp_path: Path) -> None:
    logs: list[str] = []
    cfg = run_config(tmp_path, vocabularies=[*VOCABULARIES])
    with open_run_context(cfg, log=logs.append, with_models=False) as ctx:
        info = ctx.run.info
    assert logs.count(HELD_OUT_WARNING) == 1
    assert info["vocabularies"]["opted_in"] == ["ifbench"] and info["vocabularies"]["held_out"] == []


def test_the_compose_command_shows_the_vocabularies_and_warns_on_opting_in() -> None:
    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "compose", "--category", "Single", "--format", "jsonl", *args],
            capture_output=True,
            text=True,
            cwd=TAXONOMY_DIR.parent,
        )

    default = compose()
    assert default.returncode == 0 and "WARNING" not in default.stderr
    assert "vocabularies: ifeval, iftrain, complexbench, complexify (held out: ifbench)" in default.stderr
    opted = compose("--vocabularies", "ifbench")
    assert opted.returncode == 0 and opted.stderr.splitlines()[0] == HELD_OUT_WARNING
    assert "vocabularies: ifbench (held-out vocabularies opted in: ifbench)" in opted.stderr
    spec = json.loads(opted.stdout)["tree"]["body"]["spec_id"]
    assert load_taxonomy().spec(spec).vocabulary == "ifbench"
    bad = compose("--vocabularies", "ifeval,nope")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: vocabularies: unknown vocabulary 'nope'; allowed: " + ", ".join(VOCABULARIES)
    ]


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (
            {"composed": ["ifeval", "complexify"]},
            ["- constraint vocabularies: ifeval, complexify (held out: ifbench)"],
        ),
        (
            {"composed": ["ifbench", "complexify"]},
            [
                "- constraint vocabularies: ifbench, complexify (held-out vocabularies opted in: ifbench)",
                "- **held-out vocabulary 'ifbench' opted in: IFBench's test constraint types are in this training "
                "data; results on IFBench are not out-of-distribution.**",
            ],
        ),
        (None, ["- constraint vocabularies: not recorded (the run was started before runs recorded them)"]),
    ],
    ids=["default", "opted-in", "older-run"],
)
def test_the_dataset_card_names_the_vocabularies(recorded: dict[str, Any] | None, expected: list[str]) -> None:
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    card = dataset_card("org/cx", tables, RunStats(rows=()), {"vocabularies": recorded}, [], "train")
    lines = card.splitlines()
    at = lines.index(expected[0])
    assert lines[at : at + len(expected)] == expected


def test_the_run_command_warns_before_prefect_and_the_workers_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import flows.generate
    from pipeline.cli import app

    path = tmp_path / "cfg.yaml"
    data = run_config(tmp_path, vocabularies=[*VOCABULARIES]).model_dump(mode="json")
    path.write_text(yaml.safe_dump({k: data[k] for k in ("samples", "mix", "compose", "workers", "output_dir")}))
    started: list[str] = []

    def generate(config_path: str, output_dir: str | None = None, **_: Any) -> dict[str, Any]:
        started.append(config_path)
        return {"kept": 1, "target": 1, "output_dir": output_dir}

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    monkeypatch.setattr(flows.generate, "generate", generate)
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == HELD_OUT_WARNING and started
    assert (
        "vocabularies: ifeval, ifbench, iftrain, complexbench, complexify (held-out vocabularies opted in: ifbench)"
        in lines
    )


def test_taxonomy_show_and_validate_name_the_vocabularies() -> None:
    def cli(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "taxonomy", *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=TAXONOMY_DIR.parent,
        )
        return out.stdout

    tax = load_taxonomy()
    shown = cli("show", "--dimension", "Length").splitlines()
    for spec in tax.specs_in("Length"):
        line = next(x for x in shown if x.split()[:1] == [spec.id])
        assert line.split()[2] == spec.vocabulary
    counts = {v: sum(s.vocabulary == v for s in tax.specs.values()) for v in VOCABULARIES}
    expected = ", ".join(f"{v} {n}" for v, n in sorted(counts.items()) if n)
    assert cli("validate").splitlines()[-1] == f"vocabularies: {expected}"


def test_a_grid_dimension_needs_constraints_in_the_vocabularies_the_run_composes(tmp_path: Path) -> None:
    tax = load_taxonomy()
    # a dimension whose code-checked constraints are all held out (IFBench's custom ids hold Helpfulness's)
    held_only = sorted(
        d
        for d in {s.dimension for s in tax.specs.values()}
        if any(s.is_code for s in tax.specs_in(d))
        and not any(s.is_code and s.vocabulary != "ifbench" for s in tax.specs_in(d))
    )
    assert held_only

    def grid_config(vocabularies: list[str]) -> RunConfig:
        return parse_config(
            {
                "samples": 4,
                "mix": {"Single": 1},
                "compose": {"checkers": "code", "vocabularies": vocabularies},
                "grid": {"dimensions": held_only[:1]},
            }
        )

    with pytest.raises(ConfigError) as err:
        check_grid(grid_config(list(DEFAULT_VOCABULARIES)), tax)
    assert f"{held_only[0]!r} only has judge-checked constraints in the vocabularies the run composes" in str(
        err.value
    )
    check_grid(grid_config([*VOCABULARIES]), tax)  # opted in: composable
