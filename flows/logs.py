"""What Prefect prints about a failure we raised on purpose: its one line, not a traceback.

Our own errors (`ComplexifyError`: bad input, an endpoint that failed after its retries) already say what went
wrong and how to fix it; the CLI ends with that line. Prefect logs every failed task and flow run with the
exception's traceback, which turned one clear error into a screenful. Unexpected exceptions keep theirs.
"""

from __future__ import annotations

import logging

from pipeline.errors import ComplexifyError

RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs", "prefect.flow_engine", "prefect.task_engine")


class OneLineForKnownErrors(logging.Filter):
    """Drop the traceback of a log record whose exception is one of ours; keep the record itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ComplexifyError):
            record.exc_info = None
            record.exc_text = None
        return True


def one_line_for_known_errors() -> None:
    """Install the filter on Prefect's run loggers (once; calling again changes nothing)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineForKnownErrors) for f in logger.filters):
            logger.addFilter(OneLineForKnownErrors())
