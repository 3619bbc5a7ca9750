"""`bench make`: deterministic suites over every category, and exclusion of a stored run's seeds and prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import store
from pipeline.bench.exclusion import SEED_ID, SEED_NGRAM, SEED_TEXT
from pipeline.bench.suite import read_suite
from pipeline.construct.compose import CATEGORIES, ComposeOptions, compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Instruction, Seed
from pipeline.run.config import ROOT
from pipeline.seeding.load import load_seed_file, normalize_text
from pipeline.seeding.select import tokens
from tests.helpers.bench_cli import complexify

BUNDLED = ROOT / "seeds" / "complexify-seeds.jsonl"


def test_same_arguments_give_the_same_file_and_every_category(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for path, seed in ((a, "3"), (b, "3"), (c, "4")):
        result = complexify("bench", "make", "--suite", "t", "-n", "2", "--seed", seed, "--out", str(path))
        assert result.code == 0, result.err
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    items = read_suite(a)
    assert [i.category for i in items] == [cat for cat in CATEGORIES for _ in range(2)]
    assert len({i.id for i in items}) == len(items) == 20
    assert len({i.instruction.seed_id for i in items}) == 20  # distinct seeds while the pool lasts
    for item in items:
        assert item.instruction.category == item.category
        assert all(check.kind == "code" for check in item.instruction.plan.checks)  # --checkers code is the default
    assert "20 items" in complexify("bench", "make", "--suite", "t", "-n", "2", "--out", str(c)).out


def _words(text: str) -> list[str]:
    return tokens(text)


def _grams(toks: list[str], n: int = 8) -> set[tuple[str, ...]]:
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """Whether `needle` occurs as a contiguous token run in `haystack` (brute force)."""
    return any(haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def _overlap(item: Instruction, run: Instruction) -> bool:
    """8-gram overlap of task text with the other side's prompt, both ways; short tasks by containment."""
    for task, prompt in ((item.seed_text, run.prompt), (run.seed_text, item.prompt)):
        t, p = _words(task), _words(prompt)
        if (len(t) >= 8 and _grams(t) & _grams(p)) or (0 < len(t) < 8 and _contains(p, t)):
            return True
    return False


@pytest.fixture(scope="module")
def contaminated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Instruction]]:
    """A stored run and a seed file: 10 clean seeds, 8 the run used (same id), 6 with its text, 6 near copies."""
    tmp = tmp_path_factory.mktemp("exclude")
    bundled = [s for s in load_seed_file(BUNDLED) if len(tokens(s.text)) >= 12]
    clean, by_id, by_text, by_gram = bundled[200:210], bundled[:8], bundled[20:26], bundled[40:46]
    run_seeds = [*by_id, *by_text, *by_gram]
    suite_seeds = [
        *clean,
        *by_id,
        *(Seed(id=f"alt-{s.id}", text=s.text) for s in by_text),
        *(
            Seed(id=f"near-{s.id}", text=f"Please help me with the following. {s.text} Thank you kindly!")
            for s in by_gram
        ),
    ]
    tax = load_taxonomy()
    instructions = [
        compose_instruction(s, "Chain_2", tax, random_seed=k, options=ComposeOptions(checkers="code"))
        for k, s in enumerate(run_seeds)
    ]
    run = store.open_run(tmp / "data", "fp-exclude", {"name": "exclusion test"})
    store.write_batch(run, 0, instructions, [], [])
    seeds_file = tmp / "seeds.jsonl"
    seeds_file.write_text("".join(json.dumps(s.model_dump()) + "\n" for s in suite_seeds))
    return tmp / "data", seeds_file, instructions


def test_exclude_run_leaves_no_shared_seed_fingerprint_or_8gram(
    contaminated: tuple[Path, Path, list[Instruction]], tmp_path: Path
) -> None:
    root, seeds_file, run_instructions = contaminated
    out = tmp_path / "suite.jsonl"
    args = (
        "bench",
        "make",
        "--suite",
        "clean",
        "-n",
        "1",
        "--seeds",
        str(seeds_file),
        "--exclude-run",
        str(root),
        "--out",
        str(out),
    )
    result = complexify(*args)
    assert result.code == 0, result.err
    assert f"{SEED_ID}=8" in result.out and f"{SEED_TEXT}=6" in result.out and f"{SEED_NGRAM}=6" in result.out
    assert "seeds usable 10/30" in result.out
    items = [i.instruction for i in read_suite(out)]
    assert len(items) == len(CATEGORIES)
    run_ids = {r.seed_id for r in run_instructions}
    run_texts = {normalize_text(r.seed_text).casefold() for r in run_instructions}
    run_fps = {r.fingerprint for r in run_instructions}
    for ins in items:
        assert ins.seed_id not in run_ids
        assert normalize_text(ins.seed_text).casefold() not in run_texts
        assert ins.fingerprint not in run_fps
        assert not any(_overlap(ins, r) for r in run_instructions), ins.id
    # without the exclusion the same seeds give contaminated items: the test above can fail
    plain = tmp_path / "plain.jsonl"
    assert complexify(*args[:-4], "--out", str(plain)).code == 0
    dirty = [i.instruction for i in read_suite(plain)]
    assert any(i.seed_id in run_ids or any(_overlap(i, r) for r in run_instructions) for i in dirty)


def test_exclude_run_errors_are_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = complexify(
        "bench", "make", "--suite", "x", "-n", "1", "--exclude-run", str(empty), "--out", str(tmp_path / "s.jsonl")
    )
    assert result.code == 2 and "no stored run there" in result.err
    only = tmp_path / "one.jsonl"
    only.write_text(json.dumps({"id": "s1", "text": "Describe a lighthouse at dusk in three sentences."}) + "\n")
    run = store.open_run(tmp_path / "data", "fp-all", {"name": "all"})
    ins = compose_instruction(
        Seed(id="s1", text="Describe a lighthouse at dusk in three sentences."), "Single", load_taxonomy()
    )
    store.write_batch(run, 0, [ins], [], [])
    result = complexify(
        "bench", "make", "--suite", "x", "-n", "1", "--seeds", str(only), "--exclude-run", str(tmp_path / "data"),
        "--out", str(tmp_path / "s.jsonl"),
    )  # fmt: skip
    assert result.code == 2 and "pass --seeds with held-out tasks" in result.err
