"""An endpoint that accepts requests and never answers: `ifeval --endpoint` and `bench run` stop after
their request timeout with one line naming it (exit 1), instead of waiting silently. Real CLI processes
against a scripted server on a real socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.scripted_llm_server import Script, scripted_server

ROOT = Path(__file__).resolve().parent.parent.parent


def cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "COMPLEXIFY_REQUEST_CACHE": str(cwd / "requests.sqlite")}
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    return done, time.monotonic() - t0


def assert_one_line_naming(done: subprocess.CompletedProcess[str], url: str) -> None:
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and url in errors[0] and "nothing arrived for 1 s" in errors[0], done.stderr[-2000:]


def test_ifeval_against_a_silent_endpoint_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    row = {
        "key": 1,
        "prompt": "Write a sentence without commas.",
        "instruction_id_list": ["punctuation:no_comma"],
        "kwargs": [{}],
    }
    (tmp_path / "input.jsonl").write_text(json.dumps(row) + "\n")
    with scripted_server(Script(silent=True)) as server:
        done, seconds = cli(
            "ifeval", "--input-data", "input.jsonl", "--endpoint", server.url, "--model", "scripted",
            "--request-timeout", "1", "--output-dir", "scores", cwd=tmp_path,
        )  # fmt: skip
        assert_one_line_naming(done, server.url)
        assert set(server.received.values()) == {1}  # asked once, not again and again
    assert seconds < 60


def test_bench_run_against_a_silent_endpoint_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    made, _ = cli("bench", "make", "--suite", "silent", "-n", "1", "--out", "suite.jsonl", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    with scripted_server(Script(silent=True)) as server:
        done, seconds = cli(
            "bench", "run", "--suite", "suite.jsonl", "--out", "results",
            "--endpoint", server.url, "--model", "scripted", "--request-timeout", "1", "--no-progress", cwd=tmp_path,
        )  # fmt: skip
        assert_one_line_naming(done, server.url)
    assert seconds < 60
