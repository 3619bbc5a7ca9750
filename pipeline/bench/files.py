"""The files bench reads and writes: JSON that fails with a one-line error naming the file, and results that are
written whole (`pipeline.store.files.write_files_atomic`) and never over results an earlier command left there.

Every result file of a command is written to a temporary name beside it and renamed in only once all of them
are complete, so a full disk leaves the folder as it was (and no temporary file; one a killed command left is
removed by the next write there). A folder that already holds
one of the files a command writes is refused unless `--force` asks to replace them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import ComplexifyError, UserInputError
from pipeline.store.files import clean_temp_files, write_files_atomic

RESPONSES = "responses.jsonl"
VERDICTS = "verdicts.parquet"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
RUN_FILES = (RESPONSES, VERDICTS, REPORT_JSON, REPORT_MD)  # what `bench run` writes
SCORE_FILES = (VERDICTS, REPORT_JSON, REPORT_MD)  # what `bench score` writes
COMPARE_FILES = ("compare.md", "compare.json", "compare.png")  # what `bench compare --out` writes


def parse_json(text: str, where: str, fix: str) -> Any:
    """`text` as JSON; invalid or too deeply nested JSON is a UserInputError naming `where` and the `fix`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); {fix}") from None
    except RecursionError:
        raise UserInputError(f"{where}: JSON nested too deeply to read; {fix}") from None


def first_error(exc: ValidationError) -> str:
    """'field.path: message' of a validation error's first problem, the path cut to its last 80 characters."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the value"
    return f"{where if len(where) <= 80 else '...' + where[-77:]}: {first['msg']}"


def check_no_results(folder: Path, names: Sequence[str], *, force: bool, option: str = "--out") -> None:
    """Refuse `folder` if it holds any of `names` (an earlier command's results), unless `force`."""
    found = [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    if found and not force:
        raise UserInputError(
            f"{option} {folder} already holds {', '.join(found)} (results of an earlier bench command); "
            f"pass --force to replace them, or choose a new {option} folder"
        )


def write_whole(files: Mapping[Path, bytes], option: str = "--out") -> None:
    """Write `files` so that each is its old self or whole new (see the module docstring); a failure is one line."""
    try:
        for folder in {p.parent for p in files}:
            folder.mkdir(parents=True, exist_ok=True)
            clean_temp_files(folder)  # what a killed writer left (ours by name, its process gone)
        write_files_atomic(files)
    except OSError as exc:
        names = ", ".join(sorted(p.name for p in files))
        folder = next(iter(files)).parent
        raise ComplexifyError(
            f"cannot write {names} into {folder} ({exc.strerror or exc}); no file there is half-written; "
            f"free some space or choose another {option}"
        ) from None


def write_results(folder: Path, files: Mapping[str, bytes], option: str = "--out") -> None:
    """Write the named result files into `folder` whole (see `write_whole`)."""
    write_whole({folder / name: blob for name, blob in files.items()}, option)
