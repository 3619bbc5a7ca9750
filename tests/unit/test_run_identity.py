"""The run identity lists what counts: every config key is in IDENTITY_KEYS or NOT_IDENTITY, a key of a counted section
changes the config hash whatever its value (no default hides it), and the scheme is versioned."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from pipeline.run import identity
from pipeline.run.config import RunConfig, parse_config
from pipeline.run.identity import IDENTITY_KEYS, IDENTITY_VERSION, NOT_IDENTITY, config_hash, run_inputs


def key_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key a config can hold, as a dotted path (a nested section's keys too)."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from key_paths(annotation, f"{path}.")


def owner(path: str) -> str | None:
    """The listed key (in either list) that decides `path`: the longest one it starts with."""
    listed = [k for k in (*IDENTITY_KEYS, *NOT_IDENTITY) if path == k or path.startswith(f"{k}.")]
    return max(listed, key=len, default=None)


def test_every_config_key_is_placed_on_purpose() -> None:
    paths = set(key_paths(RunConfig))
    assert not set(IDENTITY_KEYS) & set(NOT_IDENTITY)
    assert set(IDENTITY_KEYS) <= paths and set(NOT_IDENTITY) <= paths  # no stale names
    unplaced = sorted(p for p in paths if owner(p) is None)
    assert unplaced == [], (
        f"put these config keys in IDENTITY_KEYS or NOT_IDENTITY (pipeline/run/identity.py): {unplaced}"
    )


BASE: dict[str, Any] = {"samples": 8}

COUNTED = [  # keys whose defaults used to be left out of the hash; each one counts now, at any value
    {"compose": {"siblings": True}},
    {"gate": {"reject_shallow_reasoning": True}},
    {"hardening": {"enabled": True}},
    {"hardening": {"moves": ["constraint", "chain_step"]}},
    {"models": {"student": {"enabled": True}}},
    {"models": {"student": {"rollouts": 4}}},  # even while the student is off
    {"models": {"responder": {"reasoning": "prompted"}}},
    {"grid": {"renderings": ["prose"]}},
    {"workers": {"max_model_len": 4096}},
    {"batches_in_flight": 4},
    {"random_seed": 1},
]
NOT_COUNTED = [
    {"name": "another label"},
    {"output_dir": "elsewhere"},
    {"workers": {"max_concurrency": 8, "request_timeout_s": 30, "cpu_binding": "none"}},
    {"workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]}},
]


@pytest.mark.parametrize("change", COUNTED, ids=lambda c: str(c))
def test_a_counted_key_changes_the_config_hash(change: dict[str, Any]) -> None:
    assert config_hash(parse_config({**BASE, **change})) != config_hash(parse_config(BASE))


@pytest.mark.parametrize("change", NOT_COUNTED, ids=lambda c: str(c))
def test_where_and_by_whom_a_run_is_served_does_not_count(change: dict[str, Any]) -> None:
    assert config_hash(parse_config({**BASE, **change})) == config_hash(parse_config(BASE))


def test_the_identity_is_versioned(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config(BASE)
    inputs = run_inputs(cfg)
    assert inputs["identity_version"] == IDENTITY_VERSION == 2 and inputs["config"] == config_hash(cfg)
    before = config_hash(cfg)
    monkeypatch.setattr(identity, "IDENTITY_VERSION", IDENTITY_VERSION + 1)
    assert config_hash(cfg) != before and run_inputs(cfg)["identity_version"] == IDENTITY_VERSION + 1


def test_the_config_part_holds_exactly_the_listed_keys() -> None:
    part = identity.identity_config(parse_config(BASE))
    assert list(part) == list(IDENTITY_KEYS) and part["workers.max_model_len"] == 2048
    assert "name" not in part and "output_dir" not in part and "workers" not in part
