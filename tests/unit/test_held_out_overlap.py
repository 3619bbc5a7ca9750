"""The held-out overlap check: a run whose allowed constraints behave like a held-out (ifbench) constraint is refused
before it starts, whatever the copy is called; the bundled taxonomy is not flagged."""

from __future__ import annotations

import inspect
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.checks.registry import CHECKERS, CheckResult, checker, get_checker
from pipeline.construct.options import DEFAULT_VOCABULARIES
from pipeline.construct.taxonomy import Taxonomy, load_taxonomy
from pipeline.models import ConstraintSpec
from pipeline.project import TAXONOMY_DIR
from pipeline.run.config import ConfigError, parse_config
from pipeline.run.preflight import check_held_out_overlap
from pipeline.verify import overlap
from pipeline.verify.overlap import _Verdicts, find_overlaps, held_out_overlaps, matched_draws, probe_corpus
from tests.helpers.cli import run_cli

NEAR = "mine:near_copy"


def informative_held_out_spec(tax: Taxonomy) -> ConstraintSpec:
    """A held-out spec with parameters whose verdicts on the probes tell texts apart (what a copy is caught by)."""
    verdicts = _Verdicts(probe_corpus(tax))
    for spec in sorted(tax.specs.values(), key=lambda s: (-len(s.params), s.id)):  # most parameters first
        if spec.vocabulary == "ifbench" and spec.is_code and spec.params:
            if any(any(v) and not all(v) for v in verdicts.all(spec, matched_draws(spec, tax.pools))):
                return spec
    raise AssertionError("no informative ifbench spec with parameters in the taxonomy")


def raw_entry(spec: ConstraintSpec) -> dict[str, Any]:
    doc = yaml.safe_load(Path(spec.source_file).read_text(encoding="utf-8"))
    entry = next(e for e in doc["constraints"] if e["id"] == spec.id)
    return {k: v for k, v in entry.items() if k not in ("conflicts", "conflicts_except")}


def with_file(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    root = tmp_path / "taxonomy"
    shutil.copytree(TAXONOMY_DIR, root)
    text = yaml.safe_dump({"vocabulary": "complexify", "constraints": entries}, sort_keys=False, allow_unicode=True)
    (root / "constraints" / "mine.yaml").write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def original() -> ConstraintSpec:
    return informative_held_out_spec(load_taxonomy())


def renamed_copy(spec: ConstraintSpec) -> dict[str, Any]:
    entry = raw_entry(spec)
    entry.pop("vocabulary", None)  # takes the file's: complexify
    return {**entry, "id": "mine:renamed_copy", "dimension": "Length", "tags": ["mine"]}


@pytest.fixture()
def near_copy(original: ConstraintSpec) -> Iterator[dict[str, Any]]:
    """The original's checker registered under a new id with its keyword arguments renamed, and an entry with
    another id, other parameter names in the reverse order, and its own wording."""
    inner = get_checker(original.checker_id or "")
    rename = {p.name: f"the_{p.name}" for p in original.params}

    def near(response: str, **kwargs: Any) -> CheckResult:
        return inner.fn(response, **{old: kwargs[new] for old, new in rename.items() if new in kwargs})

    # the registry reads a checker's keyword arguments from its signature
    near.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("response", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in rename.values()]
    )
    checker(NEAR)(near)
    entry = raw_entry(original)
    entry.pop("vocabulary", None)
    params = entry.get("params") or {}
    dependent = any("offset_from" in d or "at_most" in d for d in params.values())
    order = list(params) if dependent else list(reversed(params))
    renamed_params = {}
    for name in order:
        desc = dict(params[name])
        for ref in ("offset_from", "at_most"):
            if ref in desc:
                desc[ref] = rename[desc[ref]]
        renamed_params[rename[name]] = desc
    stated = [new for old, new in rename.items() if params[old]["type"] not in ("context", "const")]
    fields = " and ".join(f"{{{n}}}" for n in stated)
    try:
        yield {
            "id": NEAR,
            "dimension": original.dimension,
            "description": "a near copy",
            "params": renamed_params,
            "phrasings": [f"Mind {fields}.", f"Keep to {fields}.", f"Follow {fields}."],
            "checker": f"code:{NEAR}",
            "counts": [],
        }
    finally:
        CHECKERS.pop(NEAR, None)


