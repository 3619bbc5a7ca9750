"""Bad run inputs fail fast with one line and exit 2, writing nothing; the run lock keeps one process per run."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.construct.compose import ComposeOptions, iter_compose
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import UserInputError
from pipeline.models import Seed
from pipeline.run.config import ConfigError, load_config, parse_config
from pipeline.run.identity import run_fingerprint
from pipeline.run.preflight import check_composable, check_output_dir, preflight
from pipeline.run.runlock import RunLockedError, hold_run_lock
from tests.helpers.cli import run_cli as cli

ROOT = Path(__file__).resolve().parent.parent.parent


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    data: dict[str, Any] = {
        "samples": 2,
        "mix": {"Single": 1},
        "compose": {"checkers": "code"},
        "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
        "output_dir": str(tmp_path / "out"),
        "seeds": {"sources": [{"path": str(ROOT / "seeds" / "complexify-seeds.jsonl")}]},
    }
    data.update(overrides)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- config values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"samples": True}, "samples: expected int, got the boolean true"),
        ({"samples": 3, "repair_rounds": False}, "repair_rounds: expected int, got the boolean false"),
        ({"samples": 3, "models": {"responder": {"n": True}}}, "n: expected int, got the boolean true"),
        ({"samples": 3, "mix": {"Single": float("nan")}}, "mix.Single: Input should be a finite number"),
        ({"samples": 3, "mix": {"Single": float("inf")}}, "mix.Single: Input should be a finite number"),
        ({"samples": 3, "attempts_factor": float("inf")}, "attempts_factor: Input should be a finite number"),
    ],
)
def test_booleans_and_non_finite_numbers_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(data, "cfg.yaml")


def test_booleans_still_work_where_a_boolean_is_expected() -> None:
    data = {
        "samples": 3,
        "compose": {"checkers": "code"},
        "models": {"judge": {"enabled": False}},
        "gate": {"reject_truncated": True},
    }
    cfg = parse_config(data)
    assert cfg.models.judge.enabled is False and cfg.gate.reject_truncated is True


def test_every_unknown_category_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"samples": 3, "mix": {"Foo": 1, "Bar_2": 1, "Single": 1}}, "cfg.yaml")
    assert "'Foo'" in str(err.value) and "'Bar_2'" in str(err.value)
    assert str(err.value).count("valid categories") == 1


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("samples: 3\nmix: {Single: 1}\nsamples: 4\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'samples' \(line 3\)"):
        load_config(path)
    nested = tmp_path / "nested.yaml"
    nested.write_text("samples: 3\nmodels:\n  judge: {enabled: false}\n  judge: {enabled: true}\n")
    with pytest.raises(ConfigError, match="duplicate key 'judge'"):
        load_config(nested)


def test_yaml_nan_weight_and_non_utf8_config_are_one_line_errors(tmp_path: Path) -> None:
    nan = tmp_path / "nan.yaml"
    nan.write_text("samples: 3\nmix: {Single: .nan}\n")
    with pytest.raises(ConfigError, match="finite number"):
        load_config(nan)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"samples: 3\nname: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


# --- preflight: nothing created when the run cannot start ---------------------------------------------------


def test_output_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserInputError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "afile" / "out")
    check_output_dir(tmp_path / "new" / "deeper")  # creatable: fine
    assert not (tmp_path / "new").exists()


def test_impossible_and_size_fails_in_preflight_without_creating_the_run_folder(tmp_path: Path) -> None:
    cfg = load_config(
        write_config(tmp_path, mix={"And_1": 1, "Single": 1}, compose={"checkers": "code", "and_size": [500, 500]})
    )
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"mix\.And_1: cannot place 500 mutually compatible constraints"):
        preflight(cfg)
    assert time.monotonic() - t0 < 10
    assert not (tmp_path / "out").exists()


def test_composable_mix_passes_preflight(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, mix={"Single": 1, "Chain_2": 1, "Selection_and_Chain_3": 1}))
    check_composable(cfg, load_taxonomy())


def test_missing_seed_file_names_the_config_path(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, seeds={"sources": [{"path": str(tmp_path / "nope.jsonl")}]}))
    with pytest.raises(ConfigError, match=r"seeds\.sources\.0\.path: .*nope\.jsonl not found"):
        preflight(cfg)


def test_run_cli_refuses_impossible_config_fast_with_exit_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, mix={"And_1": 1}, compose={"checkers": "code", "and_size": [500, 500]})
    t0 = time.monotonic()
    out = cli("run", "--config", str(path), "--no-progress")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    assert "lower and_size" in out.stderr
    assert time.monotonic() - t0 < 60  # no Prefect server, no retries
    assert not (tmp_path / "out").exists()


def test_run_cli_refuses_output_dir_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = cli("run", "--config", str(write_config(tmp_path)), "--output-dir", str(tmp_path / "afile" / "out"))
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr and "Traceback" not in out.stderr


def test_a_batch_larger_than_its_threads_is_a_config_error() -> None:
    # every instruction of a batch is in progress at once: a larger batch would be silently held to 256 threads
    assert parse_config({"samples": 1, "batch_size": 256}).batch_size == 256
    with pytest.raises(ConfigError, match=r"batch_size: at most 256 .* raise batches_in_flight"):
        parse_config({"samples": 1, "batch_size": 257})


def test_prefect_retries_no_batch() -> None:
    # one retry policy: the engine retries each request; a batch task, local or on a runner, runs once
    from flows.generate import run_batch
    from flows.runner import batch_task
    from pipeline.run.runners import RunAddress

    assert run_batch.retries == 0
    assert batch_task(RunAddress(ROOT / "out", "fp")).retries == 0


# --- seed files and compose ----------------------------------------------------------------------------------


def test_non_utf8_and_binary_seed_files_exit_2(tmp_path: Path) -> None:
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9 au lait"}\n')
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    for name in ("latin1.jsonl", "binary.csv"):
        out = cli("compose", "--category", "Single", "--seeds", str(tmp_path / name))
        assert out.returncode == 2, out.stderr
        assert "not UTF-8" in out.stderr and "Traceback" not in out.stderr


def test_compose_takes_a_seed_folder_and_skips_blank_seeds(tmp_path: Path) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "   "}\n{"text": "Plan a picnic for six friends."}\n')
    out = cli("compose", "--category", "Single", "-n", "3", "--seeds", str(folder), "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3 and {r["seed_text"] for r in rows} == {"Plan a picnic for six friends."}
    assert "skipped 1 seed(s) with blank text" in out.stderr
    (folder / "a.jsonl").write_text('{"text": "  "}\n')
    empty = cli("compose", "--category", "Single", "--seeds", str(folder))
    assert empty.returncode == 2 and "no seed with text" in empty.stderr


def test_compose_streams_and_redraws_duplicate_content() -> None:
    tax = load_taxonomy()
    seeds = [Seed(id="only", text="Describe your favourite season.", source="t")]
    stream = iter_compose(seeds, 300, tax, mix={"Single": 1}, options=ComposeOptions(checkers="code"))
    assert inspect.isgenerator(stream)
    first = next(stream)
    fingerprints = [first.fingerprint, *(i.fingerprint for i in stream)]
    assert len(fingerprints) == 300
    # one seed and one category: a run would redraw repeats, and so does compose
    assert len(set(fingerprints)) >= 295


def test_bad_cli_arguments_are_one_line_errors(tmp_path: Path) -> None:
    nan = cli("compose", "--mix", "Single=nan,And_1=1")
    assert nan.returncode == 2 and "finite number" in nan.stderr
    (tmp_path / "afile").write_text("x")
    export = cli("taxonomy", "export", "-o", str(tmp_path / "afile" / "tax.json"))
    assert export.returncode == 2 and "cannot write" in export.stderr and "Traceback" not in export.stderr
    ifeval = cli(
        "ifeval",
        "--input-data",
        "x.jsonl",
        "--input-response-data",
        "y.jsonl",
        "--output-dir",
        str(tmp_path / "afile" / "o"),
    )
    assert ifeval.returncode == 2 and "is a file, not a folder" in ifeval.stderr


# --- one process per run ---------------------------------------------------------------------------------------


def test_second_holder_of_a_run_is_refused_naming_pid_and_host(tmp_path: Path) -> None:
    with hold_run_lock(tmp_path):
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} on host {socket.gethostname()}"):
            with hold_run_lock(tmp_path):
                pass
    with hold_run_lock(tmp_path):  # released on exit
        pass


def test_lock_held_by_another_process_and_released_when_it_dies(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from pipeline.run.runlock import hold_run_lock\n"
        f"with hold_run_lock(Path({str(tmp_path)!r})):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            with hold_run_lock(tmp_path):
                pass
    finally:
        holder.kill()  # SIGKILL: the kernel releases the flock
        holder.wait()
    with hold_run_lock(tmp_path):
        pass


def test_run_cli_exits_2_when_the_run_is_held(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    cfg = load_config(path)
    run_dir = tmp_path / "out" / "runs" / run_fingerprint(cfg)
    run_dir.mkdir(parents=True)
    with hold_run_lock(run_dir):
        out = cli("run", "--config", str(path), "--no-progress")
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in out.stderr


@pytest.mark.parametrize(("kept", "code"), [(2, 0), (1, 3)])
def test_run_exits_3_when_quotas_are_not_met(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: int, code: int
) -> None:
    from typer.testing import CliRunner

    import flows.generate
    from pipeline.cli import app

    def fake_generate(**kwargs: Any) -> dict[str, Any]:
        return {"kept": kept, "target": 2, "output_dir": str(tmp_path / "out")}

    monkeypatch.setattr(flows.generate, "generate", fake_generate)
    result = CliRunner().invoke(app, ["run", "--config", str(write_config(tmp_path)), "--no-progress"])
    assert result.exit_code == code, result.output
    assert f"kept {kept} of 2 samples" in result.output
    assert ("not met" in result.output) == (code == 3)


# --- run identity: a changed input never appends to an old run ----------------------------------------------


def test_run_fingerprint_changes_with_seed_lines_taxonomy_and_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import pipeline.run.identity as identity

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"text": "Plan a picnic."}\n')
    cfg = load_config(write_config(tmp_path, seeds={"sources": [{"path": str(seeds)}]}))
    base = run_fingerprint(cfg)
    assert run_fingerprint(cfg) == base  # stable
    assert run_fingerprint(cfg.model_copy(update={"output_dir": str(tmp_path / "elsewhere")})) == base

    seeds.write_text('{"text": "Plan a picnic for two."}\n')
    assert run_fingerprint(cfg) != base
    seeds.write_text('{"text": "Plan a picnic."}\n')
    assert run_fingerprint(cfg) == base

    tax = tmp_path / "taxonomy"
    shutil.copytree(ROOT / "taxonomy", tax)
    target = sorted((tax / "constraints").glob("*.yaml"))[0]
    target.write_text(target.read_text() + "\n# a phrasing edit\n")
    monkeypatch.setenv("COMPLEXIFY_TAXONOMY", str(tax))
    assert run_fingerprint(cfg) != base
    monkeypatch.delenv("COMPLEXIFY_TAXONOMY")

    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    (prompts / "repair.yaml").write_text((prompts / "repair.yaml").read_text() + "\n# edited\n")
    monkeypatch.setattr(identity, "PROMPTS_DIR", prompts)
    changed = identity.run_inputs(cfg)
    assert identity.changed_inputs(identity.run_inputs(cfg.model_copy()), changed) == []
    assert run_fingerprint(cfg, changed) != base


def test_rerun_after_a_seed_edit_starts_a_new_run_beside_the_old_one(tmp_path: Path) -> None:
    from pipeline import store
    from pipeline.run.generate import open_run_context

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"text": "Plan a picnic."}\n{"text": "Describe a storm at sea."}\n')
    cfg = load_config(write_config(tmp_path, seeds={"sources": [{"path": str(seeds)}]}))
    logs: list[str] = []
    with open_run_context(cfg, log=logs.append) as first:
        first_dir = first.run.dir
    seeds.write_text('{"text": "Plan a picnic."}\n{"text": "Describe a storm at sea, briefly."}\n')
    logs.clear()
    with open_run_context(cfg, log=logs.append) as second:
        second_dir = second.run.dir
    assert first_dir != second_dir and first_dir.parent == second_dir.parent
    assert {r.fingerprint for r in store.list_runs(tmp_path / "out")} == {first_dir.name, second_dir.name}
    assert any(f"inputs changed since run {first_dir.name} (seeds)" in line for line in logs), logs


def test_seed_folder_identity_counts_exactly_the_seed_files_the_loader_reads(tmp_path: Path) -> None:
    from pipeline.run.identity import seed_digests
    from pipeline.seeding.load import load_seed_file, seed_files

    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "Plan a picnic."}\n')
    (folder / "b.csv").write_text("text\nDescribe a storm at sea.\n")
    cfg = load_config(write_config(tmp_path, seeds={"sources": [{"path": str(folder)}]}))
    base, loaded = run_fingerprint(cfg), load_seed_file(folder)
    # files that are not seeds: notes, an editor's swap and lock files, a hidden copy, a folder
    (folder / "NOTES.txt").write_text("where these came from")
    (folder / ".a.jsonl.swp").write_bytes(b"\x00swap")
    (folder / ".hidden.jsonl").write_text('{"text": "not a seed: hidden"}\n')
    (folder / ".#a.jsonl").symlink_to(folder / "gone")  # emacs lock file: a dangling link
    (folder / "old.jsonl").mkdir()
    assert run_fingerprint(cfg) == base  # the rerun resumes
    assert load_seed_file(folder) == loaded
    hashed = next(d["files"] for d in seed_digests(cfg) if "files" in d)
    assert sorted(hashed) == [p.name for p in seed_files(folder)] == ["a.jsonl", "b.csv"]
    (folder / "c.jsonl").write_text('{"text": "Write a limerick."}\n')  # a new seed file is a new input
    assert run_fingerprint(cfg) != base and len(load_seed_file(folder)) == len(loaded) + 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"samples": 2**31}, "samples: Input should be less than or equal to 1000000000"),
        ({"samples": 3, "attempts_factor": 1e308}, "attempts_factor: Input should be less than or equal to 1000"),
        ({"samples": 3, "random_seed": 2**64}, "random_seed: Input should be less than 9223372036854775808"),
        (
            {"samples": 3, "workers": {"request_timeout_s": 1e308}},
            "request_timeout_s: Input should be less than or equal to 604800",
        ),
        (
            {"samples": 3, "seeds": {"max_seeds": 10**30}},
            "max_seeds: Input should be less than or equal to 1000000000",
        ),
        (
            {"samples": 3, "mix": {"Single": 1e308, "And_1": 1e308}},
            "mix: the weights sum to more than the largest number",
        ),
        (
            {"samples": 3, "compose": {"renderings": {"prose": 1e308, "numbered": 1e308}}},
            "renderings: the weights sum to more",
        ),
    ],
)
def test_absurd_numbers_are_config_errors_on_one_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_config(data, "cfg.yaml")
    assert "\n" not in str(err.value)  # one problem, one line


def test_deeply_nested_inputs_are_one_line_errors(tmp_path: Path) -> None:
    from pipeline.seeding.load import load_seed_file
    from pipeline.seeding.select import load_benchmark_prompts

    deep = "[" * 100_000 + "]" * 100_000
    config = tmp_path / "deep.yaml"
    config.write_text(f"samples: 3\nname: {deep}\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml: nested too deeply to read"):
        load_config(config)
    seeds = tmp_path / "deep.jsonl"
    seeds.write_text('{"text": "Plan a picnic."}\n{"text": "x", "meta": ' + deep + "}\n")
    with pytest.raises(UserInputError, match=r"deep\.jsonl: line 2: nested too deeply to read"):
        load_seed_file(seeds)
    bench = tmp_path / "bench.json"
    bench.write_text(deep)
    with pytest.raises(UserInputError, match=r"bench\.json: nested too deeply to read"):
        load_benchmark_prompts(bench)


def test_check_before_start_loads_the_seed_files_and_probes_the_lock(tmp_path: Path) -> None:
    from pipeline.run.preflight import check_before_start
    from pipeline.run.runlock import check_run_free

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Plan a picnic."}\n[1, 2]\n')
    cfg = load_config(write_config(tmp_path, seeds={"sources": [{"path": str(bad)}]}))
    with pytest.raises(UserInputError, match=r"bad\.jsonl: line 2: expected a JSON object"):
        check_before_start(cfg)
    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"text": "  "}\n')
    with pytest.raises(ConfigError, match="no seed with text"):
        check_before_start(load_config(write_config(tmp_path, seeds={"sources": [{"path": str(blank)}]})))
    cfg = load_config(write_config(tmp_path))
    check_before_start(cfg)  # nothing created
    assert not (tmp_path / "out").exists()
    run_dir = tmp_path / "out" / "runs" / run_fingerprint(cfg)
    run_dir.mkdir(parents=True)
    with hold_run_lock(run_dir):
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()}"):
            check_before_start(cfg)
    check_before_start(cfg)  # released: free again
    with hold_run_lock(run_dir):  # and the probe left no lock behind
        check_run_free(tmp_path)


def test_a_csv_field_over_the_csv_limit_is_a_one_line_error(tmp_path: Path) -> None:
    from pipeline.seeding.load import load_seed_file

    path = tmp_path / "long.csv"
    path.write_text('text\nPlan a picnic.\n"' + "a" * 200_000 + '"\n')
    with pytest.raises(
        UserInputError, match=r"long\.csv: not readable as CSV after 1 seed\(s\) \(field larger than field limit"
    ):
        load_seed_file(path)
