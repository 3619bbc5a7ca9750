"""Publishing as a Prefect flow: build the Hub dataset folder from a stored run and push it."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from pipeline.publish.dataset import publish_run
from pipeline.run.config import load_config
from pipeline.run.identity import run_fingerprint


@flow(name="publish", log_prints=True)
def publish(
    config_path: str, repo_id: str, out: str | None = None, dry_run: bool = False, private: bool = False
) -> dict[str, Any]:
    """Publish the run that `config_path` produces (same fingerprint) to `repo_id`."""
    cfg = load_config(config_path)
    result = publish_run(
        cfg.resolve(cfg.output_dir), run_fingerprint(cfg), repo_id, out=out, dry_run=dry_run, private=private
    )
    get_run_logger().info(
        "built %s (%s); pushed: %s", result.built.folder, result.built.counts, result.pushed or "dry run"
    )
    return {"folder": str(result.built.folder), "counts": result.built.counts, "pushed": result.pushed}
