"""Image-aware placement and CPU-only work off GPU nodes, against the sandbox's real clusters:
node ``status.images`` and the hub's own pulls reach the inventory and placement's reasons, and
the real kube-scheduler puts CPU-only servers and jobs on CPU nodes of a cluster with A100s."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client

from fedspawner.federation.requests import placement_request
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

from .direct_spawner import direct_spawner_config
from .kube_helpers import pod_manifest, unique, wait_for_phase
from .test_inventory import until

pytestmark = pytest.mark.sandbox
NS = "fedspawner"
IMAGE = "registry.example.org/research/notebook:2026.1"
GPU_NODE_PREFIXES = ("a100-", "mi210-")


async def _set_images(core: client.CoreV1Api, node: str, names: list[str]) -> None:
    """What a kubelet reports after pulling (the sandbox agent records images, never pulls them)."""
    for _ in range(5):  # the agent's heartbeat updates the same status: retry a conflict
        try:
            await core.patch_node_status(node, {"status": {"images": [{"names": names, "sizeBytes": 1 << 30}]}})
            return
        except client.ApiException as err:
            if err.status != 409:
                raise
            await asyncio.sleep(0.1)


async def test_images_on_nodes_reach_placement_and_its_reasons(registry, admin_api):
    cpu_only = placement_request(gpu_type=None, gpu_count=0, cpu_milli=1000, memory_bytes=2**30, image=IMAGE)
    before = {c.cluster: c.reason for c in registry.place(cpu_only).candidates}
    assert not any("image" in reason for reason in before.values())
    async with admin_api("burst") as api:
        core = client.CoreV1Api(api)
        node = next(n.metadata.name for n in (await core.list_node()).items
                    if "gke-accelerator" not in str(n.metadata.labels))
        await _set_images(core, node, [f"{IMAGE.rsplit(':', 1)[0]}@sha256:{'0' * 64}", IMAGE])
        try:
            await until(lambda: IMAGE in registry.snapshot().cluster("burst").images, 10)
            decision = registry.place(cpu_only)
            assert decision.candidates[0].cluster == "burst", decision.explain()
            assert "image already on its nodes" in decision.candidates[0].reason
        finally:
            await _set_images(core, node, [])
        await until(lambda: IMAGE not in registry.snapshot().cluster("burst").images, 10)


async def test_images_the_hubs_pods_started_from_count_where_nodes_are_not_visible(registry, hub_api):
    image = "python:3.11-slim"
    regional = registry.snapshot().cluster("regional")
    assert regional.visibility == "namespace" and regional.cpu_only_free is None
    async with hub_api("regional") as api:
        core = client.CoreV1Api(api)
        name = unique("puller")
        pod = pod_manifest(name, ["sleep", "30"])
        pod["spec"]["containers"][0]["image"] = "docker.io/library/python:3.11-slim"
        await core.create_namespaced_pod(NS, pod)
        try:
            await wait_for_phase(core, NS, name, {"Running"})
            await until(lambda: image in registry.snapshot().cluster("regional").recent_images, 10)
        finally:
            await core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
    request = placement_request(gpu_type=None, gpu_count=0, image=image)
    reasons = {c.cluster: c.reason for c in registry.place(request).candidates}
    assert "image pulled here recently" in reasons["regional"]


async def test_the_avoid_gpu_preference_names_the_clusters_gpu_nodes(registry):
    term = registry.inventories["onprem"].avoid_gpu_nodes()
    values = {e["key"]: e["values"] for e in term["preference"]["matchExpressions"]}
    assert values["nvidia.com/gpu.product"] == ["NVIDIA-A100-SXM4-40GB"]
    assert values["amd.com/gpu.product-name"] == ["AMD_Instinct_MI210"]


@pytest.fixture
async def spawner_config(sandbox):
    async with direct_spawner_config(sandbox, cpu_guarantee=0.5) as c:
        yield c


async def test_cpu_servers_land_on_cpu_nodes_of_a_cluster_with_a100s(spawner_config, admin_api):
    spawners = [make_spawner(FederatedKubeSpawner, spawner_config, unique("cpu"), {"cluster": "onprem"})
                for _ in range(3)]
    try:
        for spawner in spawners:
            await spawner.start()
        async with admin_api("onprem") as api:
            core = client.CoreV1Api(api)
            pods = [await core.read_namespaced_pod(s.pod_name, NS) for s in spawners]
        nodes = [p.spec.node_name for p in pods]
        assert nodes and not any(n.startswith(GPU_NODE_PREFIXES) for n in nodes), nodes
        preferred = pods[0].spec.affinity.node_affinity.preferred_during_scheduling_ignored_during_execution
        assert preferred[0].weight == 100
        assert {e.key for e in preferred[0].preference.match_expressions} >= {"nvidia.com/gpu.product"}
    finally:
        for spawner in spawners:
            await spawner.stop(now=True)


async def test_cpu_jobs_land_on_cpu_nodes(gw, token_for):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "job", "name": "cpu-only", "script": "print('done')", "nodes": 3,
                                  "cluster": "onprem", "cpu": "1", "memory": "1Gi"})
    final = await gw.wait(alice, job["id"])
    assert final["phase"] == "Succeeded", final["message"]
    nodes = [p["node"] for p in final["pods"]]
    assert len(nodes) == 3 and not any(n.startswith(GPU_NODE_PREFIXES) for n in nodes), nodes
    await gw.cancel(alice, job["id"])
