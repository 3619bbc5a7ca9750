"""Evaluation as a Prefect flow: a held-out suite (excluding the data run), answered by a model endpoint, reported.

Thin wiring around pipeline.bench. The `evaluate/nightly-eval` deployment in prefect.yaml runs it after the
nightly generation run; the report is published as Prefect artifacts (a Markdown report and a table).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from pipeline import store
from pipeline.bench.answer import AnswerSettings
from pipeline.bench.evaluate import make, run_suite
from pipeline.bench.report import pct, report_markdown
from pipeline.run.config import ROOT, load_config


def _slug(text: str) -> str:
    """Artifact keys and folder names: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


@task(cache_policy=NO_CACHE)
def make_suite(
    name: str,
    per_category: int,
    seed: int,
    out: Path,
    exclude_roots: list[Path],
    checkers: str,
    vocabularies: list[str] | None = None,
    categories: list[str] | None = None,
) -> str:
    """Write a held-out suite (of `vocabularies`' constraints, if given); returns its one-line description."""
    return make(
        name,
        per_category,
        seed,
        out,
        seeds_path=ROOT / "seeds" / "complexify-seeds.jsonl",
        exclude_roots=exclude_roots,
        checkers=checkers,
        vocabularies=vocabularies,
        categories=categories,
    ).describe()


@task(cache_policy=NO_CACHE)  # no retries: the engine retries each request (one retry policy)
def answer_and_score(
    suite: Path, out: Path, settings: AnswerSettings, endpoint: str | None, model: str | None, local: bool
) -> dict[str, Any]:
    """Answer the suite with the endpoint, verify, and write the report; returns report.json's content."""
    # the nightly run replaces its own folder's previous results
    return run_suite(
        suite, out, settings, endpoint=endpoint, model=model, local=local, log=get_run_logger().info, force=True
    ).report


@flow(name="evaluate", log_prints=True)
def evaluate(
    endpoint: str | None = None,
    model: str | None = None,
    local: bool = False,
    suite_path: str | None = None,
    config_path: str | None = "configs/default.yaml",
    suite_name: str = "nightly",
    per_category: int = 10,
    seed: int = 0,
    checkers: str = "code",
    output_dir: str = "out/bench",
    samples: int = 1,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    reasoning: bool = False,
    vocabularies: list[str] | None = None,
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate `endpoint` (or a local worker) on `suite_path`, or on a fresh suite held out from the data run of
    `config_path` (`vocabularies=["ifbench"]`: an IFBench-style suite of the held-out constraint types; `categories`:
    only those); returns the report and publishes it as artifacts."""
    log = get_run_logger()
    out_root = ROOT / output_dir
    if suite_path is None:
        vocab = f"-{'-'.join(vocabularies)}" if vocabularies else ""
        suite = out_root / f"suite-{_slug(suite_name + vocab)}-{seed}.jsonl"
        out_root.mkdir(parents=True, exist_ok=True)
        roots: list[Path] = []
        if config_path is not None:
            cfg = load_config(ROOT / config_path)
            data_root = cfg.resolve(cfg.output_dir)
            if store.list_runs(data_root):
                roots.append(data_root)
            else:
                log.warning("no data run under %s yet: the suite excludes nothing", data_root)
        described = make_suite(suite_name, per_category, seed, suite, roots, checkers, vocabularies, categories)
        log.info("suite %s: %s", suite, described)
    else:
        suite = ROOT / suite_path
    settings = AnswerSettings(max_tokens=max_tokens, temperature=temperature, samples=samples, reasoning=reasoning)
    folder = out_root / _slug(suite.stem) / _slug(model or ("local" if local else endpoint or "model"))
    report = answer_and_score(suite, folder, settings, endpoint, model, local)
    key = _slug(f"bench-{suite.stem}-{report['meta']['model']}")
    create_markdown_artifact(report_markdown(report), key=key, description=f"bench report, {folder}")
    rows = [
        {
            "category": r["name"],
            "items": r["items"],
            "all_pass_%": pct(r["all_pass"]["value"]),
            "all_pass_95ci": f"{pct(r['all_pass']['low'])}-{pct(r['all_pass']['high'])}",
            "drfr_%": pct(r["drfr"]["value"]),
            "drfr_95ci": f"{pct(r['drfr']['low'])}-{pct(r['drfr']['high'])}",
        }
        for r in [*report["categories"], report["overall"]]
    ]
    create_table_artifact(rows, key=f"{key}-table", description="per-category all-pass and DRFR with 95% intervals")
    log.info(
        "report in %s: overall all-pass %s%%, DRFR %s%%",
        folder,
        pct(report["overall"]["all_pass"]["value"]),
        pct(report["overall"]["drfr"]["value"]),
    )
    return report
