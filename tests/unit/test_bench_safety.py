"""`bench`: results are never overwritten unasked nor half-written, bad files and bad endpoints are one-line errors,
and `compare` only pairs results of the same suite."""

from __future__ import annotations

import builtins
import errno
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.bench.suite import read_suite
from tests.helpers.bench_cli import Result, complexify
from tests.helpers.http_stub import serve_http

RUN_FILES = ("responses.jsonl", "verdicts.parquet", "report.json", "report.md")
SCORE_FILES = ("verdicts.parquet", "report.json", "report.md")
DEAD = "http://127.0.0.1:9"  # nothing listens there: a command that refuses up front never gets to it


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (relative path -> sha256 of a file's bytes, or 'dir'), to prove nothing changed."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def one_line_error(result: Result) -> bool:
    return result.err.startswith("error: ") and result.err.count("\n") == 1 and "Traceback" not in result.err


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "suite.jsonl"
    made = complexify("bench", "make", "--suite", "r", "-n", "1", "--seed", "1", "--out", str(path))
    assert made.code == 0, made.err
    return path


def suite_lines(suite: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in suite.read_text().splitlines()]


def write_lines(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def responses(suite: Path, folder: Path, text: str = "an answer", name: str = "resp.jsonl") -> Path:
    return write_lines(folder / name, [{"id": row["id"], "response": text} for row in suite_lines(suite)])


def score(suite: Path, resp: Path, out: Path, *extra: str) -> Result:
    return complexify(
        "bench", "score", "--suite", str(suite), "--responses", str(resp), "--out", str(out), "--no-progress", *extra
    )


# --- results are never overwritten unasked ------------------------------------------------------------------


def test_score_refuses_a_folder_holding_results_and_force_replaces_them(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert score(suite, responses(suite, tmp_path), out).code == 0
    before = snapshot(out)
    other = responses(suite, tmp_path, "### Part 1\nA different answer.", "other.jsonl")
    again = score(suite, other, out)
    assert again.code == 2 and one_line_error(again), again.err
    assert "--force" in again.err and "report.json" in again.err and str(out) in again.err
    assert snapshot(out) == before
    forced = score(suite, other, out, "--force")
    assert forced.code == 0, forced.err
    assert snapshot(out) != before and json.loads((out / "report.json").read_text())["meta"]["model"] == "other"


@pytest.mark.parametrize("existing", ["report.md", "responses.jsonl"], ids=["earlier-report", "earlier-answers"])
def test_run_refuses_a_folder_holding_any_result_before_asking_the_endpoint(
    suite: Path, tmp_path: Path, existing: str
) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / existing).write_text("an earlier model's results\n")
    (out / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    result = complexify(
        "bench", "run", "--suite", str(suite), "--out", str(out), "--endpoint", DEAD, "--no-cache", "--no-progress"
    )
    assert result.code == 2 and one_line_error(result), result.err
    assert existing in result.err and "--force" in result.err
    assert snapshot(out) == before


def test_score_into_a_folder_with_other_files_is_fine(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    assert score(suite, responses(suite, tmp_path), out).code == 0
    assert (out / "notes.txt").read_text() == "mine\n" and all((out / n).is_file() for n in SCORE_FILES)


def test_compare_refuses_to_overwrite_a_comparison(suite: Path, tmp_path: Path) -> None:
    a, b, cmp = tmp_path / "a", tmp_path / "b", tmp_path / "cmp"
    assert score(suite, responses(suite, tmp_path), a).code == 0
    assert score(suite, responses(suite, tmp_path, "### Part 1\nOther.", "b.jsonl"), b).code == 0
    cmp.mkdir()
    (cmp / "compare.md").write_text("my own comparison\n")
    result = complexify("bench", "compare", str(a), str(b), "--out", str(cmp))
    assert result.code == 2 and "compare.md" in result.err and "--force" in result.err
    assert (cmp / "compare.md").read_text() == "my own comparison\n"
    forced = complexify("bench", "compare", str(a), str(b), "--out", str(cmp), "--force")
    assert forced.code == 0, forced.err
    assert (cmp / "compare.md").read_text().startswith("# Comparison") and (cmp / "compare.png").is_file()


# --- compare pairs results of one suite only -----------------------------------------------------------------


def test_compare_refuses_results_of_different_suites(suite: Path, tmp_path: Path) -> None:
    # the same item ids, categories and check counts: only a check's parameter differs
    rows = suite_lines(suite)
    check = next(c for c in rows[0]["instruction"]["plan"]["checks"] if c["kwargs"])
    key = next(iter(check["kwargs"]))
    value = check["kwargs"][key]
    check["kwargs"][key] = value + 1 if isinstance(value, int) else f"{value}x"
    other_suite = write_lines(tmp_path / "other-suite.jsonl", [json.dumps(r, separators=(",", ":")) for r in rows])
    assert len(read_suite(other_suite)) == len(rows)
    a, b = tmp_path / "a", tmp_path / "b"
    assert score(suite, responses(suite, tmp_path), a).code == 0
    assert score(other_suite, responses(suite, tmp_path), b).code == 0
    result = complexify("bench", "compare", str(a), str(b))
    assert result.code == 2 and one_line_error(result), result.err
    digest_a = hashlib.sha256(suite.read_bytes()).hexdigest()
    digest_b = hashlib.sha256(other_suite.read_bytes()).hexdigest()
    assert digest_a in result.err and digest_b in result.err and "different suites" in result.err


# --- bad files: one line, exit 2 ------------------------------------------------------------------------------


def _bad_suite(suite: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    rows = suite_lines(suite)
    change(rows[2])
    return write_lines(tmp_path / "bad-suite.jsonl", rows)


def _unknown_checker(row: dict[str, Any]) -> None:
    row["instruction"]["plan"]["checks"][0]["checker"] = "length:no_such_checker"


def _unknown_category(row: dict[str, Any]) -> None:
    row["category"] = "Loop_7"


def _no_checks(row: dict[str, Any]) -> None:
    row["instruction"]["plan"]["checks"] = []


def _unknown_argument(row: dict[str, Any]) -> None:
    row["instruction"]["plan"]["checks"][0]["kwargs"]["no_such_argument"] = 3


BAD_ITEMS = {
    "unknown-checker": (_unknown_checker, "'length:no_such_checker'"),
    "unknown-category": (_unknown_category, "'Loop_7'"),
    "no-checks": (_no_checks, "no checks"),
    "unknown-argument": (_unknown_argument, "no_such_argument"),
}


@pytest.mark.parametrize("case", BAD_ITEMS, ids=list(BAD_ITEMS))
@pytest.mark.parametrize("command", ["score", "run"])
def test_suites_with_bad_items_are_refused_up_front(suite: Path, tmp_path: Path, case: str, command: str) -> None:
    change, named = BAD_ITEMS[case]
    bad = _bad_suite(suite, tmp_path, change)
    item = suite_lines(suite)[2]["id"]
    out = tmp_path / "out"
    if command == "score":
        result = score(bad, responses(suite, tmp_path), out)
    else:
        result = complexify(
            "bench", "run", "--suite", str(bad), "--out", str(out), "--endpoint", DEAD, "--no-cache", "--no-progress"
        )
    assert result.code == 2 and one_line_error(result), result.err
    assert f"{bad}:3" in result.err and repr(item) in result.err and named in result.err
    assert not out.exists()


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("where", ["suite", "responses", "report", "seeds"])
def test_deeply_nested_json_is_a_one_line_error(suite: Path, tmp_path: Path, where: str) -> None:
    if where == "suite":
        bad = write_lines(tmp_path / "deep.jsonl", [DEEP])
        result = score(bad, responses(suite, tmp_path), tmp_path / "out")
    elif where == "responses":
        bad = write_lines(tmp_path / "deep.jsonl", ['{"id": ' + DEEP + ', "response": "x"}'])
        result = score(suite, bad, tmp_path / "out")
    elif where == "report":
        a, b = tmp_path / "a", tmp_path / "b"
        assert score(suite, responses(suite, tmp_path), a).code == 0
        assert score(suite, responses(suite, tmp_path), b).code == 0
        bad = b / "report.json"
        bad.write_text('{"meta": ' + DEEP + "}")
        result = complexify("bench", "compare", str(a), str(b))
    else:
        bad = write_lines(tmp_path / "deep.jsonl", ['{"id": "s1", "text": ' + DEEP + "}"])
        result = complexify(
            "bench", "make", "--suite", "x", "-n", "1", "--seeds", str(bad), "--out", str(tmp_path / "s.jsonl")
        )
    assert result.code == 2 and one_line_error(result), result.err
    assert str(bad) in result.err and "nested" in result.err


@pytest.mark.parametrize(
    "content",
    ["[1, 2, 3]", '{"meta": []}', '{"meta": {"suite_sha256": "abc"}, "categories": "no"}', "{"],
    ids=["list", "meta-list", "categories-string", "truncated"],
)
def test_compare_refuses_a_report_that_is_not_one(suite: Path, tmp_path: Path, content: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert score(suite, responses(suite, tmp_path), a).code == 0
    assert score(suite, responses(suite, tmp_path), b).code == 0
    (b / "report.json").write_text(content)
    result = complexify("bench", "compare", str(a), str(b))
    assert result.code == 2 and one_line_error(result), result.err
    assert str(b / "report.json") in result.err and "bench run" in result.err


# --- a full disk: old files intact, no temp left, one line -------------------------------------------------------


class _FullDisk:
    """A file in a full file system: the first write stores half its data, then fails with ENOSPC."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, data: Any) -> int:
        self.inner.write(data[: max(1, len(data) // 2)])
        self.inner.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make every file opened for writing inside one folder behave as on a full disk."""

    def fill(folder: Path) -> None:
        real_open = builtins.open

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(file, mode, *args, **kwargs)
            if any(m in mode for m in "wax") and isinstance(file, str | os.PathLike):
                if Path(file).resolve().parent == folder.resolve():
                    return _FullDisk(handle)
            return handle

        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(io, "open", open_)

    return fill


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or "tmp" in p.name]


def test_a_full_disk_leaves_earlier_results_whole(
    suite: Path, tmp_path: Path, full_disk: Callable[[Path], None]
) -> None:
    out = tmp_path / "results"
    assert score(suite, responses(suite, tmp_path), out).code == 0
    before = snapshot(out)
    other = responses(suite, tmp_path, "### Part 1\nA different answer.", "other.jsonl")
    full_disk(out)
    result = score(suite, other, out, "--force")
    assert result.code != 0 and one_line_error(result), result.err
    assert "No space left on device" in result.err and str(out) in result.err
    assert snapshot(out) == before and _no_temp_files(out)


def test_a_full_disk_leaves_no_half_report(suite: Path, tmp_path: Path, full_disk: Callable[[Path], None]) -> None:
    out = tmp_path / "results"
    out.mkdir()
    full_disk(out)
    result = score(suite, responses(suite, tmp_path), out)
    assert result.code != 0 and one_line_error(result), result.err
    assert list(out.iterdir()) == []


def test_a_full_disk_leaves_no_half_comparison(suite: Path, tmp_path: Path, full_disk: Callable[[Path], None]) -> None:
    a, b, cmp = tmp_path / "a", tmp_path / "b", tmp_path / "cmp"
    assert score(suite, responses(suite, tmp_path), a).code == 0
    assert score(suite, responses(suite, tmp_path, "### Part 1\nOther.", "b.jsonl"), b).code == 0
    cmp.mkdir()
    full_disk(cmp)
    result = complexify("bench", "compare", str(a), str(b), "--out", str(cmp))
    assert result.code != 0 and one_line_error(result) and "No space left on device" in result.err, result.err
    assert list(cmp.iterdir()) == []


def test_a_full_disk_leaves_the_earlier_suite_whole(
    suite: Path, tmp_path: Path, full_disk: Callable[[Path], None]
) -> None:
    target = tmp_path / "suites" / "s.jsonl"
    target.parent.mkdir()
    target.write_bytes(suite.read_bytes())
    full_disk(target.parent)
    result = complexify("bench", "make", "--suite", "q", "-n", "1", "--seed", "5", "--out", str(target))
    assert result.code != 0 and one_line_error(result), result.err
    assert target.read_bytes() == suite.read_bytes() and _no_temp_files(target.parent)


# --- a junk endpoint: one line naming it, exit 1 (a real process against a scripted server) --------------------------


JUNK = {
    "models-not-json": ("<html>hello</html>", None),
    "models-a-list": ("[1, 2]", None),
    "models-strings": ('{"data": ["m"]}', None),
    "chat-not-json": (None, "not json at all"),
    "chat-a-list": (None, "[]"),
    "chat-choices-strings": (None, '{"choices": ["a"]}'),
    "chat-usage-text": (
        None,
        '{"choices": [{"index": 0, "message": {"content": "hi"}}], "usage": {"completion_tokens": "many"}}',
    ),
    "chat-content-number": (None, '{"choices": [{"index": 0, "message": {"content": 5}}]}'),
}


@pytest.fixture
def junk_server(request: pytest.FixtureRequest) -> Iterator[str]:
    models, chat = JUNK[request.param]
    models = models or '{"object": "list", "data": [{"id": "junk-model"}]}'

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, body: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(models)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(chat or "{}")

        def log_message(self, *args: object) -> None:
            pass

    with serve_http(Handler) as url:
        yield url


@pytest.mark.parametrize("junk_server", list(JUNK), ids=list(JUNK), indirect=True)
def test_a_junk_endpoint_is_one_line_naming_it(suite: Path, tmp_path: Path, junk_server: str) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "bench", "run", "--suite", str(suite), "--out", str(out),
         "--endpoint", junk_server, "--no-cache", "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert junk_server in result.stderr and "OpenAI-compatible" in result.stderr
    assert not out.exists() or not [p for p in out.iterdir()]


@pytest.mark.parametrize("junk_server", ["chat-not-json", "chat-choices-strings"], indirect=True)
def test_a_junk_judge_endpoint_is_one_line_naming_it(
    tmp_path: Path, junk_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPLEXIFY_REQUEST_CACHE", str(tmp_path / "requests.sqlite"))
    suite = tmp_path / "judged.jsonl"
    made = complexify(
        "bench", "make", "--suite", "j", "-n", "1", "--seed", "2", "--checkers", "any", "--out", str(suite)
    )
    assert made.code == 0, made.err
    assert any(c["kind"] == "judge" for row in suite_lines(suite) for c in row["instruction"]["plan"]["checks"])
    out = tmp_path / "out"
    result = score(suite, responses(suite, tmp_path, "some answer text"), out, "--judge-endpoint", junk_server)
    assert result.code == 1 and one_line_error(result), result.err
    assert junk_server in result.err and "OpenAI-compatible" in result.err
    assert not out.exists() or not list(out.iterdir())


def test_a_temp_file_a_killed_command_left_is_removed_by_the_next_write(suite: Path, tmp_path: Path) -> None:
    from pipeline.store.files import host

    out = tmp_path / "results"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = out / f".report.md~{host()}~{dead.stdout.strip()}~0123abcd.tmp"
    left.write_text("# half a rep")
    assert score(suite, responses(suite, tmp_path), out).code == 0
    assert not left.exists() and sorted(p.name for p in out.iterdir()) == sorted(SCORE_FILES)
