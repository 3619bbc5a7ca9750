"""Counterfactual siblings: the compose command's output, siblings in a run's batch, and the `siblings` publish
config built from a stored run's records and loaded with `datasets`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline import store
from pipeline.construct import siblings as siblings_module
from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.feasibility import is_feasible
from pipeline.construct.plans import compile_plan
from pipeline.construct.render import render_template
from pipeline.construct.siblings import chain_siblings, changed_constraint, group_id
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import iter_constraints
from pipeline.models import (
    And,
    Chain,
    Constraint,
    Instruction,
    Node,
    ParamValue,
    Response,
    Sample,
    Seed,
    Selection,
    Task,
)
from pipeline.publish.dataset import build_dataset_folder
from pipeline.publish.siblings import sibling_rows
from pipeline.run.config import RoleConfig, RunConfig, parse_config
from pipeline.run.identity import config_hash
from pipeline.run.stages import BatchResult, BatchSpec, Models
from pipeline.verify.plan import verify_response
from pipeline.verify.reward import compute_score
from tests.helpers.batches import compose_spec, run_spec
from tests.helpers.cli import run_cli as cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe tower number {i}.") for i in range(6)]


# --- the compose command -----------------------------------------------------------------------------------


def test_compose_siblings_prints_the_group_with_one_correct_branch_each() -> None:
    out = cli("compose", "--category", "Selection_1", "--siblings", "--seed", "3", "--seed-text", "Explain tides.")
    assert out.returncode == 0, out.stderr
    header = [line for line in out.stdout.splitlines() if line.startswith("sibling group sib-")]
    assert len(header) == 1
    n = int(header[0].split(": ")[1].split()[0])
    assert n >= 2 and all(f"sibling {k}/{n}: " in out.stdout for k in range(1, n + 1))
    expected = [
        json.loads(line.split("structure:selected_case ", 1)[1])["expected"]
        for line in out.stdout.splitlines()
        if "structure:selected_case" in line
    ]
    assert len(expected) == n and len(set(expected)) == n


def test_compose_siblings_jsonl_members_share_a_group_and_differ_in_branch() -> None:
    out = cli(
        "compose",
        "--category",
        "Selection_1",
        "--siblings",
        "-n",
        "2",
        "--seed",
        "5",
        "--seed-text",
        "Explain tides.",
        "--format",
        "jsonl",
    )
    assert out.returncode == 0, out.stderr
    rows = [Instruction.model_validate_json(line) for line in out.stdout.splitlines()]
    groups: dict[str | None, list[Instruction]] = {}
    for r in rows:
        groups.setdefault(r.sibling_group, []).append(r)
    assert len(groups) == 2 and None not in groups
    for members in groups.values():
        assert len(members) >= 2 and len({m.id for m in members}) == len(members)
        assert len({tuple(m.plan.correct_branches.items()) for m in members}) == len(members)
        assert len({m.seed_text for m in members}) == 1


def test_compose_siblings_of_a_category_without_selection_or_chain_exits_2() -> None:
    out = cli("compose", "--category", "And_1", "--siblings", "--seed-text", "x")
    assert out.returncode == 2
    assert "--siblings needs a category with a Selection or a Chain, got And_1" in out.stderr


# --- a run's batch -----------------------------------------------------------------------------------------


def run_config(siblings: bool, samples: int = 8) -> RunConfig:
    return parse_config(
        {
            "samples": samples,
            "mix": {"Selection_1": 1},
            "repair_rounds": 0,
            "compose": {"checkers": "code", "siblings": siblings},
            "models": {"responder": {"n": 2}, "rewriter": {"enabled": False}, "judge": {"enabled": False}},
            "fidelity": {"enabled": False},
        }
    )


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy(FIXTURE, check_checkers=False)


def test_siblings_take_the_batch_slots_of_their_category(tax: Taxonomy) -> None:
    spec = BatchSpec(0, (*((i, "Selection_1") for i in range(5)), (5, "Chain_1"), (6, "Single")))
    plain = compose_spec(spec, SEEDS, tax, run_config(False))
    with_siblings = compose_spec(spec, SEEDS, tax, run_config(True))
    # same size and categories: quotas, attempt limits and resumed runs count siblings like any instruction
    assert Counter(i.category for i in with_siblings) == Counter(i.category for i in plain)
    assert all(i.sibling_group is None for i in plain)
    groups = Counter(i.sibling_group for i in with_siblings if i.category == "Selection_1")
    assert None not in groups or groups[None] == 1  # a group that does not fit leaves its instruction alone
    assert sum(k for g, k in groups.items() if g is not None) >= 4
    assert all(k >= 2 for g, k in groups.items() if g is not None)
    assert len({i.id for i in with_siblings}) == len(with_siblings)
    # the first member of a group is the instruction the plain batch composed there
    assert with_siblings[0].id == plain[0].id and with_siblings[0].tree == plain[0].tree
    assert compose_spec(spec, SEEDS, tax, run_config(True)) == with_siblings


def _answer(node: Node | None) -> str:
    """An answer that satisfies the fixture constraint `node`."""
    assert isinstance(node, Constraint), node
    p = node.params
    if node.spec_id == "t:words":
        assert isinstance(p["num_words"], int)
        return "a short answer" if p["relation"] == "less than" else " ".join(f"w{k}" for k in range(p["num_words"]))
    if node.spec_id == "t:para":
        assert isinstance(p["num_paragraphs"], int) and isinstance(p["nth_paragraph"], int)
        return "\n\n".join(
            f"{p['first_word'] if k == p['nth_paragraph'] - 1 else 'some'} text here"
            for k in range(p["num_paragraphs"])
        )
    fixed = {
        "t:lower": "a plain lowercase answer",
        "t:upper": "A PLAIN UPPERCASE ANSWER",
        "t:kw": "answer with " + " ".join(p.get("keywords") or []),  # type: ignore[arg-type]
        "t:forbid": "a plain answer",
        "t:json": '{"answer": 1}',
        "t:end": f"here it is. {p.get('end_phrase')}",
    }
    return fixed[node.spec_id]


def _follow(sel: Selection, label: str) -> str:
    body = next(b.body for b in sel.branches if b.label == label)
    return f"### Case {label}\n{_answer(body.body)}"


def scripted(instructions: Sequence[Instruction]):  # type: ignore[no-untyped-def]
    """Candidate 0 follows the correct case; candidate 1 follows another case (a real wrong-branch answer)."""
    by_prompt = {i.prompt: i for i in instructions}

    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        out = []
        for conv in conversations:
            tree = by_prompt[conv[-1]["content"]].tree
            sel = tree.body
            assert isinstance(tree, Task) and isinstance(sel, Selection)
            wrong = next(b.label for b in sel.branches if b.label != sel.correct)
            texts = [_follow(sel, sel.correct), _follow(sel, wrong)]
            out.append([Response(text=texts[k % 2], candidate=k, model="scripted") for k in range(n)])
        return out

    return chat


@pytest.fixture(scope="module")
def stored(tax: Taxonomy, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, store.RunPaths, BatchResult]:
    cfg = run_config(True)
    spec = BatchSpec(0, tuple((i, "Selection_1") for i in range(6)))
    instructions = compose_spec(spec, SEEDS, tax, cfg)
    result = run_spec(
        spec,
        SEEDS,
        tax,
        cfg,
        Models(chat=scripted(instructions), judge=None),
        run_id="run-sib",
        run_fingerprint="fp-sib",
    )
    root = tmp_path_factory.mktemp("out")
    run = store.open_run(root, "fp-sib", {"name": "siblings"})
    store.write_batch(run, 0, result.instructions, result.kept, result.rejects)
    store.refresh_catalog(root)
    return root, run, result


def test_sibling_group_lands_in_the_catalog(stored: tuple[Path, store.RunPaths, BatchResult]) -> None:
    root, _, result = stored
    groups = {i.sibling_group for i in result.instructions}
    with store.open_catalog(root, refresh=False) as con:
        got = {r[0] for r in con.execute("SELECT DISTINCT sibling_group FROM instructions").fetchall()}
        kept = con.execute("SELECT count(*) FROM samples WHERE sibling_group IS NOT NULL").fetchone()
    assert got == groups and len(groups - {None}) >= 2
    assert kept is not None and kept[0] == sum(s.instruction.sibling_group is not None for s in result.kept) >= 4


def test_siblings_config_loads_and_every_right_branch_answer_scores_higher(
    stored: tuple[Path, store.RunPaths, BatchResult], tmp_path: Path
) -> None:
    import datasets

    _, run, _ = stored
    kept, rejects = store.load_samples(run), store.load_samples(run, kept=False)
    built = build_dataset_folder(kept, rejects, tmp_path / "ds", repo_id="org/sib", run_info={"run_id": run.run_id})
    rows = datasets.load_dataset(str(built.folder), "siblings", split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert len(rows) == built.counts["siblings"] > 0
    assert {r["rejected_source"] for r in rows} == {"run", "sibling"}
    for r in rows:
        assert r["chosen_score"] > r["rejected_score"]
        assert r["chosen_branch"] != r["rejected_branch"] and r["sibling_group"].startswith("sib-")
        assert r["prompt"][0]["content"] == r["chosen"][0]["content"] == r["rejected"][0]["content"]
        # the published plan agrees: the right-branch answer earns more reward than the wrong-branch one
        chosen, rejected = r["chosen"][1]["content"], r["rejected"][1]["content"]
        assert compute_score("complexify", chosen, r["ground_truth"]) > compute_score(
            "complexify", rejected, r["ground_truth"]
        )
        assert rejected.startswith(f"### Case {r['rejected_branch']}")
    card = (built.folder / "README.md").read_text()
    assert "config_name: siblings" in card and f"`siblings` ({len(rows)} rows)" in card


def test_siblings_key_is_part_of_the_config_hash() -> None:
    off, on = run_config(False), run_config(True)
    assert off.model_dump(mode="json")["compose"]["siblings"] is False
    assert config_hash(off) == config_hash(parse_config(off.model_dump(mode="json"))) != config_hash(on)
    assert parse_config(on.model_dump(mode="json")).compose.siblings is True


def test_chain_siblings_pair_an_answer_that_keeps_the_old_step_requirement_as_rejected(tax: Taxonomy) -> None:
    def answer(ins: Instruction) -> str:
        chain = ins.tree.body
        assert isinstance(chain, Chain)
        return "\n\n".join(f"### Part {k}\n{_answer(step.body)}" for k, step in enumerate(chain.steps, start=1))

    opts = ComposeOptions(checkers="code", global_share=0)
    samples, groups = [], 0
    for r in range(40):
        ins = compose_instruction(SEEDS[0], "Chain_1", tax, random_seed=r, options=opts)
        group = chain_siblings(ins, tax)
        if not group or not all(isinstance(step.body, Constraint) for step in group[0].tree.body.steps):  # type: ignore[union-attr]
            continue
        groups += 1
        for m in group:
            text = answer(m)
            verdict = verify_response(text, m.plan)
            assert verdict.all_pass
            samples.append(
                Sample(
                    id=f"{m.id}-k0",
                    instruction=m,
                    response=Response(text=text),
                    verdict=verdict,
                    kept=True,
                    run_id="r",
                    run_fingerprint="fp",
                )
            )
    rows = sibling_rows(samples)
    assert groups >= 5 and len(rows) >= groups
    for row in rows:
        assert row["sibling_kind"] == "chain" and row["rejected_source"] == "sibling"
        assert row["chosen_score"] == 1.0 > row["rejected_score"]
        assert row["chosen_branch"] != row["rejected_branch"]
        # the rejected answer fails the changed step, and every later step's checks are gated behind it
        plan = type(samples[0].instruction.plan).model_validate(json.loads(row["ground_truth"])["plan"])
        verdict = verify_response(row["rejected"][1]["content"], plan)
        failed = {v.check_id for v in verdict.checks if not v.passed}
        assert failed  # the changed requirement (two, between two changed siblings)
        gated = {v.check_id: v.gated for v in verdict.checks}
        assert all(not gated[c.id] for c in plan.checks if failed & set(c.depends_on))


# --- Chain siblings stay jointly feasible ------------------------------------------------------------------


def _words(tax: Taxonomy, relation: str, n: int) -> Constraint:
    params: dict[str, ParamValue] = {"relation": relation, "num_words": n}
    phrasing = tax.spec("length_constraints:number_words").phrasings[0]
    return Constraint(spec_id="length_constraints:number_words", params=params, text=render_template(phrasing, params))


def _tight_chain(tax: Taxonomy, random_seed: int) -> Instruction:
    """A Chain_1 instruction whose first part needs at least 100 words while the whole response stays under 101:
    feasible as drawn, but most redraws of the part's count (100..500 words, "at least") are not."""
    ins = compose_instruction(SEEDS[0], "Chain_1", load_taxonomy(), random_seed=random_seed)
    chain = Chain(
        steps=[Task(task="Write a story.", body=_words(tax, "at least", 100)), Task(task="Give it a title.")]
    )
    tree = Task(task=SEEDS[0].text, body=And(children=[chain, _words(tax, "less than", 101)]))
    assert is_feasible(tree)
    return ins.model_copy(update={"tree": tree, "plan": compile_plan(tree, tax)})


