"""`complexify run` refuses bad input before Prefect starts: one `error:` line, exit 2, no Prefect server, in
seconds. Also the Prefect API checks of `run` and `runner`, and where a relative --output-dir lands."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.run.config import load_config
from pipeline.run.identity import run_fingerprint
from pipeline.run.runlock import hold_run_lock
from tests.helpers.cli import run_cli
from tests.helpers.http_stub import serve_http

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds" / "complexify-seeds.jsonl"
# Prefect's temporary server alone takes 15-20 s to start on an idle machine and the checks about 2 s: this bound
# leaves room for a busy machine; that Prefect never started is asserted by its missing home folder.
PREFECT_START_S = 30


def cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=env, timeout=timeout, without_prefect_api=True)


def write_config(tmp_path: Path, name: str = "cfg.yaml", **overrides: Any) -> Path:
    data: dict[str, Any] = {
        "samples": 2,
        "mix": {"Single": 1},
        "compose": {"checkers": "code"},
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(tmp_path / "out"),
        "seeds": {"sources": [{"path": str(SEEDS)}]},
    }
    data.update(overrides)
    path = tmp_path / name
    huge = data.pop("random_seed", None)  # a number YAML writers refuse to print: written by hand
    path.write_text(yaml.safe_dump(data) + (f"random_seed: {huge}\n" if huge is not None else ""))
    return path


def assert_one_line_error(out: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert out.returncode == code, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def deep_seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "Plan a picnic.", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    return path


def bad_seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Plan a picnic."}\n{"text": "unclosed"\n')
    return path


# Each case: the config overrides (given tmp_path), the environment, what the one error line names.
CASES: dict[str, tuple[Any, dict[str, str], tuple[str, ...]]] = {
    "malformed seed line": (
        lambda t: {"seeds": {"sources": [{"path": str(bad_seed_file(t))}]}},
        {},
        ("bad.jsonl: line 2", "not valid JSON"),
    ),
    "deeply nested seed": (
        lambda t: {"seeds": {"sources": [{"path": str(deep_seed_file(t))}]}},
        {},
        ("deep.jsonl: line 1", "nested too deeply"),
    ),
    "samples above 2^31": (lambda t: {"samples": 2**31 + 1}, {}, ("samples", "less than or equal to 1000000000")),
    "random_seed of 5000 digits": (lambda t: {"random_seed": "9" * 5000}, {}, ("cannot read a value", "digits")),
    "weights summing to infinity": (
        lambda t: {"mix": {"Single": 1e308, "And_1": 1e308}},
        {},
        ("mix", "sum to more than the largest number"),
    ),
    "corrupt request cache": (
        lambda t: {},
        {"COMPLEXIFY_REQUEST_CACHE": "CACHE"},
        ("junk.sqlite", "not a usable SQLite database", "delete it"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_run_input_is_one_line_exit_2_before_prefect_starts(case: str, tmp_path: Path) -> None:
    overrides, env, needles = CASES[case]
    path = write_config(tmp_path, **overrides(tmp_path))
    if "COMPLEXIFY_REQUEST_CACHE" in env:
        junk = tmp_path / "junk.sqlite"
        junk.write_text("this is not an SQLite database\n" * 100)
        env = {"COMPLEXIFY_REQUEST_CACHE": str(junk)}
    prefect_home = tmp_path / "prefect"
    t0 = time.monotonic()
    out = cli("run", "--config", str(path), "--no-progress", env={**env, "PREFECT_HOME": str(prefect_home)})
    assert_one_line_error(out, 2, *needles)
    assert time.monotonic() - t0 < PREFECT_START_S
    assert (
        not prefect_home.exists() and "prefect" not in out.stderr.lower()
    )  # Prefect never started (its database lives there)
    assert not (tmp_path / "out").exists()  # nothing written


def test_deeply_nested_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("samples: 2\nname: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert_one_line_error(cli("run", "--config", str(path)), 2, "deep.yaml", "nested too deeply")


def test_held_run_is_refused_before_prefect_starts(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    run_dir = tmp_path / "out" / "runs" / run_fingerprint(load_config(path))
    run_dir.mkdir(parents=True)
    prefect_home = tmp_path / "prefect"
    with hold_run_lock(run_dir):
        t0 = time.monotonic()
        out = cli("run", "--config", str(path), "--no-progress", env={"PREFECT_HOME": str(prefect_home)})
        took = time.monotonic() - t0
    assert_one_line_error(out, 2, f"pid {os.getpid()} on host {socket.gethostname()}", "already being generated")
    assert took < PREFECT_START_S and not prefect_home.exists() and "prefect" not in out.stderr.lower()


def test_relative_output_dir_is_relative_to_the_current_folder(tmp_path: Path) -> None:
    # A held run shows where `run` looks for it: under the current folder, as `stats --root REL` reads it.
    rel = f"out-{uuid.uuid4().hex[:8]}"
    path = write_config(tmp_path)
    run_dir = tmp_path / rel / "runs" / run_fingerprint(load_config(path))
    run_dir.mkdir(parents=True)
    try:
        with hold_run_lock(run_dir):
            out = cli(
                "run",
                "--config",
                str(path),
                "--output-dir",
                rel,
                "--no-progress",
                cwd=tmp_path,
                env={"PREFECT_HOME": str(tmp_path / "p")},
            )
        assert_one_line_error(out, 2, str(run_dir / "run.lock"))
    finally:
        assert not (ROOT / rel).exists(), "the run wrote into the checkout"


# --- the Prefect API -------------------------------------------------------------------------------------------


@pytest.fixture
def not_prefect() -> Iterator[str]:
    """An HTTP server that is not Prefect: a web page at every path."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>a wiki</html>"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Page) as url:
        yield f"{url}/api"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("args", [["run", "--no-progress"], ["runner"]], ids=["run", "runner"])
def test_an_api_url_that_is_not_prefect_is_one_line_exit_2(args: list[str], not_prefect: str, tmp_path: Path) -> None:
    out = cli(
        *args,
        "--config",
        str(write_config(tmp_path)),
        env={"PREFECT_API_URL": not_prefect, "PREFECT_HOME": str(tmp_path / "p")},
    )
    assert_one_line_error(out, 2, f"PREFECT_API_URL={not_prefect} is not the API of a Prefect server")
    assert not (tmp_path / "out").exists()


def test_runner_gives_up_on_an_unreachable_api_within_its_timeout(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api"
    t0 = time.monotonic()
    out = cli(
        "runner", "--config", str(write_config(tmp_path)), "--api-timeout", "2",
        env={"PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "p")}, timeout=60,
    )  # fmt: skip
    assert_one_line_error(out, 1, url, "did not answer within 2 s")
    assert time.monotonic() - t0 < 40  # imports and 2 s of retries, not forever
