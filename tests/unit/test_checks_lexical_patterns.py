"""Lexical pattern and sentence shape checkers (our own complexify constraints): pass and fail tables, argument
errors, the taxonomy entries that bind them, and the conflicts a ban needs against words other specs require."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pipeline.checks.registry import load_checkers, run_check
from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import iter_constraints, taken_constraints
from pipeline.errors import CheckerArgumentError
from pipeline.models import Seed
from pipeline.verify.overlap import find_overlaps
from pipeline.verify.plan import plan_problems, verify_response

FILE = "complexify_lexical.yaml"
LONG = "By morning the water had covered every field between the old mill and the church on the hill."

# (id, checker, kwargs, response, expected verdict)
CASES: list[tuple[str, str, dict[str, Any], str, bool]] = [
    # --- lexical:max_word_length
    ("mwl-ok", "lexical:max_word_length", {"max_letters": 6}, "We walk to town at 12345678 pm.", True),
    ("mwl-apostrophe", "lexical:max_word_length", {"max_letters": 6}, "It wasn't bad.", True),
    ("mwl-long", "lexical:max_word_length", {"max_letters": 6}, "We are walking to town.", False),
    ("mwl-compound", "lexical:max_word_length", {"max_letters": 6}, "A far-away town.", False),
    ("mwl-empty", "lexical:max_word_length", {"max_letters": 6}, "  ", False),
    # --- lexical:no_double_letter
    ("ndl-ok", "lexical:no_double_letter", {"letter": "e"}, "We set the table.", True),
    ("ndl-double", "lexical:no_double_letter", {"letter": "e"}, "We see the table.", False),
    ("ndl-case", "lexical:no_double_letter", {"letter": "e"}, "EeRIE sound.", False),
    ("ndl-other-letter", "lexical:no_double_letter", {"letter": "o"}, "We see the table.", True),
    # --- lexical:suffix_words
    ("suf-ok", "lexical:suffix_words", {"affix": "ly", "N": 2}, "She spoke softly and walked slowly home.", True),
    ("suf-short-stem", "lexical:suffix_words", {"affix": "ly", "N": 2}, "She only spoke softly to us.", False),
    ("suf-possessive", "lexical:suffix_words", {"affix": "ness", "N": 1}, "The darkness's edge was near us.", True),
    # --- lexical:prefix_words
    ("pre-ok", "lexical:prefix_words", {"affix": "un", "N": 2}, "It was unclear and quite unusual for them.", True),
    ("pre-bare", "lexical:prefix_words", {"affix": "un", "N": 2}, "It was under the bridge.", False),
    # --- lexical:long_words
    ("lw-ok", "lexical:long_words", {"min_letters": 8, "N": 2}, "The travelers admired the mountains at dawn.", True),
    ("lw-few", "lexical:long_words", {"min_letters": 8, "N": 2}, "The travelers saw hills at dawn.", False),
    # --- lexical:hyphenated_words
    ("hy-ok", "lexical:hyphenated_words", {"N": 1}, "The state-of-the-art tool helps us all.", True),
    ("hy-digits", "lexical:hyphenated_words", {"N": 1}, "The COVID-19 case was dull.", False),
    ("hy-range", "lexical:hyphenated_words", {"N": 1}, "Pages 10-12 say it well.", False),
    # --- lexical:spelled_numbers
    ("sn-ok", "lexical:spelled_numbers", {"N": 2}, "We saw two owls and forty bats there.", True),
    ("sn-few", "lexical:spelled_numbers", {"N": 2}, "We saw two owls and bats there.", False),
    ("sn-superscript", "lexical:spelled_numbers", {"N": 1}, "We saw two owls in the m² field.", False),
    # --- lexical:numbers_ascending
    ("na-ok", "lexical:numbers_ascending", {"N": 3}, "Add 1.5 cups, then 2 eggs, then 1,000 grams.", True),
    ("na-equal", "lexical:numbers_ascending", {"N": 2}, "We had 3 cats and 3 dogs.", False),
    ("na-few", "lexical:numbers_ascending", {"N": 3}, "We had 3 cats and 4 dogs.", False),
    # --- lexical:percentages
    ("pct-ok", "lexical:percentages", {"N": 1}, "About 40 per cent of 200 trees fell.", True),
    ("pct-code", "lexical:percentages", {"N": 1}, "About 40% fell.\n```\nprint(f'{x}%')\n```", True),
    ("pct-none", "lexical:percentages", {"N": 1}, "About forty percent fell.", False),
    # --- lexical:word_every_paragraph
    ("wep-ok", "lexical:word_every_paragraph", {"word": "cabin", "N": 2}, "A cabin here.\n\nThe cabin is warm.", True),
    (
        "wep-few",
        "lexical:word_every_paragraph",
        {"word": "cabin", "N": 3},
        "A cabin here.\n\nThe cabin is warm.",
        False,
    ),
    # --- lexical:acronyms_defined
    ("ac-ok", "lexical:acronyms_defined", {"N": 1}, "The Central Processing Unit (CPU) runs code.", True),
    ("ac-small-word", "lexical:acronyms_defined", {"N": 1}, "The Bank of England (BoE) is old and the BOE is.", False),
    ("ac-none", "lexical:acronyms_defined", {"N": 1}, "No acronyms here at all.", False),
    ("ac-code", "lexical:acronyms_defined", {"N": 1}, "A Central Processing Unit (CPU).\n```\nMAX = 3\n```", True),
    ("ac-shouting", "lexical:acronyms_defined", {"N": 1}, "The Central Processing Unit (CPU) is VERY fast.", False),
    ("ac-later-use", "lexical:acronyms_defined", {"N": 1}, "A CPU is fast. The Central Processing Unit (CPU).", False),
    # --- lexical:word_first_paragraph_only
    ("wfp-ok", "lexical:word_first_paragraph_only", {"word": "cabin"}, "The cabin is warm.\n\nSnow falls.", True),
    ("wfp-one", "lexical:word_first_paragraph_only", {"word": "cabin"}, "The cabin is warm.", False),
    (
        "wfp-heading",
        "lexical:word_first_paragraph_only",
        {"word": "cabin"},
        "# A\n\nThe cabin is warm.\n\nSnow.",
        True,
    ),
    ("wfp-late-head", "lexical:word_first_paragraph_only", {"word": "cabin"}, "The cabin is warm.\n\n# Cabin", False),
    (
        "wfp-hidden",
        "lexical:word_first_paragraph_only",
        {"word": "cabin"},
        "The cabin is warm.\n\nSnow <!--cabin-->.",
        False,
    ),
    # --- lexical:keywords_in_order
    (
        "ko-ok",
        "lexical:keywords_in_order",
        {"keywords": ["pilot", "rocket"]},
        "The pilot boards the rocket now.",
        True,
    ),
    (
        "ko-missing",
        "lexical:keywords_in_order",
        {"keywords": ["pilot", "rocket"]},
        "The pilot boards the ship now.",
        False,
    ),
    # --- lexical:no_em_dash
    ("dash-hyphen-ok", "lexical:no_em_dash", {}, "A well-known fact, noted in 1990-2000 lists.", True),
    ("dash-en", "lexical:no_em_dash", {}, "Pages 10–12 are missing.", False),
    ("dash-code-ok", "lexical:no_em_dash", {}, "Run this:\n```sh\nls --all\n```\nDone.", True),
    # --- lexical:no_contractions
    ("con-ok", "lexical:no_contractions", {}, "It is late and the cat's bowl is empty.", True),
    ("con-its", "lexical:no_contractions", {}, "It’s late.", False),
    ("con-ill", "lexical:no_contractions", {}, "I'll go.", False),
    # --- lexical:no_first_person
    ("fp-ok", "lexical:no_first_person", {}, "The team left early; musicians played.", True),
    ("fp-us", "lexical:no_first_person", {}, "Call us tomorrow.", False),
    ("fp-lets", "lexical:no_first_person", {}, "Let's go.", False),
    # --- lexical:semicolon_clauses
    (
        "sc-two",
        "lexical:semicolon_clauses",
        {"N": 2},
        "It rained all day; the roads flooded fast; we stayed in.",
        True,
    ),
    (
        "sc-code",
        "lexical:semicolon_clauses",
        {"N": 1},
        "It rained all day; the roads flooded.\n```c\nx = 1;\n```",
        True,
    ),
    ("sc-short", "lexical:semicolon_clauses", {"N": 1}, "It rained; roads flooded in the town.", False),
    # --- lexical:parentheticals
    ("par-ok", "lexical:parentheticals", {"N": 2}, "The mill (an old one) and the barn (a new one) stand.", True),
    ("par-nested", "lexical:parentheticals", {"N": 1}, "The mill (an old (very old) one) stands.", False),
    # --- shape:max_sentence_words
    ("msw-ok", "shape:max_sentence_words", {"max_words": 6}, "The sky cleared.\nBirds flew south again.", True),
    ("msw-run-on", "shape:max_sentence_words", {"max_words": 6}, "The sky cleared and birds flew south again", False),
    ("msw-code-only", "shape:max_sentence_words", {"max_words": 6}, "```\nprint(1)\n```", False),
    # --- shape:short_and_long
    ("sl-ok", "shape:short_and_long", {"short_max": 5, "long_min": 15}, f"The river flooded. {LONG}", True),
    (
        "sl-no-short",
        "shape:short_and_long",
        {"short_max": 4, "long_min": 15},
        f"The river flooded the town. {LONG}",
        False,
    ),
    # --- shape:adjacent_lengths_differ
    ("ald-ok", "shape:adjacent_lengths_differ", {"N": 3}, "It rained. Then the sun came. The end came.", True),
    ("ald-few", "shape:adjacent_lengths_differ", {"N": 3}, "It rained. Then the sun came.", False),
    # --- shape:first_sentence_short
    ("fss-ok", "shape:first_sentence_short", {"max_words": 4}, "No, it is not. The reason is simple enough.", True),
    ("fss-long", "shape:first_sentence_short", {"max_words": 4}, "No, it is not at all. The reason is simple.", False),
    # --- shape:unique_openers
    ("uo-ok", "shape:unique_openers", {"N": 3}, "Cats sleep a lot. Dogs play outside. Birds sing at dawn.", True),
    ("uo-case", "shape:unique_openers", {"N": 3}, "Cats sleep a lot. cats play outside. Birds sing at dawn.", False),
    # --- shape:banned_opener
    ("bo-ok", "shape:banned_opener", {"word": "i"}, "Cats sleep a lot, and I like that.", True),
    ("bo-bullet", "shape:banned_opener", {"word": "i"}, "Cats sleep.\n- I like that.", False),
    # --- shape:last_sentence_opener
    ("lso-ok", "shape:last_sentence_opener", {"opener": "Overall"}, "Cats sleep. overall they rest a lot.", True),
    (
        "lso-not-last",
        "shape:last_sentence_opener",
        {"opener": "Overall"},
        "Overall cats rest a lot. They sleep.",
        False,
    ),
    # --- shape:opens_with_question
    ("owq-ok", "shape:opens_with_question", {}, "# Cats\n\nWhy do cats sleep? They rest a lot. They dream too.", True),
    ("owq-two", "shape:opens_with_question", {}, "Why do cats sleep? They rest.", False),
    # --- shape:commas_per_sentence
    ("cps-zero", "shape:commas_per_sentence", {"max_commas": 0}, "Cats sleep and dogs play.", True),
    ("cps-fullwidth", "shape:commas_per_sentence", {"max_commas": 1}, "Cats，dogs，birds.", False),
    # --- shape:long_word_each_sentence
    (
        "lwe-ok",
        "shape:long_word_each_sentence",
        {"min_letters": 7},
        "# Cats\nCats are wonderful. Dogs are faithful.",
        True,
    ),
    ("lwe-miss", "shape:long_word_each_sentence", {"min_letters": 7}, "Cats are wonderful. Dogs are loyal.", False),
    # --- shape:no_repeat_within_sentence
    ("nrs-short-ok", "shape:no_repeat_within_sentence", {"min_letters": 5}, "The cat saw the cat.", True),
    ("nrs-repeat", "shape:no_repeat_within_sentence", {"min_letters": 5}, "Small birds sing; SMALL birds fly.", False),
]


@pytest.mark.parametrize(("cid", "kwargs", "response", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdicts(cid: str, kwargs: dict[str, Any], response: str, expected: bool) -> None:
    result = run_check(cid, response, kwargs)
    assert result.passed is expected, result.evidence
    assert result.evidence


def _mine(tax: Taxonomy) -> list[Any]:
    return [s for s in tax.specs.values() if s.source_file.endswith(FILE)]


def test_every_id_has_a_passing_and_a_failing_case() -> None:
    ids = {s.id for s in _mine(load_taxonomy())}
    verdicts: dict[str, set[bool]] = {cid: set() for cid in ids}
    for _, cid, _, _, expected in CASES:
        verdicts[cid].add(expected)
    assert {cid for cid, seen in verdicts.items() if seen != {True, False}} == set()


BAD_KWARGS = [
    ("lexical:no_double_letter", {"letter": "ab"}),
    ("lexical:no_double_letter", {"letter": "é"}),
    ("lexical:suffix_words", {"affix": "n1", "N": 2}),
    ("lexical:suffix_words", {"affix": "ness", "N": 0}),
    ("lexical:keywords_in_order", {"keywords": "river"}),
    ("shape:short_and_long", {"short_max": 9, "long_min": 9}),
    ("shape:short_and_long", {"short_max": 2, "long_min": 9}),
    ("shape:banned_opener", {"word": "two words"}),
    ("shape:commas_per_sentence", {"max_commas": -1}),
    ("lexical:max_word_length", {"max_letters": True}),
]


@pytest.mark.parametrize(("cid", "kwargs"), BAD_KWARGS, ids=[f"{c}-{k}" for c, k in BAD_KWARGS])
def test_malformed_arguments_raise(cid: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(CheckerArgumentError):
        run_check(cid, "Some text here. And more.", kwargs)


def test_the_entries_bind_checkers_taking_their_params() -> None:
    tax = load_taxonomy()
    registry = load_checkers()
    mine = _mine(tax)
    assert len(mine) >= 26
    families = {registry[s.checker_id].fn.__module__.rsplit(".", 1)[1] for s in mine}
    assert families == {"lexical_patterns", "sentence_shapes"}
    for spec in mine:
        assert spec.vocabulary == "complexify" and spec.tags == ["complexify"], spec.id
        assert {p.name for p in spec.params} == set(registry[spec.checker_id].params), spec.id
        assert len(spec.phrasings) >= 3, spec.id


def test_no_spec_of_the_file_behaves_like_an_ifbench_spec() -> None:
    """The held-out IFBench types stay held out: none of these specs gives the same verdicts as one of them on the
    overlap check's probes for matched parameter draws."""
    tax = load_taxonomy()
    held_out = [s for s in tax.specs.values() if s.vocabulary == "ifbench"]
    assert len(held_out) >= 10
    found = find_overlaps(tax, _mine(tax), held_out)
    assert found == [], [o.message() for o in found]


