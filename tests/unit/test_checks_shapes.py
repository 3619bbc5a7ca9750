"""The structured-output training constraints (taxonomy/constraints/complexify_structure.yaml) and their checkers
(pipeline/checks/tables.py, blocks.py and shapes.py): verdicts, argument errors, the YAML agreeing with the
checkers, and each constraint composed and checked on its span in And, Chain and Selection."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.checks.registry import load_checkers, run_check
from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.plans import compile_plan
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import taken_constraints
from pipeline.errors import CheckerArgumentError
from pipeline.models import And, Branch, Chain, Condition, Constraint, Seed, Selection, Task
from pipeline.verify.overlap import find_overlaps
from pipeline.verify.plan import verify_response

FILE = "complexify_structure.yaml"
TABLE = "| Name | Year |\n|---|---|\n| **Apple** | 2001 |\n| **Banana** | 2003 |\n| **Cherry** | 2010 |"

# id -> (kwargs, a response that satisfies it, a response that narrowly misses it)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "table:row_count": ({"num_rows": 3}, TABLE, TABLE.rsplit("\n", 1)[0]),
    "table:given_columns": ({"columns": ["Name", "Year"]}, TABLE, TABLE.replace("| Name | Year |", "| Year | Name |")),
    "table:sorted_rows": ({"order": "A to Z"}, TABLE, TABLE.replace("Banana", "Zucchini")),
    "table:bold_first_column": ({}, TABLE, TABLE.replace("**Banana**", "Banana")),
    "table:total_row": ({}, TABLE + "\n| Total | 6014 |", TABLE + "\n| Sum | 6014 |"),
    "table:cell_word_limit": ({"max_words": 2}, TABLE, TABLE.replace("Apple", "a very big apple")),
    "code:block_count": (
        {"num_blocks": 2},
        "Run:\n```bash\nls -la\n```\nThen:\n~~~python\nprint('ok')\n~~~",
        "Run:\n```bash\nls -la\n```\nThen:\n```\nprint('ok')\n```",
    ),
    "json:array_of_objects": (
        {"num_items": 2},
        '```json\n[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]\n```',
        '```json\n[{"a": 1, "b": "x"}, {"a": 2}]\n```',
    ),
    "json:typed_value": (
        {"key": "result", "value_type": "boolean"},
        '```json\n{"result": false}\n```',
        '```json\n{"result": "false"}\n```',
    ),
    "json:nesting_depth": ({"depth": 3}, '```json\n{"a": [{"b": {"c": 1}}]}\n```', '```json\n{"a": {"b": 1}}\n```'),
    "json:key_array": (
        {"key": "tips", "num_items": 2},
        'Tips:\n```json\n{"tips": ["rest", "sleep"], "n": 2}\n```',
        'Tips:\n```json\n{"tips": "rest, sleep"}\n```',
    ),
    "json:snake_case_keys": (
        {"min_keys": 3},
        '```json\n{"first_name": "Al", "age": 3, "town": {"zip_code": "1"}}\n```',
        '```json\n{"first_name": "Al", "Age": 3, "town": "Rome"}\n```',
    ),
    "csv:fenced_block": (
        {"num_columns": 3, "num_rows": 2},
        '```csv\nname,age,city\nAl,30,"Rome, Italy"\nBo,41,Oslo\n```',
        "```csv\nname,age,city\nAl,30\nBo,41,Oslo\n```",
    ),
    "yaml:key_value_block": (
        {"num_keys": 2},
        "```yaml\n# facts\nname: Alice\nrole: pilot\n```",
        "```yaml\nname: Alice\nrole:\n  - pilot\n```",
    ),
    "list:nesting_depth": ({"depth": 3}, "1. a item\n   - b item\n     - c item", "- a item\n  - b item"),
    "list:uniform_lists": (
        {"num_lists": 2, "num_items": 2},
        "A:\n- x1\n- y1\n\nB:\n1. x2\n2. y2",
        "A:\n- x1\n- y1\n\nB:\n- x2",
    ),
    "list:item_endings": ({"mark": "."}, "- one thing.\n- two **things.**\n- three.", "- one.\n- two.\n- three.."),
    "list:alphabetical_items": ({"min_items": 3}, "1. Alpha\n2. beta\n3. Gamma", "1. Alpha\n2. Gamma\n3. beta"),
    "list:task_checkboxes": (
        {"num_items": 2},
        "* [X] packed bags\n* [ ] book taxi",
        "1. [x] packed bags\n2. [ ] book taxi",
    ),
    "list:bold_term_items": (
        {"min_items": 2},
        "- **Speed**: how fast\n- __Cost:__ the price paid",
        "- **Speed**: how fast\n- **Cost** the price paid",
    ),
    "order:year_timeline": (
        {"num_items": 3},
        "1. 1901 - start of it\n2. 1950: middle part\n3. 1999 the end",
        "1. 1901 - start of it\n2. 1999: middle part\n3. 1950 the end",
    ),
    "cond:numbered_when_long": (
        {"threshold": 2},
        "- tea\n- milk\n\nLater:\n\n1. a1\n2. b2\n3. c3",
        "- a1\n- b2\n- c3",
    ),
    "sections:numbered_headings": (
        {"num_sections": 2},
        "# 1: Start\nGo now.\n# 2) End\nStop here.",
        "# 1: Start\nGo now.\n# 3) End\nStop here.",
    ),
    "sections:given_order": (
        {"titles": ["Risks", "Costs"]},
        "## Intro\nHi there.\n## **Risks**\nSome risk.\n## Costs\nSome cost.",
        "## Costs\nSome cost.\n## Risks\nSome risk.",
    ),
    "sections:title_and_subsections": (
        {"num_subsections": 3},
        "# Plan\n## A\ntext a\n## B\ntext b\n## C\ntext c",
        "# Plan\n## A\ntext a\n## B\ntext b",
    ),
    "sections:equal_paragraphs": (
        {"num_paragraphs": 1},
        "## A\none para\n## B\nanother one",
        "## A\none\n\ntwo\n## B\nx1",
    ),
    "sections:list_under_each_heading": (
        {"num_sections": 2},
        "# Top\n## A\n- a1\n- a2\n## B\n1. b1\n2. b2",
        "## A\n- a1\n- a2\n## B\n- b1",
    ),
    "cond:bold_paragraphs": (
        {"word": "plan"},
        "**Our plans are simple.**\n\nThe weather is fine.\n\n**The plan starts at nine.**",
        "**Our plans are simple.**\n\nThe weather is fine for the plan.",
    ),
    "cond:italic_questions": (
        {"min_questions": 2},
        "Think. _Is it late?_ And *who knows?*",
        "Think. _Is it late?_ And who knows?",
    ),
    "markdown:blockquote_count": (
        {"num_quotes": 1},
        "Said:\n\n> Less is more.\n> Always.",
        "> Less is more.\n\n> Twice.",
    ),
}


def my_specs(tax: Taxonomy) -> list[str]:
    return sorted(s.id for s in tax.specs.values() if s.source_file.endswith(FILE))


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


def test_every_spec_of_the_file_has_cases_here_and_a_checker_taking_its_params(tax: Taxonomy) -> None:
    registry = load_checkers()
    specs = [tax.specs[i] for i in my_specs(tax)]
    assert len(specs) >= 25
    assert set(CASES) == {s.id for s in specs}
    for spec in specs:
        assert spec.vocabulary == "complexify" and "complexify" in spec.tags, spec.id
        assert spec.checker_id == spec.id and spec.is_code, spec.id
        assert {p.name for p in spec.params} == set(registry[spec.id].params), spec.id
        assert len(spec.phrasings) >= 3, spec.id


def test_none_behaves_like_an_ifbench_type(tax: Taxonomy) -> None:
    """Held-out IFBench types stay out of training data: no spec here gives the verdicts of one (pipeline.verify
    .overlap, which compares checker behaviour on probe texts, not ids or wording)."""
    held_out = [s for s in tax.specs.values() if s.vocabulary == "ifbench"]
    assert len(held_out) >= 10
    found = find_overlaps(tax, [tax.specs[i] for i in my_specs(tax)], held_out)
    assert found == [], [o.message() for o in found]


@pytest.mark.parametrize("cid", sorted(CASES))
def test_positive_passes_and_negative_fails(cid: str) -> None:
    kwargs, good, bad = CASES[cid]
    passed = run_check(cid, good, kwargs)
    assert passed.passed and passed.evidence, passed.evidence
    failed = run_check(cid, bad, kwargs)
    assert not failed.passed and failed.evidence, failed.evidence


@pytest.mark.parametrize("cid", sorted(CASES))
def test_hidden_or_fenced_copies_earn_nothing(cid: str) -> None:
    """A satisfying answer inside reasoning or an HTML comment is not the answer (fenced blocks are checked by the
    data-block rules themselves, so only a commented-out copy is tried for those)."""
    kwargs, good, _ = CASES[cid]
    filler = "Nothing to see here."
    assert not run_check(cid, f"<think>\n{good}\n</think>\n{filler}", kwargs).passed
    assert not run_check(cid, f"{filler}\n<!--\n{good}\n-->", kwargs).passed


@pytest.mark.parametrize(
    ("cid", "kwargs"),
    [
        ("table:row_count", {"num_rows": 0}),
        ("table:given_columns", {"columns": "Name"}),
        ("table:sorted_rows", {"order": "up"}),
        ("json:typed_value", {"key": "x", "value_type": "integer"}),
        ("json:key_array", {"key": "", "num_items": 2}),
        ("csv:fenced_block", {"num_columns": True, "num_rows": 2}),
        ("list:item_endings", {"mark": "!"}),
        ("sections:given_order", {"titles": []}),
        ("cond:bold_paragraphs", {"word": " "}),
    ],
)
def test_malformed_kwargs_raise(cid: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(CheckerArgumentError, match=cid.split(":")[0]):
        run_check(cid, "anything", kwargs)


def test_evidence_names_what_is_wrong() -> None:
    assert "2 markdown tables" in run_check("table:row_count", TABLE + "\n\n" + TABLE, {"num_rows": 3}).evidence
    assert "ragged" in run_check("table:row_count", "| a | b |\n|---|---|\n| x1 | y1 | z1 |", {"num_rows": 1}).evidence
    assert "duplicate key" in run_check("json:nesting_depth", '```json\n{"a": 1, "a": 2}\n```', {"depth": 1}).evidence
    assert "never closed" in run_check("code:block_count", "```python\nx = 1", {"num_blocks": 1}).evidence
    assert "level 4" in run_check("list:nesting_depth", "- a1\n - b1\n  - c1\n   - d1", {"depth": 3}).evidence
    assert "Z to A" in run_check("table:sorted_rows", TABLE, {"order": "Z to A"}).evidence


def test_levels_come_from_nesting_not_raw_indentation() -> None:
    assert run_check("list:nesting_depth", "- a1\n        - b1\n- c1\n  - d1", {"depth": 2}).passed
    assert not run_check("list:nesting_depth", "- a1\n        - b1", {"depth": 3}).passed


def test_rules_and_bold_lines_are_not_items() -> None:
    assert not run_check("list:item_endings", "* * *\n---\n**Bold.**", {"mark": "."}).passed
    assert run_check("cond:numbered_when_long", "- one\n- two\n\n* * *\n\nText.", {"threshold": 2}).passed


def test_lists_are_read_as_markdown_renders_them() -> None:
    # a line right after an item continues it; an indented line after a blank line too
    assert run_check(
        "list:item_endings", "- one\n  goes on.\n- two.\n\n  more of two.\n- three.", {"mark": "."}
    ).passed
    assert not run_check(
        "list:uniform_lists", "- a1\n- b1\nNext:\n- c1\n- d1", {"num_lists": 2, "num_items": 2}
    ).passed
    # unindented text after a blank line ends a list; a top-level item of the other kind starts a new one
    assert run_check("list:uniform_lists", "- a1\n- b1\n\nNext:\n- c1\n- d1", {"num_lists": 2, "num_items": 2}).passed
    assert run_check("cond:numbered_when_long", "- a1\n- b1\n1. c1\n2. d1\n3. e1", {"threshold": 2}).passed


# --- composed: And, Chain and Selection -------------------------------------------------------------------------


def constraint(cid: str) -> Constraint:
    return Constraint(spec_id=cid, params=CASES[cid][0], text=f"Follow {cid}.")


@pytest.mark.parametrize("cid", sorted(CASES))
def test_checked_on_its_span_in_and_chain_and_selection(tax: Taxonomy, cid: str) -> None:
    _, good, bad = CASES[cid]
    plain = Constraint(spec_id="punctuation:punctuation_exclamation", params={}, text="No exclamation marks.")
    both = compile_plan(Task(task="t", body=And(children=[constraint(cid), plain])), tax)
    assert verify_response(good, both).all_pass
    assert not verify_response(bad, both).all_pass

    chain = Task(task="t", body=Chain(steps=[Task(task="first", body=constraint(cid)), Task(task="second")]))
    plan = compile_plan(chain, tax)
    assert [c.scope for c in plan.checks] == ["part:1"]
    assert verify_response(f"### Part 1\n{good}\n\n### Part 2\nThat is all.", plan).all_pass
    assert not verify_response(f"### Part 1\nThat is all.\n\n### Part 2\n{good}", plan).all_pass
    assert not verify_response(f"### Part 1\n{bad}\n\n### Part 2\nThat is all.", plan).all_pass

    condition = Condition(kind="fixed", text="the task mentions a city", value="yes")
    branches = [
        Branch(label="A", when="yes", body=Task(body=constraint(cid))),
        Branch(label="B", when="no", body=Task(body=None)),
    ]
    choice = compile_plan(Task(task="t", body=Selection(condition=condition, branches=branches, correct="A")), tax)
    # a branch may be answered with a fenced block alone: the block is the case's content (structure:selected_case)
    assert verify_response(f"### Case A\n{good}", choice).all_pass
    assert not verify_response(f"### Case A\n{bad}", choice).all_pass
    assert not verify_response(f"### Case B\n{good}", choice).all_pass


def test_the_composer_draws_each_one_in_and_chain_and_selection(tax: Taxonomy) -> None:
    mine = set(my_specs(tax))
    seed = Seed(id="s", text="Plan a weekend trip to a city you have never visited.")
    for category in ("And_1", "Chain_1", "Selection_1"):
        seen: set[str] = set()
        for i in range(3000):
            ins = compose_instruction(seed, category, tax, random_seed=i, options=ComposeOptions(checkers="code"))
            seen |= {c.spec_id for c in taken_constraints(ins.tree)} & mine
            if seen == mine:
                break
        assert seen == mine, f"{category}: never drawn {sorted(mine - seen)}"
