"""On-disk request cache: a rerun never re-sends a request whose answer is already known.

SQLite in WAL mode so several processes (Prefect workers, CLI runs) can read and write the same file;
values are JSON. Keys hash everything that determines an answer: model, messages, sampling parameters,
seed and the sample index (the i-th of n samples is its own entry, so raising n later only pays for
the new samples).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UserInputError

KEY_VERSION = 1


class RequestCacheError(UserInputError):
    """The request cache file is not a usable SQLite database; the message names it and says it may be deleted."""


def damaged(path: Path, exc: BaseException) -> RequestCacheError:
    """The error for a cache file SQLite cannot read (not a database, or a damaged one)."""
    return RequestCacheError(
        f"request cache {path} is not a usable SQLite database ({exc}); delete it (it only holds answers to "
        "requests already made, which are asked again) or set COMPLEXIFY_REQUEST_CACHE to another file"
    )


def check_cache_file(path: Path) -> None:
    """Raise RequestCacheError if the cache file exists and SQLite cannot read it; creates nothing.

    Reads the schema and one row, so a file that is not SQLite or whose first pages are damaged fails here,
    before a run starts; damage deeper in the file is reported (the same way) when a lookup reaches it.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise RequestCacheError(f"request cache {path} is a folder; set COMPLEXIFY_REQUEST_CACHE to a file path")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "answers" in tables:
                con.execute("SELECT key, value FROM answers LIMIT 1").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return  # in use by another process: a working database
        raise damaged(path, exc) from None
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None


def request_key(
    *,
    kind: str,
    model: str,
    messages: Sequence[Mapping[str, str]],
    params: Mapping[str, Any],
    seed: int | None,
    index: int,
) -> str:
    """Stable hex key of one sampled answer; dict order and JSON spacing cannot change it."""
    payload = {
        "v": KEY_VERSION,
        "kind": kind,
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": params,
        "seed": seed,
        "index": index,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counts for this process since the cache was opened."""

    hits: int
    misses: int
    writes: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __str__(self) -> str:
        return f"cache: {self.hits} hits, {self.misses} misses ({self.hit_rate:.0%} hit rate), {self.writes} writes"


class RequestCache:
    """Key -> JSON value store on SQLite (WAL), safe to share between processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: the engine calls it from its event-loop thread, tests from others.
        self._lock = threading.Lock()
        try:
            self._con = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA busy_timeout=60000")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:  # not SQLite, damaged, or a folder in the way
            raise damaged(self.path, exc) from None
        self._hits = self._misses = self._writes = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The cached values among `keys` (missing keys are absent); counts hits and misses."""
        found: dict[str, Any] = {}
        with self._lock, self._damage_named():
            for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for key, value in self._con.execute(f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(value)
            self._hits += len(found)
            self._misses += len(set(keys)) - len(found)
        return found

    def get(self, key: str) -> Any | None:
        return self.get_many([key]).get(key)

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        """Store answers; an existing key keeps its first answer (another process may have raced us)."""
        now = time.time()
        rows = [(k, json.dumps(v, ensure_ascii=False), now) for k, v in items]
        if not rows:
            return
        with self._lock, self._damage_named():
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany("INSERT OR IGNORE INTO answers (key, value, created) VALUES (?, ?, ?)", rows)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._writes += len(rows)

    def put(self, key: str, value: Any) -> None:
        self.put_many([(key, value)])

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """A damaged file found by a lookup or a write is named, with the cure (a locked or busy one is not damage)."""
        try:
            yield
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # "database disk image is malformed", "file is not a database"
            raise damaged(self.path, exc) from None

    def __len__(self) -> int:
        with self._lock, self._damage_named():
            return int(self._con.execute("SELECT count(*) FROM answers").fetchone()[0])

    def stats(self) -> CacheStats:
        return CacheStats(hits=self._hits, misses=self._misses, writes=self._writes)

    def close(self) -> None:
        with self._lock:
            self._con.close()
