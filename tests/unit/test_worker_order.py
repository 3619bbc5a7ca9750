"""The order that lets the shared vLLM worker stop early: its tests contiguous, modules kept whole."""

from __future__ import annotations

from dataclasses import dataclass

from tests.helpers.worker_order import last_worker_test, needs_worker, order_for_shared_worker


@dataclass(frozen=True)
class FakeItem:
    nodeid: str
    fixturenames: tuple[str, ...] = ()


def item(module: str, name: str, *fixtures: str) -> FakeItem:
    return FakeItem(f"tests/{module}.py::{name}", fixtures)


def test_worker_tests_form_one_block_at_the_end_with_modules_whole() -> None:
    items = [
        item("a_e2e", "t_plain", "tmp_path", "prefect_api"),
        item("a_e2e", "t_gen", "vllm_endpoint", "prefect_api"),
        item("b_unit", "t1"),
        item("c_engine", "t_engine", "make_engine", "vllm_endpoint"),
        item("c_engine", "t_fast"),
        item("c_engine", "t_engine2", "make_engine", "vllm_endpoint"),
        item("d_crash", "t_crash", "tmp_path"),
        item("e_deploy", "t_deploy", "vllm_endpoint", "deployed"),
    ]
    ordered = order_for_shared_worker(items)
    assert sorted(i.nodeid for i in ordered) == sorted(i.nodeid for i in items)  # a permutation
    names = [i.nodeid.split("::")[1] for i in ordered]
    # modules without worker tests first, in their order; the first worker module starts with its other tests,
    # the later ones end with them; relative order within a module is kept
    assert names == ["t1", "t_crash", "t_plain", "t_gen", "t_engine", "t_engine2", "t_fast", "t_deploy"]
    flags = [needs_worker(i) for i in ordered]
    first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
    assert [i for i in ordered[first : last + 1] if not needs_worker(i)] == [
        items[4]
    ]  # only a module's own test sits inside
    assert last_worker_test(ordered) == "tests/e_deploy.py::t_deploy"


def test_nothing_moves_without_worker_tests() -> None:
    items = [item("m", f"t{k}", "tmp_path") for k in range(4)] + [item("n", "u")]
    assert order_for_shared_worker(items) == items
    assert last_worker_test(items) is None


def test_needs_worker_looks_at_the_fixture_closure() -> None:
    assert needs_worker(item("m", "t", "make_engine", "vllm_endpoint"))
    assert not needs_worker(item("m", "t", "make_engine_like", "tmp_path"))
