"""Where the LLM layer keeps things: project cache, worker environment, prepared models, worker state."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.project import ROOT as PROJECT_ROOT

ROOT = PROJECT_ROOT


def cache_dir() -> Path:
    """The project cache (same place scripts/ensure_env.sh uses): $COMPLEXIFY_CACHE or ~/.cache/complexify."""
    return Path(os.environ.get("COMPLEXIFY_CACHE") or Path.home() / ".cache" / "complexify")


def vllm_python() -> Path:
    """Python of the worker environment; $COMPLEXIFY_VLLM_PYTHON overrides (e.g. a CUDA vLLM install)."""
    override = os.environ.get("COMPLEXIFY_VLLM_PYTHON")
    return Path(override) if override else ROOT / ".venv-vllm" / "bin" / "python"


def models_dir() -> Path:
    return cache_dir() / "models"


def workers_state_file() -> Path:
    return cache_dir() / "workers" / "state.json"


def default_cache_db() -> Path:
    """The request cache: $COMPLEXIFY_REQUEST_CACHE, or requests.sqlite in the project cache."""
    override = os.environ.get("COMPLEXIFY_REQUEST_CACHE")
    return Path(override) if override else cache_dir() / "requests.sqlite"