def test_chain_siblings_are_jointly_feasible_where_a_plain_redraw_would_not_be() -> None:
    tax = load_taxonomy()
    part = "tree.body.children[0].steps[0].body"
    unchecked_infeasible = 0
    for r in range(12):
        ins = _tight_chain(tax, r)
        # what the redraw alone gives (the first try's key): often more words than the whole response may have
        plain = changed_constraint(_words(tax, "at least", 100), tax, "Write a story.", f"{group_id(ins)}|{part}")
        assert plain is not None
        bare = siblings_module._replace(ins.tree, "tree", part, plain)
        assert bare is not None
        unchecked_infeasible += not is_feasible(bare)
        group = chain_siblings(ins, tax)
        assert len(group) == 2 and group[0].tree == ins.tree
        assert all(is_feasible(g.tree) for g in group)
        sibling = dict(iter_constraints(group[1].tree))[part]
        assert sibling.params != {"relation": "at least", "num_words": 100}
        assert chain_siblings(ins, tax) == group  # deterministic
    assert unchecked_infeasible >= 3  # the check mattered: these would have been infeasible siblings


def test_chain_siblings_give_up_on_a_step_with_no_feasible_redraw(monkeypatch: pytest.MonkeyPatch) -> None:
    tax = load_taxonomy()
    ins = _tight_chain(tax, 0)
    tries: list[Task] = []

    def never(tree: Node, taxonomy: Taxonomy, seed: object) -> bool:
        tries.append(tree)  # type: ignore[arg-type]
        return False

    monkeypatch.setattr(siblings_module, "keeps_to_seed", never)
    assert chain_siblings(ins, tax) == []  # no sibling rather than an infeasible one
    # each try is a new draw (derived keys), and there are only FEASIBLE_TRIES of them
    assert len(tries) == siblings_module.FEASIBLE_TRIES == len({t.model_dump_json() for t in tries})


# Chain draws on bundled short-form seeds whose siblings, before siblings knew their seed, asked for more words
# than the seed's task takes (seed_clash:too_long_for_seed); found by sampling 1,500 draws.
CLASHED = [
    ("cx-0259", "Chain_2", 144),
    ("cx-0024", "Chain_2", 234),
    ("cx-0410", "Chain_1", 892),
    ("cx-0048", "Chain_1", 1260),
]


@pytest.mark.parametrize(("seed_id", "category", "random_seed"), CLASHED)
def test_chain_siblings_keep_within_their_seeds_tags(seed_id: str, category: str, random_seed: int) -> None:
    from pipeline.construct.seed_tags import check_composition
    from pipeline.construct.siblings import make_siblings
    from pipeline.seeding.load import load_seed_file

    real = load_taxonomy()
    [seed] = [
        s
        for s in load_seed_file(Path(__file__).resolve().parents[2] / "seeds" / "complexify-seeds.jsonl")
        if s.id == seed_id
    ]
    ins = compose_instruction(seed, category, real, random_seed=random_seed, options=ComposeOptions(checkers="code"))
    group = make_siblings(ins, real, seed=seed)
    assert len(group) >= 2 and all(check_composition(seed, member.tree, real) == [] for member in group)
