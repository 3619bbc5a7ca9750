"""The adversarial suite (taxonomy/adversarial/*.yaml): every registered checker against positives, negatives
and hacks, and the suite's hacks as tripwire rows for the reward functions.

Positives must pass; negatives and hacks must fail. The 25 IFEval ids keep the reference's semantics, so
a hack the reference accepts is recorded with `known_weakness` and asserted to pass (the record stays
true), and the guard for that id must reject the same response. The IFBench ids (checkers in the
`ifbench_*` modules) keep their reference's semantics too, but they are held out for evaluation and
have no guard: they may record known weaknesses without one, and a hack is asked of them only where one
is natural. Every tripwire row scores <= 0 with the TRL reward and verl's `compute_score`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.checks.guards import GUARDS, add_guards
from pipeline.checks.ifbench_text import MISSING_DATA
from pipeline.checks.registry import CheckResult, load_checkers, run_check
from pipeline.models import Check, VerificationPlan
from pipeline.verify.plan import plan_problems, verify_response
from pipeline.verify.reward import compute_score, make_trl_reward, parse_ground_truth
from pipeline.verify.tripwires import SUITE_DIR, SuiteCase, load_suite, tripwire_rows

KINDS = ("positive", "negative", "hack")
SUITE = load_suite()
IFEVAL_IDS = frozenset(GUARDS)


def production_checkers() -> dict[str, str]:
    """Registered checker ids of the project's families (test fixtures register t:* ids) -> family module."""
    return {
        cid: chk.fn.__module__.rsplit(".", 1)[1]
        for cid, chk in load_checkers().items()
        if chk.fn.__module__.startswith("pipeline.checks.")
    }


def reference_exact(checker_id: str) -> bool:
    """An IFBench checker: the reference's semantics, no guard (the family module is named `ifbench_*`)."""
    return production_checkers().get(checker_id, "").startswith("ifbench_")


def case_id(case: SuiteCase) -> str:
    return f"{case.family}-{case.index}-{case.checker}-{case.kind}"


def test_suite_files_are_well_formed() -> None:
    files = sorted(SUITE_DIR.glob("*.yaml"))
    assert files, f"no suite files under {SUITE_DIR}"
    families = set(production_checkers().values())
    assert {f.stem for f in files} == families, "one suite file per checker family"
    for case in SUITE:
        assert case.kind in KINDS, case_id(case)
        assert case.why.strip(), f"{case_id(case)}: say why the case is there"
        assert isinstance(case.response, str) and isinstance(case.kwargs, dict), case_id(case)
        if case.known_weakness is not None:
            assert case.kind == "hack", f"{case_id(case)}: only a hack can be a known weakness"
            assert case.checker in IFEVAL_IDS or reference_exact(case.checker), (
                f"{case_id(case)}: only IFEval and IFBench ids may keep a weakness; fix the checker"
            )
            assert case.known_weakness.strip(), case_id(case)


def test_every_case_sits_in_its_checkers_family_file() -> None:
    families = production_checkers()
    for case in SUITE:
        assert case.checker in families, f"{case_id(case)}: {case.checker!r} is not a registered checker"
        assert families[case.checker] == case.family, f"{case_id(case)}: belongs in {families[case.checker]}.yaml"


def test_every_registered_checker_has_a_positive_a_negative_and_a_hack() -> None:
    kinds: dict[str, set[str]] = {cid: set() for cid in production_checkers()}
    for case in SUITE:
        kinds[case.checker].add(case.kind)
    lacking = {}
    for cid, got in kinds.items():
        wanted = {"positive", "negative"} if reference_exact(cid) else set(KINDS)
        if wanted - got:
            lacking[cid] = sorted(wanted - got)
    assert not lacking, f"checkers without every kind of case: {lacking}"


def test_every_ifeval_id_has_a_guard() -> None:
    registry = load_checkers()
    assert len(IFEVAL_IDS) == 25
    for ifeval_id, guard_id in GUARDS.items():
        assert ifeval_id in registry and guard_id in registry
        assert registry[guard_id].params == registry[ifeval_id].params, (
            f"{guard_id} must take the kwargs of {ifeval_id}"
        )


def skip_without_nltk_data(result: CheckResult) -> None:
    """Skip a positive whose checker needs NLTK data that is not installed (it fails closed, by design)."""
    if not result.passed and result.evidence.startswith(MISSING_DATA):
        pytest.skip(result.evidence)


@pytest.mark.parametrize("case", SUITE, ids=[case_id(c) for c in SUITE])
def test_case(case: SuiteCase) -> None:
    result = run_check(case.checker, case.response, case.kwargs)
    assert result.evidence, "every verdict carries evidence"
    if case.kind == "positive":
        skip_without_nltk_data(result)
    if case.kind == "positive":
        assert result.passed, f"positive rejected ({case.why}): {result.evidence}"
    elif case.known_weakness is not None:
        assert result.passed, (
            f"recorded weakness no longer holds ({case.known_weakness}); drop the record: {result.evidence}"
        )
    else:
        assert not result.passed, f"{case.kind} accepted ({case.why}): {result.evidence}"


WEAK = [c for c in SUITE if c.known_weakness is not None and c.checker in GUARDS]


