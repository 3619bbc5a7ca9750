"""RunConfig validation and the quality gates."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.models import CheckVerdict, Response, Verdict
from pipeline.run.config import ConfigError, GateConfig, load_config, parse_config
from pipeline.run.gate import gate, repetition_share, text_gates, verdict_gate
from pipeline.run.identity import config_hash
from pipeline.run.ledger import Cell, Ledger, QuotaPlan


def test_minimal_config_gets_defaults_and_a_stable_fingerprint() -> None:
    a = parse_config({"samples": 10})
    assert a.models.responder.n == 2 and a.workers.local == 1 and a.gate.score == "all_pass"
    assert config_hash(a) == config_hash(parse_config({"samples": 10, "output_dir": "elsewhere"}))
    assert config_hash(a) != config_hash(parse_config({"samples": 11}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"samples": 10, "modles": {}}, "modles: unknown key"),
        ({"samples": 0}, "samples: Input should be greater than or equal to 1"),
        (
            {"samples": 5, "models": {"responder": {"sampling": {"temperature": 9}}}},
            "models.responder.sampling.temperature",
        ),
        ({"samples": 5, "mix": {"Chain_7": 1}}, "mix: category 'Chain_7'"),
        ({"samples": 5, "workers": {"local": 0}}, "no workers"),
        ({"samples": 5, "workers": {"local": 0, "endpoints": ["localhost:8000"]}}, "must start with http://"),
        (
            {"samples": 5, "seeds": {"sources": [{"path": "a.jsonl", "hf_dataset": "x/y"}]}},
            "exactly one of 'path' or 'hf_dataset'",
        ),
        ({"samples": 5, "compose": {"and_size": [1, 2]}}, "and_size must satisfy"),
        ({}, "samples: Field required"),
    ],
)
def test_bad_config_names_the_yaml_path(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "cfg.yaml")
    assert message in str(err.value)
    assert "cfg.yaml" in str(err.value)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("samples: -1\nbatch_size: 0\nnope: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    text = str(err.value)
    assert "samples" in text and "batch_size" in text and "nope: unknown key" in text


def test_missing_and_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("samples: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(p)


def verdict(*gated: bool) -> Verdict:
    checks = [CheckVerdict(check_id=f"c{i}", passed=g, gated=g) for i, g in enumerate(gated, 1)]
    n = sum(gated)
    return Verdict(checks=checks, all_pass=all(gated), drfr=n / len(gated), raif=0.0, n_checks=len(gated), n_passed=n)


@pytest.mark.parametrize(
    ("text", "finish", "reasons"),
    [
        ("A fine answer.", "stop", []),
        ("   ", "stop", ["empty"]),
        ("Half an ans", "length", ["truncated"]),
        ("I'm sorry, but I can't help with that.", "stop", ["refusal"]),
        ("the cat sat on the mat " * 30, "stop", ["repetition"]),
    ],
)
def test_text_gates(text: str, finish: str, reasons: list[str]) -> None:
    assert text_gates(Response(text=text, finish_reason=finish), GateConfig()) == reasons


def test_score_gates() -> None:
    assert verdict_gate(verdict(True, False, True), GateConfig()) == ["failed_check:c2"]
    assert verdict_gate(verdict(True, False, True), GateConfig(score="drfr", threshold=0.6)) == []
    assert verdict_gate(verdict(True, False, False), GateConfig(score="drfr", threshold=0.6))[0].startswith(
        "score_below_threshold"
    )
    kept, reasons = gate(Response(text="ok answer"), verdict(True, True), GateConfig())
    assert kept and reasons == []


def test_repetition_share_bounds() -> None:
    assert repetition_share("one two three four five six seven eight nine ten eleven twelve") == 0.0
    assert repetition_share("a b c d " * 50) > 0.9


def test_the_ledger_gives_low_yield_categories_more_attempts_within_bound() -> None:
    q = Ledger(QuotaPlan.of({Cell("And_1"): 2, Cell("Chain_2"): 1}, attempts_factor=3, batch_size=1))
    q.attempts["And_1"] += 2
    q.kept["And_1"] += 2
    assert q.open_cells() == ["Chain_2"]
    q.attempts["Chain_2"] += 3
    assert q.done()
    summary = {row.category: row for row in q.summary()}
    assert summary["Chain_2"].attempts == 3 and summary["Chain_2"].met is False and summary["And_1"].met is True


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_bundled_config_loads_and_can_compose_what_it_asks_for(path: Path) -> None:
    from pipeline.construct.taxonomy import load_taxonomy
    from pipeline.run.preflight import check_composable, check_grid

    cfg = load_config(path)
    taxonomy = load_taxonomy()
    check_composable(cfg, taxonomy)
    check_grid(cfg, taxonomy)
