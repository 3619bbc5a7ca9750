"""Mutation test of the code checkers (`pipeline/checks/`): how many small bugs do the tests catch?

For each checker module this generates mutants with the `ast` module:

- `compare`: a comparison operator flipped (`<` <-> `<=`, `>` <-> `>=`, `==` <-> `!=`, `in` <-> `not in`);
- `const`: an integer constant used as a threshold moved by one (n -> n+1 and n -> n-1): an operand of a
  comparison (alone or inside arithmetic), a module-level integer constant, or a `minimum=`/`maximum=`
  keyword argument;
- `boolop`: one condition dropped from a boolean `and`/`or` (`a and b` -> `a` and -> `b`);
- `if`: an `if`/`elif` condition negated;
- `return`: a returned verdict flipped (`return True` <-> `return False`, and `return CheckResult(True, ...)`
  <-> `return CheckResult(False, ...)`, which is how checkers return their verdicts).

Each mutant is written into a copy of the repository (`pipeline/`, `taxonomy/`, `tests/`, `pyproject.toml`,
copied once per worker into a temporary directory); the tree under the repository is never touched. The
killing tests (the adversarial suite and the checks unit tests) run in a subprocess with `-x` and a
timeout; a failure or a timeout kills the mutant. Survivors are written to `--out` as JSON.

Mutants listed in `EQUIVALENT` (module, source line, mutation) cannot change behaviour; they are reported
with their reason and left out of the score's denominator.

    .venv/bin/python benchmarks/mutation_checkers.py --out /tmp/survivors.json
    .venv/bin/python benchmarks/mutation_checkers.py --modules length,words --max-mutants 20 --out /tmp/s.json
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = Path("pipeline/checks")
# `__init__.py` only imports the family modules: there is nothing to mutate.
SKIP_MODULES = frozenset({"__init__"})
KILLING_TESTS = (
    "tests/unit/test_adversarial_suite.py",
    "tests/unit/test_checks_ifeval.py",
    "tests/unit/test_checks_extended.py",
    "tests/unit/test_checks_rules.py",
)
KINDS = ("compare", "const", "boolop", "if", "return")

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_OP_TEXT: dict[type[ast.cmpop], str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
_THRESHOLD_KEYWORDS = frozenset({"minimum", "maximum"})

# Mutants that cannot change behaviour, keyed by (module, stripped source line, mutation): the source line
# rather than its number, so the list survives unrelated edits above it.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    (
        "counting.py",
        "return [s.strip() for s in _SENTENCE_BREAK.split(text) if s and _HAS_ALNUM.search(s)]",
        "drop `s` from `and` in `s and _HAS_ALNUM.search(s)`",
    ): "an empty piece has no letter or digit either, so the search alone rejects it",
    (
        "detectable.py",
        'if q >= 0 and line[p : q + 2].lstrip("<").rstrip(">").strip():',
        "0 -> -1",
    ): "with no `>>` after `<<`, q is -1 and line[p:1] is at most '<', which strips to nothing",
    (
        "format.py",
        "while i < len(lines) - 2:",
        "`<` -> `<=` in `i < len(lines) - 2`",
    ): "a header on the second-to-last line leaves no line for a data row, and tables without rows are dropped",
    (
        "format.py",
        "if not colon or not label.strip() or not _SLOT.search(slot):",
        "drop `not colon` from `or` in `not colon or not label.strip() or (not _SLOT.search(slot))`",
    ): "without a colon `partition` leaves the slot empty, so the slot test raises the same error",
    (
        "registry.py",
        "_VALID_MAX = 4096",
        "4096 -> 4095",
    ): "the size of a memo of validated argument names: it changes when the memo is cleared, never a result",
    (
        "registry.py",
        "if len(_VALID) >= _VALID_MAX:",
        "negate `if len(_VALID) >= _VALID_MAX`",
    ): "clearing the memo of validated argument names on every call only repeats the validation",
    (
        "views.py",
        "if q < 0:",
        "`<` -> `<=` in `q < 0`",
    ): "`-->` is searched from p + 4, so q is never 0",
    (
        "views.py",
        "ok = others >= len(members) and others > 0",
        "0 -> -1",
    ): "members is never empty, so others >= len(members) already makes others > 0",
}


@dataclass(frozen=True, slots=True)
class Mutant:
    """One mutation: where it is (module, line, index of the node in `ast.walk` order) and what it does."""

    module: str
    line: int
    node: int
    kind: str
    change: str
    source_line: str
    # For `compare`: which operator of a chained comparison; for `boolop`: which operand is dropped;
    # for `const`: the delta (+1 or -1).
    arg: int = 0


def _short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _threshold_ints(expr: ast.AST) -> Iterator[ast.Constant]:
    """Integer constants of a comparison operand: the operand itself or inside its arithmetic (`n - 1`),
    not inside calls or subscripts (`x[0]` is an index, not a threshold)."""
    if _is_int(expr):
        yield expr  # type: ignore[misc]
    elif isinstance(expr, ast.UnaryOp):
        yield from _threshold_ints(expr.operand)
    elif isinstance(expr, ast.BinOp):
        yield from _threshold_ints(expr.left)
        yield from _threshold_ints(expr.right)


def _verdict(node: ast.Return) -> ast.Constant | None:
    """The boolean constant a `return` hands back: `return True` or `return CheckResult(True, ...)`."""
    value = node.value
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "CheckResult":
        first = value.args[0] if value.args else next((k.value for k in value.keywords if k.arg == "passed"), None)
        if isinstance(first, ast.Constant) and isinstance(first.value, bool):
            return first
    return None


def find_mutants(module: str, source: str, kinds: tuple[str, ...] = KINDS) -> list[Mutant]:
    """Every mutant of `source` of the given kinds, in a deterministic order."""
    tree = ast.parse(source)
    lines = source.splitlines()
    nodes = list(ast.walk(tree))
    index = {id(n): i for i, n in enumerate(nodes)}
    out: list[Mutant] = []

    def add(node: ast.AST, kind: str, change: str, arg: int = 0) -> None:
        if kind in kinds:
            line = getattr(node, "lineno", 0)
            out.append(
                Mutant(module, line, index[id(node)], kind, change, lines[line - 1].strip() if line else "", arg)
            )

    def add_const(const: ast.Constant) -> None:
        for delta in (1, -1):
            add(const, "const", f"{const.value} -> {const.value + delta}", delta)

    top_level_constants = {
        id(stmt.value)
        for stmt in tree.body
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None and _is_int(stmt.value)
    }
    for node in nodes:
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                if type(op) in _FLIP:
                    add(
                        node,
                        "compare",
                        f"`{_OP_TEXT[type(op)]}` -> `{_OP_TEXT[_FLIP[type(op)]]}` in `{_short(node)}`",
                        j,
                    )
            for operand in (node.left, *node.comparators):
                for const in _threshold_ints(operand):
                    add_const(const)
        elif isinstance(node, ast.Constant) and id(node) in top_level_constants:
            add_const(node)
        elif isinstance(node, ast.keyword) and node.arg in _THRESHOLD_KEYWORDS and _is_int(node.value):
            add_const(node.value)  # type: ignore[arg-type]
        elif isinstance(node, ast.BoolOp):
            for j, value in enumerate(node.values):
                op = "and" if isinstance(node.op, ast.And) else "or"
                add(node, "boolop", f"drop `{_short(value, 40)}` from `{op}` in `{_short(node)}`", j)
        elif isinstance(node, ast.If):
            add(node, "if", f"negate `if {_short(node.test)}`")
        elif isinstance(node, ast.Return) and (const := _verdict(node)) is not None:
            add(node, "return", f"return {const.value} -> {not const.value} in `{_short(node)}`")
    return out


def apply_mutant(source: str, mutant: Mutant) -> str:
    """The module's source with `mutant` applied (re-parsed, so each mutant starts from the original)."""
    tree = ast.parse(source)
    node = list(ast.walk(tree))[mutant.node]
    if mutant.kind == "compare":
        assert isinstance(node, ast.Compare)
        node.ops[mutant.arg] = _FLIP[type(node.ops[mutant.arg])]()
    elif mutant.kind == "const":
        assert isinstance(node, ast.Constant)
        node.value = node.value + mutant.arg
    elif mutant.kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        del node.values[mutant.arg]
        if len(node.values) == 1:  # `a and b` minus `a` is `b` itself, not a one-operand BoolOp
            _replace_child(tree, node, node.values[0])
    elif mutant.kind == "if":
        assert isinstance(node, ast.If)
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif mutant.kind == "return":
        assert isinstance(node, ast.Return)
        const = _verdict(node)
        assert const is not None
        const.value = not const.value
    else:
        raise ValueError(f"unknown mutant kind {mutant.kind!r}")
    return ast.unparse(ast.fix_missing_locations(tree))


