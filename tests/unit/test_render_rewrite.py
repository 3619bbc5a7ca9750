"""Template rendering and the rewrite fidelity gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.construct.compose import CATEGORIES, compose_instruction
from pipeline.construct.render import apply_rewrite, fidelity_problems, required_fragments, rewrite_messages
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Seed

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEED = Seed(id="s", text="Explain how tides work.")


@pytest.fixture(scope="module")
def tax():  # type: ignore[no-untyped-def]
    return load_taxonomy(FIXTURE, check_checkers=False)


@pytest.mark.parametrize("category", CATEGORIES)
def test_template_passes_its_own_fidelity_gate(tax, category: str) -> None:  # type: ignore[no-untyped-def]
    for i in range(25):
        ins = compose_instruction(SEED, category, tax, random_seed=i)
        assert fidelity_problems(ins.tree, ins.prompt, ins.prompt) == []
        assert ins.prompt.startswith(SEED.text)


def test_structured_prompts_name_their_markers(tax) -> None:  # type: ignore[no-untyped-def]
    ins = compose_instruction(SEED, "Selection_and_Chain_2", tax, random_seed=1)
    frags = required_fragments(ins.tree)
    assert any(f.startswith("### Case ") for f in frags) and any(f.startswith("### Part ") for f in frags)
    for f in frags:
        assert f.lower() in ins.prompt.lower()


def test_rewrite_dropping_a_parameter_is_rejected_with_the_reason(tax) -> None:  # type: ignore[no-untyped-def]
    for i in range(200):
        ins = compose_instruction(SEED, "And_1", tax, random_seed=i)
        nums = [
            str(v)
            for c in ins.plan.checks
            for v in c.kwargs.values()
            if isinstance(v, int) and not isinstance(v, bool)
        ]
        if nums:
            break
    else:
        pytest.fail("no instruction with a numeric parameter")
    broken = ins.prompt.replace(nums[0], "many")
    out = apply_rewrite(ins, broken)
    assert out.prompt == ins.prompt and out.template_prompt is None
    assert f"missing {nums[0]!r}" in out.rewrite_note


def test_number_inside_another_number_does_not_count() -> None:
    from pipeline.construct.render import _contains

    assert _contains("at least 120 words", "120") and not _contains("at least 1200 words", "120")
    assert not _contains("version 3.120", "120")


def test_faithful_rewrite_is_used_and_template_kept(tax) -> None:  # type: ignore[no-untyped-def]
    ins = compose_instruction(SEED, "Chain_1", tax, random_seed=2)
    rewritten = "Please note:\n" + ins.prompt.replace("Part 1:", "For Part 1,")
    out = apply_rewrite(ins, rewritten)
    assert (
        out.prompt == rewritten.strip()
        and out.template_prompt == ins.prompt
        and out.rewrite_note == "rewrite accepted"
    )


def test_empty_and_runaway_rewrites_are_rejected(tax) -> None:  # type: ignore[no-untyped-def]
    ins = compose_instruction(SEED, "Single", tax, random_seed=0)
    assert apply_rewrite(ins, "   ").rewrite_note.startswith("rewrite rejected: empty")
    assert "length changed" in apply_rewrite(ins, ins.prompt * 5).rewrite_note
    assert apply_rewrite(ins, None) == ins


def test_rewrite_messages_carry_the_instruction() -> None:
    msgs = rewrite_messages("Do X. Use 3 words.")
    assert msgs[0]["role"] == "system" and "Do X. Use 3 words." in msgs[1]["content"]
