"""Surface variety: structured, prose and numbered renderings of one tree, each passing the fidelity gate's code
check."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.render import fidelity_problems, required_fragments, sentence
from pipeline.construct.renderings import RENDERINGS, choose_rendering, render_prompt, rendering_templates
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import CATEGORIES, iter_constraints
from pipeline.errors import CompositionError
from pipeline.models import Instruction, Seed, Task
from pipeline.run.config import ConfigError, parse_config
from pipeline.run.identity import config_hash
from pipeline.seeding.load import load_seed_file
from pipeline.store.schema import instructions_to_table

PER_CATEGORY = 1000
STRUCTURED_ONLY = ComposeOptions(renderings={"structured": 1})
NUMBERED_LINE = re.compile(r"^ *\d+(?:\.\d+)*\. \S", re.MULTILINE)


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def sweep(tax: Taxonomy) -> dict[str, list[Task]]:
    """PER_CATEGORY random trees per category, on random bundled seeds (composed once for every test here)."""
    seeds = load_seed_file("seeds/complexify-seeds.jsonl")
    rng = random.Random(20261201)
    t0 = time.perf_counter()
    trees = {
        cat: [
            compose_instruction(
                rng.choice(seeds), cat, tax, random_seed=rng.randrange(2**32), options=STRUCTURED_ONLY
            ).tree
            for _ in range(PER_CATEGORY)
        ]
        for cat in CATEGORIES
    }
    # a bound, not a benchmark: the sweep must stay a quick unit test on a busy 2-core machine
    assert time.perf_counter() - t0 < 180
    return trees


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_rendering_passes_the_fidelity_code_check_on_a_thousand_instructions_per_category(
    sweep: dict[str, list[Task]], rendering: str
) -> None:
    t0 = time.perf_counter()
    for cat, trees in sweep.items():
        for i, tree in enumerate(trees):
            prompt = render_prompt(tree, random.Random(i), rendering)
            assert fidelity_problems(tree, prompt, prompt) == [], (cat, i, prompt)
            # against the structured template too: a rendering is a faithful rewrite of it (length ratio included)
            structured = render_prompt(tree, random.Random(i), "structured")
            assert fidelity_problems(tree, structured, prompt) == [], (cat, i, prompt)
            assert prompt.startswith((tree.task or "").strip())
            for _, c in iter_constraints(tree):  # each constraint's own sentence, whole and unchanged
                assert sentence(c.text) in prompt, (cat, i, c.text, prompt)
    assert time.perf_counter() - t0 < 90


def test_the_renderings_differ_from_one_another(sweep: dict[str, list[Task]]) -> None:
    for cat, trees in sweep.items():
        for i, tree in enumerate(trees[:200]):
            prompts = {r: render_prompt(tree, random.Random(i), r) for r in RENDERINGS}
            assert len(set(prompts.values())) == len(RENDERINGS), (cat, i, prompts)


def test_prose_is_one_paragraph_and_numbered_is_a_list_nested_by_structure(sweep: dict[str, list[Task]]) -> None:
    for cat, trees in sweep.items():
        for i, tree in enumerate(trees[:200]):
            head = (tree.task or "").strip()
            texts = [sentence(c.text) for _, c in iter_constraints(tree)]
            prose = render_prompt(tree, random.Random(i), "prose").removeprefix(head)
            for t in texts:  # a constraint's own sentence may hold a line break (an example list); nothing else may
                prose = prose.replace(t, "")
            assert "\n" not in prose.strip(), (cat, i, prose)
            numbered = render_prompt(tree, random.Random(i), "numbered").removeprefix(head)
            lines = NUMBERED_LINE.findall(numbered)
            n_checkable = len(list(iter_constraints(tree)))
            assert len(lines) >= n_checkable, (cat, i, numbered)
            # every part and case heading sits in a numbered item one level deeper than its list's intro
            for frag in required_fragments(tree):
                if frag.startswith(("### Part", "### Case")) and cat != "Single":
                    assert re.search(rf'^ *\d+(?:\.\d+)*\. .*"{re.escape(frag)}"', numbered, re.MULTILINE), (
                        frag,
                        numbered,
                    )


def test_a_chain_is_told_as_ordered_sentences_and_a_selection_as_if_otherwise(tax: Taxonomy) -> None:
    seed = Seed(id="s", text="Explain how tides work.")
    chain = compose_instruction(seed, "Chain_1", tax, random_seed=3, options=ComposeOptions(renderings={"prose": 1}))
    assert chain.rendering == "prose"
    n = len(chain.plan.checks)  # Chain_1 of single constraints: one part per check
    # each part names its heading line once, where it is told, and the parts are told in order
    assert all(chain.prompt.count(f'"### Part {k}"') == 1 for k in range(1, n + 1))
    starts = [chain.prompt.index(f'"### Part {k}"') for k in range(1, n + 1)]
    assert starts == sorted(starts)
    outcomes = rendering_templates()["outcomes"]
    seen_yes, seen_no = set(), set()
    for i in range(200):
        sel = compose_instruction(
            seed, "Selection_1", tax, random_seed=i, options=ComposeOptions(renderings={"prose": 1})
        )
        if len(sel.plan.checks[0].kwargs["labels"]) != 2:  # type: ignore[arg-type]
            continue
        yes = [p for p in outcomes["yes"] if f"{p}," in sel.prompt]
        no = [p for p in outcomes["no"] if f"{p}," in sel.prompt]
        assert yes and no, sel.prompt  # the "if so" case, then the "otherwise" case
        assert sel.prompt.index(f"{yes[0]},") < sel.prompt.index(f"{no[0]},")
        assert all(sel.prompt.count(f'"### Case {x}"') == 1 for x in "AB")
        seen_yes.update(yes)
        seen_no.update(no)
    assert len(seen_yes) >= 4 and len(seen_no) >= 4  # the outcome wording varies between instructions


def test_the_pools_vary_the_wording_between_instructions(sweep: dict[str, list[Task]]) -> None:
    """Scaffolding drawn from large pools: across a category's prompts, the wording around the constraints
    (the prompt with the task and every constraint sentence taken out) is rarely repeated whole."""
    for rendering, share in (("prose", 0.5), ("numbered", 0.2)):  # a list's frame is its intro and item heads
        for cat in ("And_1", "Chain_1", "Selection_1", "Selection_and_Chain_2"):
            frames = []
            for i, tree in enumerate(sweep[cat][:200]):
                frame = render_prompt(tree, random.Random(i), rendering).removeprefix((tree.task or "").strip())
                for _, c in iter_constraints(tree):
                    frame = frame.replace(sentence(c.text), "")
                frames.append(frame)
            assert len(set(frames)) >= share * len(frames), (rendering, cat, Counter(frames).most_common(3))


def test_the_rendering_is_drawn_per_instruction_by_weight_and_recorded(tax: Taxonomy) -> None:
    seed = Seed(id="s", text="Describe a lighthouse.")
    opts = ComposeOptions(renderings={"structured": 1, "prose": 3, "numbered": 0})
    drawn = Counter(compose_instruction(seed, "And_1", tax, random_seed=i, options=opts).rendering for i in range(400))
    assert set(drawn) == {"structured", "prose"}
    assert 0.65 < drawn["prose"] / 400 < 0.85
    again = compose_instruction(seed, "Chain_2", tax, random_seed=7, options=opts)
    assert again == compose_instruction(seed, "Chain_2", tax, random_seed=7, options=opts)
    # the rendering changes the text, never the tree, the plan or the content fingerprint
    only = {
        r: compose_instruction(seed, "Chain_2", tax, random_seed=7, options=ComposeOptions(renderings={r: 1}))
        for r in RENDERINGS
    }
    assert len({i.prompt for i in only.values()}) == 3
    assert len({(i.tree.model_dump_json(), i.plan.model_dump_json(), i.fingerprint) for i in only.values()}) == 1
    assert {r: i.rendering for r, i in only.items()} == {r: r for r in RENDERINGS}


def test_one_positive_weight_draws_nothing_from_the_rng() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    assert choose_rendering({"numbered": 2, "prose": 0}, rng) == "numbered"
    assert rng.getstate() == state
    assert choose_rendering({"structured": 1, "prose": 1}, rng) in {"structured", "prose"}
    assert rng.getstate() != state


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"fancy": 1}, "unknown rendering 'fancy'"),
        ({"prose": -1}, "weight of 'prose' must be a finite number >= 0"),
        ({"prose": True}, "weight of 'prose' must be a finite number >= 0"),
        ({"prose": 0, "numbered": 0}, "needs at least one positive weight"),
        ({}, "needs at least one positive weight"),
    ],
    ids=["unknown", "negative", "bool", "all-zero", "empty"],
)
def test_bad_rendering_weights_are_clear_config_errors(weights: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"compose\.renderings: .*{re.escape(message)}"):
        parse_config({"samples": 1, "compose": {"renderings": weights}})
    with pytest.raises(CompositionError, match=re.escape(message)):
        ComposeOptions.of(renderings=weights)


def test_the_config_key_reaches_the_composer_and_the_fingerprint() -> None:
    default = parse_config({"samples": 1})
    assert default.compose.renderings == {"structured": 1.0, "prose": 1.0, "numbered": 1.0}
    only = parse_config({"samples": 1, "compose": {"renderings": {"numbered": 1}}})
    assert only.compose.renderings == {"numbered": 1.0}
    assert config_hash(only) != config_hash(default)


def test_the_rendering_lands_in_the_instructions_table(tax: Taxonomy) -> None:
    seed = Seed(id="s", text="Describe a lighthouse.")
    rows = [
        compose_instruction(seed, "Single", tax, random_seed=0, options=ComposeOptions(renderings={r: 1}))
        for r in RENDERINGS
    ]
    table = instructions_to_table(rows, run_id="r", run_fingerprint="f", batch=0)
    assert table.column("rendering").to_pylist() == list(RENDERINGS)
    assert Instruction.model_validate_json(rows[1].model_dump_json()).rendering == "prose"


def test_compose_command_shows_the_rendering_and_takes_weights() -> None:
    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "pipeline.cli",
            "compose",
            "--category",
            "Chain_1",
            "--seed-text",
            "Explain tides.",
        ]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)

    out = compose("-n", "3", "--renderings", "numbered=1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("rendering=numbered") == 3 and "rendering=prose" not in out.stdout
    bad = compose("--renderings", "fancy=1")
    assert bad.returncode == 2 and "unknown rendering 'fancy'" in bad.stderr
