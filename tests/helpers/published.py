"""A published folder without a model: instructions of the bundled taxonomy with canned answers verified for real."""

from __future__ import annotations

from pathlib import Path

from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Sample, Seed
from pipeline.publish.dataset import BuiltDataset, build_dataset_folder
from pipeline.verify.plan import verify_response
from tests.helpers.instructions import instruction_with

# Code-checked specs of the bundled taxonomy a short answer can meet, one or two per instruction.
SPEC_SETS = [
    ["change_case:english_lowercase"],
    ["punctuation:no_comma"],
    ["change_case:english_lowercase", "punctuation:no_comma"],
    ["startend:end_checker"],
    ["detectable_format:title"],
    ["punctuation:no_comma", "detectable_format:title"],
]
ANSWER = "<<a short title>>\nrivers carry water from the hills to the sea and shape the land they pass through."


def published_folder(out: Path) -> BuiltDataset:
    """Publish six kept samples (sft, rl, ...) to `out` as `complexify publish` lays a folder out."""
    taxonomy = load_taxonomy()
    kept = []
    for i, specs in enumerate(SPEC_SETS):
        seed = Seed(id=f"s{i}", text=f"Describe river number {i} in two sentences.")
        ins = instruction_with(seed, specs, taxonomy, random_seed=i)
        kept.append(
            Sample(
                id=f"{ins.id}-b0-r0-k0",
                instruction=ins,
                response=Response(text=ANSWER, model="scripted", candidate=0),
                verdict=verify_response(ANSWER, ins.plan, instruction=ins.prompt),
                kept=True,
                run_id="run-train-smoke",
                run_fingerprint="fp-train-smoke",
            )
        )
    return build_dataset_folder(kept, [], out, repo_id="org/complexify-smoke", run_info={"run_id": "run-train-smoke"})
