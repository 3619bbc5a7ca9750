"""Property tests of the feasibility check: every composed instruction passes it (seed tags included), and it
never rejects a combination that some answer satisfies (checked with the real checkers on generated answers)."""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import spans
from pipeline.checks.registry import get_checker
from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.feasibility import infeasibilities
from pipeline.construct.seed_tags import check_composition
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import And, Chain, Constraint, Node, Seed, SeedForm, SeedTags, Task

TAX = load_taxonomy()

tags = st.one_of(
    st.none(),
    st.builds(
        SeedTags,
        form=st.sampled_from([None, *get_args(SeedForm)]),
        max_words=st.one_of(st.none(), st.integers(15, 400)),
    ),
)
options = st.builds(
    ComposeOptions,
    checkers=st.sampled_from(["any", "code"]),
    judge_share=st.floats(0, 1),
    and_size=st.tuples(st.integers(2, 3), st.integers(0, 1)).map(lambda t: (t[0], t[0] + t[1])),
    chain_steps=st.tuples(st.integers(2, 3), st.integers(0, 1)).map(lambda t: (t[0], t[0] + t[1])),
    global_share=st.floats(0, 1),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(category=st.sampled_from(CATEGORIES), random_seed=st.integers(0, 2**32), seed_tags=tags, opts=options)
def test_every_composed_instruction_is_feasible(
    category: str, random_seed: int, seed_tags: SeedTags | None, opts: ComposeOptions
) -> None:
    seed = Seed(id="p", text="Write about a harbor town in winter.", tags=seed_tags)
    ins = compose_instruction(seed, category, TAX, random_seed=random_seed, options=opts)
    assert check_composition(seed, ins.tree, TAX) == []
    assert all(k.startswith(("infeasible:", "seed_clash:")) and v > 0 for k, v in ins.redraws.items())


# --- soundness: a combination some answer satisfies is never reported -------------------------------------

VOCAB = ["harbor", "meadow", "ledger", "sea", "tide", "the", "e", "see"]
REL = st.sampled_from(["less than", "at least"])
small = st.integers(0, 4)
kw = st.sampled_from(VOCAB[:4])
constraints = st.one_of(
    st.builds(
        lambda w, r, n: ("keywords:frequency", {"keyword": w, "relation": r, "frequency": n + 1}), kw, REL, small
    ),
    st.builds(lambda ws: ("keywords:existence", {"keywords": ws}), st.lists(kw, min_size=1, max_size=2, unique=True)),
    st.builds(
        lambda ws: ("complexbench:keywords", {"keywords": ws}), st.lists(kw, min_size=1, max_size=2, unique=True)
    ),
    st.builds(
        lambda ws: ("complexbench:forbidden_words", {"forbidden_words": ws}), st.lists(kw, min_size=1, max_size=1)
    ),
    st.builds(
        lambda ws, lo, extra: (
            "complexbench:keyword_count",
            {"keywords": ws, "min_count": min(lo, len(ws)), "max_count": min(lo, len(ws)) + extra},
        ),
        st.lists(kw, min_size=2, max_size=3, unique=True),
        st.integers(0, 2),
        st.integers(0, 1),
    ),
    st.builds(
        lambda a, b: ("count:count_increment_word", {"keyword1": a, "keyword2": b}),
        st.just("meadow"),
        st.just("harbor"),
    ),
    st.builds(
        lambda ch, r, n: ("keywords:letter_frequency", {"letter": ch, "let_relation": r, "let_frequency": n + 1}),
        st.sampled_from("aeorh"),
        REL,
        st.integers(0, 8),
    ),
    st.builds(
        lambda r, n: ("length_constraints:number_words", {"relation": r, "num_words": n + 1}), REL, st.integers(0, 12)
    ),
    st.builds(lambda lo, d: ("count:word_count_range", {"min_words": lo, "max_words": lo + d}), small, small),
    st.builds(lambda lo, d: ("complexbench:length_words", {"min_words": lo, "max_words": lo + d}), small, small),
    st.builds(lambda n: ("paragraphs:blank_line_count", {"num_paragraphs": n + 1}), st.integers(0, 2)),
    st.builds(lambda n: ("sentence:question_count", {"N": n}), st.integers(0, 2)),
    st.builds(lambda w, n: ("sentence:keyword", {"word": w, "N": n + 1}), kw, st.integers(0, 2)),
    st.just(("startend:end_checker", {"end_phrase": "Hope this helps!"})),
)
sentence = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4).map(" ".join)
piece = st.tuples(sentence, st.sampled_from([". ", "? ", "\n\n", " ", ", "])).map("".join)
answers = st.lists(piece, min_size=1, max_size=6).map(lambda ps: "".join(ps).strip())


def passes(text: str | None, cs: list[tuple[str, dict[str, Any]]]) -> bool:
    return text is not None and all(get_checker(sid)(text, **params).passed for sid, params in cs)


def node(cs: list[tuple[str, dict[str, Any]]]) -> Node | None:
    made: list[Node] = [Constraint(spec_id=sid, params=p, text=sid) for sid, p in cs]
    return None if not made else made[0] if len(made) == 1 else And(children=made)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cs=st.lists(constraints, min_size=2, max_size=3), text=answers)
def test_no_satisfiable_combination_on_one_span_is_reported(cs: list[tuple[str, dict[str, Any]]], text: str) -> None:
    if passes(text, cs):
        tree = Task(task="t", body=node(cs))
        assert infeasibilities(tree) == [], text


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outer=st.lists(constraints, max_size=2),
    parts=st.lists(st.tuples(st.lists(constraints, max_size=2), answers), min_size=2, max_size=3),
    preamble=st.sampled_from(["", "Here it is.\n"]),
)
def test_no_satisfiable_chain_is_reported(
    outer: list[tuple[str, dict[str, Any]]], parts: list[tuple[list[tuple[str, dict[str, Any]]], str]], preamble: str
) -> None:
    response = preamble + "\n".join(f"{spans.part_marker(str(i))}\n{text}" for i, (_, text) in enumerate(parts, 1))
    scoped = [(spans.RESPONSE, outer)] + [
        (spans.part_scope(spans.RESPONSE, i), cs) for i, (cs, _) in enumerate(parts, 1)
    ]
    if all(passes(spans.extract_span(response, scope), cs) for scope, cs in scoped):
        chain = Chain(steps=[Task(task=f"step {i}", body=node(cs)) for i, (cs, _) in enumerate(parts, 1)])
        inner = node(outer)
        body: Node = chain if inner is None else And(children=[inner, chain])
        assert infeasibilities(Task(task="t", body=body)) == [], response
