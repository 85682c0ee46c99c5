"""The federation core's live inventory against the sandbox (issue: spawner §1)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from kubernetes_asyncio import client

from fedspawner.federation.model import PlacementRequest

from .kube_helpers import pod_manifest, unique

pytestmark = pytest.mark.sandbox


async def until(predicate, timeout: float) -> float:
    """Seconds until ``predicate()`` holds (raises on timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {timeout}s")


async def test_exact_numbers_where_nodes_are_visible(registry):
    def a100_now():
        return registry.snapshot().cluster("onprem").gpus["nvidia-a100-40gb"]

    # the quota's status is filled in by the controller manager a moment after the sandbox starts
    await until(lambda: "quota allows" in a100_now().note, 30)
    snap = registry.snapshot()
    a100 = a100_now()
    assert (a100.total, a100.max_per_node, a100.source) == (8, 4, "nodes")
    assert a100.free == 6 and "quota allows 6" in a100.note  # the hub's namespace quota caps it
    mig = registry.snapshot().cluster("regional").gpus["nvidia-a100-80gb-mig-1g.10gb"]
    assert mig.free is None and mig.free_upper_bound == 7 and "declared capacity" in mig.note
    assert snap.cluster("burst").gpus["nvidia-h100-80gb"].free == 8


async def test_a_change_reaches_the_inventory(registry, admin_api):
    """From the watch, not by polling (how fast: benchmarks/spawn_bench.py, freshness)."""
    async with admin_api("burst") as api:
        core = client.CoreV1Api(api)
        name = unique("taker")
        await core.create_namespaced_pod("research", pod_manifest(
            name, ["sleep", "60"], gpus=3, node_selector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]))
        try:
            await until(lambda: registry.snapshot().cluster("burst").gpus["nvidia-h100-80gb"].free == 5, 10)
        finally:
            await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)
        await until(lambda: registry.snapshot().cluster("burst").gpus["nvidia-h100-80gb"].free == 8, 10)


async def test_namespace_view_uses_quota_headroom(registry, admin_api):
    async with admin_api("regional") as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_resource_quota("fedspawner", {
            "metadata": {"name": "gpu-cap"}, "spec": {"hard": {"requests.nvidia.com/gpu": "2"}}})
        try:
            await until(lambda: registry.snapshot().cluster("regional").gpus["nvidia-l4"].free_upper_bound == 2, 10)
            l4 = registry.snapshot().cluster("regional").gpus["nvidia-l4"]
            assert l4.note == "up to 2 free, from quota" and l4.free is None
        finally:
            await core.delete_namespaced_resource_quota("gpu-cap", "fedspawner")


async def test_unreachable_cluster_is_noticed_within_five_seconds_and_recovers(registry, sandbox):
    pid = next(p["pid"] for p in sandbox.state["processes"]
               if p["cluster"] == "burst" and p["component"] == "kube-apiserver")
    os.kill(pid, signal.SIGSTOP)
    try:
        took = await until(lambda: not registry.snapshot().cluster("burst").healthy, 10)
        assert took <= 5.0, took
        decision = registry.place(PlacementRequest(gpu_type="nvidia-h100-80gb", gpu_count=1))
        burst = next(r for r in decision.rejected if r.cluster == "burst")
        assert not decision.candidates and "apiserver did not answer in time" in burst.reason
    finally:
        os.kill(pid, signal.SIGCONT)
    await until(lambda: registry.snapshot().cluster("burst").healthy, 15)
    await until(lambda: registry.snapshot().cluster("burst").gpus.get("nvidia-h100-80gb") is not None, 15)
