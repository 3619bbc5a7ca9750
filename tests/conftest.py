"""Test-wide settings: offline, no telemetry; property tests draw the same examples on every CI run."""

from __future__ import annotations

import os

from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Locally every run draws new examples (and finds new bugs); CI draws a fixed set, so a red CI is reproducible
# and a green main stays green. Tests that set their own `settings` inherit this profile's derandomize.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
