"""Grid quotas: cells over dimension x band x rendering, composing for a cell, capping kept samples to cells, and a
whole run on a scripted model with the real store (pure logic: no model server)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline import store
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.construct.tree import allocate
from pipeline.errors import CompositionError
from pipeline.models import Response, Seed
from pipeline.run.config import ConfigError, RoleConfig, RunConfig, parse_config
from pipeline.run.generate import RunContext, run_locally
from pipeline.run.grid import assign_cells, band_of, cell_quotas, grid_cells, options_for, taken_dimensions
from pipeline.run.identity import config_hash, role_models, template_hashes
from pipeline.run.ledger import RUN_INFO_KEY
from pipeline.run.planning import open_ledger, quota_plan
from pipeline.run.preflight import check_grid
from pipeline.run.report import RunSummary, format_summary, report_markdown
from pipeline.run.stages import BatchSpec, Models, Provenance
from tests.helpers.batches import compose_spec

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(7)]
ANSWER = "all lowercase words here"  # passes t:lower; fails t:upper, and t:words when it asks for many words


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy(FIXTURE, check_checkers=False)


def config(tmp: Path | None = None, **over: Any) -> RunConfig:
    data: dict[str, Any] = {
        "samples": 4, "mix": {"Single": 1},
        "compose": {"checkers": "code"},
        "models": {"responder": {"n": 2}, "rewriter": {"enabled": False}},
        "fidelity": {"enabled": False}, "repair_rounds": 0, "attempts_factor": 3, "batch_size": 2,
        "batches_in_flight": 1,
        "grid": {"dimensions": ["Language Style", "Length"], "renderings": ["prose", "numbered"]},
        "output_dir": str(tmp or "out"),
    }  # fmt: skip
    data.update(over)
    return parse_config(data)


def test_cells_split_each_category_quota_evenly_and_keep_the_category_totals() -> None:
    cfg = config(samples=13, mix={"Single": 2, "And_1": 1})
    quotas = cell_quotas(cfg)
    assert len(quotas) == 8 and all(q >= 1 for q in quotas.values())
    per_cat = Counter[str]()
    for key, q in quotas.items():
        per_cat[key.split("/")[0]] += q
    assert dict(per_cat) == {c: k for c, k in allocate(13, cfg.mix).items() if k}
    assert max(quotas.values()) - min(q for k, q in quotas.items() if k.startswith("Single")) <= 1
    assert "Single/Language Style/prose" in quotas and grid_cells(cfg)["And_1/Length/numbered"].rendering == "numbered"


def test_a_grid_off_config_has_the_categories_as_cells() -> None:
    plain = parse_config({"samples": 4, "mix": {"Single": 1}})
    assert not plain.grid.enabled() and list(grid_cells(plain)) == ["Single"]


def test_too_few_samples_for_the_cells_is_a_config_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"split into 4 cells.*And_1.*at least 14"):
        config(samples=8, mix={"Single": 3, "And_1": 1})
    with pytest.raises(ConfigError, match="unknown rendering 'fancy'"):
        config(grid={"renderings": ["fancy"]})
    with pytest.raises(ConfigError, match="0 <= low <= high <= 1"):
        config(grid={"bands": {"hard": [0.6, 0.2]}})


def test_very_uneven_weights_are_checked_in_closed_form() -> None:
    import time

    grid = {"dimensions": ["Length", "Keywords"]}
    t0 = time.monotonic()
    # Single gets 1 sample of 900 million, And_1 the rest: the cells are filled from 2,000,000,002 samples on
    with pytest.raises(
        ConfigError, match=r"no samples count up to 1000000000 fills every cell \(it would take 2000000002\)"
    ):
        parse_config(
            {"samples": 900_000_000, "mix": {"Single": 1, "And_1": 1e9}, "compose": {"checkers": "code"}, "grid": grid}
        )
    with pytest.raises(ConfigError, match="set samples to at least 200000002, or drop axis values"):
        parse_config(
            {"samples": 100_000_000, "mix": {"Single": 1, "And_1": 1e8}, "compose": {"checkers": "code"}, "grid": grid}
        )
    assert time.monotonic() - t0 < 1


def test_preflight_names_unknown_and_judge_only_dimensions(tax: Taxonomy) -> None:
    with pytest.raises(ConfigError, match="unknown 'Lenght'"):
        check_grid(config(grid={"dimensions": ["Lenght"]}), tax)
    with pytest.raises(ConfigError, match="'Sentiment' only has judge-checked constraints"):
        check_grid(config(grid={"dimensions": ["Sentiment"]}), tax)
    check_grid(config(), tax)


def test_band_of_takes_the_first_band_holding_the_rate() -> None:
    bands = {"hard": (0.0, 0.5), "easy": (0.5, 1.0)}
    assert [band_of(r, bands) for r in (0.0, 0.5, 0.75, None)] == ["hard", "hard", "easy", None]
    assert band_of(0.9, {"hard": (0.0, 0.5)}) is None


def test_composing_for_a_cell_fixes_rendering_and_puts_its_dimension_on_the_taken_path(tax: Taxonomy) -> None:

    cfg = config(mix={"Single": 1, "Selection_1": 1}, samples=8)
    keys = list(cell_quotas(cfg))
    spec = BatchSpec(index=0, items=tuple((i, k) for i, k in enumerate(keys * 5)))
    for (_, key), ins in zip(spec.items, compose_spec(spec, SEEDS, tax, cfg), strict=True):
        cell = grid_cells(cfg)[key]
        assert ins.category == cell.category and ins.rendering == cell.rendering
        assert cell.dimension in taken_dimensions(ins, tax)
    base = cfg.compose
    assert options_for("Single", parse_config({"samples": 1, "mix": {"Single": 1}}), base) is base


def scripted_chat(text: str):  # type: ignore[no-untyped-def]
    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        return [
            [Response(text=text, candidate=k, model="scripted", completion_tokens=5) for k in range(n)]
            for _ in conversations
        ]

    return chat


def open_context(cfg: RunConfig, tax: Taxonomy, logs: list[str]) -> RunContext:
    root = cfg.resolve(cfg.output_dir)
    run = store.open_run(root, config_hash(cfg), {"name": cfg.name, RUN_INFO_KEY: quota_plan(cfg).to_json()})
    provenance = Provenance(run.run_id, run.fingerprint, role_models(cfg), template_hashes())
    models = Models(chat=scripted_chat(ANSWER), judge=None)
    return RunContext(
        cfg, SEEDS, tax, models, run, provenance, open_ledger(cfg, run), store.done_batches(run), logs.append
    )


BANDS = {"easy": [0.5, 1.0], "hard": [0.0, 0.49]}


def grid_run(tmp: Path, tax: Taxonomy, bands: dict[str, list[float]]) -> tuple[RunContext, RunSummary, list[str]]:
    grid = {"dimensions": ["Language Style", "Length"], "renderings": ["prose", "numbered"], "bands": bands}
    cfg = config(tmp / "out", grid=grid, samples=4 * len(bands))
    logs: list[str] = []
    ctx = open_context(cfg, tax, logs)
    return ctx, run_locally(ctx), logs


def test_a_grid_run_fills_cells_it_can_spends_the_budget_of_the_others_and_reports_the_cost(
    tmp_path: Path, tax: Taxonomy
) -> None:
    ctx, summary, logs = grid_run(tmp_path, tax, BANDS)
    rows = {r.cell: r for r in summary.grid}
    assert len(rows) == 8 and all(r.quota == 1 for r in rows.values())
    # A constant answer and no repair: a kept answer's instruction passed every first answer, so it is easy.
    # Every easy cell fills; no hard cell can, and the planner gives each of them its whole budget, then stops.
    for key, r in rows.items():
        if "/easy/" in key:
            assert r.met and r.kept == 1 and 1 <= r.attempts <= r.budget
        else:
            assert not r.met and r.kept == 0 and r.attempts == r.budget == 3
            assert r.candidates == 2 * 3 and r.completion_tokens == 5 * 2 * 3 and r.tokens_per_kept is None
    kept_cells = Counter[str]()
    for m in store.manifests(ctx.run):  # every slot: the cell it was planned for, where it kept its sample, its cost
        assert m.slots is not None and len(m.slots) == m.files["instructions"].rows
        for slot in m.slots:
            kept_cells.update([slot.kept_in] if slot.kept_in else [])
            assert slot.cell in rows and slot.candidates == 2 and slot.completion_tokens == 5 * 2  # n=2, no repair
    samples = store.load_samples(ctx.run)
    assert sum(kept_cells.values()) == len(samples) == summary.kept == 4
    assert all(kept_cells[k] == 1 for k in rows if "/easy/" in k)
    for s in samples:  # each kept sample has a constraint of a grid dimension on its path and a grid rendering
        assert taken_dimensions(s.instruction, tax) & {"Language Style", "Length"}
        assert s.instruction.rendering in {"prose", "numbered"}
    # a resumed run rebuilds the same quota state from the run record and the manifests alone
    again = open_ledger(ctx.cfg, ctx.run)
    assert (
        again.kept == ctx.ledger.kept and again.attempts == ctx.ledger.attempts and again.costs() == ctx.ledger.costs()
    )
    text = format_summary(summary)
    assert "grid cell" in text and "Single/Length/hard/numbered" in text
    assert "| Single/Length/hard/numbered | 1 | 0 | no | 3 (3) |" in report_markdown(summary)
    assert any("grid cells met 4/8" in line for line in logs)


def test_kept_samples_no_cell_takes_are_turned_away_with_the_reason(tmp_path: Path, tax: Taxonomy) -> None:
    ctx, summary, _ = grid_run(tmp_path, tax, {"hard": [0.0, 0.49]})
    assert summary.kept == 0 and all(r.attempts == r.budget for r in summary.grid)
    away = [r for r in store.load_samples(ctx.run, kept=False) if r.reject_reasons == ["outside_grid"]]
    assert away and all(r.verdict.all_pass for r in away)  # they passed every check, but are easy
    # the same sample, twice, for a cell with room for one: the second is quota_full
    s = away[0]
    twin = s.model_copy(update={"id": s.id + "-twin"})
    cfg = config(
        tmp_path / "x",
        grid={"dimensions": sorted(taken_dimensions(s.instruction, tax))[:1], "renderings": [s.instruction.rendering]},
    )
    quotas = cell_quotas(cfg)
    key = next(k for k in quotas if k.startswith("Single/"))
    got = assign_cells([s, twin], [s, twin], {}, {key: 1}, Counter(), cfg, tax)
    assert got.cells == {s.id: key} and got.turned_away == {twin.id: "quota_full"}


def test_stats_shows_a_grid_runs_cells_from_its_manifests(tmp_path: Path, tax: Taxonomy) -> None:
    from rich.console import Console

    from pipeline.cli.store import grid_tables

    ctx, summary, _ = grid_run(tmp_path, tax, BANDS)
    [table] = grid_tables(ctx.cfg.resolve(ctx.cfg.output_dir), None)
    assert table.row_count == len(summary.grid) == 8
    console = Console(record=True, width=160)
    console.print(table)
    text = console.export_text()
    assert "Single/Length/hard/numbered" in text and "3 / 3" in text


def test_a_band_no_measured_pass_rate_can_fall_in_is_a_config_error() -> None:
    # n=2 first answers measure 0, 0.5 or 1: a band strictly between them could never be filled
    with pytest.raises(
        ConfigError,
        match=r"grid.bands.middle: \[0.6, 0.9\] holds no pass rate measured over 2 answers.*models.responder.n",
    ):
        config(grid={"bands": {"middle": [0.6, 0.9]}})
    config(
        grid={"bands": {"middle": [0.6, 0.9]}}, models={"responder": {"n": 4}, "rewriter": {"enabled": False}}
    )  # 0.75


def test_a_seed_that_cannot_take_the_cells_dimension_gives_way_to_the_next_seed() -> None:
    from pipeline.run.stages import compose_stage
    from pipeline.seeding.load import load_seed_file

    real = load_taxonomy()
    bundled = load_seed_file(Path(__file__).resolve().parents[2] / "seeds" / "complexify-seeds.jsonl")
    poem = next(s for s in bundled if s.tags is not None and s.tags.form == "poem")
    essay = next(s for s in bundled if s.tags is not None and s.tags.form == "essay")
    cfg = parse_config({"samples": 1, "mix": {"Selection_1": 1}, "compose": {"checkers": "code"},
                        "grid": {"dimensions": ["JSON Format"]}})  # fmt: skip
    [key] = grid_cells(cfg)
    # the slot's planned seed is the poem, which no JSON constraint fits (structure_in_verse): the essay stands in
    batch = compose_stage(BatchSpec(0, ((0, key),)), [poem, essay], [0, 1], real, cfg, set())
    [ins] = batch.instructions
    assert ins.seed_id == essay.id and "JSON Format" in taken_dimensions(ins, real)
    with pytest.raises(CompositionError, match="structure_in_verse"):  # with nothing to stand in, the reason is named
        compose_stage(BatchSpec(0, ((0, key),)), [poem], [0], real, cfg, set())


def test_the_dataset_card_of_a_grid_run_shows_its_cells(tmp_path: Path, tax: Taxonomy) -> None:
    from pipeline.publish.dataset import publish_run

    ctx, summary, _ = grid_run(tmp_path, tax, BANDS)
    root = ctx.cfg.resolve(ctx.cfg.output_dir)
    result = publish_run(root, ctx.run.fingerprint, "org/grid", out=tmp_path / "hub", dry_run=True)
    card = (result.built.folder / "README.md").read_text(encoding="utf-8")
    assert "## Grid cells" in card
    for row in summary.grid:  # one table row per cell, with what it kept and cost
        assert f"| {row.cell} | {row.quota} | {row.kept} | {'yes' if row.met else 'no'} |" in card
