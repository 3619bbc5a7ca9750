"""Prompt variety of a run with and without surface variety (structured only vs structured + prose + numbered).

    .venv/bin/python benchmarks/prompt_variety.py [--n 400] [--seeds 0 1 2] [--each]

For each random seed, composes the same n instructions twice (bundled seeds, default category mix, same
random seed, so the trees are identical and only the rendering differs): once with `renderings:
{structured: 1}`, once with the default weights (all three equally). It reports, side by side, corpus-level
distinct-1/2/3 (distinct word n-grams / all word n-grams over the run's prompts, with the count and the prompt
length beside them, since the ratio falls as prompts grow) and the mean pairwise cosine distance of the
prompts' embeddings with the bundled all-MiniLM-L6-v2 (CPU, offline; a prompt longer than 128 words is the
word-weighted mean of its 128-word chunks), on the whole prompt and on the instruction part alone (the seed
task removed: it is the same text in both runs). Values are medians over the random seeds; the last line
gives the with / without ratios. `--each` adds a run per new rendering alone, to show what each one does.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.construct.compose import ComposeOptions, compose_batch
from pipeline.construct.renderings import DEFAULT_RENDERINGS
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Instruction
from pipeline.seeding.load import load_seed_file
from pipeline.seeding.select import embed_texts
from pipeline.verify.fidelity import CHUNK_WORDS, word_chunks

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "complexify-seeds.jsonl"
TOKEN = re.compile(r"\w+|[^\w\s]")
METRICS = (
    "distinct-1", "distinct-2", "distinct-3", "distinct 3-grams (count)", "words per prompt", "emb. distance",
    "emb. distance (no task)",
)  # fmt: skip


def ngram_counts(texts: Sequence[str], n: int) -> tuple[int, int]:
    """(distinct, total) word n-grams over the texts (lowercased; punctuation marks are tokens)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = TOKEN.findall(text.lower())
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen), total


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n: distinct word n-grams over all word n-grams of the texts."""
    distinct, total = ngram_counts(texts, n)
    return distinct / total if total else 0.0


def embed_whole(texts: Sequence[str]) -> np.ndarray:
    """One vector per text: the word-weighted mean of its chunks' embeddings (the model reads 256 word pieces, and
    cutting longer prompts there would hide exactly the tail where renderings differ), as the fidelity gate does."""
    chunks: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        for chunk in word_chunks(text, CHUNK_WORDS) or [""]:
            chunks.append(chunk)
            owner.append(i)
    emb = np.asarray(embed_texts(chunks), dtype=np.float64)
    out = np.zeros((len(texts), emb.shape[1]))
    for vec, i, chunk in zip(emb, owner, chunks, strict=True):
        out[i] += vec * max(len(chunk.split()), 1)
    return out


def mean_pairwise_distance(texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray]) -> float:
    """Mean cosine distance (1 - cosine similarity) over all pairs of distinct texts' embeddings."""
    emb = np.asarray(embed(texts), dtype=np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sims = emb @ emb.T
    k = len(texts)
    return float(1.0 - (sims.sum() - np.trace(sims)) / (k * (k - 1)))


def instruction_part(ins: Instruction) -> str:
    """The prompt without the seed task it starts with: the part the rendering decides."""
    return ins.prompt.removeprefix(ins.seed_text.strip()).strip()


def variety(instructions: Sequence[Instruction]) -> dict[str, float]:
    prompts = [i.prompt for i in instructions]
    out = {f"distinct-{n}": distinct_n(prompts, n) for n in (1, 2, 3)}
    # distinct-n falls as prompts grow longer; the count and the length show what it mixes
    out["distinct 3-grams (count)"] = float(ngram_counts(prompts, 3)[0])
    out["words per prompt"] = statistics.mean(len(p.split()) for p in prompts)
    out["emb. distance"] = mean_pairwise_distance(prompts, embed_whole)
    out["emb. distance (no task)"] = mean_pairwise_distance([instruction_part(i) for i in instructions], embed_whole)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="instructions per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random seeds (one pair of runs each)")
    ap.add_argument(
        "--each", action="store_true", help="also a run per new rendering alone (prose only, numbered only)"
    )
    args = ap.parse_args()
    if args.n < 2:
        ap.error("--n must be at least 2 (the distance is over pairs)")

    tax = load_taxonomy()
    seeds = load_seed_file(SEEDS)
    modes = {
        "without: structured only": ComposeOptions(renderings={"structured": 1}),
        "with: " + ",".join(f"{k[0]}={v:g}" for k, v in DEFAULT_RENDERINGS.items()): ComposeOptions(),
    }
    if args.each:
        modes |= {f"{r} only": ComposeOptions(renderings={r: 1}) for r in ("prose", "numbered")}
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    t0 = time.perf_counter()
    for rs in args.seeds:
        for mode, opts in modes.items():
            batch = compose_batch(seeds, args.n, tax, random_seed=rs, options=opts)
            results[mode].append(variety(batch))
    print(f"{args.n} instructions per run, random seeds {args.seeds}, {len(seeds)} bundled seeds, default mix "
          f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    median = {m: {k: statistics.median(r[k] for r in runs) for k in METRICS} for m, runs in results.items()}
    names = list(modes)
    print(f"{'metric (median over seeds)':<28}" + "".join(f"{n:>28}" for n in names))
    for k in METRICS:
        print(f"{k:<28}" + "".join(f"{median[n][k]:>28.4f}" for n in names))
    without, with_ = median[names[0]], median[names[1]]
    print("ratio with/without: " + ", ".join(f"{k} {with_[k] / without[k]:.2f}x" for k in METRICS))


if __name__ == "__main__":
    main()
