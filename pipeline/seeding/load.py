"""Seed tasks read from where they are: local JSONL / CSV / Parquet files (one function decides which files of
a folder are seed files) and Hugging Face datasets, with normalised text and mapped columns.

Loaders return `Seed` records and raise `UserInputError` for structural problems (missing file, malformed line,
missing text column). `SeedDrop` and its reasons are what every later step records for a seed it removes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.construct.seed_tags import parse_tags
from pipeline.errors import UserInputError
from pipeline.models import Seed

if TYPE_CHECKING:
    import numpy as np

# Drop reasons (snake_case constants, as the stages count them).
EMPTY_TEXT = "empty_text"
DUPLICATE_ID = "duplicate_id"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
BENCHMARK_OVERLAP = "benchmark_overlap"
NOT_SELECTED = "not_selected"
OVER_MAX_SEEDS = "over_max_seeds"
PROMPT_TOO_LONG = "prompt_too_long"  # same name as the engine's reason for a prompt the server refused

SEED_FIELDS = ("id", "text", "task_type", "language", "source", "meta", "answer", "tags")
SEED_SUFFIXES = (".jsonl", ".csv", ".parquet")
# Fields that hold the prompt text in the common benchmark files (IFEval, ComplexBench, InfoBench, ...).
PROMPT_FIELDS = ("prompt", "instruction", "instruction_en", "question", "input", "text")

Embedder = Callable[[Sequence[str]], "np.ndarray"]


@dataclass(frozen=True, slots=True)
class SeedDrop:
    """Why one seed was removed: `reason` is one of the constants above, `detail` says more."""

    seed_id: str
    reason: str
    detail: str = ""


# --- normalisation -----------------------------------------------------------------------------

_HSPACE = re.compile(r"[^\S\n]+")  # whitespace other than newlines (includes NBSP and tabs)
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Unicode NFC, one space for any run of horizontal whitespace, at most one blank line, stripped."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text_key(text: str) -> str:
    """Hash that equal texts share after normalisation and case folding (the exact-duplicate key)."""
    return hashlib.sha256(normalize_text(text).casefold().encode("utf-8")).hexdigest()


# --- column mapping ------------------------------------------------------------------------------


def column_map(columns: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our field -> source column, defaulting every field to its own name; rejects unknown fields."""
    columns = dict(columns or {})
    unknown = set(columns) - set(SEED_FIELDS)
    if unknown:
        raise UserInputError(
            f"unknown seed field(s) {sorted(unknown)} in the column mapping; map only {list(SEED_FIELDS)}"
        )
    return {f: columns.get(f, f) for f in SEED_FIELDS}


def _meta(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in value.items()
        if v is not None
    }


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def row_to_seed(row: Mapping[str, Any], cols: dict[str, str], *, where: str, default_id: str, source: str) -> Seed:
    """One mapped row -> Seed; `where` names the row in errors (file and line, or dataset and index)."""
    if cols["text"] not in row:
        raise UserInputError(
            f"{where}: no column {cols['text']!r} for the seed text (columns: {sorted(row)}); "
            f"map the right one, e.g. columns={{'text': '<field>'}}"
        )
    text = row[cols["text"]]
    if text is not None and not isinstance(text, str):
        raise UserInputError(f"{where}: the seed text ({cols['text']!r}) must be a string, got {type(text).__name__}")
    return Seed(
        id=_optional_str(row.get(cols["id"])) or default_id,
        text=normalize_text(text or ""),
        task_type=_optional_str(row.get(cols["task_type"])),
        language=(_optional_str(row.get(cols["language"])) or "en").lower(),
        source=_optional_str(row.get(cols["source"])) or source,
        meta=_meta(row.get(cols["meta"])),
        answer=_optional_str(row.get(cols["answer"])),  # a JSON number (42) reads as its text
        tags=parse_tags(row.get(cols["tags"]), where),
    )


# --- local files ---------------------------------------------------------------------------------


def _require_file(path: Path) -> None:
    if not path.exists():
        raise UserInputError(
            f"seed file {path} does not exist; pass an existing .jsonl, .csv or .parquet file (or a folder of them)"
        )


