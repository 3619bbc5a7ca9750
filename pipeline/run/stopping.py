"""Stopping a run when asked: SIGINT (Ctrl-C) and SIGTERM (kill, a Prefect cancellation) end it at once.

Nothing needs to be unwound: finished batches are on disk (shards renamed into place, manifests written
last), a batch in flight is simply done again on resume, and the processes a run starts die with it (local
vLLM workers through their guard, Prefect's temporary server through its parent-death signal; see
pipeline/llm/proc.py). Waiting for in-flight requests or worker threads is what used to keep a stopped run alive
for minutes, so the handler exits the process directly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if sys.stderr.isatty():
        os.write(2, b"\x1b[?25h")  # a progress bar may have hidden the cursor
    os.write(2, f"\nstopped ({name}): requests in flight abandoned, finished batches kept; rerun to resume\n".encode())
    os._exit(128 + signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM stop the process with exit 128 + the signal number.

    Signal handlers belong to the main thread; elsewhere (a flow run in a worker thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
