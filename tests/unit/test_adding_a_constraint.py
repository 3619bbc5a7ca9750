"""Adding a code-checked constraint touches three files: its entry in taxonomy/constraints/, its checker in
pipeline/checks/ and its cases in taxonomy/adversarial/ (README.md, "Adding a constraint").

A toy constraint goes into a copy of the taxonomy with a checker registered here, and nothing else changes: the
composer draws it, every rendering states it, its plan checks it, feasibility weighs its counts against the other
constraints', the composer keeps it apart from words it bans, the seed-tag rules keep it off code tasks, and the
adversarial suite reads its cases.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.checks.registry import CHECKERS, CheckResult, checker, run_check
from pipeline.construct.compose import ComposeOptions, compose_instruction, lexical_clash
from pipeline.construct.feasibility import infeasibilities
from pipeline.construct.renderings import RENDERINGS, render_prompt
from pipeline.construct.seed_tags import seed_clashes
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import taken_constraints
from pipeline.models import And, Constraint, Seed, SeedTags, Task
from pipeline.project import TAXONOMY_DIR
from pipeline.verify.plan import verify_response
from pipeline.verify.tripwires import load_suite

TOY = "toy:brief_without"
# File 1: the entry (in a family file of its own here; an existing family file takes it just as well).
ENTRY = r"""
vocabulary: complexify
constraints:
  - id: toy:brief_without
    dimension: Keywords
    description: At most max_words words (runs of \w), none of them one of the avoided words (whole words).
    params:
      max_words: {type: int, min: 40, max: 120}
      avoid: {type: words, pool: cb_keywords, count: [1, 2]}
    phrasings:
      - "Keep it to {max_words} words at most, and do not use the words {avoid}."
      - "Write no more than {max_words} words, none of them {avoid}."
      - "Stay within {max_words} words and leave out {avoid}."
    checker: code:toy:brief_without
    counts:
      - {unit: words_w, max: max_words}
      - {unit: word, of: avoid, max: 0}
    unfit_for: [code]
    tags: [toy]
"""
# File 3: its cases, in the suite file of its checker's family (the checker's module name).
CASES = """
cases:
  - checker: toy:brief_without
    kwargs: {max_words: 5, avoid: [budget]}
    response: A short calm reply.
    kind: positive
    why: four words and no avoided word
  - checker: toy:brief_without
    kwargs: {max_words: 3, avoid: [budget]}
    response: Fine, fine, fine, fine.
    kind: negative
    why: four words, one too many
  - checker: toy:brief_without
    kwargs: {max_words: 5, avoid: [budget]}
    response: Our BUDGET is tight.
    kind: hack
    why: the avoided word in capitals
