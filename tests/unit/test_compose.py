"""Composer and plan compiler on the small fixture taxonomy (conflict-heavy by design)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.construct.compose import (
    CATEGORIES,
    ComposeOptions,
    allocate,
    compose_batch,
    compose_instruction,
    parse_category,
)
from pipeline.construct.params import sample_params
from pipeline.construct.taxonomy import load_taxonomy, max_compatible
from pipeline.errors import CompositionError
from pipeline.models import Seed
from tests.helpers.tree_properties import assert_instruction_invariants

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEED = Seed(id="s1", text="Describe how a lighthouse works.")


@pytest.fixture(scope="module")
def tax():  # type: ignore[no-untyped-def]
    return load_taxonomy(FIXTURE, check_checkers=False)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_is_composed_with_its_invariants(tax, category: str) -> None:  # type: ignore[no-untyped-def]
    for i in range(40):
        ins = compose_instruction(SEED, category, tax, random_seed=i)
        assert_instruction_invariants(ins, tax, category)


def test_same_seed_same_instruction_and_different_seed_differs(tax) -> None:  # type: ignore[no-untyped-def]
    a = compose_instruction(SEED, "Selection_and_Chain_2", tax, random_seed=11)
    b = compose_instruction(SEED, "Selection_and_Chain_2", tax, random_seed=11)
    assert a == b
    others = {
        compose_instruction(SEED, "Selection_and_Chain_2", tax, random_seed=s).fingerprint for s in range(12, 20)
    }
    assert len(others) > 1


@pytest.mark.parametrize("bad", ["Chain_0", "Chain_4", "And_2", "Selection_and_Chain_1", "Single_1", "Fork_1", ""])
def test_unknown_or_impossible_categories_are_rejected(bad: str) -> None:
    with pytest.raises(CompositionError, match="category"):
        parse_category(bad)


def test_too_many_constraints_for_the_conflict_graph(tax) -> None:  # type: ignore[no-untyped-def]
    limit = max_compatible(tax, "whole", "any")
    with pytest.raises(CompositionError, match=f"allows at most {limit}"):
        compose_instruction(SEED, "And_1", tax, options=ComposeOptions(and_size=(limit + 1, limit + 1)))


def test_code_only_mode_has_no_judge_checks(tax) -> None:  # type: ignore[no-untyped-def]
    for i in range(30):
        ins = compose_instruction(SEED, "Chain_2", tax, random_seed=i, options=ComposeOptions(checkers="code"))
        assert all(c.kind == "code" for c in ins.plan.checks)


def test_context_parameter_is_the_task_text(tax) -> None:  # type: ignore[no-untyped-def]
    seen = False
    for i in range(200):
        ins = compose_instruction(SEED, "And_1", tax, random_seed=i)
        for c in ins.plan.checks:
            if c.spec_id == "t:repeat":
                assert c.kwargs["prompt_to_repeat"] == SEED.text
                seen = True
    assert seen


def test_at_most_parameter_respects_its_reference(tax) -> None:  # type: ignore[no-untyped-def]
    # t:para's nth_paragraph (1..4) is capped by the num_paragraphs drawn before it (2..4)
    drawn = [sample_params(tax.spec("t:para"), tax.pools, random.Random(i), SEED.text) for i in range(200)]
    assert all(1 <= d["nth_paragraph"] <= d["num_paragraphs"] for d in drawn)  # type: ignore[operator]
    assert {d["num_paragraphs"] for d in drawn} == {2, 3, 4}  # every cap was drawn, two of them below the max 4
    assert {(d["num_paragraphs"], d["nth_paragraph"]) for d in drawn} >= {(2, 2), (3, 3)}  # and reached
    # the composer draws it the same way: the checks carry the capped values
    checks = [
        c
        for i in range(200)
        for c in compose_instruction(SEED, "Chain_1", tax, random_seed=i).plan.checks
        if c.spec_id == "t:para"
    ]
    assert checks and all(1 <= c.kwargs["nth_paragraph"] <= c.kwargs["num_paragraphs"] for c in checks)


def test_forbidden_words_never_clash_with_required_keywords(tax) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.tree_properties import output_paths

    both = 0  # outputs holding both constraints: the case this test is about
    for i in range(300):
        ins = compose_instruction(SEED, "And_1", tax, random_seed=i, options=ComposeOptions(and_size=(3, 4)))
        for path in output_paths(ins.tree):
            banned = {w for c in path if c.spec_id == "t:forbid" for w in c.params["forbidden_words"]}  # type: ignore[union-attr]
            wanted = {w for c in path if c.spec_id == "t:kw" for w in c.params["keywords"]}  # type: ignore[union-attr]
            assert not banned & wanted
            both += bool(banned and wanted)
    assert both > 0


def test_allocate_splits_exactly() -> None:
    counts = allocate(10, {"Single": 1, "And_1": 1, "Chain_1": 1})
    assert sum(counts.values()) == 10 and max(counts.values()) - min(counts.values()) <= 1
    with pytest.raises(CompositionError):
        allocate(3, {"Nope_1": 1})
    with pytest.raises(CompositionError):
        allocate(3, {"Single": 0})


def test_compose_batch_meets_the_mix(tax) -> None:  # type: ignore[no-untyped-def]
    seeds = [Seed(id=f"s{i}", text=f"Task number {i}.") for i in range(5)]
    batch = compose_batch(seeds, 12, tax, mix={"Single": 1, "Chain_2": 2}, random_seed=5)
    cats = [i.category for i in batch]
    assert cats.count("Single") == 4 and cats.count("Chain_2") == 8
    assert batch == compose_batch(seeds, 12, tax, mix={"Single": 1, "Chain_2": 2}, random_seed=5)


@pytest.mark.parametrize(
    "kwargs", [{"and_size": (1, 2)}, {"and_size": (3, 2)}, {"judge_share": 1.5}, {"chain_steps": (1, 3)}]
)
def test_bad_options_are_rejected(kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CompositionError):
        ComposeOptions.of(**kwargs)
