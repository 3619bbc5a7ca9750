"""Where the project's own files are: the checkout, its prompt templates and its taxonomy."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = ROOT / "prompts"
TAXONOMY_DIR = ROOT / "taxonomy"
