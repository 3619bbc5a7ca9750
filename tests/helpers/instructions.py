"""Instructions built directly from the constraints a test needs, instead of drawn until one has them."""

from __future__ import annotations

import random
from collections.abc import Sequence

from pipeline.construct.params import sample_params
from pipeline.construct.plans import compile_plan
from pipeline.construct.render import render_template
from pipeline.construct.renderings import render_prompt
from pipeline.construct.taxonomy import Taxonomy
from pipeline.construct.tree import composition_types, tree_category, tree_depth
from pipeline.models import And, Constraint, Instruction, Node, Seed, Task, fingerprint_of
from pipeline.run.config import RunConfig
from pipeline.run.identity import config_hash, role_models, template_hashes
from pipeline.run.stages import BatchResult, ComposedBatch, Models, Provenance, process_batch


def instruction_with(seed: Seed, spec_ids: Sequence[str], taxonomy: Taxonomy, *, random_seed: int = 0) -> Instruction:
    """A Single (one spec) or And_1 (several) instruction on `seed` with exactly these constraints, rendered and
    planned as the composer would (parameters and phrasing drawn from `random_seed`)."""
    rng = random.Random(f"{random_seed}|{seed.id}")
    constraints = []
    for spec_id in spec_ids:
        spec = taxonomy.spec(spec_id)
        params = sample_params(spec, taxonomy.pools, rng, seed.text)
        constraints.append(
            Constraint(spec_id=spec_id, params=params, text=render_template(rng.choice(spec.phrasings), params))
        )
    body: Node = constraints[0] if len(constraints) == 1 else And(children=list[Node](constraints))
    tree = Task(task=seed.text, body=body)
    fp = fingerprint_of({"seed": seed.model_dump(), "tree": tree.model_dump(), "taxonomy": taxonomy.version})
    return Instruction(
        id=f"ins-{fp[:12]}",
        seed_id=seed.id,
        seed_text=seed.text,
        tree=tree,
        category=tree_category(tree),
        composition=sorted(composition_types(tree)),
        depth=tree_depth(tree),
        prompt=render_prompt(tree, rng),
        plan=compile_plan(tree, taxonomy),
        taxonomy_version=taxonomy.version,
        fingerprint=fp,
    )


def run_instructions(
    instructions: Sequence[Instruction], cfg: RunConfig, models: Models, *, run_id: str
) -> BatchResult:
    """Process these instructions as one batch of a run of `cfg`."""
    provenance = Provenance(run_id, config_hash(cfg), role_models(cfg), template_hashes())
    return process_batch(ComposedBatch(0, tuple(instructions)), cfg, models, provenance)
