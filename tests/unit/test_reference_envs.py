"""The reference checkers' environments are for benchmarks only: `make test` and `make run` never build them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _targets() -> dict[str, tuple[list[str], list[str]]]:
    """Makefile target -> (prerequisites, recipe lines)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        rule = re.match(r"^([A-Za-z0-9_.-]+):(?!=)\s*(.*)$", line)
        if rule and not line.startswith("\t"):
            current = rule.group(1)
            out[current] = (rule.group(2).split(), [])
        elif line.startswith("\t") and current is not None:
            out[current][1].append(line)
        elif line.strip() and not line.startswith("#"):
            current = None
    return out


def _closure(targets: dict[str, tuple[list[str], list[str]]], name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        t = todo.pop()
        if t in seen or t not in targets:
            continue
        seen.add(t)
        todo += targets[t][0]
    return seen


def test_make_test_and_run_never_build_the_ifbench_reference_env() -> None:
    targets = _targets()
    assert "ifbench-ref" in " ".join(targets["ifbench-ref-env"][1])
    for goal in ("test", "run", "test-unit", "bench"):
        reached = _closure(targets, goal)
        assert "ifbench-ref-env" not in reached, goal
        recipes = " ".join(line for t in reached for line in targets[t][1])
        assert "ifbench-ref" not in recipes and "ifeval-ref" not in recipes, goal


def test_the_ifbench_reference_requirements_are_pinned() -> None:
    lines = [
        ln.split("#")[0].strip()
        for ln in (ROOT / "requirements" / "ifbench-ref.txt").read_text(encoding="utf-8").splitlines()
    ]
    pins = [ln for ln in lines if ln]
    assert "nvidia-ifbench==26.3" in pins and "nltk==3.9.1" in pins
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", p) for p in pins), pins
