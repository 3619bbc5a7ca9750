"""Test order around the one shared vLLM worker: the tests that need it run contiguously, so the worker
can start at the first of them and stop right after the last (an idle worker still holds gigabytes of
memory the other tests could use).

Pure functions over anything with `nodeid` and `fixturenames` (pytest test functions), so they are
unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

WORKER_FIXTURE = "vllm_endpoint"


class ItemLike(Protocol):
    @property
    def nodeid(self) -> str: ...


T = TypeVar("T", bound=ItemLike)


def needs_worker(item: ItemLike) -> bool:
    """True if the test uses the shared worker, directly or through other fixtures (make_engine, ...)."""
    return WORKER_FIXTURE in getattr(item, "fixturenames", ())


def module_of(item: ItemLike) -> str:
    return item.nodeid.split("::", 1)[0]


def order_for_shared_worker(items: Sequence[T]) -> list[T]:
    """Move the tests that need the worker into one contiguous block at the end, module by module.

    Modules without such tests keep their order and come first. Each module that has them stays whole,
    so its module-scoped fixtures (a Prefect server, say) are set up once: the first such module runs
    its other tests before the worker is needed, the later ones after their worker tests. Within a
    module, tests keep their relative order.
    """
    modules: dict[str, list[T]] = {}
    for item in items:
        modules.setdefault(module_of(item), []).append(item)
    plain = [m for m, its in modules.items() if not any(needs_worker(i) for i in its)]
    with_worker = [m for m in modules if m not in plain]
    out: list[T] = [i for m in plain for i in modules[m]]
    for k, m in enumerate(with_worker):
        users = [i for i in modules[m] if needs_worker(i)]
        others = [i for i in modules[m] if not needs_worker(i)]
        out.extend([*others, *users] if k == 0 else [*users, *others])
    return out


def last_worker_test(items: Sequence[ItemLike]) -> str | None:
    """Node id of the last test that needs the worker (None if none does): the worker stops after it."""
    users = [i.nodeid for i in items if needs_worker(i)]
    return users[-1] if users else None
