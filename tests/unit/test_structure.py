"""The library's shape: imports follow the data flow (no cycles) and modules stay small enough to read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
MAX_LINES = 500
MAX_STORE_LINES = 400  # the store package was split by concern; each part stays well below the general limit

# Modules over MAX_LINES today, each being split. Remove a module once it is under the limit (the test says so).
OVERSIZED = {"pipeline.seeds"}

# Function-level imports that close an import cycle today (module -> the module it imports inside a function).
# Each one hides a dependency against the data flow; remove an entry once its cycle is gone (the test says so).
CYCLE_CLOSING_IMPORTS = {
    # the registry loads every checker family on first use; the families register into the registry
    ("pipeline.verify.checks.registry", "pipeline.verify.checks"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PIPELINE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PIPELINE.rglob("*.py"))}


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield child, inside
        yield from _walk(child, inside)


def imports(module: str) -> Iterator[tuple[str, bool]]:
    """(imported pipeline module, whether the import sits inside a function) for every import of `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node, in_function in _walk(tree, False):
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
                yield target, in_function


def graph(*, with_function_imports: bool) -> dict[str, set[str]]:
    return {m: {t for t, in_function in imports(m) if with_function_imports or not in_function} for m in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
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


def test_module_level_imports_have_no_cycles() -> None:
    assert cycles(graph(with_function_imports=False)) == []


def test_function_level_imports_do_not_hide_cycles() -> None:
    edges = graph(with_function_imports=True)
    together = {m: component for component in cycles(edges) for m in component}
    for module, target in sorted(CYCLE_CLOSING_IMPORTS):
        assert target in together.get(module, set()), f"{module} -> {target} closes no cycle: remove it from the list"
        edges[module].discard(target)
    assert cycles(edges) == [], "a function-level import closes an import cycle: move the shared code lower"


def test_modules_stay_small() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    too_big = {m: n for m, n in sizes.items() if n > MAX_LINES and m not in OVERSIZED}
    assert too_big == {}, f"split these modules (over {MAX_LINES} lines): {too_big}"
    shrunk = sorted(m for m in OVERSIZED if sizes.get(m, 0) <= MAX_LINES)
    assert shrunk == [], f"now at most {MAX_LINES} lines: remove {shrunk} from OVERSIZED"
    store = {m: n for m, n in sizes.items() if m.startswith("pipeline.store.") and n > MAX_STORE_LINES}
    assert store == {}, f"store modules over {MAX_STORE_LINES} lines: {store}"


def test_the_run_and_its_stages_import_at_module_level() -> None:
    # the run's modules sit in the middle of the data flow: a function-level import there hides a dependency
    for module in ("pipeline.generate", "pipeline.stages", "pipeline.planning", "pipeline.serving", "pipeline.driver"):
        inside = sorted(target for target, in_function in imports(module) if in_function)
        assert inside == [], f"{module} imports {inside} inside functions"


def test_the_cli_does_not_import_flows_at_module_level() -> None:
    tree = ast.parse((PIPELINE / "cli.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not any(name == "flows" or name.startswith("flows.") for name in names)
