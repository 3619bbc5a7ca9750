"""The loader's validation: every bad input gives an error naming the file and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import TaxonomyError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"

GOOD_ENTRY = """
  - id: x:ok
    dimension: Length
    description: fine
    params:
      n: {type: int, min: 1, max: 5}
    phrasings: ["Use {n} lines.", "Write {n} lines.", "Exactly {n} lines."]
    checker: judge
    question: "Does it have {n} lines?"
"""


def make_taxonomy(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "tax"
    shutil.copytree(FIXTURE, root)
    (root / "constraints" / "extra.yaml").write_text("vocabulary: complexify\nconstraints:\n" + body, encoding="utf-8")
    return root


def load(root: Path):  # type: ignore[no-untyped-def]
    return load_taxonomy(root, check_checkers=False)


def test_fixture_loads_with_graph_edges() -> None:
    tax = load(FIXTURE)
    assert len(tax.types) == 4 and len(tax.dimensions) == 19
    g = tax.graph
    assert g.nodes["t:lower"]["kind"] == "constraint"
    assert any(d["relation"] == "is_a" for _, _, d in g.edges("t:lower", data=True))
    assert tax.conflicts("t:lower", "t:upper") and tax.conflicts("t:upper", "t:lower")
    assert tax.conflicts("t:words", "t:words"), "every spec conflicts with itself"
    # `conflicts: all` with an exception
    assert tax.conflicts("t:json", "t:words") and tax.conflicts("t:words", "t:json")
    assert not tax.conflicts("t:json", "t:kw")


def test_export_has_nodes_and_one_edge_per_conflict() -> None:
    data = load(FIXTURE).export()
    ids = {n["id"] for n in data["nodes"]}
    assert {"type:Lexical", "dimension:Keywords", "t:kw"} <= ids
    conflict_edges = [e for e in data["edges"] if e["relation"] == "conflicts_with"]
    pairs = {tuple(sorted((e["source"], e["target"]))) for e in conflict_edges}
    assert len(pairs) == len(conflict_edges)
    assert ("t:lower", "t:upper") in pairs


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (GOOD_ENTRY.replace("dimension: Length", "dimension: Lenght"), "unknown dimension 'Lenght'"),
        (GOOD_ENTRY.replace("min: 1, max: 5", "min: 9, max: 5"), "bad range: min 9.0 > max 5.0"),
        (GOOD_ENTRY.replace('"Exactly {n} lines."', '"Exactly some lines."'), "does not state parameter(s) ['n']"),
        (GOOD_ENTRY.replace("checker: judge", "checker: code"), "'checker' must be 'code:<checker id>' or 'judge'"),
        (GOOD_ENTRY.replace('    question: "Does it have {n} lines?"\n', ""), "needs a 'question' template"),
        (
            GOOD_ENTRY + "    conflicts: all\n    conflicts_except: [t:json]\n",
            "names 't:json' in conflicts_except, but 't:json'",
        ),
        (GOOD_ENTRY + "    conflicts: [t:nope]\n", "unknown spec 't:nope'"),
        (GOOD_ENTRY.replace("x:ok", "t:kw"), "duplicate id"),
        (GOOD_ENTRY.replace("x:ok", "no-group"), "'id' must look like 'group:name'"),
        (GOOD_ENTRY + "    colour: red\n", "unknown key(s) ['colour']"),
        (
            GOOD_ENTRY.replace("{type: int, min: 1, max: 5}", "{type: words, pool: nope, count: [1, 2]}"),
            "unknown pool 'nope'",
        ),
        (GOOD_ENTRY.replace('phrasings: ["Use {n} lines.", ', "phrasings: ["), "at least 3 phrasings"),
    ],
    ids=[
        "dimension",
        "range",
        "phrasing",
        "checker",
        "question",
        "contradiction",
        "unknown-conflict",
        "duplicate",
        "id-format",
        "unknown-key",
        "pool",
        "phrasing-count",
    ],
)
def test_bad_entries_are_reported_with_file_and_entry(tmp_path: Path, entry: str, message: str) -> None:
    root = make_taxonomy(tmp_path, entry)
    with pytest.raises(TaxonomyError) as err:
        load(root)
    text = str(err.value)
    assert message in text
    assert "extra.yaml" in text


def test_a_conflict_is_declared_once_and_holds_both_ways(tmp_path: Path) -> None:
    # x:ok names t:kw; t:kw's entry says nothing about x:ok
    tax = load(make_taxonomy(tmp_path, GOOD_ENTRY + "    conflicts: [t:kw]\n"))
    assert tax.conflicts("x:ok", "t:kw") and tax.conflicts("t:kw", "x:ok")
    assert not tax.compatible("t:kw", ["x:ok"])


def test_a_conflict_contradicting_an_exception_is_reported(tmp_path: Path) -> None:
    body = (
        GOOD_ENTRY
        + "    conflicts: [x:all]\n"
        + GOOD_ENTRY.replace("x:ok", "x:all")
        + ("    conflicts: all\n    conflicts_except: [x:ok]\n")
    )
    with pytest.raises(
        TaxonomyError, match=r"entry 'x:ok': lists 'x:all' as a conflict, but 'x:all' .* conflicts_except"
    ):
        load(make_taxonomy(tmp_path, body))


def test_the_bundled_taxonomy_declares_each_conflict_once() -> None:
    tax = load_taxonomy()
    declared: dict[frozenset[str], list[str]] = {}
    for s in tax.specs.values():
        for other in s.conflicts:
            declared.setdefault(frozenset((s.id, other)), []).append(s.id)
            covered = tax.specs[other].conflicts_all and s.id not in tax.specs[other].conflicts_except
            assert not covered, f"{s.id} lists {other}, whose `conflicts: all` already covers it"
    twice = {tuple(sorted(pair)) for pair, sides in declared.items() if len(sides) > 1}
    assert twice == set(), "declare each conflict on one entry only"


def test_missing_checker_is_reported(tmp_path: Path) -> None:
    root = make_taxonomy(tmp_path, GOOD_ENTRY.replace("checker: judge", "checker: code:x:unregistered"))
    with pytest.raises(TaxonomyError, match=r"entry 'x:ok': missing checker 'x:unregistered'"):
        load_taxonomy(root, check_checkers=True)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    root = make_taxonomy(tmp_path, GOOD_ENTRY)
    (root / "constraints" / "broken.yaml").write_text("constraints: [\n  - id: : :\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"broken\.yaml: not valid YAML"):
        load(root)


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    bad = GOOD_ENTRY.replace("dimension: Length", "dimension: Nope") + GOOD_ENTRY.replace("x:ok", "x:two").replace(
        "max: 5", "max: 0"
    )
    with pytest.raises(TaxonomyError) as err:
        load(make_taxonomy(tmp_path, bad))
    assert "unknown dimension 'Nope'" in str(err.value) and "bad range" in str(err.value)