def _replace_child(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    """Put `new` where `old` sits in `tree`."""
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return
    raise ValueError("node not found in tree")


# --- running ---------------------------------------------------------------------------------------------


def make_copy(dest: Path) -> None:
    """Copy what the killing tests need into `dest` (bytecode caches left out, so they match this copy)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in ("pipeline", "taxonomy", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def run_tests(workdir: Path, timeout: float, write_bytecode: bool = False) -> tuple[bool, float, str]:
    """Run the killing tests in `workdir`: (passed, seconds, tail of output). A timeout counts as a failure."""
    env = dict(os.environ, PYTHONPATH=str(workdir), HF_HUB_OFFLINE="1")
    if not write_bytecode:
        # The caches of the unmutated modules stay valid; the mutated module must never leave one behind.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *KILLING_TESTS]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group we started: pytest and anything it spawned
        proc.communicate()
        return False, time.perf_counter() - start, "timeout"
    return proc.returncode == 0, time.perf_counter() - start, out.decode(errors="replace")[-2000:]


@dataclass(slots=True)
class Outcome:
    """A mutant's result."""

    mutant: Mutant
    killed: bool
    seconds: float
    equivalent: str | None = None


def run_mutant(workdir: Path, mutant: Mutant, original: str, timeout: float) -> Outcome:
    """Write the mutant into `workdir`, run the killing tests, restore the original module."""
    path = workdir / CHECKS / f"{mutant.module}.py"
    stat = path.stat()
    try:
        path.write_text(apply_mutant(original, mutant), encoding="utf-8")
        # A different mtime invalidates the module's cached bytecode even if the size happens to match.
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 7_000_000_000))
        passed, seconds, _ = run_tests(workdir, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the cached bytecode is valid again
    return Outcome(mutant, killed=not passed, seconds=seconds)


def checker_modules() -> list[str]:
    """The modules under pipeline/checks/ worth mutating."""
    return sorted(p.stem for p in (ROOT / CHECKS).glob("*.py") if p.stem not in SKIP_MODULES)


def sample(mutants: list[Mutant], limit: int | None) -> list[Mutant]:
    """At most `limit` mutants, spread evenly over the list (deterministic)."""
    if limit is None or len(mutants) <= limit:
        return mutants
    step = len(mutants) / limit
    return [mutants[int(i * step)] for i in range(limit)]


def main(argv: list[str] | None = None) -> int:
    """Generate and run the mutants; print the per-module table and the score; write survivors to --out."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file for the surviving mutants")
    ap.add_argument("--modules", help="comma-separated module names (default: every checker module)")
    ap.add_argument(
        "--kinds", default=",".join(KINDS), help=f"comma-separated mutant kinds (default: {','.join(KINDS)})"
    )
    ap.add_argument("--max-mutants", type=int, help="at most this many mutants per module, sampled evenly")
    ap.add_argument("--jobs", type=int, default=2, help="parallel test runs (default 2)")
    ap.add_argument("--timeout", type=float, help="seconds per mutant run (default: 10x the baseline, at least 60)")
    ap.add_argument("--rerun", type=Path, help="run only the survivors listed in this earlier --out file")
    args = ap.parse_args(argv)

    modules = args.modules.split(",") if args.modules else checker_modules()
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = [m for m in modules if not (ROOT / CHECKS / f"{m}.py").is_file()] + [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown module(s) or kind(s): {unknown}")
    sources = {m: (ROOT / CHECKS / f"{m}.py").read_text(encoding="utf-8") for m in modules}
    plan = {m: sample(find_mutants(m, sources[m], kinds), args.max_mutants) for m in modules}
    if args.rerun:
        # Matched by what they do, not by node index: the suite may have changed, the modules must not have.
        wanted = {
            (s["module"], s["line"], s["kind"], s["change"]) for s in json.loads(args.rerun.read_text())["survivors"]
        }
        plan = {m: [x for x in ms if (f"{m}.py", x.line, x.kind, x.change) in wanted] for m, ms in plan.items()}
    total = sum(len(v) for v in plan.values())
    print(f"{total} mutants in {len(modules)} module(s), {args.jobs} job(s)", flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        workdirs: queue.Queue[Path] = queue.Queue()
        baseline = 0.0
        for j in range(args.jobs):
            workdir = Path(tmp) / f"w{j}"
            make_copy(workdir)
            # Baseline: the unmutated modules as `ast.unparse` writes them (how every mutant is written) must
            # pass, or a kill would only mean "unparse changed something". This run also writes the caches.
            for m in modules:
                (workdir / CHECKS / f"{m}.py").write_text(ast.unparse(ast.parse(sources[m])), encoding="utf-8")
            ok, seconds, tail = run_tests(workdir, timeout=600, write_bytecode=True)
            if not ok:
                print(f"baseline fails in the copy; fix the tests first:\n{tail}", file=sys.stderr)
                return 2
            for m in modules:
                (workdir / CHECKS / f"{m}.py").write_text(sources[m], encoding="utf-8")
            ok, seconds, tail = run_tests(workdir, timeout=600, write_bytecode=True)
            if not ok:
                print(f"baseline fails in the copy:\n{tail}", file=sys.stderr)
                return 2
            baseline = max(baseline, seconds)
            workdirs.put(workdir)
        timeout = args.timeout or max(60.0, 10 * baseline)
        print(f"baseline run {baseline:.1f}s, timeout {timeout:.0f}s per mutant", flush=True)

        def job(mutant: Mutant) -> Outcome:
            workdir = workdirs.get()
            try:
                return run_mutant(workdir, mutant, sources[mutant.module], timeout)
            finally:
                workdirs.put(workdir)

        outcomes: list[Outcome] = []
        done = 0
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for outcome in pool.map(job, [m for ms in plan.values() for m in ms]):
                mut = outcome.mutant
                outcome.equivalent = EQUIVALENT.get((f"{mut.module}.py", mut.source_line, mut.change))
                outcomes.append(outcome)
                done += 1
                if not outcome.killed:
                    tag = "equivalent" if outcome.equivalent else "SURVIVED"
                    print(f"  [{done}/{total}] {tag} {mut.module}.py:{mut.line} {mut.kind}: {mut.change}", flush=True)
                elif done % 50 == 0:
                    print(f"  [{done}/{total}] ...", flush=True)
    elapsed = time.perf_counter() - started
    report(outcomes, modules, elapsed, args.out, print)
    return 0


def report(
    outcomes: list[Outcome], modules: list[str], elapsed: float, out: Path, emit: Callable[[str], None]
) -> None:
    """Print the per-module table and the score; write the survivors (and the equivalent ones) as JSON."""
    emit("")
    emit("| module | mutants | killed | survived | equivalent | score |")
    emit("|---|---|---|---|---|---|")
    tot = {"n": 0, "k": 0, "s": 0, "e": 0}
    for m in modules:
        mine = [o for o in outcomes if o.mutant.module == m]
        k = sum(o.killed for o in mine)
        e = sum(1 for o in mine if not o.killed and o.equivalent)
        s = len(mine) - k - e
        tot["n"] += len(mine)
        tot["k"] += k
        tot["s"] += s
        tot["e"] += e
        score = f"{100 * k / (k + s):.1f}%" if k + s else "-"
        emit(f"| {m} | {len(mine)} | {k} | {s} | {e} | {score} |")
    denom = tot["k"] + tot["s"]
    score = 100 * tot["k"] / denom if denom else 100.0
    emit(f"| **all** | {tot['n']} | {tot['k']} | {tot['s']} | {tot['e']} | **{score:.1f}%** |")
    emit("")
    emit(
        f"mutation score {score:.1f}% ({tot['k']} killed of {denom}; {tot['e']} equivalent left out) in {elapsed:.0f}s"
    )
    survivors = [
        {**asdict(o.mutant), "module": f"{o.mutant.module}.py", "equivalent": o.equivalent}
        for o in outcomes
        if not o.killed
    ]
    for s in survivors:
        s.pop("node")
        s.pop("arg")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"score": round(score, 2), "killed": tot["k"], "survived": tot["s"],
                               "equivalent": tot["e"], "seconds": round(elapsed), "survivors": survivors},
                              indent=2, ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
