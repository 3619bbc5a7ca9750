"""What each dimension's judge checks may do in a run (gate, reward-only, report-only), decided once at run start.

A route is fixed in the config (`models.judge.calibration.routes`, else `default_route`) or `auto`: decided
by the judge's precision on the gold file, scored when the run starts. The judge-injection probes
(`pipeline/verify/judge_injection.py`) are asked then too: a dimension whose judge gives false credit on more
than `max_false_credit` of them cannot gate, whatever its route. The calibration the run measures on
code checks as it goes is recorded and reported (`complexify stats`, the card, the run summary, with the
route those numbers suggest) but never changes the routes of the run that measures it: a route that moved
with the batches finished so far would make a batch's gate decisions depend on timing and on resume. Pin
the suggested routes in the config of the next run instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.construct.taxonomy import Taxonomy
from pipeline.models import JudgeProbe
from pipeline.run.config import CalibrationConfig, ConfigError, RunConfig
from pipeline.run.stages import Models
from pipeline.run.usage import Meter, metered_scorer, metering, stage
from pipeline.verify.judge_calibration import LabelledScore, Route, RoutingRule, judge_score, resolve_routes, summarize
from pipeline.verify.judge_gold import GoldExample, load_gold, score_gold
from pipeline.verify.judge_injection import injection_probes, score_probes


def routing_rule(cal: CalibrationConfig) -> RoutingRule:
    """The thresholds of `auto` routing from the config."""
    return RoutingRule(
        cal.min_samples, cal.min_precision, cal.min_reward_precision, cal.untrusted_route, cal.max_false_credit
    )


def check_calibration_config(cfg: RunConfig, taxonomy: Taxonomy) -> None:
    """Routes name known dimensions and the gold file is valid (preflight: before the run folder exists)."""
    cal = cfg.models.judge.calibration
    unknown = sorted(set(cal.routes) - set(taxonomy.dimensions))
    if unknown:
        raise ConfigError(
            f"models.judge.calibration.routes: unknown dimension {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(taxonomy.dimensions))}"
        )
    if cal.gold_file is not None:
        load_gold(cfg.resolve(cal.gold_file), taxonomy.dimensions)


def gold_scores(probes: Sequence[JudgeProbe]) -> list[LabelledScore]:
    """The pairs of the probes asked at run start: gold examples, and judge-injection probes kept apart."""
    return [
        LabelledScore(
            p.dimension,
            judge_score(p.logprob_yes, p.logprob_no),
            p.judged_yes,
            p.label,
            gold=p.source != "injection",
            injection=p.source == "injection",
        )
        for p in probes
    ]


def judge_routes(cfg: RunConfig, dimensions: Collection[str], gold: Sequence[JudgeProbe]) -> dict[str, Route]:
    """Every dimension's route for this run, from the config and the scored gold examples."""
    cal = cfg.models.judge.calibration
    return resolve_routes(dimensions, cal.routes, cal.default_route, summarize(gold_scores(gold)), routing_rule(cal))


def existing_run(root: Path, fingerprint: str) -> store.RunPaths | None:
    """The run at `root` with this fingerprint, or None before its coordinator created it."""
    try:
        return store.load_run(root, fingerprint)
    except store.RunNotFoundError:
        return None


def _ask_calibration(
    cfg: RunConfig, taxonomy: Taxonomy, scorer: Any, margin: float, log: Callable[[str], None]
) -> list[JudgeProbe]:
    """Score the gold file's examples and the judge-injection probes with the judge's scorer."""
    cal = cfg.models.judge.calibration
    examples: list[GoldExample] = []
    stored: list[JudgeProbe] = []
    if cal.gold_file is not None:
        examples = load_gold(cfg.resolve(cal.gold_file), taxonomy.dimensions)
        stored = score_gold(examples, scorer, margin=margin)
        log(f"judge gold file: {len(stored)} examples scored")
    allowed = set(cfg.compose.vocabularies) if cfg.compose.checkers != "code" else set()
    probes = injection_probes(taxonomy, examples, cal.injection_probes, lambda s: s.vocabulary in allowed)
    if probes:
        asked = score_probes(probes, scorer, margin=margin)
        stored = [*stored, *asked]
        log(f"judge-injection probes: {sum(p.judged_yes for p in asked)} of {len(asked)} answered YES")
    return stored


def with_judge_routes(
    cfg: RunConfig, taxonomy: Taxonomy, models: Models, log: Callable[[str], None], run: store.RunPaths | None = None
) -> Models:
    """`models` with the run's judge routes. The gold file and the judge-injection probes are scored once per run
    and stored in the run folder (`judge_gold.parquet`), so a resumed run and the run's runners route by the same
    numbers."""
    cal = cfg.models.judge.calibration
    gold: list[JudgeProbe] = []
    asks = cal.gold_file is not None or cal.injection_probes > 0
    if asks and models.judge is not None and cfg.models.judge.enabled:
        stored = store.read_judge_gold(run) if run is not None else None
        if stored is None:
            with metering(Meter()) as meter, stage("judge_calibration", "judge"):
                stored = _ask_calibration(cfg, taxonomy, metered_scorer(models.judge.scorer, cfg.models.judge.model),
                                          models.judge.margin, log)  # fmt: skip
            if run is not None:
                store.write_calibration_usage(run, meter.rows())  # before the gold file: see its docstring
                store.write_judge_gold(run, stored)
        gold = stored
    routes = judge_routes(cfg, taxonomy.dimensions, gold)
    if run is not None and cfg.models.judge.enabled:  # publish reads them: report-only checks leave the rewards
        store.write_judge_routes(run, dict(routes))
    not_gating = {d: r for d, r in routes.items() if r != "gate"}
    if not_gating and models.judge is not None:
        log("judge routes (not gating): " + ", ".join(f"{d}: {r}" for d, r in not_gating.items()))
    return replace(models, routes=routes)
