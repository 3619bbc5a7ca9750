"""A run's identity: everything that changes its data, hashed into the name of its folder.

Two names, two hashes. The **config hash** (`config_hash`) covers the config keys listed in IDENTITY_KEYS. The
**run fingerprint** (`run_fingerprint`, the folder under `<output_dir>/runs/`) covers the config hash and every other
input (`run_inputs`): the config alone is not enough, since editing a taxonomy phrasing, a seed line or a prompt
template changes what a run makes, so a rerun after such an edit starts a new run beside the old one instead of
appending to it.

Every key of the config is in IDENTITY_KEYS or in NOT_IDENTITY, on purpose (a test checks it). A key listed as a
section (`compose`) brings every key the section holds, so a new option counts by itself, with no default to hide
behind; the identity then changes for every config, and README's "Upgrading" says so. IDENTITY_VERSION names the
scheme; it is part of both hashes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import fingerprint_of
from pipeline.project import PROMPTS_DIR
from pipeline.run.config import RoleConfig, RunConfig
from pipeline.seeding.load import seed_files


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


IDENTITY_VERSION = 2

# The config keys that enter the run's identity: dotted paths into the config, a section with every key it holds.
IDENTITY_KEYS: tuple[str, ...] = (
    "samples",
    "mix",
    "attempts_factor",
    "batch_size",  # with batches_in_flight, when each batch is planned (what it knows of the batches before it)
    "batches_in_flight",
    "repair_rounds",
    "random_seed",
    "compose",
    "seeds",  # the sources as given; their content is an input of its own (run_inputs)
    "models",  # every role's model, sampling, reasoning, judge calibration, student
    "gate",
    "difficulty",
    "fidelity",
    "hardening",
    "grid",
    "workers.max_model_len",  # decides which seeds fit the context (seed selection drops the longer ones)
)
# What else the config holds, and why it does not change what a run makes.
NOT_IDENTITY: dict[str, str] = {
    "name": "a label (run.json, the catalog)",
    "output_dir": "where the run is written",
    "workers": "which servers answer and how (local or endpoints, requests at once, timeouts, CPU placement)",
    "prices": "what tokens cost: reports only",
    "budget": "where a run stops; rerun with a larger one to go on with the same run",
}


def identity_config(cfg: RunConfig) -> dict[str, Any]:
    """The config's part of the run identity: the value of every IDENTITY_KEYS path."""
    dump = cfg.model_dump(mode="json")
    out: dict[str, Any] = {}
    for key in IDENTITY_KEYS:
        value: Any = dump
        for part in key.split("."):
            value = value[part]
        out[key] = value
    return out


def config_hash(cfg: RunConfig) -> str:
    """The config hash: the identity of the dataset the config asks for, whatever its inputs' content."""
    return fingerprint_of({"identity_version": IDENTITY_VERSION, "config": identity_config(cfg)})


def template_hashes() -> dict[str, str]:
    """Short hashes of every prompt template, recorded as provenance with each sample."""
    return {p.name: _file_digest(p)[:12] for p in sorted(PROMPTS_DIR.glob("*.yaml"))}


def role_models(cfg: RunConfig) -> dict[str, str]:
    """The model each enabled role uses."""
    roles: dict[str, RoleConfig] = {"responder": cfg.models.responder}
    if cfg.models.rewriter.enabled:
        roles["rewriter"] = cfg.models.rewriter
    if cfg.models.judge.enabled:
        roles["judge"] = cfg.models.judge
    if cfg.models.student.enabled:  # its rollouts decide which samples are kept (the difficulty band)
        roles["student"] = cfg.models.student
    return {name: role.model for name, role in roles.items()}


def seed_digests(cfg: RunConfig) -> list[dict[str, Any]]:
    """Content hash of every local seed file (a folder: each seed file the loader reads from it, `seed_files`); a
    hub dataset by its coordinates."""
    out: list[dict[str, Any]] = []
    for src in cfg.seeds.sources:
        if src.path is None:
            out.append({"hf_dataset": src.hf_dataset, "config": src.hf_config, "split": src.split})
            continue
        path = cfg.resolve(src.path)
        files = seed_files(path) if path.is_dir() else [path]
        out.append({"path": src.path, "files": {p.name: _file_digest(p) for p in files if p.exists()}})
    for bench in cfg.seeds.decontaminate:
        path = cfg.resolve(bench)
        out.append({"decontaminate": bench, "digest": _file_digest(path) if path.is_file() else None})
    return out


def run_inputs(cfg: RunConfig) -> dict[str, Any]:
    """What the run's data depends on, part by part (recorded in run.json to say what changed)."""
    return {
        "identity_version": IDENTITY_VERSION,
        "config": config_hash(cfg),
        "taxonomy": load_taxonomy().version,
        "seeds": fingerprint_of(seed_digests(cfg)),
        "templates": fingerprint_of(template_hashes()),
        "models": fingerprint_of(role_models(cfg)),
        **_judge_gold_digest(cfg),
    }


def _judge_gold_digest(cfg: RunConfig) -> dict[str, str | None]:
    """The judge's gold file decides `auto` judge routes, so its content is an input (absent: no entry, no change)."""
    gold = cfg.models.judge.calibration.gold_file
    if gold is None:
        return {}
    path = cfg.resolve(gold)
    return {"judge_gold": _file_digest(path) if path.is_file() else None}


def run_fingerprint(cfg: RunConfig, inputs: dict[str, Any] | None = None) -> str:
    """The run fingerprint, the run's folder name under `<output_dir>/runs/`: changes when the config hash or any
    other input changes."""
    return fingerprint_of(inputs or run_inputs(cfg))


def changed_inputs(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of the parts that differ between two `run_inputs` records."""
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
