"""Request cache: stable keys, hit/miss counts, first answer wins, safe across processes."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

from pipeline.llm.cache import RequestCache, request_key
from pipeline.llm.records import ChatRequest, SamplingParams

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def key(**over: object) -> str:
    args: dict = {
        "kind": "chat",
        "model": "m",
        "messages": MSGS,
        "params": {"temperature": 0.7, "max_tokens": 8},
        "seed": None,
        "index": 0,
    }
    args.update(over)
    return request_key(**args)


def test_key_ignores_dict_order_but_not_content() -> None:
    base = key()
    assert key(params={"max_tokens": 8, "temperature": 0.7}) == base
    assert key(messages=[{"content": "Be brief.", "role": "system"}, {"content": "Hi", "role": "user"}]) == base
    variants = [
        key(model="other"),
        key(messages=[*MSGS[:1], {"role": "user", "content": "Hi!"}]),
        key(params={"temperature": 0.8, "max_tokens": 8}),
        key(seed=1),
        key(index=1),
        key(kind="yes_no"),
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_sampling_params_dump_is_a_stable_key_part() -> None:
    a = ChatRequest.of(MSGS, sampling=SamplingParams(temperature=0.5, extra={"top_k": 5, "min_p": 0.1}))
    b = ChatRequest.of(MSGS, sampling=SamplingParams(temperature=0.5, extra={"min_p": 0.1, "top_k": 5}))
    ka = key(params=a.sampling.model_dump(mode="json"))
    assert ka == key(params=b.sampling.model_dump(mode="json"))
    assert ka != key(params=SamplingParams(temperature=0.5).model_dump(mode="json"))


def test_hits_misses_and_roundtrip(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    cache.put("a", {"text": "x", "lp": float("-inf")})
    got = cache.get_many(["a", "b", "c"])
    assert got == {"a": {"text": "x", "lp": float("-inf")}}
    s = cache.stats()
    assert (s.hits, s.misses, s.writes) == (1, 2, 1)
    assert "1 hits, 2 misses" in str(s)
    assert len(cache) == 1


def test_first_answer_wins(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    cache.put("k", {"text": "first"})
    cache.put("k", {"text": "second"})
    assert cache.get("k") == {"text": "first"}


def test_wal_mode_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    RequestCache(path).put("k", 1)
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert RequestCache(path).get("k") == 1


def _writer(path: str, worker: int, n: int) -> None:
    cache = RequestCache(path)
    for i in range(n):
        cache.put_many([(f"{worker}-{i}", {"w": worker, "i": i}), (f"shared-{i}", {"w": worker})])
    cache.close()


def test_concurrent_processes_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    cache = RequestCache(path)
    assert len(cache) == 4 * 50 + 50
    assert cache.get("3-49") == {"w": 3, "i": 49}


def test_a_file_that_is_not_sqlite_is_named_with_the_cure(tmp_path: Path) -> None:
    import pytest

    from pipeline.errors import UserInputError
    from pipeline.llm.cache import RequestCacheError, check_cache_file

    junk = tmp_path / "requests.sqlite"
    junk.write_text("not a database\n" * 200)
    for open_it in (check_cache_file, RequestCache):
        with pytest.raises(
            RequestCacheError, match=rf"request cache {junk} is not a usable SQLite database.*delete it"
        ):
            open_it(junk)
    assert issubclass(RequestCacheError, UserInputError)  # exit 2: a bad file, not a failing run
    with pytest.raises(RequestCacheError, match="is a folder"):
        check_cache_file(tmp_path)
    check_cache_file(tmp_path / "missing.sqlite")  # no file yet: fine, and none is created
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_damaged_cache_is_named_when_read(tmp_path: Path) -> None:
    import os

    import pytest

    from pipeline.llm.cache import RequestCacheError, check_cache_file

    path = tmp_path / "requests.sqlite"
    cache = RequestCache(path)
    keys = [key(index=i) for i in range(3000)]
    cache.put_many((k, {"text": "an answer " * 20}) for k in keys)
    cache.close()
    data = bytearray(path.read_bytes())
    for offset in range(2 * 4096, len(data), 4096):  # scribble over every page but the first two
        data[offset : offset + 64] = os.urandom(64)
    path.write_bytes(bytes(data))
    with pytest.raises(RequestCacheError, match=rf"{path}.*database disk image is malformed.*delete it"):
        check_cache_file(path)
    with pytest.raises(RequestCacheError, match=rf"{path}.*delete it"):
        RequestCache(path).get_many(keys)
