"""Seed loading (JSONL / CSV / Parquet / datasets), normalisation, dedup, diversity and decontamination."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import UserInputError
from pipeline.models import Seed
from pipeline.run import config as RC
from pipeline.run.config import SeedsConfig, SeedSource
from pipeline.seeding import load as L
from pipeline.seeding import select as SEL


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def seed(sid: str, text: str) -> Seed:
    return Seed(id=sid, text=text)


MAPPED = [
    {"uid": "q1", "prompt": "Write  a\u00a0poem about  tea.", "kind": "Creative Writing", "lang": "EN"},
    {"uid": "q2", "prompt": "Explique la photosynthe\u0300se.", "kind": "Professional Knowledge", "lang": "fr"},
]
COLUMNS = {"id": "uid", "text": "prompt", "task_type": "kind", "language": "lang"}


# --- normalisation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("e\u0301te\u0301", "\u00e9t\u00e9"),  # combining accents -> NFC composed characters
        ("  two   spaces\tand tab  ", "two spaces and tab"),
        ("no\u00a0break space", "no break space"),
        ("line one  \r\nline two", "line one\nline two"),
        ("para one\n\n\n\n\npara two", "para one\n\npara two"),
    ],
    ids=["nfc", "spaces", "nbsp", "crlf", "blank-lines"],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert L.normalize_text(raw) == expected


def test_text_key_ignores_case_and_spacing_but_not_words() -> None:
    assert L.text_key("Write a poem.") == L.text_key("  write   A POEM. ")
    assert L.text_key("Write a poem.") != L.text_key("Write a story.")


# --- local files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_load_each_format_with_column_mapping(tmp_path: Path, fmt: str) -> None:
    writer = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}[fmt]
    path = writer(tmp_path / f"mine.{fmt}", MAPPED)
    got = L.load_seed_file(path, COLUMNS)
    assert [s.id for s in got] == ["q1", "q2"]
    assert got[0].text == "Write a poem about tea."  # whitespace normalised
    assert got[1].text == "Explique la photosynth\u00e8se."  # NFC
    assert [s.task_type for s in got] == ["Creative Writing", "Professional Knowledge"]
    assert [s.language for s in got] == ["en", "fr"]
    assert {s.source for s in got} == {"mine"}


def test_missing_optional_columns_get_defaults(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "plain.jsonl", [{"text": "Name three rivers."}, {"text": "Name two lakes.", "meta": {"answer": 2}}]
    )
    got = L.load_seed_file(path)
    assert [s.id for s in got] == ["plain-00001", "plain-00002"]
    assert got[0].language == "en" and got[0].task_type is None
    assert got[1].meta == {"answer": "2"}


def test_limit_and_folder(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [{"id": "a1", "text": "One."}, {"id": "a2", "text": "Two."}])
    write_csv(tmp_path / "b.csv", [{"id": "b1", "text": "Three."}])
    (tmp_path / "notes.md").write_text("ignored")
    assert [s.id for s in L.load_seed_file(tmp_path)] == ["a1", "a2", "b1"]
    assert [s.id for s in L.load_seed_file(tmp_path / "a.jsonl", limit=1)] == ["a1"]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"nope\.jsonl does not exist"):
        L.load_seed_file(tmp_path / "nope.jsonl")


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n\n{"text": "broken"\n', encoding="utf-8")
    with pytest.raises(UserInputError, match=r"bad\.jsonl: line 3: not valid JSON"):
        L.load_seed_file(path)


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text('["a", "b"]\n', encoding="utf-8")
    with pytest.raises(UserInputError, match=r"line 1: expected a JSON object, got list"):
        L.load_seed_file(path)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_missing_text_column_says_how_to_map_it(tmp_path: Path, fmt: str) -> None:
    writer = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}[fmt]
    path = writer(tmp_path / f"q.{fmt}", [{"question": "Why is the sea salty?"}])
    with pytest.raises(
        UserInputError, match=r"no column 'text' for the seed text \(columns: \['question'\]\).*columns=\{'text'"
    ):
        L.load_seed_file(path)


def test_non_string_text_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "n.jsonl", [{"text": 42}])
    with pytest.raises(UserInputError, match="must be a string, got int"):
        L.load_seed_file(path)


def test_unsupported_suffix_and_unknown_mapping(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("hello")
    with pytest.raises(UserInputError, match=r"unsupported seed file type '\.txt'"):
        L.load_seed_file(tmp_path / "s.txt")
    with pytest.raises(UserInputError, match=r"unknown seed field\(s\) \['body'\]"):
        L.column_map({"body": "text"})


# --- Hugging Face datasets (a local folder, loaded through datasets.load_dataset) -----------------------


def test_load_hf_seeds_from_local_parquet_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    write_parquet(folder / "train.parquet", MAPPED)
    got = L.load_hf_seeds(str(folder), split="train", columns=COLUMNS, cache_dir=str(tmp_path / "cache"))
    assert [s.id for s in got] == ["q1", "q2"]
    assert got[0].text == "Write a poem about tea."
    assert got[1].language == "fr"


def test_load_hf_seeds_errors(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [{"question": "Why?"}])
    cache = str(tmp_path / "cache")
    with pytest.raises(UserInputError, match=r"no column 'text'.*\['question'\]"):
        L.load_hf_seeds(str(folder), cache_dir=cache)
    with pytest.raises(UserInputError, match=r"split 'validation'"):
        L.load_hf_seeds(str(folder), split="validation", columns={"text": "question"}, cache_dir=cache)


# --- exact dedup -------------------------------------------------------------------------------------------


def test_drop_empty_and_exact_duplicates_record_reasons() -> None:
    given = [seed("a", "Plan a picnic."), seed("b", "  plan a PICNIC. "), seed("c", ""), seed("a", "Other text.")]
    kept, drops = SEL.drop_empty(given)
    assert [d.seed_id for d in drops] == ["c"] and drops[0].reason == L.EMPTY_TEXT
    kept, drops = SEL.dedup_exact(kept)
    assert [s.id for s in kept] == ["a"]
    assert [(d.seed_id, d.reason) for d in drops] == [("b", L.EXACT_DUPLICATE), ("a", L.DUPLICATE_ID)]
    assert "same text as a" in drops[0].detail


# --- embeddings (fake vectors: the real model is exercised by the slow test) -----------------------------


def test_dedup_near_drops_the_later_of_two_close_seeds() -> None:
    given = [seed("a", "x"), seed("b", "y"), seed("c", "z")]
    emb = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0]])
    kept, drops = SEL.dedup_near(given, 0.95, embeddings=emb)
    assert [s.id for s in kept] == ["a", "c"]
    assert drops[0].seed_id == "b" and drops[0].reason == L.NEAR_DUPLICATE and "with a" in drops[0].detail
    kept, drops = SEL.dedup_near(given, 0.9999, embeddings=emb)
    assert len(kept) == 3 and not drops


def test_k_center_greedy_picks_one_point_per_cluster() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    points = np.vstack([c + 0.01 * rng.standard_normal((5, 3)) for c in centers])
    chosen = SEL.k_center_greedy(points, 3)
    assert sorted(i // 5 for i in chosen) == [0, 1, 2]
    assert SEL.k_center_greedy(points, 99) == list(range(15))


def test_select_diverse_keeps_order_and_records_the_rest() -> None:
    given = [seed(f"s{i}", f"t{i}") for i in range(6)]
    emb = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1], [-1, 0], [-1, 0.01]], dtype=float)
    kept, drops = SEL.select_diverse(given, 3, embeddings=emb)
    ids = [s.id for s in kept]
    assert ids == sorted(ids, key=lambda x: int(x[1:]))
    assert {int(i[1:]) // 2 for i in ids} == {0, 1, 2}
    assert len(drops) == 3 and {d.reason for d in drops} == {L.NOT_SELECTED}
    assert {d.seed_id for d in drops} | set(ids) == {s.id for s in given}


def test_embedding_count_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 embeddings for 3 seeds"):
        SEL.dedup_near([seed("a", "x"), seed("b", "y"), seed("c", "z")], embeddings=np.eye(2))


@pytest.mark.slow
def test_bundled_model_scores_paraphrases_closer_than_unrelated_texts() -> None:
    emb = SEL.embed_texts(
        ["How do I bake bread at home?", "What is a simple way to make bread at home?", "Explain plate tectonics."]
    )
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


# --- decontamination ------------------------------------------------------------------------------------------

BENCH = "Write a short story about a lighthouse keeper who finds a glowing shell on the beach at midnight."


def test_load_benchmark_prompts_formats(tmp_path: Path) -> None:
    jl = write_jsonl(
        tmp_path / "b.jsonl",
        [{"key": 1, "prompt": BENCH}, {"instruction": "写一首诗。", "instruction_en": "Write a poem."}],
    )
    got = SEL.load_benchmark_prompts(jl)
    assert got == [("b.jsonl:1", BENCH), ("b.jsonl:2", "写一首诗。"), ("b.jsonl:2", "Write a poem.")]
    js = tmp_path / "b.json"
    js.write_text(json.dumps({"data": [{"question": "Q one?"}, "Q two?"]}), encoding="utf-8")
    assert [t for _, t in SEL.load_benchmark_prompts(js)] == ["Q one?", "Q two?"]
    txt = tmp_path / "b.txt"
    txt.write_text("first prompt\n\nsecond prompt\n", encoding="utf-8")
    assert [o for o, _ in SEL.load_benchmark_prompts(txt)] == ["b.txt:1", "b.txt:3"]
    with pytest.raises(UserInputError, match=r"found no prompts \(field 'body'\)"):
        SEL.load_benchmark_prompts(jl, field="body")
    with pytest.raises(UserInputError, match="does not exist"):
        SEL.load_benchmark_prompts(tmp_path / "missing.jsonl")


def test_decontaminate_drops_overlapping_seeds_and_names_the_source() -> None:
    prompts = [("bench.jsonl:7", BENCH), ("bench.jsonl:8", "请写一篇关于春天的散文，描写公园里的花。")]
    given = [
        seed(
            "copy",
            "Write a short story about a lighthouse keeper who finds a glowing shell on the beach at midnight, "
            "please.",
        ),
        seed("own", "Write a short story about a baker who wins a contest."),
        seed("short", "lighthouse keeper who finds"),
        seed("zh", "请写一篇关于春天的散文，描写公园里的花。"),
    ]
    kept, drops = SEL.decontaminate(given, prompts, n=6, max_overlap=0.5)
    assert [s.id for s in kept] == ["own"]
    by_id = {d.seed_id: d for d in drops}
    assert set(by_id) == {"copy", "short", "zh"}
    assert all(d.reason == L.BENCHMARK_OVERLAP for d in drops)
    assert "bench.jsonl:7" in by_id["copy"].detail and "bench.jsonl:8" in by_id["zh"].detail


def test_tokens_split_cjk_characters() -> None:
    assert SEL.tokens("Hello, 你好 World42") == ["hello", "你", "好", "world42"]


# --- the whole stage ---------------------------------------------------------------------------------------------


def test_prepare_seeds_accounts_for_every_input_seed(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "a1", "text": "Describe a rainy market day."},
            {"id": "a2", "text": "describe a rainy  market day."},
            {"id": "a3", "text": "   "},
            {"id": "a4", "text": BENCH},
            {"id": "a5", "text": "Explain how tides work."},
            {"id": "a6", "text": "Explain how the tides work."},
        ],
    )
    write_csv(
        tmp_path / "b.csv",
        [{"id": "b1", "text": "Give tips for a job interview."}, {"id": "b2", "text": "Name a prime."}],
    )
    write_jsonl(tmp_path / "bench.jsonl", [{"prompt": BENCH}])

    def fake_embed(texts):
        # a5/a6 share a direction (near duplicates); every other seed gets its own axis.
        axes = np.eye(len(texts) + 1)
        return np.array([axes[0] if "tides" in t else axes[k + 1] for k, t in enumerate(texts)])

    cfg = SeedsConfig(
        sources=[SeedSource(path="a.jsonl"), SeedSource(path="b.csv")],
        decontaminate=["bench.jsonl"],
        near_duplicate_threshold=0.95,
        select=3,
        max_seeds=2,
    )
    kept, drops = SEL.prepare_seeds(cfg, base=tmp_path, embed=fake_embed)
    reasons = {d.seed_id: d.reason for d in drops}
    assert reasons["a2"] == L.EXACT_DUPLICATE
    assert reasons["a3"] == L.EMPTY_TEXT
    assert reasons["a4"] == L.BENCHMARK_OVERLAP
    assert reasons["a6"] == L.NEAR_DUPLICATE
    assert len(kept) == 2 and list(reasons.values()).count(L.OVER_MAX_SEEDS) == 1
    assert list(reasons.values()).count(L.NOT_SELECTED) == 1
    assert sorted([s.id for s in kept] + list(reasons)) == ["a1", "a2", "a3", "a4", "a5", "a6", "b1", "b2"]


def test_prepare_seeds_without_embedding_steps_never_embeds(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [{"text": "One."}, {"text": "Two."}])

    def boom(texts):
        raise AssertionError("embedding was not requested")

    kept, drops = SEL.prepare_seeds(SeedsConfig(sources=[SeedSource(path="a.jsonl")]), base=tmp_path, embed=boom)
    assert [s.text for s in kept] == ["One.", "Two."] and drops == []


# --- prompt length ------------------------------------------------------------------------------------------------


def test_estimate_tokens_errs_high() -> None:
    assert SEL.estimate_tokens("") == 0
    assert SEL.estimate_tokens("x" * 400) == 100  # ~4 characters per token for plain ASCII
    assert SEL.estimate_tokens("a " * 300) == 400  # short words: at least 4/3 tokens per word
    assert SEL.estimate_tokens("日本語" * 100) == 300  # one per non-ASCII character


def test_seed_token_budget_leaves_room_for_answers_and_templates() -> None:
    from pipeline.run.config import parse_config

    cfg = parse_config(
        {
            "samples": 1,
            "workers": {"max_model_len": 2048},
            "models": {"responder": {"sampling": {"max_tokens": 300}}, "rewriter": {"sampling": {"max_tokens": 700}}},
            "repair_rounds": 1,
        }
    )
    assert RC.seed_token_budget(cfg) == 2048 - RC.PROMPT_OVERHEAD_TOKENS - 700  # the rewriter's answer is the largest
    no_rewrite = parse_config(
        {"samples": 1, "models": {"responder": {"sampling": {"max_tokens": 300}}, "rewriter": {"enabled": False}}}
    )
    assert (
        RC.seed_token_budget(no_rewrite) == 2048 - RC.PROMPT_OVERHEAD_TOKENS - 2 * 300
    )  # a repair prompt holds an answer
    tight = parse_config(
        {"samples": 1, "workers": {"max_model_len": 1024}, "models": {"responder": {"sampling": {"max_tokens": 512}}}}
    )
    with pytest.raises(UserInputError, match=r"max_model_len \(1024\) leaves no room"):
        RC.seed_token_budget(tight)


def test_prepare_seeds_drops_seeds_over_the_token_budget(tmp_path: Path) -> None:
    long_text = "Describe the harbour at dawn in great detail. " * 200  # ~2,000 words
    write_jsonl(tmp_path / "a.jsonl", [{"id": "ok", "text": "Describe a harbour."}, {"id": "long", "text": long_text}])
    cfg = SeedsConfig(sources=[SeedSource(path="a.jsonl")])
    kept, drops = SEL.prepare_seeds(cfg, base=tmp_path, max_tokens=1000)
    assert [s.id for s in kept] == ["ok"]
    (drop,) = drops
    assert (drop.seed_id, drop.reason) == ("long", L.PROMPT_TOO_LONG) and "over the budget of 1000" in drop.detail
    kept, drops = SEL.prepare_seeds(cfg, base=tmp_path)  # no budget given: nothing dropped for length
    assert len(kept) == 2 and drops == []
