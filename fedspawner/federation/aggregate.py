"""From per-node numbers to the per-cluster aggregates placement reads (pure).

The inventory calls these on every change; the placement benchmark builds its
synthetic federation with the same functions, so it measures what the hub sees.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .model import SOURCE_NODES, GpuAvailability

MAX_FRONTIER = 64


def gpu_availability(gpu_type: str, display: str, resource: str, nodes: Iterable[tuple[int, int, bool]],
                     quota_left: int | None = None) -> GpuAvailability:
    """Exact availability of one GPU type from its nodes: (GPUs, GPUs requested, schedulable).

    Unschedulable nodes count for the per-node maximum (the size of a node) but
    offer nothing now. ``quota_left`` is what the hub's namespace quota still allows.
    """
    total, size, frees = 0, 0, []
    for count, used, schedulable in nodes:
        size = max(size, count)
        if schedulable:
            total += count
            frees.append(max(count - used, 0))
    free, largest = sum(frees), max(frees, default=0)
    note = f"{free} free of {total}"
    if quota_left is not None and quota_left < free:
        note += f" (your quota allows {quota_left})"
        free, largest = quota_left, min(largest, quota_left)
    return GpuAvailability(gpu_type=gpu_type, display=display, resource=resource, total=total, free=free,
                           free_upper_bound=None, largest_free_on_one_node=largest, max_per_node=size,
                           free_histogram=tuple(sorted(Counter(frees).items(), reverse=True)),
                           source=SOURCE_NODES, note=note)


def cpu_memory_frontier(free: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """(CPU millicores, memory bytes) free per node, reduced to the nodes no other node
    beats on both, most CPU first: a pod fits on some node exactly when it fits on one
    of these. Capped (keeping both ends) so a pathological cluster stays cheap."""
    frontier, best_memory = [], -1
    for cpu, memory in sorted(free, reverse=True):
        if memory > best_memory:
            frontier.append((cpu, memory))
            best_memory = memory
    if len(frontier) > MAX_FRONTIER:
        half = MAX_FRONTIER // 2
        frontier = frontier[:half] + frontier[-half:]
    return tuple(frontier)
