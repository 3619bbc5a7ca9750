"""One statistics definition: `complexify stats`, the dataset card and the run summary agree on a stored run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipeline import store
from pipeline.cli.store import stats_for
from pipeline.publish import dataset as publish
from pipeline.run.ledger import CategoryRow
from pipeline.run.report import category_report
from tests.helpers.stored_run import answered, fixture_instructions, write_stored_run

FP = "fp-test"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stored run of three batches; in the last, rejects carry two reasons of one kind (one candidate each)."""
    out = tmp_path_factory.mktemp("out")
    run = write_stored_run(out, FP, batches=2, per_batch=3)
    extra = fixture_instructions(9, random_seed=11)[6:]
    kept, rejects = answered(extra, FP, 2)
    twice = ["check_failed:c1", "check_failed:c2"]
    store.write_batch(run, 2, extra, kept, [r.model_copy(update={"reject_reasons": twice}) for r in rejects])
    store.refresh_catalog(out)
    return out


def markdown_table(text: str, heading: str) -> dict[str, list[str]]:
    """The rows of the first table after `heading`: first cell -> the other cells."""
    lines = text.split(heading, 1)[1].splitlines()
    table_end = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    rows = [line for line in lines[:table_end] if line.startswith("|")][2:]  # after the header and the rule
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}


