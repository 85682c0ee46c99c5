"""Warm GPU slots on the sandbox: a placeholder holds an A100 that other tenants then cannot
take; a spawn there gets it; the pool replenishes it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from kubernetes_asyncio import client
from traitlets.config import Config

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.federation.warm import WARM_LABEL
from fedspawner.sandbox.federation import member_clusters
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

from .kube_helpers import pod_manifest, unique, wait_for

pytestmark = pytest.mark.sandbox
NS = "fedspawner"
A100 = "nvidia-a100-40gb"
A100_SELECTOR = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}


def config(sandbox, warm_slots) -> Config:
    c = Config()
    c.Federation.clusters = member_clusters(sandbox.state_dir)
    c.Federation.warm_slots = warm_slots
    c.KubeSpawner.image = "python:3.11-slim"
    c.KubeSpawner.cmd = ["sleep", "600"]
    c.KubeSpawner.events_enabled = True
    c.KubeSpawner.start_timeout = 30
    return c


async def placeholders(core) -> list:
    pods = await core.list_namespaced_pod(NS, label_selector=WARM_LABEL)
    return [p for p in pods.items if not p.metadata.deletion_timestamp]


@contextlib.asynccontextmanager
async def tenants_fill_the_rest(core, count: int):
    """Another tenant's pods, one A100 each."""
    names = [unique("tenant") for _ in range(count)]
    for name in names:
        await core.create_namespaced_pod("research", pod_manifest(name, ["sleep", "600"], gpus=1,
                                                                  node_selector=A100_SELECTOR))
    try:
        yield names
    finally:
        for name in names:
            await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)


@pytest.fixture
async def registry_reset():
    await ClusterRegistry.reset_shared()
    yield
    await asyncio.wait_for(FederatedKubeSpawner._stop_all_reflectors(), 30)
    await asyncio.wait_for(ClusterRegistry.reset_shared(), 60)


async def test_warm_slot_holds_a_gpu_and_hands_it_over(sandbox, admin_api, registry_reset):
    c = config(sandbox, [{"cluster": "onprem", "gpu": A100, "count": 1}])
    registry = ClusterRegistry.shared(c)
    await registry.start()
    async with admin_api("onprem") as api:
        core = client.CoreV1Api(api)
        try:
            async def running():
                pods = await placeholders(core)
                return pods if pods and pods[0].status.phase == "Running" else None
            (held,) = await wait_for(running, "a Running placeholder", timeout=30)
            assert held.spec.containers[0].resources.limits == {"nvidia.com/gpu": "1"}
            # Other tenants take the 7 other A100s: the cluster is full but for the warm slot.
            async with tenants_fill_the_rest(core, 7) as names:
                async def seven_running():
                    pods = [await core.read_namespaced_pod(n, "research") for n in names]
                    return all(p.status.phase == "Running" for p in pods)
                await wait_for(seven_running, "7 tenant pods running", timeout=30)

                async def pool_sees_it_warm():  # the pool's own view, refreshed every pass
                    return registry.warm.counts("onprem").get(A100, {}).get("warm") == 1
                await wait_for(pool_sees_it_warm, "the pool counting its Running placeholder", timeout=15)

                spawner = make_spawner(FederatedKubeSpawner, c, unique("warm"),
                                       {"cluster": "onprem", "gpu_type": A100, "gpu_count": 1})
                await spawner.start()
                try:
                    assert spawner.cluster_name == "onprem"
                    assert any("warm" in m and "handed over" in m for m in spawner._narration), spawner._narration
                    user_pod = await core.read_namespaced_pod(spawner.pod_name, NS)
                    assert user_pod.status.phase == "Running" and user_pod.spec.node_name.startswith("a100-")
                    assert held.metadata.name not in [p.metadata.name for p in await placeholders(core)]
                    # Replenished: a new placeholder exists (Pending: no A100 is free now).
                    fresh = await wait_for(lambda: placeholders(core), "a new placeholder", timeout=15)
                    assert fresh[0].metadata.name != held.metadata.name
                finally:
                    await spawner.stop(now=True)
        finally:
            await registry.warm.stop()
            for pod in await placeholders(core):
                await core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)


async def test_without_a_warm_slot_the_same_spawn_cannot_get_a_gpu(sandbox, admin_api, registry_reset):
    c = config(sandbox, [])
    registry = ClusterRegistry.shared(c)
    await registry.start()
    await registry.wait_ready()
    async with admin_api("onprem") as api:
        core = client.CoreV1Api(api)
        async with tenants_fill_the_rest(core, 8) as names:
            async def all_running():
                pods = [await core.read_namespaced_pod(n, "research") for n in names]
                return all(p.status.phase == "Running" for p in pods)
            await wait_for(all_running, "8 tenant pods running", timeout=30)
            await asyncio.sleep(0.5)
            spawner = make_spawner(FederatedKubeSpawner, c, unique("cold"),
                                   {"cluster": "onprem", "gpu_type": A100, "gpu_count": 1})
            with pytest.raises(Exception, match="could not start|No member cluster"):
                await spawner.start()
