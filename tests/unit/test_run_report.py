"""The end-of-run report per category, read from the catalog (also the Prefect artifacts' content)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline import store
from pipeline.run.ledger import CategoryRow
from pipeline.run.report import RunSummary, category_report, format_summary, report_markdown
from tests.helpers.stored_run import write_stored_run


def test_category_report_counts_instructions_yield_tokens_and_reject_reasons(tmp_path: Path) -> None:
    run = write_stored_run(tmp_path, batches=2, per_batch=3)
    instructions = store.load_instructions(run)
    per_cat = Counter(i.category for i in instructions)
    quota = [CategoryRow(c, n, n, n, True) for c, n in sorted(per_cat.items())]
    quota.append(CategoryRow("Chain_2", 1, 0, 0, False))
    con = store.open_catalog(tmp_path)
    try:
        rows = {r.category: r for r in category_report(con, run.fingerprint, quota)}
        assert category_report(con, "another-run", quota)[0].instructions == 0
    finally:
        con.close()
    for cat, n in per_cat.items():
        assert rows[cat].instructions == n and rows[cat].candidates == 2 * n
        assert rows[cat].yield_rate == 1.0 and rows[cat].as_dict()["yield"] == 1.0
        assert rows[cat].reject_reasons == {"check_failed:c1": n}
    assert rows["Chain_2"].instructions == 0 and rows["Chain_2"].tokens_per_kept is None

    summary = RunSummary("run-test", "cfg", run.fingerprint, str(tmp_path), target=7, kept=6, quota=quota,
                         categories=list(rows.values()), totals={"kept": 6})  # fmt: skip
    text = format_summary(summary)
    assert "check_failed:c1" in text and "Chain_2" in text and "NO" in text
    md = report_markdown(summary)
    assert "| Chain_2 | 1 | 0 | no | 0 |" in md and f"runs/{run.fingerprint}" in md