def cli_category_rows(root: Path) -> dict[str, list[str]]:
    """The category table `complexify stats` prints: category -> instructions, candidates, kept, yield."""
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "stats", "--root", str(root), "--run", FP],
        capture_output=True, text=True, env=env, timeout=180, check=True,
    ).stdout  # fmt: skip
    section = out.split("yield per category", 1)[1].split("yield per constraint dimension", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 5 and cells[1].isdigit():
            rows[cells[0]] = cells[1:]
    return rows


def test_stats_card_and_run_summary_show_the_same_numbers(root: Path, tmp_path: Path) -> None:
    shown = {r.key: r for r in stats_for(root, FP).level("category").values()}
    printed = cli_category_rows(root)
    built = publish.publish_run(root, FP, "org/cx", out=tmp_path / "hub", dry_run=True).built
    card_text = (built.folder / "README.md").read_text(encoding="utf-8")
    quota = [CategoryRow(c, 9, r.kept, r.instructions, False) for c, r in shown.items()]
    with store.open_catalog(root) as con:
        summary = {r.category: r.as_dict() for r in category_report(con, FP, quota)}

    cards = markdown_table(card_text, "## Yield per category")
    assert set(shown) | {"total"} == set(printed) and set(shown) == set(cards) == set(summary)
    for cat, r in shown.items():
        assert printed[cat] == [
            str(r.instructions),
            str(r.candidates),
            str(r.kept),
            f"{100 * r.yield_rate:5.1f}%".strip(),
        ]
        assert cards[cat] == [str(r.instructions), str(r.kept), f"{r.yield_rate:.1%}"]
        assert (summary[cat]["instructions"], summary[cat]["candidates"]) == (r.instructions, r.candidates)
        assert summary[cat]["yield"] == round(r.yield_rate, 4)
    total = store.RunStats(tuple(shown.values())).total()
    assert (
        f"- {total.instructions} instructions, {total.candidates} candidate answers, {total.kept} kept." in card_text
    )
    assert printed["total"] == [str(total.instructions), str(total.candidates), str(total.kept), "100.0%"]

    card_checks = markdown_table(card_text, "## Verifier pass rates")
    scored = {
        f"`{r.key}`": [str(r.checks), f"{r.pass_rate:.1%}"]
        for r in stats_for(root, FP).level("checker").values()
        if r.checks
    }
    assert card_checks == scored


def test_the_query_counts_what_the_records_hold(root: Path) -> None:
    run = store.find_run(root, FP)
    kept, rejects = store.load_samples(run), store.load_samples(run, kept=False)
    with store.open_catalog(root) as con:
        stats = store.run_stats(con, FP)
    per_category = stats.level("category")
    instructions = Counter(i.category for i in store.load_instructions(run))
    assert {c: r.instructions for c, r in per_category.items()} == dict(instructions)
    assert {c: r.kept for c, r in per_category.items()} == dict(Counter(s.instruction.category for s in kept))
    assert stats.total().candidates == len(kept) + len(rejects)
    assert stats.total().completion_tokens == sum(s.response.completion_tokens for s in [*kept, *rejects])
    # a reject with two failed checks is one rejected candidate of that kind, and one per full reason
    assert stats.level("reject_kind")["check_failed"].candidates == len(rejects)
    assert stats.level("reject_reason")["check_failed:c2"].candidates == 3
    dims: Counter[str] = Counter()
    for s in kept:
        plan = {c.constraint_path: c for c in s.instruction.plan.checks if c.constraint_path}
        dims.update(plan[p].dimension or "(none)" for p in plan)
    assert {k: r.kept_constraints for k, r in stats.level("dimension").items() if r.kept_constraints} == dict(dims)


def test_records_in_memory_give_the_stored_runs_statistics(root: Path) -> None:
    run = store.find_run(root, FP)
    with store.open_catalog(root) as con:
        stored = store.run_stats(con, FP)
    in_memory = publish.dataset_stats(store.load_samples(run), store.load_samples(run, kept=False))
    assert in_memory == stored


def test_the_catalogs_stats_table_is_the_query_for_every_run(root: Path) -> None:
    with store.open_catalog(root) as con:
        table = con.execute("SELECT * EXCLUDE (run_fingerprint) FROM stats ORDER BY level, category, key").fetchall()
        assert [store.StatsRow(*r) for r in table] == list(store.run_stats(con, FP).rows)


def stats_cli(root: Path, *extra: str, wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pipeline.cli", "stats", "--root", str(root), *extra]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*(wrap or []), *command], capture_output=True, text=True, env=env, timeout=180)


def test_stats_warns_about_a_run_folder_without_run_json(tmp_path: Path) -> None:
    write_stored_run(tmp_path, "fp-kept", batches=1, per_batch=2)
    write_stored_run(tmp_path, "fp-lost", batches=2, per_batch=2)
    (tmp_path / "runs" / "fp-lost" / "run.json").unlink()
    out = stats_cli(tmp_path)
    assert out.returncode == 0, out.stderr
    warning = (
        f"warning: run folder {tmp_path / 'runs' / 'fp-lost'} has no run.json, "
        "so its 2 finished batch(es) are left out"
    )
    assert warning in out.stderr and "rerun the config that made it" in out.stderr
    assert "yield per category" in out.stdout
    lost = stats_cli(tmp_path, "--run", "fp-lost")  # the run asked for cannot be read
    assert lost.returncode == 1 and lost.stderr.startswith("error: run folder") and "Traceback" not in lost.stderr
    (tmp_path / "runs" / "fp-kept" / "run.json").unlink()
    nothing = stats_cli(tmp_path)  # nothing readable is left
    assert nothing.returncode == 1, nothing.stderr
    assert (
        nothing.stderr.startswith(f"error: no readable run under {tmp_path}")
        and "1 more run folder(s)" in nothing.stderr
    )


def test_stats_of_a_folder_this_user_cannot_write_builds_the_catalog_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.store.catalog as catalog

    write_stored_run(tmp_path, FP, batches=1, per_batch=2)
    (tmp_path / "catalog.duckdb").unlink()  # stale or missing: it would have to be rebuilt
    expected = {r.key: r.kept for r in stats_for(tmp_path, FP).level("category").values()}
    (tmp_path / "catalog.duckdb").unlink()
    monkeypatch.setattr(catalog, "catalog_writable", lambda root: False)
    monkeypatch.setattr(catalog, "refresh_catalog", lambda *a, **k: pytest.fail("wrote to a read-only root"))
    assert {r.key: r.kept for r in stats_for(tmp_path, FP).level("category").values()} == expected
    assert not (tmp_path / "catalog.duckdb").exists()


def test_stats_cli_on_a_read_only_mount(tmp_path: Path) -> None:
    write_stored_run(tmp_path, FP, batches=1, per_batch=2)
    (tmp_path / "catalog.duckdb").unlink()
    mount = f'mount --bind {tmp_path} {tmp_path} && mount -o remount,bind,ro {tmp_path} && exec "$@"'
    wrap = ["unshare", "-m", "sh", "-c", mount, "sh"]
    probe = subprocess.run([*wrap, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.strip()[:200]}")
    out = stats_cli(tmp_path, wrap=wrap)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "yield per category" in out.stdout and "built in memory" in out.stderr
    assert not (tmp_path / "catalog.duckdb").exists()