def held_out(tax: Taxonomy) -> list[ConstraintSpec]:
    return [s for s in tax.specs.values() if s.vocabulary == "ifbench"]


def test_the_bundled_taxonomy_is_not_flagged_and_a_run_start_reads_the_cached_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tax = load_taxonomy()
    monkeypatch.setattr(overlap, "cache_dir", lambda: tmp_path)
    path = overlap._cache_file(tax, DEFAULT_VOCABULARIES)
    assert path.parent == tmp_path / "overlap"
    # the key names what the answer depends on; pinned here, as others may edit checkers while this runs
    monkeypatch.setattr(overlap, "_cache_file", lambda *_: path)
    assert held_out_overlaps(tax, DEFAULT_VOCABULARIES) == []  # computed, and written to the cache
    assert path.is_file()
    overlap._memo.clear()  # as a new process would

    def never(*_: object) -> list[overlap.Overlap]:
        raise AssertionError("computed again instead of read from the cache")

    monkeypatch.setattr(overlap, "find_overlaps", never)
    t0 = time.monotonic()
    assert held_out_overlaps(tax, DEFAULT_VOCABULARIES) == []
    assert time.monotonic() - t0 < 0.5


def test_a_renamed_copy_of_an_ifbench_spec_is_caught(tmp_path: Path, original: ConstraintSpec) -> None:
    tax = load_taxonomy(with_file(tmp_path, [renamed_copy(original)]))
    found = find_overlaps(tax, [tax.spec("mine:renamed_copy")], held_out(tax))
    assert [(o.allowed, o.held_out) for o in found] == [("mine:renamed_copy", original.id)]
    assert found[0].held_out_vocabulary == "ifbench" and found[0].allowed_vocabulary == "complexify"
    # composing ifbench on purpose: nothing is held out, nothing to refuse
    assert held_out_overlaps(tax, [*DEFAULT_VOCABULARIES, "ifbench"], use_cache=False) == []


def test_a_near_copy_with_other_ids_and_argument_names_is_caught(
    tmp_path: Path, original: ConstraintSpec, near_copy: dict[str, Any]
) -> None:
    tax = load_taxonomy(with_file(tmp_path, [near_copy]))
    found = find_overlaps(tax, [tax.spec(NEAR)], held_out(tax))
    assert [(o.allowed, o.held_out) for o in found] == [(NEAR, original.id)]


def test_the_run_is_refused_naming_the_pair(tmp_path: Path, original: ConstraintSpec) -> None:
    root = with_file(tmp_path, [renamed_copy(original)])
    cfg = parse_config({"samples": 1, "compose": {"checkers": "code"}})
    with pytest.raises(ConfigError) as err:
        check_held_out_overlap(cfg, load_taxonomy(root))
    message = str(err.value)
    assert message.startswith("compose.vocabularies: the spec 'mine:renamed_copy' (vocabulary complexify) behaves ")
    assert f"like the held-out spec {original.id!r} (vocabulary ifbench)" in message
    config = tmp_path / "cfg.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "samples": 1,
                "compose": {"checkers": "code"},
                "workers": {"local": 0, "endpoints": ["http://127.0.0.1:9"]},
                "output_dir": str(tmp_path / "out"),
            }
        )
    )
    out = run_cli("run", "--config", str(config), "--no-progress", env={"COMPLEXIFY_TAXONOMY": str(root)})
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert "'mine:renamed_copy' (vocabulary complexify) behaves like the held-out spec" in lines[0]
    assert not (tmp_path / "out").exists()