def test_each_is_composed_in_and_chain_and_selection_and_checked_by_its_plan() -> None:
    """Every spec is drawn into And, Chain and Selection instructions (a whole-only one never into a Chain step or a
    Selection branch), and each plan checks it with its parameters and gives a verdict on an answer."""
    tax = load_taxonomy()
    mine = {s.id: s for s in _mine(tax)}
    seed = Seed(id="s", text="Describe how a small town prepares for a winter storm.")
    opts = ComposeOptions(checkers="code", vocabularies=["complexify"])
    seen: dict[str, set[str]] = {sid: set() for sid in mine}
    answer = (
        "Why does the town prepare? Snow (heavy, wet snow) closes roads; crews salt 3 streets.\n\nIn short, it works."
    )
    for category in ("And_1", "Chain_2", "Selection_2"):
        for i in range(300):
            ins = compose_instruction(seed, category, tax, random_seed=i, options=opts)
            ours = [(path, c) for path, c in iter_constraints(ins.tree) if c.spec_id in mine]
            taken = {id(c) for c in taken_constraints(ins.tree)}
            if not ours:
                continue
            assert plan_problems(ins.plan) == []
            verdict = verify_response(answer, ins.plan)
            assert len(verdict.checks) == len(ins.plan.checks)
            for path, c in ours:
                seen[c.spec_id].add(category.split("_")[0])
                if mine[c.spec_id].placement == ["whole"]:
                    assert ".steps[" not in path and ".branches[" not in path, (c.spec_id, path)
                if id(c) in taken:  # an untaken Selection case is not checked
                    assert any(k.checker == c.spec_id and k.kwargs == c.params for k in ins.plan.checks), c.spec_id
    whole_only = {sid for sid, spec in mine.items() if spec.placement == ["whole"]}
    assert {sid for sid, cats in seen.items() if cats != {"And", "Chain", "Selection"}} <= whole_only
    assert all(seen[sid] for sid in whole_only)


