"""The `complexify` command: outputs and exit codes, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_taxonomy_validate_reports_counts() -> None:
    out = run("taxonomy", "validate")
    assert out.returncode == 0, out.stderr
    assert "4 types, 19 dimensions" in out.stdout


def test_taxonomy_export_is_json_with_nodes_and_edges(tmp_path: Path) -> None:
    target = tmp_path / "tax.json"
    out = run("taxonomy", "export", "--format", "json", "--output", str(target))
    assert out.returncode == 0, out.stderr
    data = json.loads(target.read_text())
    kinds = {n["kind"] for n in data["nodes"]}
    assert kinds == {"type", "dimension", "constraint"}
    assert {e["relation"] for e in data["edges"]} == {"is_a", "conflicts_with"}


def test_taxonomy_show_lists_dimensions() -> None:
    out = run("taxonomy", "show")
    assert out.returncode == 0, out.stderr
    assert "Keywords" in out.stdout and "Target Language" in out.stdout


def test_bad_taxonomy_exits_2_naming_file_and_entry(tmp_path: Path) -> None:
    root = tmp_path / "tax"
    shutil.copytree(FIXTURE, root)
    text = (root / "constraints" / "mini.yaml").read_text().replace("dimension: Sentiment", "dimension: Mood")
    (root / "constraints" / "mini.yaml").write_text(text)
    out = run("taxonomy", "validate", "--path", str(root))
    assert out.returncode == 2
    assert "mini.yaml: entry 't:sentiment': unknown dimension 'Mood'" in out.stderr


def test_compose_jsonl_with_seed_text() -> None:
    args = ("compose", "--category", "Selection_and_Chain_2", "-n", "3", "--seed", "4")
    args += ("--seed-text", "Explain tides.", "--format", "jsonl")
    out = run(*args)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    assert all(r["category"] == "Selection_and_Chain_2" and r["seed_text"] == "Explain tides." for r in rows)
    assert all(r["plan"]["checks"] for r in rows)
    again = run(*args)
    assert again.stdout == out.stdout


def test_compose_pretty_shows_prompt_and_plan() -> None:
    out = run("compose", "--category", "Chain_1", "--seed", "1", "--seed-text", "Write a haiku about rain.")
    assert out.returncode == 0, out.stderr
    assert "### Part 1" in out.stdout and "verification plan:" in out.stdout


def test_compose_for_a_grid_cell_puts_its_dimension_on_the_answers_path() -> None:
    from pipeline.construct.taxonomy import load_taxonomy
    from pipeline.construct.tree import taken_constraints
    from pipeline.models import Instruction

    args = [
        "compose",
        "--category",
        "Selection_1",
        "-n",
        "5",
        "--checkers",
        "code",
        "--renderings",
        "numbered",
        "--format",
        "jsonl",
    ]
    out = run(*args, "--dimension", "JSON Format")
    assert out.returncode == 0, out.stderr
    tax = load_taxonomy()
    for line in out.stdout.splitlines():
        ins = Instruction.model_validate_json(line)
        assert ins.rendering == "numbered"
        assert "JSON Format" in {tax.specs[c.spec_id].dimension for c in taken_constraints(ins.tree)}
    bad = run(*args, "--dimension", "Lenght")
    assert bad.returncode == 2 and "'Lenght' is not a taxonomy dimension" in bad.stderr and "Length" in bad.stderr


def test_unknown_category_exits_2() -> None:
    out = run("compose", "--category", "Chain_9", "--seed-text", "x")
    assert out.returncode == 2
    assert "Chain_9" in out.stderr and "valid categories" in out.stderr


def test_impossible_request_exits_2() -> None:
    out = run("compose", "--category", "And_1", "--seed-text", "x", "--and-size", "600", "600")
    assert out.returncode == 2
    assert "mutually compatible" in out.stderr


def test_run_with_bad_config_or_missing_seeds_exits_2_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("samples: 3\nmodels: {responder: {n: 0}}\n")
    out = run("run", "--config", str(bad))
    assert out.returncode == 2 and "models.responder.n" in out.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text(f"samples: 3\nseeds: {{sources: [{{path: {tmp_path}/nope.jsonl}}]}}\n")
    out = run("run", "--config", str(missing))
    assert out.returncode == 2 and "nope.jsonl not found" in out.stderr
