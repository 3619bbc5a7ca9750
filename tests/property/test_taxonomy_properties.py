"""Conflicts are declared once per pair, on either entry (or by `conflicts: all`), and hold both ways."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.construct.taxonomy import load_taxonomy

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "taxonomy"
N = 5
IDS = [f"x:s{i}" for i in range(N)]
PAIRS = [(a, b) for i, a in enumerate(IDS) for b in IDS[i + 1 :]]


def entry(sid: str, conflicts: list[str] | str, excepted: list[str]) -> str:
    lines = [
        f"  - id: {sid}",
        "    dimension: Length",
        "    description: a spec",
        '    phrasings: ["One.", "Two.", "Three."]',
        "    checker: judge",
        '    question: "Is it so?"',
    ]
    if conflicts:
        lines.append(f"    conflicts: {conflicts if conflicts == 'all' else '[' + ', '.join(conflicts) + ']'}")
    if excepted:
        lines.append(f"    conflicts_except: [{', '.join(excepted)}]")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    declared=st.dictionaries(st.sampled_from(PAIRS), st.sampled_from(["first", "second", "both"])),
    everything=st.none() | st.tuples(st.sampled_from(IDS), st.sets(st.sampled_from(IDS))),
)
def test_a_conflict_declared_on_one_side_holds_both_ways(
    declared: dict[tuple[str, str], str], everything: tuple[str, set[str]] | None
) -> None:
    lists: dict[str, list[str]] = {sid: [] for sid in IDS}
    for (a, b), side in declared.items():
        if side in ("first", "both"):
            lists[a].append(b)
        if side in ("second", "both"):
            lists[b].append(a)
    excepted: set[str] = set()
    wide = None
    if everything is not None:
        wide, excepted = everything[0], everything[1] - {everything[0]}
        lists[wide] = []  # its entry says `conflicts: all` instead of a list
        # an entry may not list the spec whose `conflicts: all` excepts it (the loader says so)
        for other in excepted:
            lists[other] = [x for x in lists[other] if x != wide]
    body = "".join(
        entry(sid, "all" if sid == wide else lists[sid], sorted(excepted) if sid == wide else []) for sid in IDS
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tax"
        shutil.copytree(FIXTURE, root)
        text = "vocabulary: complexify\nconstraints:\n" + body
        (root / "constraints" / "extra.yaml").write_text(text, encoding="utf-8")
        tax = load_taxonomy(root, check_checkers=False)
    for a, b in PAIRS:
        listed = b in lists[a] or a in lists[b]
        by_all = wide in (a, b) and ({a, b} - {wide}).isdisjoint(excepted)
        assert tax.conflicts(a, b) == tax.conflicts(b, a) == (listed or by_all), (a, b)
    assert all(tax.conflicts(s, s) for s in IDS)
