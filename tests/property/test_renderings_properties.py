"""Property-based tests of the renderings: any tree, any weights, the prompt keeps what the fidelity gate checks."""

from __future__ import annotations

import random
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.render import fidelity_problems, required_fragments
from pipeline.construct.renderings import RENDERINGS, render_prompt
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.models import Seed
from tests.helpers.tree_properties import assert_instruction_invariants

seed_texts = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="{}"), min_size=1, max_size=120
).filter(lambda s: s.strip())
weights = st.dictionaries(st.sampled_from(RENDERINGS), st.floats(0, 5), min_size=1).filter(
    lambda w: any(v > 0 for v in w.values())
)


@cache
def bundled() -> Taxonomy:
    return load_taxonomy()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), random_seed=st.integers(0, 2**32), text=seed_texts, renderings=weights)
def test_any_weights_give_a_faithful_prompt_in_a_rendering_they_allow(
    category: str, random_seed: int, text: str, renderings: dict[str, float]
) -> None:
    tax = bundled()
    opts = ComposeOptions(renderings=renderings)
    ins = compose_instruction(Seed(id="h", text=text), category, tax, random_seed=random_seed, options=opts)
    assert renderings[ins.rendering] > 0
    assert fidelity_problems(ins.tree, ins.prompt, ins.prompt) == []
    assert_instruction_invariants(ins, tax, category)
    assert compose_instruction(Seed(id="h", text=text), category, tax, random_seed=random_seed, options=opts) == ins


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), random_seed=st.integers(0, 2**32), render_seed=st.integers(0, 2**32))
def test_every_rendering_of_one_tree_keeps_the_same_fragments(
    category: str, random_seed: int, render_seed: int
) -> None:
    ins = compose_instruction(Seed(id="h", text="Plan a picnic."), category, bundled(), random_seed=random_seed)
    structured = render_prompt(ins.tree, random.Random(render_seed), "structured")
    for rendering in RENDERINGS:
        prompt = render_prompt(ins.tree, random.Random(render_seed), rendering)
        assert fidelity_problems(ins.tree, structured, prompt) == [], (rendering, prompt)
        low = prompt.lower()
        assert all(f.lower() in low for f in required_fragments(ins.tree))
