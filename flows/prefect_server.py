"""Prefect's temporary local API server, tied to this process so that a killed run does not leave it behind.

Without a configured server, the first Prefect client starts uvicorn as a plain subprocess and stops it only
from an atexit hook, so a SIGKILLed run leaves it running (and holding its port). Prefect looks that server up
as `SubprocessASGIServer._instances[None]` (its own test harness swaps in a server the same way); we register
a subclass there whose uvicorn is a tied child (`pipeline.llm.proc.spawn_tied`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import get_current_settings

from pipeline.llm.proc import spawn_tied


class TiedASGIServer(SubprocessASGIServer):
    """Prefect's temporary server, started as a child that is SIGKILLed when this process dies."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        # Same command and environment as prefect 3.8.8's SubprocessASGIServer._run_uvicorn_command.
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        args = [
            sys.executable, "-m", "uvicorn",
            "--app-dir", str(prefect.__module_path__.parent),
            "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--log-level", "error",
            "--lifespan", "on",
        ]  # fmt: skip
        # SIGKILL: it has no children to shut down, and SQLite survives a kill.
        return spawn_tied(args, death_signal=signal.SIGKILL, env=env)


def tie_prefect_temporary_server() -> None:
    """Register the tied server as the one Prefect starts for a one-off flow run. Nothing is started here, and
    a server already running or configured by PREFECT_API_URL is left alone."""
    current = SubprocessASGIServer._instances.get(None)
    if isinstance(current, TiedASGIServer) or (current is not None and current.running):
        return
    SubprocessASGIServer._instances.pop(None, None)
    TiedASGIServer()
