"""Student rollouts, difficulty band and reasoning: pure summaries, and the stages with a scripted model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Rollout, RolloutSummary, Seed, StudentEval
from pipeline.run.config import ConfigError, DifficultyConfig, RoleConfig, RunConfig, StudentConfig, parse_config
from pipeline.run.difficulty import band_filter, band_reason, compare, student_eval, summarize
from pipeline.run.identity import config_hash, role_models, run_inputs
from pipeline.run.planning import quotas_for
from pipeline.run.quota import cap_to_quota
from pipeline.run.report import RunSummary, format_summary, student_report
from pipeline.run.serving import model_routes
from pipeline.run.stages import BatchSpec, Models
from tests.helpers.batches import compose_spec, run_spec

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
TAX = load_taxonomy(FIXTURE, check_checkers=False)
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(7)]
LONG_TRACE = (
    "first I list the requirement then I plan a reply made of small words only and I check each of them "
    "one by one before I write it down"
)


def rollout(satisfied: int, total: int, tokens: int = 10) -> Rollout:
    return Rollout(text="x", satisfied=satisfied, total=total, passed=satisfied == total, completion_tokens=tokens)


rollouts = st.integers(1, 5).flatmap(
    lambda total: st.lists(st.integers(0, total).map(lambda s: rollout(s, total)), min_size=1, max_size=12)
)


# --- pure summaries ---------------------------------------------------------------------------------------


@given(rollouts)
def test_summary_is_a_rate_and_a_mean_within_the_checks(rs: list[Rollout]) -> None:
    s = summarize(rs)
    total = rs[0].total
    assert s.k == len(rs) and 0 <= s.pass_rate <= 1 and 0 <= s.mean_satisfied <= s.best_satisfied <= total
    assert s.pass_rate * s.k == pytest.approx(sum(r.satisfied == total for r in rs))


@given(rollouts, rollouts)
def test_outcome_is_antisymmetric_and_ties_only_on_equal_means(a: list[Rollout], b: list[Rollout]) -> None:
    flipped = {"helped": "hurt", "hurt": "helped", "tied": "tied"}
    assert compare(b, a) == flipped[compare(a, b)]
    equal = sum(r.satisfied for r in a) * len(b) == sum(r.satisfied for r in b) * len(a)
    assert (compare(a, b) == "tied") == equal


def test_outcome_compares_means_not_sums() -> None:
    # 4 rollouts of mean 1 against 2 rollouts of mean 1: a tie, though the sums differ
    assert compare([rollout(1, 2)] * 4, [rollout(1, 2)] * 2) == "tied"
    assert compare([rollout(1, 2)] * 4, [rollout(2, 2), rollout(1, 2)]) == "helped"
    assert compare([rollout(1, 2)] * 4, [rollout(0, 2), rollout(1, 2)]) == "hurt"


def test_summarising_no_rollouts_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one rollout"):
        summarize([])


def evaluated(pass_rate_of_4: int) -> StudentEval:
    return student_eval("s", [rollout(1, 1)] * pass_rate_of_4 + [rollout(0, 1)] * (4 - pass_rate_of_4))


@pytest.mark.parametrize(
    ("passes", "reason"), [(0, "too_hard"), (1, None), (2, None), (3, None), (4, "too_easy")], ids=lambda v: str(v)
)
def test_band_ends_are_inclusive(passes: int, reason: str | None) -> None:
    band = DifficultyConfig(min_pass_rate=0.25, max_pass_rate=0.75)
    assert band_reason(evaluated(passes), band) == reason
    assert band_reason(None, band) is None  # an unmeasured instruction is not judged by the band


# --- config -----------------------------------------------------------------------------------------------


def test_student_is_off_by_default_and_reasoning_keeps_the_old_booleans() -> None:
    cfg = parse_config({"samples": 1})
    assert not cfg.models.student.enabled and "student" not in role_models(cfg) and not cfg.difficulty.filters()
    assert (
        parse_config({"samples": 1, "models": {"responder": {"reasoning": True}}}).models.responder.reasoning
        == "server"
    )
    assert (
        parse_config({"samples": 1, "models": {"responder": {"reasoning": False}}}).models.responder.reasoning == "off"
    )


def test_the_new_keys_dump_and_count_like_any_other() -> None:
    dump = parse_config({"samples": 1}).model_dump(mode="json")
    assert dump["models"]["student"]["enabled"] is False and dump["difficulty"]["min_pass_rate"] == 0
    assert dump["gate"]["reject_shallow_reasoning"] is False and dump["models"]["responder"]["reasoning"] == "off"
    on = {"samples": 1, "models": {"student": {"enabled": True}}, "difficulty": {"min_pass_rate": 0.5}}
    full = parse_config({**on, "gate": {"reject_shallow_reasoning": True}}).model_dump(mode="json")
    assert full["models"]["student"]["enabled"] and full["difficulty"]["min_pass_rate"] == 0.5
    assert (
        full["gate"]["reject_shallow_reasoning"] and parse_config(full).model_dump(mode="json") == full
    )  # round trip
    assert config_hash(parse_config(on)) != config_hash(parse_config({"samples": 1}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"difficulty": {"max_pass_rate": 0.5}}, "needs student rollouts, but models.student.enabled is false"),
        (
            {"difficulty": {"min_pass_rate": 0.6, "max_pass_rate": 0.5}, "models": {"student": {"enabled": True}}},
            "swap them",
        ),
        ({"models": {"responder": {"reasoning": "maybe"}}}, "'off', 'prompted', 'plan_first' or 'server'"),
        ({"models": {"student": {"rollouts": 0}}}, "rollouts"),
    ],
)
def test_bad_student_settings_are_clear_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"samples": 1, **data})


def test_the_student_model_is_part_of_the_run_identity() -> None:
    base = {"samples": 1, "compose": {"checkers": "code"}, "models": {"judge": {"enabled": False}}}
    off = parse_config(base)
    on = parse_config(
        {**base, "models": {"judge": {"enabled": False}, "student": {"enabled": True, "model": "org/student-8b"}}}
    )
    assert role_models(on)["student"] == "org/student-8b"
    assert run_inputs(on)["models"] != run_inputs(off)["models"]


# --- the stages with a scripted model ---------------------------------------------------------------------


def config(**over: Any) -> RunConfig:
    models = {"responder": {"n": 2}, "rewriter": {"enabled": False}, "student": {"enabled": True, "rollouts": 4}}
    models.update(over.pop("models", {}))
    data = {
        "samples": 3,
        "mix": {"Single": 1},
        "repair_rounds": 0,
        "fidelity": {"enabled": False},
        "models": models,
        **over,
    }
    return parse_config(data)


def lower_only_specs(cfg: RunConfig, n: int) -> list[BatchSpec]:
    """`n` one-instruction specs whose only check is t:lower (a lowercase answer passes it)."""
    found = []
    for i in range(400):
        spec = BatchSpec(index=0, items=((i, "Single"),))
        if [c.spec_id for c in compose_spec(spec, SEEDS, TAX, cfg)[0].plan.checks] == ["t:lower"]:
            found.append(spec)
        if len(found) == n:
            return found
    pytest.fail("not enough t:lower instructions")


class Script:
    """Scripted model: the responder's answers, the student's plain and reasoning answers (cycled); logs calls."""

    def __init__(self, responder: Sequence[Response], plain: Sequence[str], reasoning: Sequence[str] = ()) -> None:
        self.responder, self.plain, self.reasoning = list(responder), list(plain), list(reasoning)
        self.calls: list[tuple[str, list[list[dict[str, str]]]]] = []

    def __call__(
        self, conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int
    ) -> list[list[Response]]:
        kind = "student" if isinstance(role, StudentConfig) else "responder"
        self.calls.append((kind, [list(c) for c in conversations]))
        out = []
        for conv in conversations:
            if kind == "responder":
                out.append(
                    [r.model_copy(update={"candidate": k}) for k, r in zip(range(n), self.responder * n, strict=False)]
                )
                continue
            texts = self.reasoning if conv[0]["role"] == "system" else self.plain
            out.append([Response(text=texts[k % len(texts)], completion_tokens=7, candidate=k) for k in range(n)])
        return out


class Relevance:
    def similarities(self, task: str, texts: Sequence[str]) -> list[float]:
        return [0.1 for _ in texts]


LOWER = Response(text="all lowercase words here")


def test_student_rollouts_are_summarised_and_attached_to_every_sample_of_the_instruction() -> None:
    cfg = config(models={"student": {"enabled": True, "rollouts": 4, "reasoning": True}})
    [spec] = lower_only_specs(cfg, 1)
    script = Script(
        [LOWER], plain=["lower one", "Upper", "Upper", "Upper"], reasoning=["lower", "lower", "Upper", "lower"]
    )
    result = run_spec(spec, SEEDS, TAX, cfg, Models(script, None, Relevance()), run_id="r")
    assert len(result.kept) == 1 and len(result.rejects) == 1  # the second candidate is a surplus
    ev = result.kept[0].student
    assert ev is not None and all(s.student == ev for s in result.rejects)
    assert ev.baseline == RolloutSummary(k=4, pass_rate=0.25, mean_satisfied=0.25, best_satisfied=1)
    assert ev.reasoning == RolloutSummary(k=4, pass_rate=0.75, mean_satisfied=0.75, best_satisfied=1)
    assert ev.outcome == "helped" and ev.model == cfg.models.student.model
    assert [r.with_reasoning for r in ev.rollouts] == [False] * 4 + [True] * 4
    assert result.stats["student_rollouts"] == 8 and result.stats["student_completion_tokens"] == 8 * 7
    assert result.stats["reasoning_helped"] == 1 and result.stats["student_instructions"] == 1
    student_convs = [c for kind, convs in script.calls if kind == "student" for c in convs]
    assert [c[0]["role"] for c in student_convs] == ["user", "system"]  # plain, then prompted to reason


def test_instructions_without_a_kept_answer_cost_no_student_rollouts() -> None:
    cfg = config()
    [spec] = lower_only_specs(cfg, 1)
    script = Script([Response(text="Has Capitals")], plain=["x"])
    result = run_spec(spec, SEEDS, TAX, cfg, Models(script, None, Relevance()), run_id="r")
    assert result.kept == [] and all(s.student is None for s in result.rejects)
    assert [kind for kind, _ in script.calls] == ["responder"] and "student_rollouts" not in result.stats


@pytest.mark.parametrize(
    ("plain", "band", "reason"),
    [(["lower"], (0.0, 0.5), "too_easy"), (["Upper"], (0.5, 1.0), "too_hard"), (["lower", "Upper"], (0.5, 0.5), None)],
    ids=["easy", "hard", "inside"],
)
def test_the_band_drops_out_of_band_samples_with_their_reason(
    plain: list[str], band: tuple[float, float], reason: str | None
) -> None:
    cfg = config(difficulty={"min_pass_rate": band[0], "max_pass_rate": band[1]})
    [spec] = lower_only_specs(cfg, 1)
    result = run_spec(spec, SEEDS, TAX, cfg, Models(Script([LOWER], plain=plain), None, Relevance()), run_id="r")
    if reason is None:
        assert len(result.kept) == 1 and not any(k in result.stats for k in ("too_easy", "too_hard"))
    else:
        assert result.kept == [] and result.stats[reason] == 1
        [dropped] = [s for s in result.rejects if s.reject_reasons == [reason]]
        assert dropped.verdict.all_pass and dropped.student is not None


def test_quotas_count_only_in_band_samples() -> None:
    cfg = config(samples=2, difficulty={"max_pass_rate": 0.5})
    specs = lower_only_specs(cfg, 5)
    spec = BatchSpec(0, tuple(item for s in specs for item in s.items))
    # the student passes every other rollout of the plain prompt: pass rate 0.5, inside the band [0, 0.5]
    inside = run_spec(
        spec, SEEDS, TAX, cfg, Models(Script([LOWER], plain=["lower", "Upper"]), None, Relevance()), run_id="r"
    )
    filled: Counter[str] = Counter()
    capped, _ = cap_to_quota(inside, quotas_for(cfg), filled)
    assert len(inside.kept) == 5 and len(capped.kept) == 2 == filled["Single"]
    assert sum(r.reject_reasons == ["quota_full"] for r in capped.rejects) == 3
    # always passing: every sample too easy, nothing reaches the quota
    easy = run_spec(spec, SEEDS, TAX, cfg, Models(Script([LOWER], plain=["lower"]), None, Relevance()), run_id="r")
    filled = Counter()
    assert (
        cap_to_quota(easy, quotas_for(cfg), filled)[0].kept == []
        and filled["Single"] == 0
        and easy.stats["too_easy"] == 5
    )


def test_band_filter_leaves_rejects_and_unmeasured_samples_alone() -> None:
    cfg = config()
    [spec] = lower_only_specs(cfg, 1)
    result = run_spec(
        spec,
        SEEDS,
        TAX,
        config(models={"student": {"enabled": False}}),
        Models(Script([LOWER], ["x"]), None),
        run_id="r",
    )
    kept, rejects, counts = band_filter(result.kept, result.rejects, DifficultyConfig(min_pass_rate=0.9))
    assert kept == result.kept and rejects == result.rejects and not counts


@pytest.mark.parametrize("reject", [False, True])
def test_prompted_reasoning_is_measured_and_shallow_traces_can_be_rejected(reject: bool) -> None:
    cfg = config(
        models={"responder": {"n": 2, "reasoning": "prompted"}, "student": {"enabled": False}},
        gate={"reject_shallow_reasoning": reject},
    )
    [spec] = lower_only_specs(cfg, 1)
    answers = [
        Response(text="all lowercase", reasoning="ok lowercase"),
        Response(text="all lowercase", reasoning=LONG_TRACE),
    ]
    script = Script(answers, plain=["x"])
    result = run_spec(spec, SEEDS, TAX, cfg, Models(script, None, Relevance()), run_id="r")
    [(_, [conv])] = script.calls
    assert conv[0]["role"] == "system" and "<think>" in conv[0]["content"] and conv[1]["role"] == "user"
    by_candidate = {s.response.candidate: s for s in [*result.kept, *result.rejects]}
    shallow, deep = by_candidate[0].reasoning_quality, by_candidate[1].reasoning_quality
    assert shallow is not None and shallow.shallow and shallow.words == 2
    assert deep is not None and not deep.shallow and deep.prompt_similarity == pytest.approx(0.1)
    if reject:  # the shallow first candidate is rejected, so the deep second one is the kept sample
        assert [s.response.candidate for s in result.kept] == [1] and result.stats["shallow_reasoning"] == 1
        assert by_candidate[0].reject_reasons == ["shallow_reasoning"]
    else:
        assert [s.response.candidate for s in result.kept] == [0] and "shallow_reasoning" not in result.stats


def test_the_summary_states_the_student_cost_and_says_when_the_numbers_are_tiny() -> None:
    cfg = config(
        models={"student": {"enabled": True, "rollouts": 2, "reasoning": True}}, difficulty={"max_pass_rate": 0.5}
    )
    totals = {
        "kept": 4,
        "student_instructions": 5,
        "student_completion_tokens": 1000,
        "too_easy": 1,
        "reasoning_tied": 5,
    }
    report = student_report(cfg, totals)
    assert (
        report is not None
        and report["tokens_per_kept"] == 250
        and report["band_drops"] == {"too_easy": 1, "too_hard": 0}
    )
    summary = RunSummary("r", "c", "f", "o", target=4, kept=4, quota=[], categories=[], totals=totals, student=report)
    text = format_summary(summary)
    assert "250 per kept sample" in text and "tied 5" in text and "135M" in text and "steps of 1/2" in text
    big = config(models={"student": {"enabled": True, "rollouts": 8, "model": "org/student-8b"}})
    assert student_report(big, totals)["notes"] == []  # type: ignore[index]
    assert student_report(config(models={"student": {"enabled": False}}), totals) is None


# --- serving: roles on servers of their own ---------------------------------------------------------------


def test_each_role_model_goes_to_its_own_endpoints_or_the_shared_ones() -> None:
    models = {
        "judge": {"enabled": False},
        "responder": {"model": "expert"},
        "student": {"enabled": True, "model": "small"},
    }
    workers = {"local": 0, "endpoints": ["http://shared:8000"], "model_endpoints": {"small": ["http://student:8000"]}}
    cfg = parse_config({"samples": 1, "compose": {"checkers": "code"}, "models": models, "workers": workers})
    assert model_routes(cfg, role_models(cfg)) == {
        "expert": ["http://shared:8000"],
        "default": ["http://shared:8000"],
        "small": ["http://student:8000"],
    }
    alone = parse_config(
        {"samples": 1, "compose": {"checkers": "code"}, "models": models, "workers": {**workers, "endpoints": []}}
    )
    with pytest.raises(ConfigError, match=r"no endpoint serves .*responder \(expert\)"):
        model_routes(alone, role_models(alone))


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        ({"local": 1, "model_endpoints": {"m": ["http://a:1"]}}, "either local workers or endpoints"),
        ({"local": 0, "model_endpoints": {"m": ["a:1"]}}, "must start with http"),
        ({"local": 0, "model_endpoints": {"m": []}}, "has no endpoints"),
    ],
)
def test_bad_model_endpoints_are_clear_errors(workers: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"samples": 1, "workers": workers})
