"""The process tree as /proc shows it, for tests that check what a run leaves behind."""

from __future__ import annotations

from pathlib import Path

from pipeline.llm.proc import stat_fields


def is_zombie(pid: int) -> bool:
    """True if `pid` has exited and waits for its parent to reap it."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] == "Z"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` in the parent chain (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out
