"""The verification plan compiled from a composition tree: one check per constraint on the taken path, with
ComplexBench's dependencies."""

from __future__ import annotations

from pipeline import spans
from pipeline.construct.render import render_template
from pipeline.construct.taxonomy import Taxonomy
from pipeline.models import And, Chain, Check, Constraint, Node, Task, VerificationPlan

DECISION_CHECKER = "structure:selected_case"


def compile_plan(tree: Task, taxonomy: Taxonomy) -> VerificationPlan:
    """One Check per constraint on the taken path, plus one branch-decision check per taken Selection.

    Dependencies follow ComplexBench and are listed transitively: a Chain step's checks depend on every
    check of the earlier steps; a Selection branch's checks depend on its decision check.
    """
    checks: list[Check] = []
    correct: dict[str, str] = {}

    def new_id() -> str:
        return f"c{len(checks) + 1}"

    def walk(node: Node | None, scope: str, deps: list[str], comp: list[str], path: str) -> None:
        if node is None:
            return
        if isinstance(node, Constraint):
            spec = taxonomy.spec(node.spec_id)
            question = render_template(spec.question, node.params) if spec.question else None
            checks.append(
                Check(
                    id=new_id(),
                    kind="code" if spec.is_code else "judge",
                    checker=spec.checker_id,
                    kwargs=dict(node.params),
                    question=question,
                    scope=scope,
                    depends_on=sorted(set(deps), key=_check_order),
                    constraint_path=path,
                    spec_id=spec.id,
                    dimension=spec.dimension,
                    composition=sorted(set(comp)),
                )
            )
        elif isinstance(node, Task):
            walk(node.body, scope, deps, comp, f"{path}.body")
        elif isinstance(node, And):
            for i, child in enumerate(node.children):
                walk(child, scope, deps, [*comp, "And"], f"{path}.children[{i}]")
        elif isinstance(node, Chain):
            step_deps = list(deps)
            for i, step in enumerate(node.steps, start=1):
                before = len(checks)
                walk(step, spans.part_scope(scope, i), step_deps, [*comp, "Chain"], f"{path}.steps[{i - 1}]")
                step_deps = step_deps + [c.id for c in checks[before:]]
        else:
            decision = Check(
                id=new_id(),
                kind="code",
                checker=DECISION_CHECKER,
                kwargs={"expected": node.correct, "labels": [b.label for b in node.branches]},
                scope=spans.RAW_PREFIX + scope,
                depends_on=sorted(set(deps), key=_check_order),
                constraint_path=f"{path}.condition",
                dimension="Factuality",
                composition=sorted({*comp, "Selection"}),
            )
            checks.append(decision)
            correct[path] = node.correct
            idx = next(i for i, b in enumerate(node.branches) if b.label == node.correct)
            walk(
                node.branches[idx].body,
                scope,
                [*deps, decision.id],
                [*comp, "Selection"],
                f"{path}.branches[{idx}].body",
            )

    walk(tree, spans.RESPONSE, [], [], "tree")
    return VerificationPlan(checks=checks, correct_branches=correct)


def _check_order(check_id: str) -> int:
    return int(check_id[1:])