"""


# File 2: the checker.
def brief_without(response: str, *, max_words: int, avoid: list[str]) -> CheckResult:
    n = len(re.findall(r"\w+", response))
    found = [w for w in avoid if re.search(rf"\b{re.escape(w)}\b", response, re.IGNORECASE)]
    return CheckResult(n <= max_words and not found, f"{n} words (at most {max_words}); avoided words used: {found}")


@pytest.fixture
def tax(tmp_path: Path) -> Iterator[Taxonomy]:
    root = tmp_path / "taxonomy"
    shutil.copytree(TAXONOMY_DIR, root)
    (root / "constraints" / "toy.yaml").write_text(ENTRY, encoding="utf-8")
    (root / "adversarial" / "toy.yaml").write_text(CASES, encoding="utf-8")
    checker(TOY)(brief_without)
    try:
        # the checks `complexify taxonomy validate` runs: checker binding and every value the params can take
        yield load_taxonomy(root, check_values=True)
    finally:
        CHECKERS.pop(TOY, None)


def toy(max_words: int = 40, avoid: tuple[str, ...] = ("budget",)) -> Constraint:
    return Constraint(spec_id=TOY, params={"max_words": max_words, "avoid": list(avoid)}, text="Keep it short.")


def rules(tree: Task, taxonomy: Taxonomy) -> set[str]:
    return {f.rule for f in infeasibilities(tree, taxonomy)}


def test_it_is_composed_stated_in_every_rendering_and_checked(tax: Taxonomy) -> None:
    seed = Seed(id="s", text="Tell a friend about your week.")
    opts = ComposeOptions(checkers="code", renderings={"structured": 1}).aimed_at("Keywords")
    drawn = (compose_instruction(seed, "Single", tax, random_seed=i, options=opts) for i in range(300))
    ins = next(i for i in drawn if any(c.spec_id == TOY for c in taken_constraints(i.tree)))
    (c,) = taken_constraints(ins.tree)
    assert c.text in ins.prompt and str(c.params["max_words"]) in c.text
    for rendering in RENDERINGS:
        prompt = render_prompt(ins.tree, random.Random(0), rendering)
        assert all(w in prompt for w in c.params["avoid"]), rendering  # type: ignore[union-attr]
    (check,) = ins.plan.checks
    assert check.checker == TOY and check.kwargs == c.params and check.dimension == "Keywords"
    assert verify_response("A short calm reply about my week.", ins.plan).all_pass
    avoided = c.params["avoid"][0]  # type: ignore[index]
    assert not verify_response(f"My week was all about {avoided}.", ins.plan).all_pass


def test_its_counts_are_weighed_against_the_other_constraints(tax: Taxonomy) -> None:
    too_long = Constraint(spec_id="count:word_count_range", params={"min_words": 100, "max_words": 150}, text="x")
    needs = Constraint(spec_id="complexbench:keywords", params={"keywords": ["budget"]}, text="x")
    other = Constraint(spec_id="complexbench:keywords", params={"keywords": ["teamwork"]}, text="x")
    assert rules(Task(task="t", body=toy()), tax) == set()
    assert rules(Task(task="t", body=And(children=[toy(), too_long])), tax) == {"word_count"}
    assert rules(Task(task="t", body=And(children=[toy(), needs])), tax) == {"keyword_occurrences"}
    assert rules(Task(task="t", body=And(children=[toy(), other])), tax) == set()
    # the entry's declaration is what does it: a taxonomy without the entry knows nothing of the toy's counts
    assert rules(Task(task="t", body=And(children=[toy(), too_long])), load_taxonomy()) == set()
    # the word it bans is kept away from constraints that require it, while composing
    assert lexical_clash(needs, [toy()], tax) and lexical_clash(toy(), [needs], tax)
    assert not lexical_clash(other, [toy()], tax)


def test_the_seed_tag_rules_keep_it_off_tasks_it_does_not_fit(tax: Taxonomy) -> None:
    code = Seed(id="c", text="Write a function that sums a list.", tags=SeedTags(form="code"))
    essay = Seed(id="e", text="Write an essay on rivers.", tags=SeedTags(min_words=300))
    tree = Task(task="t", body=toy())
    assert [f.reason for f in seed_clashes(code, tree, tax)] == ["seed_clash:text_rule_in_code"]
    assert [f.reason for f in seed_clashes(essay, tree, tax)] == ["seed_clash:too_short_for_seed"]
    opts = ComposeOptions(checkers="code").aimed_at("Keywords")
    for i in range(40):
        ins = compose_instruction(code, "Single", tax, random_seed=i, options=opts)
        assert all(c.spec_id != TOY for c in taken_constraints(ins.tree))


def test_its_adversarial_cases_sit_in_its_familys_suite_file(tax: Taxonomy) -> None:
    cases = [c for c in load_suite(tax.root / "adversarial") if c.checker == TOY]
    assert {c.family for c in cases} == {"toy"}  # as its checker would live in pipeline/checks/toy.py
    assert {c.kind for c in cases} == {"positive", "negative", "hack"}
    for case in cases:
        assert run_check(TOY, case.response, case.kwargs).passed == (case.kind == "positive"), case.why
