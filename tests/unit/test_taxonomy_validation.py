"""`taxonomy validate` refuses ids that clash with the graph's type and dimension nodes, is_a cycles, and
parameter values the bound checker cannot take (a constraint made with one could never pass)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from pipeline.construct.taxonomy import is_a_cycles, load_taxonomy
from pipeline.errors import TaxonomyError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"

WORDS = """
  - id: demo:words
    dimension: Length
    description: A word count.
    params:
      relation: {type: choice, values: ["less than", "at least"]}
      num_words: {type: int, min: 10, max: 200}
    phrasings: ["Answer with {relation} {num_words} words.", "Use {relation} {num_words} words.",
                "Write {relation} {num_words} words."]
    checker: code:length_constraints:number_words
"""
KEYWORDS = """
  - id: demo:keywords
    dimension: Keywords
    description: Include keywords.
    params:
      keywords: {type: words, pool: demo_words, count: [1, 2]}
    phrasings: ["Include {keywords}.", "Mention {keywords}.", "Use the words {keywords}."]
    checker: code:keywords:existence
"""


def make_taxonomy(tmp_path: Path, body: str, pools: str = "  demo_words: [river, stone, maple]\n") -> Path:
    root = tmp_path / "tax"
    (root / "constraints").mkdir(parents=True)
    shutil.copy(FIXTURE / "types.yaml", root / "types.yaml")
    text = f"vocabulary: complexify\npools:\n{pools}constraints:\n{body}"
    (root / "constraints" / "demo.yaml").write_text(text, encoding="utf-8")
    return root


def errors_of(root: Path) -> str:
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(root, check_values=True)
    return str(err.value)


def test_a_well_bound_taxonomy_passes_the_value_check(tmp_path: Path) -> None:
    tax = load_taxonomy(make_taxonomy(tmp_path, WORDS + KEYWORDS), check_values=True)
    assert set(tax.specs) == {"demo:words", "demo:keywords"}


def test_the_bundled_taxonomy_passes_the_value_check() -> None:
    assert len(load_taxonomy(check_values=True).specs) > 50


# --- reserved ids and is_a cycles ---------------------------------------------------------------------


@pytest.mark.parametrize("sid", ["type:Lexical", "dimension:Keywords", "type:Anything", "Dimension:Length"])
def test_a_constraint_id_in_a_reserved_group_is_refused(tmp_path: Path, sid: str) -> None:
    text = errors_of(make_taxonomy(tmp_path, WORDS.replace("demo:words", sid)))
    group = sid.split(":")[0]
    assert f"demo.yaml: entry {sid!r}: 'id' uses the reserved prefix '{group}:'" in text
    assert "rename it" in text


def test_an_is_a_cycle_is_reported_with_its_nodes() -> None:
    g = nx.MultiDiGraph()
    g.add_edge("type:Lexical", "dimension:Keywords", relation="is_a")
    g.add_edge("dimension:Keywords", "type:Lexical", relation="is_a")
    g.add_edge("a:b", "dimension:Keywords", relation="conflicts_with")
    (problem,) = is_a_cycles(g, {})
    assert "is_a cycle" in problem and "type:Lexical" in problem and "dimension:Keywords" in problem


def test_the_loaded_hierarchy_has_no_is_a_cycle() -> None:
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    assert is_a_cycles(tax.graph, tax.specs) == []


# --- parameter values the checker cannot take -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "pools", "needle"),
    [
        (
            WORDS.replace(
                "{type: int, min: 10, max: 200}", "{type: choice, values: [100, 'at least few words', 300]}"
            ),
            "",
            "param 'num_words' value 'at least few words' (from its 'values') is refused by checker "
            "'length_constraints:number_words'",
        ),
        (
            WORDS.replace('values: ["less than", "at least"]', 'values: ["less than", "roughly"]'),
            "",
            "param 'relation' value 'roughly' (from its 'values') is refused by checker "
            "'length_constraints:number_words'",
        ),
        (
            WORDS.replace("min: 10, max: 200", "min: -5, max: 200"),
            "",
            "param 'num_words' value -5 (from its 'min') is refused by checker 'length_constraints:number_words'",
        ),
        (
            KEYWORDS,
            "  demo_words: [river, '(unclosed', maple]\n",
            "param 'keywords' value ['(unclosed'] (from pool 'demo_words') is refused by checker 'keywords:existence'",
        ),
    ],
    ids=["text-for-int", "choice", "range", "invalid-pattern"],
)
def test_a_value_the_checker_refuses_is_reported(tmp_path: Path, body: str, pools: str, needle: str) -> None:
    text = errors_of(make_taxonomy(tmp_path, body, pools or "  demo_words: [river, stone, maple]\n"))
    assert "demo.yaml: entry 'demo:" in text
    assert needle in text, text
    assert "change it to a value the checker accepts" in text


def test_a_parameter_no_value_of_which_the_checker_takes_is_reported(tmp_path: Path) -> None:
    body = WORDS.replace("{type: int, min: 10, max: 200}", "{type: word, pool: counts}")
    text = errors_of(make_taxonomy(tmp_path, body, "  counts: ['120', 'at least few words']\n"))
    assert "demo.yaml: entry 'demo:words': checker 'length_constraints:number_words' refuses every drawn set" in text
    assert "'num_words' must be an integer" in text and "change the parameters' values" in text


def test_validate_exits_2_naming_the_file_the_id_and_the_fix(tmp_path: Path) -> None:
    body = WORDS.replace("{type: int, min: 10, max: 200}", "{type: choice, values: [150, 'at least few words']}")
    root = make_taxonomy(tmp_path, body)
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "taxonomy", "validate", "--path", str(root)],
        capture_output=True, text=True, env={**os.environ}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert "demo.yaml: entry 'demo:words': param 'num_words' value 'at least few words'" in out.stderr
    assert "change it to a value the checker accepts" in out.stderr
    assert "Traceback" not in out.stderr
    same = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "taxonomy", "validate",
         "--path", str(make_taxonomy(tmp_path / "b", WORDS.replace("demo:words", "type:Lexical")))],
        capture_output=True, text=True, env={**os.environ}, timeout=120,
    )  # fmt: skip
    assert same.returncode == 2 and "reserved prefix 'type:'" in same.stderr
