"""`complexify` as a process that kills itself with SIGKILL right after it saved a given batch: a crash at an exact
batch boundary, for resume tests.

    python -m tests.helpers.kill_after_batch INDEX run --config FILE ...

Nothing of the run is changed: the store's `write_batch` is wrapped, and once batch INDEX's manifest is written
(the batch is done) the process ends as `kill -9` ends it, with batches after it in flight and nothing flushed.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from pipeline import store
from pipeline.cli import main


def _dying_after(index: int) -> Any:
    write = store.write_batch

    def write_batch(run: store.RunPaths, batch: int, *args: Any, **kwargs: Any) -> Any:
        manifest = write(run, batch, *args, **kwargs)
        if batch == index:
            os.kill(os.getpid(), signal.SIGKILL)
        return manifest

    return write_batch


if __name__ == "__main__":
    store.write_batch = _dying_after(int(sys.argv[1]))  # type: ignore[assignment]
    del sys.argv[1]
    main()
