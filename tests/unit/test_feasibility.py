"""Joint feasibility of composed trees and seed-clash rules: infeasible combinations the composer used to
produce (found by sampling the bundled taxonomy before the check existed), hand-built nesting cases, cases
that must stay feasible, and the composer's redraws."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.construct.compose import compose_instruction, compose_unique
from pipeline.construct.feasibility import infeasibilities, layouts, parent_scope
from pipeline.construct.seed_tags import check_composition, seed_clashes
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import And, Branch, Chain, Condition, Constraint, Node, Seed, SeedTags, Selection, Task
from pipeline.seeding.load import load_seed_file
from pipeline.spans import part_scope

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def bundled() -> dict[str, Seed]:
    return {s.id: s for s in load_seed_file(SEEDS)}


def c(spec_id: str, **params: Any) -> Constraint:
    return Constraint(spec_id=spec_id, params=params, text=spec_id)


def whole(*cs: Node) -> Task:
    return Task(task="Write about the sea.", body=cs[0] if len(cs) == 1 else And(children=list(cs)))


def chain(*steps: Node | None, outer: list[Constraint] | None = None) -> Task:
    body: Node = Chain(steps=[Task(task=f"step {i}", body=s) for i, s in enumerate(steps, 1)])
    return Task(task="Write about the sea.", body=And(children=[*outer, body]) if outer else body)


def rules(tree: Node) -> set[str]:
    return {f.rule for f in infeasibilities(tree)}


# --- combinations the composer produced before the check ------------------------------------------------
# Found by composing 20,000 instructions per category (bundled taxonomy and seeds, random_seed = draw index)
# before the check was wired in: 20 of 200,000 draws were infeasible. Each row is the category, seed and
# random_seed of the draw, the rule, and the draw's constraints cut down to a minimal infeasible set, by span.
Row = tuple[str, str, int, str, dict[str, list[tuple[str, dict[str, Any]]]]]
SAMPLED: list[Row] = [
    (
        "And_1",
        "cx-0207",
        1264,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "s", "let_relation": "less than", "let_frequency": 1}),
                ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 4}),
            ]
        },
    ),
    (
        "And_1",
        "cx-0511",
        11090,
        "letter_count",
        {
            "response": [
                ("startend:end_checker", {"end_phrase": "Good luck with your project!"}),
                ("keywords:letter_frequency", {"letter": "w", "let_relation": "less than", "let_frequency": 1}),
            ]
        },
    ),
    (
        "And_1",
        "cx-0509",
        16378,
        "letter_count",
        {
            "response": [
                ("complexbench:keywords", {"keywords": ["teamwork", "neighborhood", "budget"]}),
                ("keywords:letter_frequency", {"letter": "e", "let_relation": "less than", "let_frequency": 3}),
            ]
        },
    ),
    (
        "And_1",
        "cx-0044",
        19087,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "p", "let_relation": "less than", "let_frequency": 1}),
                ("sentence:keyword", {"word": "pencil", "N": 2}),
            ]
        },
    ),
    (
        "Chain_3",
        "cx-0359",
        887,
        "letter_count",
        {
            "response": [
                ("sentence:keyword", {"word": "bridge", "N": 3}),
                ("keywords:letter_frequency", {"letter": "g", "let_relation": "less than", "let_frequency": 1}),
            ]
        },
    ),
    (
        "Chain_3",
        "cx-0400",
        4631,
        "letter_count_over_parts",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "i", "let_relation": "less than", "let_frequency": 1})
            ],
            "part:3": [("complexbench:ends_with", {"suffix": "That is the whole story"})],
        },
    ),
    (
        "Chain_3",
        "cx-0009",
        10588,
        "letter_count_over_parts",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "e", "let_relation": "less than", "let_frequency": 1})
            ],
            "part:1": [("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 3})],
        },
    ),
    (
        "Chain_3",
        "cx-0264",
        16133,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "e", "let_relation": "less than", "let_frequency": 1}),
                ("sentence:keyword", {"word": "garden", "N": 3}),
            ]
        },
    ),
    (
        "Chain_3",
        "cx-0211",
        19783,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "c", "let_relation": "less than", "let_frequency": 1}),
                ("count:count_increment_word", {"keyword1": "compass", "keyword2": "harbor"}),
            ]
        },
    ),
    (
        "Selection_2",
        "cx-0390",
        15201,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "o", "let_relation": "less than", "let_frequency": 3}),
                ("complexbench:starts_with", {"prefix": "Good morning"}),
            ]
        },
    ),
    (
        "Selection_3",
        "cx-0438",
        2024,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "b", "let_relation": "less than", "let_frequency": 2}),
                ("count:count_increment_word", {"keyword1": "feather", "keyword2": "harbor"}),
            ]
        },
    ),
    (
        "Selection_3",
        "cx-0463",
        6810,
        "letter_count",
        {
            "response": [
                ("keywords:frequency", {"keyword": "tundra", "relation": "at least", "frequency": 1}),
                ("keywords:letter_frequency", {"letter": "n", "let_relation": "less than", "let_frequency": 1}),
            ]
        },
    ),
    (
        "Selection_3",
        "cx-0170",
        11278,
        "letter_count",
        {
            "response": [
                ("last_word:last_word_answer", {"last_word": "goodbye"}),
                ("keywords:letter_frequency", {"letter": "y", "let_relation": "less than", "let_frequency": 1}),
            ]
        },
    ),
    (
        "Selection_3",
        "cx-0270",
        13494,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "o", "let_relation": "less than", "let_frequency": 4}),
                ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 5}),
            ]
        },
    ),
    (
        "Selection_3",
        "cx-0166",
        18151,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "r", "let_relation": "less than", "let_frequency": 2}),
                (
                    "template:fixed_labels",
                    {
                        "template": "Question: <the question restated>\nShort answer: <one sentence>\n"
                        "Details: <a fuller explanation>"
                    },
                ),
            ]
        },
    ),
    (
        "Selection_and_Chain_2",
        "cx-0300",
        10879,
        "keyword_count_range",
        {
            "response": [
                (
                    "complexbench:keyword_count",
                    {
                        "keywords": ["curiosity", "deadline", "free coffee", "fresh start", "long term"],
                        "min_count": 1,
                        "max_count": 1,
                    },
                ),
                ("complexbench:keywords", {"keywords": ["signal", "curiosity", "fresh start"]}),
            ]
        },
    ),
    (
        "Selection_and_Chain_3",
        "cx-0485",
        3658,
        "letter_count_over_parts",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "a", "let_relation": "less than", "let_frequency": 1})
            ],
            "part:2": [
                (
                    "template:fixed_labels",
                    {
                        "template": "Answer: <your answer in one sentence>\nReason: <why this is the answer>\n"
                        "Confidence: <low, medium or high>"
                    },
                )
            ],
        },
    ),
    (
        "Selection_and_Chain_3",
        "cx-0222",
        5511,
        "letter_count_over_parts",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "g", "let_relation": "less than", "let_frequency": 1})
            ],
            "part:1": [("last_word:last_word_answer", {"last_word": "again"})],
        },
    ),
    (
        "Selection_and_Chain_3",
        "cx-0062",
        6938,
        "letter_count",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "g", "let_relation": "less than", "let_frequency": 1}),
                ("startend:end_checker", {"end_phrase": "Thanks for reading."}),
            ]
        },
    ),
    (
        "Selection_and_Chain_3",
        "cx-0091",
        11728,
        "letter_count_over_parts",
        {
            "response": [
                ("keywords:letter_frequency", {"letter": "f", "let_relation": "less than", "let_frequency": 3})
            ],
            "part:1": [("startend:end_checker", {"end_phrase": "Feel free to ask for more details."})],
        },
    ),
]
SAMPLED_IDS = [f"{r[0]}-{r[1]}-{r[2]}-{r[3]}" for r in SAMPLED]


def tree_from_spans(by_span: dict[str, list[tuple[str, dict[str, Any]]]]) -> Task:
    """A tree with these constraints on these spans (missing Chain steps are left without constraints)."""

    def build(scope: str) -> Node | None:
        own: list[Node] = [c(sid, **p) for sid, p in by_span.get(scope, [])]
        prefix = "part:" if scope == "response" else scope + "."
        kids = [int(s.removeprefix(prefix).split(".")[0]) for s in by_span if s.startswith(prefix)]
        if kids:
            n = max(2, *kids)
            own.append(
                Chain(steps=[Task(task=f"step {i}", body=build(part_scope(scope, i))) for i in range(1, n + 1)])
            )
        return None if not own else own[0] if len(own) == 1 else And(children=own)

    return Task(task="Write about the sea.", body=build("response"))


@pytest.mark.parametrize(("category", "seed_id", "random_seed", "rule", "by_span"), SAMPLED, ids=SAMPLED_IDS)
def test_sampled_infeasible_combinations_are_reported(
    category: str, seed_id: str, random_seed: int, rule: str, by_span: dict[str, list[tuple[str, dict[str, Any]]]]
) -> None:
    assert rule in rules(tree_from_spans(by_span))
    # the row is minimal: without any one of its constraints the problem is gone
    for scope, cs in by_span.items():
        for k in range(len(cs)):
            assert rule not in rules(tree_from_spans({**by_span, scope: cs[:k] + cs[k + 1 :]}))


# The constraint files the table was sampled from (each with the vocabulary key files need now): later specs
# change the composer's random draws, so the replay composes from these.
SAMPLED_TAXONOMY = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy_sampled"


def test_the_composer_no_longer_produces_them(bundled: dict[str, Seed]) -> None:
    tax = load_taxonomy(SAMPLED_TAXONOMY, check_checkers=False)
    replayed = Counter[str]()
    for category, seed_id, random_seed, rule, _ in SAMPLED:
        seed = bundled[seed_id].model_copy(update={"tags": None})  # the draws were made before seeds had tags
        ins = compose_instruction(seed, category, tax, random_seed=random_seed)
        assert infeasibilities(ins.tree) == [], (seed_id, category, random_seed)
        replayed[str(ins.redraws.get(f"infeasible:{rule}", 0) >= 1)] += 1
    # the same draws, made again, now throw the infeasible tree away and say why (all of them, unless the
    # composer's random draws changed since the table was sampled: then resample the table)
    assert replayed["True"] == len(SAMPLED), replayed


# --- hand-built cases: nesting, implications, and what must stay feasible ---------------------------------

INFEASIBLE = [
    pytest.param(
        chain(
            c("length_constraints:number_words", relation="at least", num_words=300),
            None,
            outer=[c("count:word_count_range", min_words=20, max_words=200)],
        ),
        "word_count_over_parts",
        id="part-needs-300-words-whole-under-200",
    ),
    pytest.param(
        chain(
            c("count:word_count_range", min_words=120, max_words=150),
            c("count:word_count_range", min_words=100, max_words=130),
            outer=[c("length_constraints:number_words", relation="less than", num_words=200)],
        ),
        "word_count_over_parts",
        id="two-parts-sum-past-the-whole",
    ),
    pytest.param(
        chain(
            Chain(
                steps=[
                    Task(task="a", body=c("keywords:existence", keywords=["harbor", "canyon"])),
                    Task(task="b", body=c("complexbench:keywords", keywords=["harbor"])),
                ]
            ),
            c("sentence:keyword", word="harbor", N=1),
            outer=[c("keywords:frequency", keyword="harbor", relation="less than", frequency=3)],
        ),
        "keyword_occurrences_over_parts",
        id="keyword-in-three-nested-parts-whole-allows-two",
    ),
    pytest.param(
        whole(
            c("keywords:existence", keywords=["meadow", "ledger"]),
            c("keywords:frequency", keyword="meadow", relation="less than", frequency=1),
        ),
        "keyword_occurrences",
        id="required-and-capped-at-zero",
    ),
    pytest.param(
        whole(
            c("paragraphs:blank_line_count", num_paragraphs=5),
            c("length_constraints:number_words", relation="less than", num_words=10),
        ),
        "word_count",
        id="five-paragraphs-of-two-words-in-under-ten-words",
    ),
    pytest.param(
        whole(
            c("list:numbered_items", num_items=6),
            c("complexbench:length_words", min_words=5, max_words=10),
        ),
        "word_count",
        id="six-numbered-items-in-ten-words",
    ),
    pytest.param(
        whole(
            c("complexbench:keywords", keywords=["teamwork", "neighborhood", "budget"]),
            c("keywords:letter_frequency", letter="e", let_relation="less than", let_frequency=3),
        ),
        "letter_count",
        id="distinct-whole-words-add-their-letters",
    ),
    pytest.param(
        whole(
            c("complexbench:keyword_count", keywords=["a1", "b2", "c3", "d4"], min_count=1, max_count=1),
            c("complexbench:keywords", keywords=["a1", "c3"]),
        ),
        "keyword_count_range",
        id="more-keywords-required-than-the-range-allows",
    ),
    pytest.param(
        whole(
            c("complexbench:keyword_count", keywords=["a1", "b2"], min_count=2, max_count=2),
            c("complexbench:forbidden_words", forbidden_words=["b2"]),
        ),
        "keyword_count_range",
        id="range-minimum-needs-a-forbidden-keyword",
    ),
    pytest.param(
        whole(
            c("count:count_increment_word", keyword1="lantern", keyword2="harbor"),
            c("keywords:frequency", keyword="harbor", relation="less than", frequency=2),
        ),
        "keyword_occurrences",
        id="exactly-twice-vs-fewer-than-two",
    ),
]


@pytest.mark.parametrize(("tree", "rule"), INFEASIBLE)
def test_infeasible_trees_name_their_rule(tree: Task, rule: str) -> None:
    assert rule in rules(tree)


FEASIBLE = [
    # Punkt does not split at line breaks, our sentences do: five lines can be one Punkt sentence
    pytest.param(
        whole(
            c("length_constraints:number_sentences", relation="less than", num_sentences=2),
            c("sentence:keyword", word="harbor", N=5),
        ),
        id="different-sentence-units",
    ),
    # "harbors" holds "harbor" as a substring, not as a whole word
    pytest.param(
        whole(
            c("keywords:frequency", keyword="harbor", relation="at least", frequency=3),
            c("count:count_increment_word", keyword1="lantern", keyword2="harbor"),
        ),
        id="substring-vs-word",
    ),
    # occurrences of different texts may overlap (the keyword inside the end phrase): no sum across them
    pytest.param(
        whole(
            c("keywords:existence", keywords=["luck", "with"]),
            c("startend:end_checker", end_phrase="Good luck with your project!"),
            c("keywords:letter_frequency", letter="u", let_relation="less than", let_frequency=3),
        ),
        id="overlapping-texts",
    ),
    # the whole may hold more than its parts
    pytest.param(
        chain(
            c("length_constraints:number_words", relation="at least", num_words=150),
            None,
            outer=[c("count:word_count_range", min_words=20, max_words=200)],
        ),
        id="part-fits-whole",
    ),
    # parts' bounds are not summed for Punkt sentences (a sentence may run across a part boundary)
    pytest.param(
        chain(
            c("length_constraints:number_sentences", relation="at least", num_sentences=3),
            c("length_constraints:number_sentences", relation="at least", num_sentences=3),
            outer=[c("length_constraints:number_sentences", relation="less than", num_sentences=5)],
        ),
        id="punkt-not-additive",
    ),
    pytest.param(
        whole(
            c("keywords:letter_frequency", letter="e", let_relation="less than", let_frequency=4),
            c("complexbench:keywords", keywords=["telescope"]),
        ),
        id="three-e-under-four",
    ),
]


@pytest.mark.parametrize("tree", FEASIBLE)
def test_satisfiable_trees_are_not_rejected(tree: Task) -> None:
    assert infeasibilities(tree) == []


def test_selection_branches_are_alternatives_each_checked() -> None:
    cond = Condition(kind="parity", text="check whether 4 is even", value="yes")
    capped = c("keywords:frequency", keyword="meadow", relation="less than", frequency=1)
    body = And(
        children=[
            capped,
            Selection(
                condition=cond,
                correct="A",
                branches=[
                    Branch(
                        label="A", when="yes", body=Task(body=c("keywords:existence", keywords=["ledger", "canyon"]))
                    ),
                    Branch(
                        label="B", when="no", body=Task(body=c("keywords:existence", keywords=["meadow", "canyon"]))
                    ),
                ],
            ),
        ]
    )
    tree = Task(task="t", body=body)
    assert len(layouts(tree)) == 2
    found = infeasibilities(tree)
    assert [f.rule for f in found] == ["keyword_occurrences"] and "meadow" in found[0].detail


def test_parent_scopes() -> None:
    assert [parent_scope(s) for s in ("part:2.1", "part:2", "response")] == ["part:2", "response", None]


# --- seed clashes ---------------------------------------------------------------------------------------


def seed(form: str | None = None, **hints: int) -> Seed:
    return Seed(id="s", text="Write a haiku about rain.", tags=SeedTags(form=form, **hints))  # type: ignore[arg-type]


CLASHES = [
    pytest.param(
        seed("haiku", max_words=25),
        whole(c("length_constraints:number_words", relation="at least", num_words=400)),
        "too_long_for_seed",
        id="haiku-400-words",
    ),
    pytest.param(
        seed("haiku", max_words=25),
        chain(c("letters:letter_counting", relation="at least", N=1200), None),
        "too_long_for_seed",
        id="haiku-in-part-1-by-letters",
    ),
    pytest.param(
        seed("document", min_words=60),
        whole(c("count:word_count_range", min_words=10, max_words=40)),
        "too_short_for_seed",
        id="document-under-40-words",
    ),
    pytest.param(
        seed("poem"),
        whole(c("detectable_format:number_bullet_lists", num_bullets=3)),
        "structure_in_verse",
        id="poem-as-bullets",
    ),
    pytest.param(
        seed("poem"), whole(c("markdown:table_columns", num_columns=3)), "structure_in_verse", id="poem-table"
    ),
    pytest.param(seed("limerick"), whole(c("format:newline")), "layout_in_fixed_verse", id="limerick-word-per-line"),
    pytest.param(
        seed("haiku"),
        whole(c("paragraphs:blank_line_count", num_paragraphs=3)),
        "layout_in_fixed_verse",
        id="haiku-three-paragraphs",
    ),
    pytest.param(seed("code"), whole(c("change_case:english_capital")), "text_rule_in_code", id="code-all-caps"),
]


@pytest.mark.parametrize(("s", "tree", "rule"), CLASHES)
def test_seed_clash_rules(tax: Taxonomy, s: Seed, tree: Task, rule: str) -> None:
    found = seed_clashes(s, tree, tax)
    assert rule in {f.rule for f in found}
    assert all(f.reason == f"seed_clash:{f.rule}" and s.id in f.detail for f in found)
    assert seed_clashes(s.model_copy(update={"tags": None}), tree, tax) == []


NO_CLASH = [
    pytest.param(
        seed("haiku", max_words=25),
        whole(c("length_constraints:number_words", relation="less than", num_words=100)),
        id="haiku-under-100-words",
    ),
    # the seed's answer is Part 1; later parts may be long and listed
    pytest.param(
        seed("haiku", max_words=25),
        chain(
            None,
            And(
                children=[
                    c("length_constraints:number_words", relation="at least", num_words=400),
                    c("detectable_format:number_bullet_lists", num_bullets=4),
                ]
            ),
        ),
        id="haiku-then-long-list-in-part-2",
    ),
    pytest.param(seed("essay"), whole(c("detectable_format:number_bullet_lists", num_bullets=3)), id="essay-bullets"),
    pytest.param(seed("poem"), whole(c("detectable_format:title")), id="poem-with-title"),
]


@pytest.mark.parametrize(("s", "tree"), NO_CLASH)
def test_fitting_constraints_do_not_clash(tax: Taxonomy, s: Seed, tree: Task) -> None:
    assert seed_clashes(s, tree, tax) == []


def test_composer_redraws_seed_clashes_and_counts_them(tax: Taxonomy) -> None:
    haiku = Seed(id="h", text="Write a haiku about rain.", tags=SeedTags(form="haiku", max_words=25))
    thrown: Counter[str] = Counter()
    for i in range(150):
        ins = compose_instruction(haiku, "And_1", tax, random_seed=i)
        assert check_composition(haiku, ins.tree, tax) == []
        thrown.update(ins.redraws)
    assert thrown["seed_clash:structure_in_verse"] > 0 and thrown["seed_clash:too_long_for_seed"] > 0, thrown
    assert all(k.startswith(("infeasible:", "seed_clash:")) for k in thrown)


def test_compose_unique_keeps_the_redraws_of_every_attempt(tax: Taxonomy) -> None:
    haiku = Seed(id="h", text="Write a haiku about rain.", tags=SeedTags(form="haiku", max_words=25))
    key = next(f"k{i}" for i in range(200) if compose_instruction(haiku, "And_1", tax, random_seed=f"k{i}").redraws)
    first = compose_instruction(haiku, "And_1", tax, random_seed=key)
    second = compose_instruction(haiku, "And_1", tax, random_seed=f"{key}:redraw1")
    again = compose_unique(haiku, "And_1", tax, random_seed=key, seen={first.fingerprint})
    assert again.fingerprint == second.fingerprint != first.fingerprint
    assert Counter(again.redraws) == Counter(first.redraws) + Counter(second.redraws)


# --- seed tags in files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"form": "haikuu"}, r"line 2: tag 'form'"),
        ({"fomr": "poem"}, r"line 2: unknown seed tag 'fomr'"),
        ({"min_words": 50, "max_words": 10}, r"line 2: min_words \(50\) must not exceed max_words \(10\)"),
        ({"max_words": 0}, r"line 2: tag 'max_words'"),
        ("poem", r"line 2: 'tags' must be a JSON object"),
    ],
)
def test_bad_seed_tags_name_the_line(tmp_path: Path, tags: object, message: str) -> None:
    path = tmp_path / "seeds.jsonl"
    rows = [{"text": "Write a poem about rain."}, {"text": "Write a haiku about snow.", "tags": tags}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(UserInputError, match=message):
        load_seed_file(path)


def test_seed_tags_load_and_stay_out_of_untagged_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    rows = [
        {"id": "a", "text": "Write a haiku about snow.", "tags": {"form": "haiku", "max_words": 25}},
        {"id": "b", "text": "x y"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    a, b = load_seed_file(path)
    assert a.tags == SeedTags(form="haiku", max_words=25)
    assert b.tags is None and "tags" not in b.model_dump()
