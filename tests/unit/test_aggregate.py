"""Per-node numbers -> the per-cluster aggregates placement reads."""

from __future__ import annotations

import random

from fedspawner.federation.aggregate import MAX_FRONTIER, cpu_memory_frontier, gpu_availability
from fedspawner.federation.model import SOURCE_NODES

A100 = ("nvidia-a100-40gb", "NVIDIA A100 40GB", "nvidia.com/gpu")
GIB = 2**30


def test_gpu_availability_sums_the_schedulable_nodes():
    g = gpu_availability(*A100, [(8, 3, True), (8, 8, True), (4, 0, True), (4, 1, True)])
    assert (g.gpu_type, g.display, g.resource, g.source) == (*A100, SOURCE_NODES)
    assert (g.total, g.free, g.free_upper_bound) == (24, 12, None)
    assert (g.largest_free_on_one_node, g.max_per_node) == (5, 8)
    assert g.free_histogram == ((5, 1), (4, 1), (3, 1), (0, 1))
    assert g.note == "12 free of 24"


def test_histogram_counts_nodes_per_free_count_most_free_first():
    g = gpu_availability(*A100, [(4, used, True) for used in (0, 4, 2, 0, 4, 4, 3)])
    assert g.free_histogram == ((4, 2), (2, 1), (1, 1), (0, 3))
    assert sum(nodes for _, nodes in g.free_histogram) == 7


def test_unschedulable_nodes_size_the_type_but_offer_nothing():
    g = gpu_availability(*A100, [(8, 0, False), (4, 1, True)])
    assert (g.total, g.free, g.largest_free_on_one_node) == (4, 3, 3)
    assert g.max_per_node == 8  # a pod may ask for 8: such a node exists, it is just cordoned now
    assert g.free_histogram == ((3, 1),)
    cordoned = gpu_availability(*A100, [(8, 0, False)])
    assert (cordoned.total, cordoned.free, cordoned.largest_free_on_one_node, cordoned.max_per_node) == (0, 0, 0, 8)
    assert cordoned.free_histogram == ()


def test_more_used_than_the_node_has_counts_as_none_free():
    g = gpu_availability(*A100, [(4, 6, True), (4, 1, True)])
    assert (g.free, g.largest_free_on_one_node, g.free_histogram) == (3, 3, ((3, 1), (0, 1)))


def test_quota_caps_free_and_the_largest_node():
    g = gpu_availability(*A100, [(8, 0, True), (8, 2, True)], quota_left=5)
    assert (g.total, g.free, g.largest_free_on_one_node) == (16, 5, 5)
    assert g.note == "14 free of 16 (your quota allows 5)"
    assert g.free_histogram == ((8, 1), (6, 1))  # what the nodes have; the total is what is capped
    roomy = gpu_availability(*A100, [(8, 0, True)], quota_left=8)
    assert (roomy.free, roomy.largest_free_on_one_node, roomy.note) == (8, 8, "8 free of 8")
    none_left = gpu_availability(*A100, [(8, 0, True)], quota_left=0)
    assert (none_left.free, none_left.largest_free_on_one_node) == (0, 0)


def test_no_nodes():
    g = gpu_availability(*A100, [])
    assert (g.total, g.free, g.largest_free_on_one_node, g.max_per_node, g.free_histogram) == (0, 0, 0, 0, ())
    assert gpu_availability(*A100, iter([(2, 1, True)])).free == 1  # any iterable, read once


def test_frontier_keeps_only_nodes_no_other_beats_on_both_most_cpu_first():
    nodes = [(4000, 8 * GIB), (8000, 4 * GIB), (2000, 32 * GIB), (4000, 4 * GIB), (1000, 16 * GIB),
             (8000, 2 * GIB), (2000, 32 * GIB)]
    assert cpu_memory_frontier(nodes) == ((8000, 4 * GIB), (4000, 8 * GIB), (2000, 32 * GIB))
    assert cpu_memory_frontier([]) == ()
    assert cpu_memory_frontier(iter([(1, 1)])) == ((1, 1),)


def test_a_pod_fits_some_node_exactly_when_it_fits_a_frontier_node():
    rng = random.Random(3)
    for _ in range(200):
        nodes = [(rng.randint(0, 64) * 500, rng.randint(0, 64) * GIB) for _ in range(rng.randint(0, 40))]
        frontier = cpu_memory_frontier(nodes)
        assert len(frontier) <= MAX_FRONTIER and set(frontier) <= set(nodes)
        cpu, memory = rng.randint(0, 64) * 500, rng.randint(0, 64) * GIB
        assert any(c >= cpu and m >= memory for c, m in nodes) == any(
            c >= cpu and m >= memory for c, m in frontier)


def test_a_long_frontier_is_capped_keeping_both_ends():
    staircase = [(cpu, (10_000 - cpu) * GIB) for cpu in range(1, 1 + 3 * MAX_FRONTIER)]
    frontier = cpu_memory_frontier(staircase)
    assert len(frontier) == MAX_FRONTIER
    assert frontier[0] == max(staircase) and frontier[-1] == min(staircase)  # most CPU, most memory
    assert list(frontier) == sorted(frontier, reverse=True)