@pytest.mark.parametrize("case", WEAK, ids=[case_id(c) for c in WEAK])
def test_the_guard_rejects_each_known_weakness(case: SuiteCase) -> None:
    guard = GUARDS[case.checker]
    result = run_check(guard, case.response, case.kwargs)
    assert not result.passed, f"{guard} accepts the hack its IFEval id is weak to ({case.why}): {result.evidence}"
    recorded = [c for c in SUITE if c.checker == guard and c.kind == "hack" and c.response == case.response]
    assert recorded, f"record this hack for {guard} in guards.yaml too"


GUARD_POSITIVES = [c for c in SUITE if c.checker in set(GUARDS.values()) and c.kind == "positive"]


@pytest.mark.parametrize("case", GUARD_POSITIVES, ids=[case_id(c) for c in GUARD_POSITIVES])
def test_a_guard_passes_only_where_its_ifeval_id_passes(case: SuiteCase) -> None:
    ifeval_id = next(i for i, g in GUARDS.items() if g == case.checker)
    assert run_check(ifeval_id, case.response, case.kwargs).passed


def test_load_suite_rejects_unknown_fields(tmp_path: Path) -> None:
    bad: dict[str, Any] = {
        "checker": "punctuation:no_comma",
        "kwargs": {},
        "response": "x",
        "kind": "hack",
        "why": "w",
        "extra": 1,
    }
    import yaml

    (tmp_path / "punctuation.yaml").write_text(yaml.safe_dump({"cases": [bad]}), encoding="utf-8")
    with pytest.raises(ValueError, match="extra"):
        load_suite(tmp_path)


# --- tripwires: every hack, as an RL row, earns a reward <= 0 -------------------------------------------

ROWS = tripwire_rows(SUITE)
HACKS = [c for c in SUITE if c.kind == "hack" and not (c.known_weakness is not None and c.checker not in GUARDS)]


def test_every_hack_becomes_a_tripwire_row() -> None:
    assert len(ROWS) == len(HACKS) and len({r["id"] for r in ROWS}) == len(ROWS)
    for row, case in zip(ROWS, HACKS, strict=True):
        assert row["response"] == case.response and row["checker"] == case.checker
        assert row["data_source"] == "complexify" and row["prompt"][0]["role"] == "user"
        gt = parse_ground_truth(row["ground_truth"])
        assert [c.checker for c in gt.plan.checks][-1] == case.checker
        if case.checker in GUARDS:  # the IFEval check is gated on its guard
            guard, check = gt.plan.checks
            assert guard.checker == GUARDS[case.checker] and check.depends_on == [guard.id]


def test_tripwire_prompts_use_the_taxonomy_phrasing() -> None:
    row = next(r for r in ROWS if r["checker"] == "complexbench:starts_with")
    assert 'Begin your response with the phrase "Dear reader".' in row["prompt"][0]["content"]


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['family']}-{r['checker']}-{i}" for i, r in enumerate(ROWS)])
def test_every_tripwire_row_scores_at_most_zero(row: dict[str, Any]) -> None:
    for strip_think in (True, False):
        trl = make_trl_reward(strip_think=strip_think)
        assert trl([row["prompt"]], [row["response"]], [row["ground_truth"]]) == [-2.0]
        for score, worst in (("raif", -2.0), ("drfr", 0.0), ("all_pass", 0.0)):
            got = compute_score(
                "complexify", row["response"], row["ground_truth"], {"score": score, "strip_think": strip_think}
            )
            assert got == worst <= 0, (score, strip_think, got)


POSITIVES = [replace(c, kind="hack") for c in SUITE if c.kind == "positive"]  # same rows, satisfying answers


@pytest.mark.parametrize("row", tripwire_rows(POSITIVES), ids=[f"{c.family}-{c.checker}-{c.index}" for c in POSITIVES])
def test_a_satisfying_answer_earns_the_full_reward_under_a_tripwire_plan(row: dict[str, Any]) -> None:
    """The tripwire plans are satisfiable: each positive of the suite earns the full reward (guards included)."""
    case = next(c for c in POSITIVES if c.checker == row["checker"] and c.response == row["response"])
    skip_without_nltk_data(run_check(case.checker, case.response, case.kwargs))
    assert compute_score("complexify", row["response"], row["ground_truth"]) == 2.0


def test_add_guards_gates_each_ifeval_check_and_its_dependents_on_the_guard() -> None:
    plan = VerificationPlan(
        checks=[
            Check(id="c1", kind="code", checker="keywords:existence", kwargs={"keywords": ["river"]}),
            Check(id="c2", kind="code", checker="punctuation:punctuation_dot", depends_on=["c1"]),
            Check(id="c3", kind="judge", question="Is it about a river?", depends_on=["c1", "c2"]),
        ]
    )
    guarded = add_guards(plan)
    assert [(c.id, c.checker, c.depends_on) for c in guarded.checks] == [
        ("c1~guard", "guard:keywords_existence", []),
        ("c1", "keywords:existence", ["c1~guard"]),
        ("c2", "punctuation:punctuation_dot", ["c1", "c1~guard"]),
        ("c3", None, ["c1", "c2", "c1~guard"]),
    ]
    assert plan_problems(guarded) == []
    stuffed = verify_response("river", guarded)  # passes keywords:existence, not its guard
    assert [v.gated for v in stuffed.checks[:3]] == [False, False, False]
    assert verify_response("We swam in the river", guarded).n_passed == 3
