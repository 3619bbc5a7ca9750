"""Run `complexify` in-process, as a user runs it (exit code, stdout, stderr), for the bench tests."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def complexify(*args: str) -> Result:
    """`complexify ARGS...` through its entry point: library errors become exit codes exactly as for a user."""
    from pipeline.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["complexify", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    return Result(code, out.getvalue(), err.getvalue())
