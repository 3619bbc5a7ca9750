"""Property-based tests of the composer over the bundled taxonomy and the conflict-heavy fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Seed
from tests.helpers.tree_properties import assert_instruction_invariants
from tests.helpers.tree_properties import compose_options as options

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
# Instructions per category in the sweep; CI keeps the default (1000 per category).
SWEEP = int(os.environ.get("COMPLEXIFY_SWEEP", "1000"))

TAXONOMIES = {
    "bundled": lambda: load_taxonomy(),
    "fixture": lambda: load_taxonomy(FIXTURE, check_checkers=False),
}

seed_texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), min_size=1, max_size=200
).filter(lambda s: s.strip())


@pytest.mark.parametrize("which", sorted(TAXONOMIES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), random_seed=st.integers(0, 2**32), text=seed_texts, opts=options)
def test_random_instructions_keep_every_invariant(
    which: str, category: str, random_seed: int, text: str, opts: ComposeOptions
) -> None:
    tax = TAXONOMIES[which]()
    seed = Seed(id="h", text=text)
    ins = compose_instruction(seed, category, tax, random_seed=random_seed, options=opts)
    assert_instruction_invariants(ins, tax, category)
    assert compose_instruction(seed, category, tax, random_seed=random_seed, options=opts) == ins


@pytest.mark.parametrize("category", CATEGORIES)
def test_sweep_thousands_per_category_on_the_bundled_taxonomy(category: str) -> None:
    tax = load_taxonomy()
    seed = Seed(id="sweep", text="Plan a weekend trip to a city you have never visited.")
    fingerprints = set()
    for i in range(SWEEP):
        ins = compose_instruction(seed, category, tax, random_seed=i)
        assert_instruction_invariants(ins, tax, category)
        fingerprints.add(ins.fingerprint)
    # the sampler explores: most draws differ (a Single instruction has one constraint on one seed text,
    # and some specs have no parameters, so its space is smaller)
    assert len(fingerprints) >= (0.4 if category == "Single" else 0.9) * SWEEP
