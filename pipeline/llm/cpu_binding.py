"""Where a local CPU vLLM worker runs: which cores its compute threads use and where its server goes.

vLLM's CPU build binds its compute threads itself (`VLLM_CPU_OMP_THREADS_BIND`), by default to every core
but one; on a 2-core machine that is one compute thread with the API server and the scheduler free to run
anywhere. The bindings below are measured side by side by benchmarks/worker_binding.py (BENCHMARKS.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# How a CPU worker's processes use the machine's cores (vLLM's CPU build; GPU builds ignore it):
#   vllm   vLLM's own choice: the model's compute threads on every core but one, which is left to the API
#          server and the scheduler (on 2 cores: one compute thread, the other core mostly idle)
#   all    compute threads on every core; the API server and the scheduler float among them
#   split  as `vllm`, and the API server and the scheduler pinned to the core left over, so they never
#          preempt a compute thread
#   none   no pinning at all; one compute thread per core, placed by the kernel
# benchmarks/worker_binding.py measures them side by side (BENCHMARKS.md). `all` is the default: 1.4x the
# others on a machine the run has to itself (a whole default run: 102 s against 146 s). Its compute threads
# wait for each other, so beside other CPU-heavy work it drops to about half of `vllm`, which then does best.
CPU_BINDINGS = ("vllm", "all", "split", "none")
DEFAULT_CPU_BINDING = "all"


def allowed_cores() -> list[int]:
    """The cores this process may run on (its affinity mask), in order."""
    return sorted(os.sched_getaffinity(0))


def share_cores(cores: Sequence[int], workers: int) -> list[list[int]]:
    """Split the cores into `workers` contiguous shares, as even as they can be; with fewer cores than
    workers, workers share them round-robin (one core each)."""
    if workers < 1:
        raise ValueError(f"need at least one worker, got {workers}")
    if len(cores) < workers:
        return [[cores[k % len(cores)]] for k in range(workers)]
    size, extra = divmod(len(cores), workers)
    shares, start = [], 0
    for k in range(workers):
        end = start + size + (k < extra)
        shares.append(list(cores[start:end]))
        start = end
    return shares


@dataclass(frozen=True, slots=True)
class CpuPlacement:
    """Where one CPU worker runs: its compute threads' cores, and the core (if any) its server is pinned to."""

    compute: tuple[int, ...]
    server: tuple[int, ...] = ()

    def env(self, binding: str) -> dict[str, str]:
        """vLLM's CPU environment variables for this placement."""
        cores = ",".join(str(c) for c in self.compute)
        if binding == "none":
            return {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(len(self.compute))}
        if binding == "all":
            return {"VLLM_CPU_OMP_THREADS_BIND": cores, "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
        return {"VLLM_CPU_OMP_THREADS_BIND": cores, "VLLM_CPU_NUM_OF_RESERVED_CPU": str(len(self.server))}


def place_worker(cores: Sequence[int], binding: str) -> CpuPlacement:
    """One worker's placement on its share of cores under `binding`."""
    if binding in ("all", "none") or len(cores) < 2:
        return CpuPlacement(tuple(cores))
    return CpuPlacement(tuple(cores[:-1]), tuple(cores[-1:]) if binding == "split" else ())


def is_cpu_build(python: Path) -> bool:
    """Whether the worker environment holds vLLM's CPU build (the `vllm-cpu` distribution)."""
    env_root = python.parent.parent
    return any(env_root.glob("lib/python*/site-packages/vllm_cpu-*.dist-info"))
