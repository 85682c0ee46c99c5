"""The demo federation's placement story, on the sandbox's real clusters: CPU work stays on
on-prem (cost ×1) while its CPU nodes have room, and goes to the dear cloud burst cluster
(cost ×3) once they are full — whatever the tightest fit — and the reasons say so."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from fedspawner.demo.hub_config import demo_clusters
from fedspawner.federation.requests import placement_request

from .kube_helpers import pod_manifest, unique, wait_until_gone
from .sandbox_fixtures import registry_for
from .test_inventory import until

pytestmark = pytest.mark.sandbox
NS = "fedspawner"
GIB = 2**30
GPU_LABEL_PREFIXES = ("nvidia.com/", "amd.com/")


@pytest.fixture
async def demo_registry(sandbox):
    async with registry_for(demo_clusters(sandbox.state_dir)) as registry:
        await registry.wait_ready()
        yield registry


async def test_cpu_jobs_stay_on_prem_until_its_cpu_nodes_are_full(demo_registry, admin_api):
    job = placement_request(gpu_type=None, gpu_count=0, cpu_milli=1000, memory_bytes=2 * GIB)
    decision = demo_registry.place(job)
    first, *others = decision.candidates
    assert first.cluster == "onprem" and first.reason.endswith("lowest cost (×1)"), decision.explain()
    burst = next(c for c in others if c.cluster == "burst")
    assert "tightest fit (pack)" in burst.reason and "dearer (cost ×3, 3× the cheapest)" in burst.reason

    async with admin_api("onprem") as api:
        core = client.CoreV1Api(api)
        nodes = [n for n in (await core.list_node()).items
                 if not any(k.startswith(GPU_LABEL_PREFIXES) for k in n.metadata.labels or {})]
        assert len(nodes) == 2
        fillers = []
        try:
            for node in nodes:  # each CPU-only node taken whole by another tenant's pod
                manifest = pod_manifest(unique("filler"), ["sleep", "600"], nodeName=node.metadata.name)
                manifest["spec"]["containers"][0]["resources"]["requests"] = {
                    "cpu": node.status.allocatable["cpu"], "memory": "1Gi"}
                await core.create_namespaced_pod("research", manifest)
                fillers.append(manifest["metadata"]["name"])
            await until(lambda: not demo_registry.snapshot().cluster("onprem").cpu_only_free
                        or all(c < 1000 for c, _ in demo_registry.snapshot().cluster("onprem").cpu_only_free), 20)
            decision = demo_registry.place(job)
            assert decision.candidates[0].cluster == "burst", decision.explain()
            onprem = next(c for c in decision.candidates if c.cluster == "onprem")
            assert "room only on GPU nodes" in onprem.reason  # its GPU nodes are kept for GPU work
        finally:
            for name in fillers:
                await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)
            for name in fillers:
                await wait_until_gone(core, "research", name)
