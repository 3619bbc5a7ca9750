"""`complexify` as a separate process, as a user runs it: for tests whose claim is a process's behaviour
(exit code, the one error line, what it leaves behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Offline, no telemetry, and a wide terminal so tables and error lines are not wrapped.
_BASE_ENV = {"HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}


def run_cli(
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    without_prefect_api: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline.cli ARGS` in `cwd`; `env` adds to this process's environment (and the offline
    settings); `without_prefect_api` leaves every PREFECT_* setting of this process out."""
    base = {k: v for k, v in os.environ.items() if not (without_prefect_api and k.startswith("PREFECT_"))}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=cwd, env={**base, **_BASE_ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
