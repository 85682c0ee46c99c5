"""A cluster of 1,000 kwok nodes starts; listing and watching nodes and pods works
(issue: sandbox §3.5). Runs its own sandbox with the scale topology."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio import client, watch

from fedspawner.sandbox.binaries import sources_dir

from .sandbox_fixtures import api_client, fedspawner_cli
from .kube_helpers import pod_manifest, unique, wait_for_phase

pytestmark = [pytest.mark.sandbox, pytest.mark.kwok]

STATE = Path("/tmp/fedspawner-test/scale")


@pytest.fixture(scope="module")
def scale_sandbox():
    fedspawner_cli("sandbox", "--state-dir", str(STATE), "down")
    fedspawner_cli("sandbox", "--state-dir", str(STATE), "up", "--topology",
                   str(sources_dir() / "topologies" / "scale.yaml"), "--base-port", "17600", check=True)
    try:
        yield STATE / "kubeconfig"
    finally:
        fedspawner_cli("sandbox", "--state-dir", str(STATE), "down")


async def _all_nodes(core):
    nodes, cont = [], None
    while True:
        page = await core.list_node(limit=250, _continue=cont)
        nodes += page.items
        cont = page.metadata._continue
        if not cont:
            return nodes


async def test_thousand_kwok_nodes_list_and_watch(scale_sandbox):
    async with api_client(scale_sandbox, "scale-admin") as api:
        core = client.CoreV1Api(api)
        nodes = await _all_nodes(core)
        assert len(nodes) == 1000
        gpu_nodes = [n for n in nodes if "nvidia.com/gpu" in (n.status.allocatable or {})]
        assert len(gpu_nodes) == 200
        assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes)

        # A watch from the listed resourceVersion sees the node heartbeats/changes.
        listing = await core.list_node(limit=1)
        await core.patch_node(nodes[0].metadata.name, {"metadata": {"labels": {"fedspawner.dev/touched": "yes"}}})
        seen = None
        async with watch.Watch().stream(core.list_node, resource_version=listing.metadata.resource_version,
                                        timeout_seconds=10) as stream:
            async for event in stream:
                if (event["object"].metadata.labels or {}).get("fedspawner.dev/touched") == "yes":
                    seen = event["type"]
                    break
        assert seen == "MODIFIED"


async def test_pods_on_kwok_nodes_are_scheduled_and_watched(scale_sandbox):
    async with api_client(scale_sandbox, "scale") as api:
        core = client.CoreV1Api(api)
        names = [unique("sim") for _ in range(20)]
        w = watch.Watch()
        running = set()

        async def watch_running():
            async with w.stream(core.list_namespaced_pod, "fedspawner", timeout_seconds=60) as stream:
                async for event in stream:
                    pod = event["object"]
                    if pod.metadata.name in names and pod.status.phase == "Running":
                        running.add(pod.metadata.name)
                        if running == set(names):
                            return

        watcher = asyncio.create_task(watch_running())
        await asyncio.sleep(0.2)
        for name in names:
            await core.create_namespaced_pod("fedspawner", pod_manifest(
                name, ["sleep", "1"], gpus=1, node_selector={"nvidia.com/gpu.product": "NVIDIA-L4"}))
        await asyncio.wait_for(watcher, 60)
        for name in names:
            pod = await wait_for_phase(core, "fedspawner", name, {"Running"})
            assert pod.spec.node_name.startswith("sim-l4-")
            assert pod.status.pod_ip.startswith("127.")
            await core.delete_namespaced_pod(name, "fedspawner", grace_period_seconds=0)
