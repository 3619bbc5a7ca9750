"""What a taxonomy entry says about its constraint for the code that reasons about constraints side by side: the
counts it bounds, its verbatim text, the words it requires or bans and the seed forms it does not fit. The loader
checks each against the entry's parameters; the composer, feasibility and the seed-tag rules read nothing else."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline.construct.taxonomy import load_taxonomy
from pipeline.construct.traits import SEED_FORM_GROUPS
from pipeline.errors import TaxonomyError

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "taxonomy"
# The modules that reason about constraints by what their specs declare, never by their ids.
BY_TRAITS = ("feasibility", "seed_tags", "compose")

ENTRY = """
  - id: x:ok
    dimension: Keywords
    description: fine
    params:
      n: {type: int, min: 1, max: 5}
      relation: {type: choice, values: ["less than", "at least"]}
      word: {type: word, pool: mini_words}
    phrasings: ["Use {word} {relation} {n} times.", "Write {word} {relation} {n} times.",
                "Say {word} {relation} {n} times."]
    checker: judge
    question: "Is {word} used {relation} {n} times?"
"""


def make_taxonomy(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "tax"
    shutil.copytree(FIXTURE, root)
    (root / "constraints" / "extra.yaml").write_text("vocabulary: complexify\nconstraints:\n" + body, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("traits", "message"),
    [
        ("counts: [{unit: lines, min: n}]", "counts #1 (lines): unknown unit"),
        ("counts: [{unit: words_w, of: word, min: n}]", "a whole-text unit takes no 'of'"),
        ("counts: [{unit: word, min: 1}]", "'of' must name the entry's parameter holding the words, got None"),
        ("counts: [{unit: word, of: wrd, min: 1}]", "got 'wrd'"),
        (
            "counts: [{unit: words_w, min: n, exactly: n}]",
            "give exactly one of: relation and n, exactly, min and/or max",
        ),
        ("counts: [{unit: words_w, min: relation}]", "min 'relation' must name an int parameter"),
        ("counts: [{unit: words_w, max: -1}]", "max must be a number >= 0"),
        ("counts: [{unit: words_w, relation: relation}]", "'relation' and 'n' go together"),
        ("counts: [{unit: keywords_present, of: word, min: 1}]", "needs both min and max"),
        ("counts: [{unit: words_w, min: n, colour: red}]", "counts #1: colour: Extra inputs are not permitted"),
        ("counts: {unit: words_w}", "'counts' must be a list"),
        ("verbatim: [phrase]", "verbatim #1: 'phrase' must name a text parameter"),
        ("verbatim: [{param: word, times: relation}]", "times 'relation' must name an int parameter"),
        ("words: {requires: [phrase]}", "words.requires names unknown parameter(s) ['phrase']"),
        ("words: {needs: [word]}", "words: needs: Extra inputs are not permitted"),
        ("unfit_for: [sonnet]", "unfit_for: unknown seed form group(s) ['sonnet']; known: verse, fixed_verse, code"),
    ],
    ids=[
        "unit", "scalar-of", "no-of", "bad-of", "two-forms", "non-int-limit", "negative", "relation-alone",
        "set-needs-both", "unknown-key", "counts-not-list", "verbatim-param", "verbatim-times", "words-param",
        "words-key", "unfit-group",
    ],
)  # fmt: skip
def test_bad_traits_are_reported_with_file_entry_and_fix(tmp_path: Path, traits: str, message: str) -> None:
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(make_taxonomy(tmp_path, ENTRY + f"    {traits}\n"), check_checkers=False)
    assert "extra.yaml: entry 'x:ok'" in str(err.value) and message in str(err.value)


def test_a_dimension_names_only_known_seed_form_groups(tmp_path: Path) -> None:
    root = make_taxonomy(tmp_path, ENTRY)
    types = root / "types.yaml"
    types.write_text(types.read_text(encoding="utf-8").replace("unfit_for: [verse]", "unfit_for: [prose]", 1))
    with pytest.raises(TaxonomyError, match=r"types\.yaml: dimension 'JSON Format': unfit_for: unknown seed form"):
        load_taxonomy(root, check_checkers=False)


def test_good_traits_load_and_words_follow_from_counts_and_verbatim(tmp_path: Path) -> None:
    traits = (
        "    counts:\n      - {unit: word, of: word, relation: relation, n: n}\n"
        "      - {unit: sentences_ours, min: 2}\n"
        "    unfit_for: [code, verse]\n"
    )
    banned = ENTRY.replace("x:ok", "x:ban") + "    counts: [{unit: word, of: word, max: 0}]\n"
    tax = load_taxonomy(make_taxonomy(tmp_path, ENTRY + traits + banned), check_checkers=False)
    spec = tax.specs["x:ok"]
    assert [(b.unit, b.of, b.relation, b.n) for b in spec.counts] == [
        ("word", "word", "relation", "n"),
        ("sentences_ours", None, None, None),
    ]
    assert spec.words.requires == ["word"] and spec.words.bans == []
    assert spec.unfit_for == ["verse", "code"], "in the fixed order of the groups"
    assert tax.specs["x:ban"].words.bans == ["word"] and tax.specs["x:ban"].words.requires == []


def test_a_dimensions_unfit_for_reaches_every_spec_in_it() -> None:
    tax = load_taxonomy()
    for dimension in ("Bullets Format", "JSON Format"):
        specs = tax.specs_in(dimension)
        assert specs and all("verse" in s.unfit_for for s in specs), dimension
    assert tax.specs["format:newline"].unfit_for == ["fixed_verse", "code"]


def test_the_bundled_taxonomy_states_its_word_roles() -> None:
    specs = load_taxonomy().specs
    assert specs["keywords:forbidden_words"].words.bans == ["forbidden_words"]
    assert specs["complexbench:forbidden_words"].words.bans == ["forbidden_words"]
    assert specs["startend:end_checker"].words.requires == ["end_phrase"]  # from its verbatim text
    assert specs["keywords:frequency"].words.requires == ["keyword"]  # from its count
    assert specs["combination:repeat_prompt"].words.requires == ["prompt_to_repeat"]  # stated: no count says it
    assert set(SEED_FORM_GROUPS) == {"verse", "fixed_verse", "code"}


def test_no_module_that_reasons_by_traits_names_a_constraint() -> None:
    specs = load_taxonomy().specs
    groups = sorted({sid.split(":", 1)[0] for sid in specs})
    looks_like_an_id = re.compile(r"\b(?:" + "|".join(map(re.escape, groups)) + r"):[A-Za-z_][\w-]*")
    for module in BY_TRAITS:
        text = (ROOT / "pipeline" / "construct" / f"{module}.py").read_text(encoding="utf-8")
        named = sorted({sid for sid in specs if sid in text} | set(looks_like_an_id.findall(text)))
        assert named == [], f"pipeline/construct/{module}.py names constraint ids {named}; declare it in their entries"


def test_the_export_carries_the_traits() -> None:
    nodes = {n["id"]: n for n in load_taxonomy().export()["nodes"]}
    words = nodes["keywords:forbidden_words"]
    assert words["counts"] == [{"unit": "word", "of": "forbidden_words", "max": 0}]
    assert words["words"] == {"requires": [], "bans": ["forbidden_words"]}
    assert nodes["format:newline"]["unfit_for"] == ["fixed_verse", "code"]
    assert nodes["startend:end_checker"]["verbatim"] == [{"param": "end_phrase", "times": 1, "slots": False}]
