"""Placing a job's whole gang, the cluster field, and refusals that say what would fit (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from fedspawner.federation.model import (
    SOURCE_DECLARED, ClusterSnapshot, GpuAvailability, InventorySnapshot, PlacementRequest,
)
from fedspawner.federation.placement import largest_gang
from fedspawner.gateway.errors import BadRequest, Unsatisfiable
from fedspawner.gateway.planning import clusters_named, job_placement, plan, replan
from fedspawner.jobs import JobSpec, JobSpecError
from fedspawner.jobs.fields import JOB_STATES, parse_cluster_field

A100, H100 = "nvidia-a100-40gb", "nvidia-h100-80gb"
DISPLAY = {A100: "NVIDIA A100 40GB", H100: "NVIDIA H100 80GB"}
GIB = 2**30


def exact(gpu_type: str, free_per_node: list[int], size: int, cap: int | None = None) -> GpuAvailability:
    free = sum(free_per_node) if cap is None else min(cap, sum(free_per_node))
    return GpuAvailability(gpu_type, DISPLAY[gpu_type], "nvidia.com/gpu", total=size * len(free_per_node),
                           free=free, free_upper_bound=None, largest_free_on_one_node=max(free_per_node),
                           max_per_node=size, free_histogram=tuple(sorted(Counter(free_per_node).items())))


def cluster(name: str, *gpus: GpuAvailability, cpu=((64000, 512 * GIB),), **kwargs) -> ClusterSnapshot:
    return ClusterSnapshot(name=name, display_name=name, gpus={g.gpu_type: g for g in gpus},
                           cpu_memory_free=cpu, **kwargs)


SNAPSHOT = InventorySnapshot(clusters=(
    cluster("onprem", exact(A100, [4, 4], 4, cap=6)),
    cluster("regional", cpu=()),  # namespace-only: capacity not visible
    cluster("burst", exact(H100, [8], 8)),
))


def spec(**fields) -> JobSpec:
    return JobSpec.from_dict({"kind": "pytorch", "script": "x", **fields})


def test_cluster_field():
    assert clusters_named("auto", SNAPSHOT) is None and clusters_named(None, SNAPSHOT) is None
    assert clusters_named("onprem", SNAPSHOT) == ("onprem",)
    assert clusters_named(["regional", "onprem"], SNAPSHOT) == ("regional", "onprem")
    assert clusters_named("regional,onprem", SNAPSHOT) == ("regional", "onprem")
    with pytest.raises(BadRequest, match="Unknown cluster 'mars'.*are: onprem, regional, burst"):
        clusters_named("onprem,mars", SNAPSHOT)


@pytest.mark.parametrize("value, words", [
    ([], "it is empty"), ("", "it is empty"), ({"a": 1}, "not dict"), ([3], "other things than names"),
    (["onprem", "onprem"], "names onprem twice"), (["onprem", "auto"], "can't be part of a list"),
    ("Onprem", "not a cluster name"), ("a,,b", "empty name"), (["x"] * 51, "at most 50"),
])
def test_cluster_field_syntax(value, words):
    with pytest.raises(JobSpecError, match=words) as info:
        parse_cluster_field(value)
    assert info.value.field == "cluster"


def test_job_states_are_the_phases():
    assert JOB_STATES == ("pending", "running", "succeeded", "failed", "cancelled")
    assert parse_cluster_field(["auto"]) is None and parse_cluster_field(" a , b ") == ["a", "b"]


def test_the_gang_is_one_request():
    request = job_placement(spec(nodes=3, gpus="a100-40gb:2", cpu="4", memory="8Gi"), A100, "alice",
                            frozenset(), None)
    assert (request.pods, request.gpu_count, request.cpu_milli, request.memory_bytes) == (3, 2, 4000, 8 * GIB)
    spark = job_placement(JobSpec.from_dict({"kind": "spark", "script": "x", "executors": 3}), None, "a",
                          frozenset(), None)
    assert spark.pods == 4  # the driver and three executors


def test_gpu_jobs_go_where_the_gpus_are():
    chosen = plan(spec(nodes=2, gpus="h100:4"), SNAPSHOT, "alice", frozenset(), "auto")
    assert chosen.order == ("burst",) and chosen.gpu_types == {"burst": H100} and not chosen.user_order


def test_a_users_list_is_a_failover_order():
    chosen = plan(spec(nodes=2, cpu="48", memory="300Gi"), SNAPSHOT, "alice", frozenset(),
                  ["regional", "onprem"])
    assert chosen.order == ("regional", "onprem") and chosen.user_order
    order, _ = replan(chosen.request, SNAPSHOT, ("onprem",), user_order=True)
    assert order == ["onprem"]
    assert replan(chosen.request, SNAPSHOT, (), user_order=True) == ([], {})


def test_unknown_and_ambiguous_gpu_types():
    with pytest.raises(BadRequest, match="Unknown GPU type 'warp'.*in this federation are: nvidia-a100-40gb"):
        plan(spec(gpus="warp:1"), SNAPSHOT, "alice", frozenset(), "auto")
    with pytest.raises(BadRequest, match="ambiguous"):
        plan(spec(gpus="A100:1"), SNAPSHOT, "alice", frozenset(), "auto")


def test_a_gang_that_fits_nowhere_names_the_largest_that_fits_and_where():
    with pytest.raises(Unsatisfiable) as info:
        plan(spec(nodes=4, gpus="a100-40gb:4"), SNAPSHOT, "alice", frozenset(), "auto")
    message = info.value.message
    assert message.startswith("No member cluster can run 4 node(s) × 4 NVIDIA A100 40GB now.")
    assert "The largest that fits now is 1 node(s) × 4 NVIDIA A100 40GB on onprem" in message
    assert info.value.status == 422


def test_more_gpus_per_node_than_any_node_has():
    with pytest.raises(Unsatisfiable, match=r"largest NVIDIA H100 80GB node you can use has 8 \(burst\)"):
        plan(spec(gpus="h100:16"), SNAPSHOT, "alice", frozenset(), "auto")


def test_bounds_from_declared_capacity_count_too():
    declared = GpuAvailability(A100, DISPLAY[A100], "nvidia.com/gpu", total=8, free=None, free_upper_bound=6,
                               largest_free_on_one_node=None, max_per_node=None, source=SOURCE_DECLARED)
    snapshot = InventorySnapshot(clusters=(cluster("far", declared, cpu=()),))
    with pytest.raises(Unsatisfiable, match=r"3 node\(s\) × 2 NVIDIA A100 40GB on far"):
        plan(spec(nodes=4, gpus="a100-40gb:2"), snapshot, "alice", frozenset(), "auto")


def test_clusters_closed_to_the_users_groups_are_not_offered():
    burst = cluster("burst", exact(H100, [8], 8), allowed_groups=frozenset({"x"}))
    closed = InventorySnapshot(clusters=(burst,))
    with pytest.raises(Unsatisfiable) as info:
        plan(spec(gpus="h100:1"), closed, "alice", frozenset({"y"}), "auto")
    assert "only for group x" in info.value.message


def test_the_largest_gang_counts_whole_pods_per_node():
    thin = InventorySnapshot(clusters=(cluster("thin", exact(A100, [3, 3, 1], 4)),
                                       cluster("closed", exact(A100, [4, 4, 4], 4), allowed_groups=frozenset())))
    request = PlacementRequest(gpu_type=A100, gpu_count=2, pods=5)
    assert largest_gang(request, thin) == (2, "thin", DISPLAY[A100])  # 7 free, but only 2 pairs on a node
    assert largest_gang(replace(request, allow_multi_node=True), thin) == (3, "thin", DISPLAY[A100])
    assert largest_gang(replace(request, groups=frozenset({"x"}), explicit_cluster="closed"), thin) is None
    assert largest_gang(replace(request, gpu_type="any", gpu_count=4), thin) is None
    assert largest_gang(PlacementRequest(), thin) is None
