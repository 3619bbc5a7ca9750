"""Publishing: Hub-layout folder loads with `datasets`, RL ground truth scores the kept answers, card and push
logic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import Response, Seed
from pipeline.publish.dataset import PublishError, build_dataset_folder, push_folder
from pipeline.run.config import RoleConfig, parse_config
from pipeline.run.stages import Models
from pipeline.verify.reward import compute_score, make_trl_reward
from pipeline.verify.tripwires import tripwire_rows
from tests.helpers.instructions import instruction_with, run_instructions

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(5)]


def answer_all_lowercase(
    conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int
) -> list[list[Response]]:
    # candidate 0 passes lowercase checks, candidate 1 never does: gives kept samples and preference pairs
    return [
        [
            Response(text="a plain lowercase answer" if k == 0 else "SHOUTED Answer", candidate=k, model="scripted")
            for k in range(n)
        ]
        for _ in conversations
    ]


@pytest.fixture(scope="module")
def samples():  # type: ignore[no-untyped-def]
    # scripted answers that ignore the task: the task-fidelity gate is tested in test_fidelity.py, not here
    cfg = parse_config(
        {
            "samples": 4,
            "mix": {"Single": 1},
            "repair_rounds": 0,
            "models": {"responder": {"n": 2}, "rewriter": {"enabled": False}},
            "fidelity": {"enabled": False},
        }
    )
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    instructions = [instruction_with(seed, ["t:lower"], tax) for seed in SEEDS[:4]]  # one check each: lowercase
    result = run_instructions(instructions, cfg, Models(chat=answer_all_lowercase, judge=None), run_id="run-x")
    assert len(result.kept) == 4 and len(result.rejects) == 4
    return result


def test_folder_loads_with_datasets_and_rl_ground_truth_scores_kept_answers(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import datasets

    built = build_dataset_folder(
        samples.kept,
        samples.rejects,
        tmp_path / "ds",
        repo_id="org/cx",
        run_info={"run_id": "run-x", "models": {"responder": "scripted"}},
    )
    counts = {k: built.counts[k] for k in ("sft", "rl", "preference", "tripwires", "sft_reasoning", "contrast")}
    assert counts == {
        "sft": 4,
        "rl": 4,
        "preference": 4,
        "tripwires": len(tripwire_rows()),
        "sft_reasoning": 0,
        "contrast": 0,
    }
    sft = datasets.load_dataset(str(built.folder), "sft", split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert (
        len(sft) == 4
        and sft[0]["messages"][0]["role"] == "user"
        and sft[0]["messages"][1]["content"] == "a plain lowercase answer"
    )
    rl = datasets.load_dataset(str(built.folder), "rl", split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert set(rl.features) >= {"prompt", "ground_truth", "category", "constraint_ids"}
    assert len(rl) == 4
    for row in rl:
        assert compute_score(row["data_source"], row["reference_response"], row["ground_truth"]) == 2.0
        assert compute_score(row["data_source"], "NOT LOWERCASE", row["ground_truth"]) == -2.0
    pref = datasets.load_dataset(str(built.folder), "preference", split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert len(pref) == 4 and all(r["chosen_drfr"] > r["rejected_drfr"] for r in pref)
    # every hack of the tripwires config scores <= 0 with both reward signatures
    trip = datasets.load_dataset(str(built.folder), "tripwires", split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert len(trip) == built.counts["tripwires"] > 100
    trl = make_trl_reward()
    rewards = trl(prompts=trip["prompt"], completions=trip["response"], ground_truth=trip["ground_truth"])
    assert max(rewards) <= 0
    assert all(compute_score(r["data_source"], r["response"], r["ground_truth"]) <= 0 for r in trip)


def test_card_reports_stats_and_figures_from_the_data(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_dataset_folder(
        samples.kept, samples.rejects, tmp_path / "ds", repo_id="org/cx", run_info={"run_fingerprint": "abc123"}
    )
    card = (built.folder / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: rl" in card and "abc123" in card
    assert "| Single | 4 | 4 | 100.0% |" in card
    assert "![categories](figures/categories.png)" in card
    png = (built.folder / "figures" / "categories.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_digest_is_stable_and_changes_with_the_data(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = build_dataset_folder(samples.kept, samples.rejects, tmp_path / "a", repo_id="o/c", run_info={})
    b = build_dataset_folder(
        samples.kept, samples.rejects, tmp_path / "b", repo_id="o/c", run_info={"run_id": "other"}
    )
    c = build_dataset_folder(samples.kept[:3], samples.rejects, tmp_path / "c", repo_id="o/c", run_info={})
    assert a.digest == b.digest != c.digest


class FakeHub:
    """Stands in for HfApi in unit tests of the push decision logic."""

    def __init__(self, digest: str | None) -> None:
        self.digest = digest
        self.calls: list[str] = []

    def hf_hub_download(self, repo_id: str, filename: str, repo_type: str) -> str:
        from huggingface_hub.errors import EntryNotFoundError

        if self.digest is None:
            raise EntryNotFoundError("no file")
        p = Path(self.tmp) / "d.json"
        p.write_text(f'{{"digest": "{self.digest}"}}')
        return str(p)

    def create_repo(self, **kw: Any) -> None:
        self.calls.append("create_repo")

    def upload_folder(self, **kw: Any) -> Any:
        self.calls.append("upload_folder")
        return type("Info", (), {"oid": "abc"})()


def test_push_uploads_once_and_skips_unchanged(samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_dataset_folder(samples.kept, samples.rejects, tmp_path / "ds", repo_id="o/c", run_info={})
    fresh = FakeHub(None)
    fresh.tmp = str(tmp_path)  # type: ignore[attr-defined]
    assert push_folder(built, "o/c", api=fresh) == "abc" and fresh.calls == ["create_repo", "upload_folder"]
    same = FakeHub(built.digest)
    same.tmp = str(tmp_path)  # type: ignore[attr-defined]
    assert push_folder(built, "o/c", api=same) == "unchanged" and same.calls == []


def test_push_without_network_is_a_clear_error_and_keeps_the_folder(samples, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    built = build_dataset_folder(samples.kept, samples.rejects, tmp_path / "ds", repo_id="o/c", run_info={})
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE=1"):
        push_folder(built, "o/c")
    assert (built.folder / "README.md").exists()


def test_nothing_to_publish(tmp_path: Path) -> None:
    from pipeline.errors import UserInputError

    with pytest.raises(UserInputError, match="no kept samples"):
        build_dataset_folder([], [], tmp_path / "x", repo_id="o/c", run_info={})


def test_push_without_token_is_a_clear_error(samples, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored login
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    built = build_dataset_folder(samples.kept, samples.rejects, tmp_path / "ds", repo_id="o/c", run_info={})
    with pytest.raises(PublishError, match="no Hugging Face token"):
        push_folder(built, "o/c")
    assert (built.folder / "data" / "rl").is_dir()
