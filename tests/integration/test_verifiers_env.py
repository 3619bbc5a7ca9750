"""The `verifiers` environment (`pipeline.train.verifiers_env`) for real, in the training environment.

- The golden reward file scored by verifiers' own Rubric machinery on the environment's rubric: every row's
  reward equals the file's, the diagnostics agree with the reward, and nothing the rubric is given changes.
- `vf-eval`, verifiers' evaluation entry point, on a published folder against the bundled vLLM worker: a few
  rows x 2 rollouts in a non-default mode; every saved reward is recomputed with `score_response`, every
  rollout carries per-constraint diagnostics, and the saved prompts and ground truths are the published ones.
  About 15 s on a quiet 2-core machine once the worker is up.
- A folder that does not exist makes `vf-eval` fail with the fix in its message.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipeline.project import ROOT
from pipeline.train.launch import train_python
from pipeline.verify.reward import completion_text, parse_ground_truth, score_response
from tests.helpers import golden_rewards as golden
from tests.helpers.published import published_folder

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 600  # a bound for a loaded machine; each run takes seconds on a quiet one
ENV_ID = "pipeline.train.verifiers_env"


def train_env() -> dict[str, str]:
    assert train_python().exists(), f"{train_python()} missing: `make test` builds it with `make train-env`"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    env["COMPLEXIFY_VF_KEY"] = "unused"  # vf-eval reads the key from a variable; the local worker ignores it
    return env


def vf_eval(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(train_python().parent / "vf-eval"), ENV_ID, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=train_env(), cwd=ROOT)


def test_the_golden_file_through_the_verifiers_rubric() -> None:
    proc = subprocess.run(
        [str(train_python()), "-m", "tests.helpers.verifiers_golden"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=train_env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = {json.loads(line)["id"]: json.loads(line) for line in golden.OUT.read_text().splitlines()}
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [g["id"] for g in got] == list(expected)
    for g in got:
        row = expected[g["id"]]
        assert g["reward"] == row["expected"], (g["id"], row["why"])
        d = g["diagnostics"]
        assert d is not None and d["reward"] == g["reward"], g["id"]
        assert [c["check_id"] for c in d["checks"]] == [c["id"] for c in golden.PLANS[g["id"].split("/")[0]]["checks"]]
        assert d["checks_satisfied"] == sum(c["satisfied"] for c in d["checks"]) == g["metrics"]["checks_satisfied"]
        assert g["metrics"]["all_pass"] == float(d["all_pass"]) and g["metrics"]["fraction_satisfied"] == d["drfr"]
        assert g["inputs_unchanged"], g["id"]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_folder(tmp_path_factory.mktemp("published") / "ds").folder


def results_of(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    (run,) = [p for p in out.rglob("results.jsonl")]
    rows = [json.loads(line) for line in run.read_text().splitlines()]
    return rows, json.loads((run.parent / "metadata.json").read_text())


def test_vf_eval_scores_rollouts_of_the_bundled_worker_with_our_reward(
    published: Path, vllm_endpoint: Any, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    proc = vf_eval(
        "--env-args", json.dumps({"published": str(published), "score": "drfr"}),
        "--api-base-url", f"{vllm_endpoint.url}/v1", "--api-key-var", "COMPLEXIFY_VF_KEY",
        "--model", vllm_endpoint.model, "--num-examples", "3", "--rollouts-per-example", "2",
        "--max-tokens", "48", "--temperature", "0.7", "--max-concurrent", "2",
        "--save-results", "--output-dir", str(tmp_path), "--disable-tui", "--state-columns", "complexify",
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    rows, meta = results_of(tmp_path)
    assert len(rows) == 3 * 2 and meta["env_args"]["score"] == "drfr"
    rl = datasets.load_dataset(str(published), "rl", split="train", cache_dir=str(tmp_path / "hf-cache"))
    by_id = {r["id"]: r for r in rl}
    for row in rows:
        published_row = by_id[row["info"]["id"]]
        assert row["prompt"] == published_row["prompt"] and row["answer"] == published_row["ground_truth"]
        text = completion_text(row["completion"])
        assert text.strip(), "the worker answered"
        want = score_response(text, row["answer"], score="drfr")
        assert row["reward"] == want.score == row["metrics"]["complexify_drfr"] == row["fraction_satisfied"]
        d = row["complexify"]
        plan = parse_ground_truth(row["answer"]).plan
        assert [c["check_id"] for c in d["checks"]] == [c.id for c in plan.checks]
        assert [c["checker"] for c in d["checks"]] == [c.checker for c in plan.checks]
        assert [c["satisfied"] for c in d["checks"]] == [c.gated for c in want.verdict.checks]
        assert all(c["evidence"] for c in d["checks"]), "every check says what it found"
        assert d["checks_satisfied"] == row["checks_satisfied"] == want.verdict.n_passed
    assert meta["avg_reward"] == pytest.approx(sum(r["reward"] for r in rows) / len(rows))


def test_vf_eval_on_a_missing_folder_names_the_fix(tmp_path: Path) -> None:
    proc = vf_eval(
        "--env-args", json.dumps({"published": str(tmp_path / "nowhere")}), "--api-base-url", "http://127.0.0.1:9/v1",
        "--api-key-var", "COMPLEXIFY_VF_KEY", "--model", "m", "--num-examples", "1", "--disable-tui",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "does not exist; run `complexify publish --out DIR` first" in proc.stderr, proc.stderr[-2000:]