# --- bans against the words other specs require --------------------------------------------------------

# My specs that forbid something a required word or phrase could carry, and a response that holds `value` and
# satisfies the spec whenever `value` itself breaks nothing.
BANS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "lexical:max_word_length": ([{"max_letters": 10}], "Notes mention {value} plainly."),
    "lexical:no_double_letter": ([{"letter": c} for c in "cgnpd"], "Notes mention {value} plainly."),
    "lexical:no_em_dash": ([{}], "Notes mention {value} plainly."),
    "lexical:no_contractions": ([{}], "Notes mention {value} plainly."),
    "lexical:no_first_person": ([{}], "Notes mention {value} plainly."),
    "lexical:spelled_numbers": ([{"N": 2}], "Notes mention {value} one or two times plainly."),
    "lexical:semicolon_clauses": ([{"N": 1}], "Notes mention {value} at noon; the notes are long and good."),
    "lexical:parentheticals": ([{"N": 1}], "Notes mention {value} (twice a day) now."),
    "shape:commas_per_sentence": ([{"max_commas": 1}], "Notes mention {value} plainly."),
    "shape:no_repeat_within_sentence": ([{"min_letters": 4}], "Notes mention {value} plainly."),
}


def _required_texts(tax: Taxonomy, spec: Any) -> list[str]:
    """Every text another spec can require the answer to hold (words it counts or asks for, verbatim phrases)."""
    out: list[str] = []
    slots = {v.param for v in spec.verbatim if v.slots}
    for p in spec.params:
        if p.name not in spec.words.requires or p.name in slots:
            continue
        if p.pool:
            out.extend(tax.pools[p.pool])
        elif p.values:
            out.extend(str(v) for v in p.values)
    return out


def test_a_ban_conflicts_with_every_spec_whose_required_words_break_it() -> None:
    tax = load_taxonomy()
    missing = []
    for ban, (kwarg_sets, template) in BANS.items():
        for kwargs in kwarg_sets:
            assert run_check(ban, template.format(value="river"), kwargs).passed, (ban, kwargs)
        for other in tax.specs.values():
            if other.id == ban or not other.is_code or tax.conflicts(ban, other.id):
                continue
            for value in _required_texts(tax, other):
                text = template.format(value=re.sub(r"[.!?]+$", "", value))
                broken = [k for k in kwarg_sets if not run_check(ban, text, k).passed]
                if broken:
                    missing.append(f"{ban} {broken[0]} vs {other.id} ({value!r})")
    assert not missing, "declare these conflicts:\n" + "\n".join(sorted(set(missing)))
