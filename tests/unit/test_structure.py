"""The library's shape: wings in data-flow order, each importing only itself and the wings below it; no import
cycle between modules or between wings; modules small enough to read; Prefect only in flows/.

Every import counts: at module level, inside functions and under TYPE_CHECKING alike. A function-level import
still makes its module depend on the target, and a type-only one still says the module knows the target.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500
MAX_STORE_LINES = 400  # the store package was split by concern; each part stays well below the general limit

# The wings, lowest first. A module belongs to the first wing whose prefix it has; the records are a handful of
# leaf modules at the top of the package, everything else lives in a wing's folder.
RECORDS = (
    "pipeline",
    "pipeline.models",
    "pipeline.errors",
    "pipeline.spans",
    "pipeline.reasoning",
    "pipeline.config_base",
    "pipeline.project",
)
WINGS: list[tuple[str, tuple[str, ...]]] = [
    ("records", RECORDS),
    ("checks", ("pipeline.checks",)),
    ("construct", ("pipeline.construct",)),
    ("seeding", ("pipeline.seeding",)),
    ("llm", ("pipeline.llm",)),
    ("verify", ("pipeline.verify",)),
    ("store", ("pipeline.store",)),
    ("run", ("pipeline.run",)),
    ("publish", ("pipeline.publish",)),
    ("train", ("pipeline.train",)),
    ("bench", ("pipeline.bench",)),
    ("flows", ("flows",)),
    ("cli", ("pipeline.cli",)),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for top in ("pipeline", "flows") for p in sorted((ROOT / top).rglob("*.py"))}


def wing_of(module: str) -> int | None:
    for k, (name, prefixes) in enumerate(WINGS):
        if name == "records":
            if module in prefixes:
                return k
        elif any(module == p or module.startswith(p + ".") for p in prefixes):
            return k
    return None


def imports(module: str) -> Iterator[str]:
    """Every project module that `module` imports, wherever the import sits."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from pipeline import store` imports the module pipeline.store; `from x import name` only x
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target in MODULES and target != module:
                yield target


def external_imports(module: str) -> Iterator[str]:
    """Top-level names of the outside packages `module` imports."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


EDGES = {m: set(imports(m)) for m in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_wing() -> None:
    assert sorted(m for m in MODULES if wing_of(m) is None) == []


def test_a_module_imports_only_its_own_wing_and_the_wings_below() -> None:
    upward = []
    for module, targets in EDGES.items():
        mine = wing_of(module)
        assert mine is not None
        for target in sorted(targets):
            theirs = wing_of(target)
            assert theirs is not None
            if theirs > mine:
                upward.append(f"{module} ({WINGS[mine][0]}) -> {target} ({WINGS[theirs][0]})")
    assert upward == [], "imports against the data flow:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules() -> None:
    assert cycles(EDGES) == []


def test_no_import_cycles_between_folders() -> None:
    def folder(module: str) -> str:
        return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]

    edges: dict[str, set[str]] = {folder(m): set() for m in MODULES}
    for module, targets in EDGES.items():
        edges[folder(module)].update(folder(t) for t in targets if folder(t) != folder(module))
    # a package's __init__ and the modules of its folder are one node; a parent folder may import its children
    for node in list(edges):
        edges[node] = {t for t in edges[node] if not t.startswith(node + ".")}
    assert cycles(edges) == []


def test_the_wings_order_itself_is_checked_on_real_imports() -> None:
    # the test above must not pass vacuously: the data flow's own edges are there
    assert "pipeline.construct.taxonomy" in EDGES["pipeline.run.generate"]
    assert any(t.startswith("pipeline.checks") for t in EDGES["pipeline.construct.taxonomy"])
    assert any(t.startswith("pipeline.run") for t in EDGES["flows.generate"])


def test_modules_stay_small() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    too_big = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert too_big == {}, f"split these modules (over {MAX_LINES} lines): {too_big}"
    store = {m: n for m, n in sizes.items() if m.startswith("pipeline.store.") and n > MAX_STORE_LINES}
    assert store == {}, f"store modules over {MAX_STORE_LINES} lines: {store}"


def test_only_flows_import_prefect() -> None:
    users = sorted(m for m in MODULES if "prefect" in set(external_imports(m)) and wing_of(m) != wing_of("flows"))
    assert users == []


def test_the_run_and_its_stages_import_at_module_level() -> None:
    # the run's modules sit in the middle of the data flow: a function-level import there hides a dependency
    for module in (
        "pipeline.run.generate",
        "pipeline.run.stages",
        "pipeline.run.planning",
        "pipeline.run.serving",
        "pipeline.run.driver",
    ):
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        inside = [
            node for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(fn) if isinstance(node, ast.Import | ast.ImportFrom)
            and (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name or "").startswith("pipeline")
        ]  # fmt: skip
        assert inside == [], f"{module} imports inside functions"