def seed_files(folder: Path) -> list[Path]:
    """The seed files of a folder, sorted by name: its regular files named *.jsonl, *.csv or *.parquet.

    Hidden files (editor swap, backup and lock files such as `.x.jsonl.swp` or `.#x.jsonl`) and every other
    file are not seeds. The loader reads exactly these files and the run identity hashes exactly these.
    """
    return sorted(
        p for p in folder.iterdir() if p.suffix in SEED_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def too_deep(where: str) -> UserInputError:
    """The error for JSON nested deeper than Python can parse (a RecursionError)."""
    return UserInputError(f"{where}: nested too deeply to read; a seed record needs only a few levels")


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(
                    f"{path}: line {lineno}: not valid JSON ({exc.msg}); write one JSON object per line"
                ) from exc
            except RecursionError:
                raise too_deep(f"{path}: line {lineno}") from None
            if not isinstance(obj, dict):
                raise UserInputError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def _iter_csv(path: Path, text_column: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if text_column not in header:
            raise UserInputError(
                f"{path}: no column {text_column!r} for the seed text (columns: {header}); "
                f"map the right one, e.g. columns={{'text': '<column>'}}"
            )
        for row in reader:
            yield reader.line_num, row


def _iter_parquet(path: Path, text_column: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file; all mean the same to the user
        raise UserInputError(f"{path}: cannot read as Parquet ({exc})") from exc
    if text_column not in table.column_names:
        raise UserInputError(
            f"{path}: no column {text_column!r} for the seed text (columns: {table.column_names}); "
            f"map the right one, e.g. columns={{'text': '<column>'}}"
        )
    yield from enumerate(table.to_pylist(), 1)


def load_seed_file(
    path: str | Path, columns: Mapping[str, str] | None = None, *, source: str | None = None, limit: int | None = None
) -> list[Seed]:
    """Load seeds from a .jsonl, .csv or .parquet file, or from every such file in a folder (sorted)."""
    path = Path(path)
    _require_file(path)
    if path.is_dir():
        files = seed_files(path)
        if not files:
            raise UserInputError(f"{path}: folder holds no seed files ({', '.join(SEED_SUFFIXES)})")
        loaded = [s for f in files for s in load_seed_file(f, columns, source=source)]
        return loaded[:limit] if limit else loaded
    cols = column_map(columns)
    if path.suffix == ".jsonl":
        rows = _iter_jsonl(path)
        unit = "line"
    elif path.suffix == ".csv":
        rows = _iter_csv(path, cols["text"])
        unit = "line"
    elif path.suffix == ".parquet":
        rows = _iter_parquet(path, cols["text"])
        unit = "row"
    else:
        raise UserInputError(
            f"{path}: unsupported seed file type {path.suffix!r}; use one of {', '.join(SEED_SUFFIXES)}"
        )
    src = source or path.stem
    seeds: list[Seed] = []
    try:
        for k, (n, row) in enumerate(rows):
            if limit and k >= limit:
                break
            where = f"{path}: {unit} {n}"
            try:
                seeds.append(row_to_seed(row, cols, where=where, default_id=f"{src}-{k + 1:05d}", source=src))
            except RecursionError:  # a `meta` or `tags` value nested too deeply to serialise
                raise too_deep(where) from None
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{path}: not UTF-8 text ({exc.reason}); is it a binary file? save seed files as UTF-8"
        ) from None
    except csv.Error as exc:  # a field over the csv module's limit (128 KiB), a stray quote at the end, ...
        raise UserInputError(
            f"{path}: not readable as CSV after {len(seeds)} seed(s) ({exc}); fix the file or use JSONL"
        ) from None
    return seeds


# --- Hugging Face datasets ------------------------------------------------------------------------


def load_hf_seeds(
    name: str,
    *,
    split: str = "train",
    config: str | None = None,
    columns: Mapping[str, str] | None = None,
    limit: int | None = None,
    **load_kwargs: Any,
) -> list[Seed]:
    """Load seeds with `datasets.load_dataset(name, config, split=split)`; `name` may be a local folder."""
    import datasets

    cols = column_map(columns)
    try:
        ds = datasets.load_dataset(name, config, split=split, **load_kwargs)
    except (FileNotFoundError, ValueError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise UserInputError(
            f"cannot load Hugging Face dataset {name!r} (config {config!r}, split {split!r}): {exc}; "
            "check the name and split, or use a local file when offline"
        ) from exc
    if cols["text"] not in ds.column_names:
        raise UserInputError(
            f"dataset {name!r}: no column {cols['text']!r} for the seed text (columns: {ds.column_names}); "
            f"map the right one, e.g. columns={{'text': '<column>'}}"
        )
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    src = name.rstrip("/").rsplit("/", 1)[-1]
    return [
        row_to_seed(row, cols, where=f"dataset {name!r} row {i}", default_id=f"{src}-{split}-{i:06d}", source=name)
        for i, row in enumerate(ds)
    ]
