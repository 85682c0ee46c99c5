"""Nodes marked unreachable (as after an apiserver pause): placement says "not usable now",
not "GPU nodes are tainted", and the sandbox node agent posts its nodes Ready again by
itself, so the node controller lifts the unreachable taints."""

from __future__ import annotations

import os
import signal

import pytest
from kubernetes_asyncio import client

from fedspawner.federation.model import NODE_LIFECYCLE_TAINTS, PlacementRequest

from .kube_helpers import wait_for
from .test_inventory import until

pytestmark = pytest.mark.sandbox
CLUSTER = "burst"  # every node run by its node agent, visible to the inventory


def _agent_pids(sandbox) -> list[int]:
    return [p["pid"] for p in sandbox.state["processes"] if p["cluster"] == CLUSTER and p["component"] == "node-agent"]


async def _mark_unknown(core: client.CoreV1Api, name: str) -> None:
    """What the node controller writes when a node's heartbeats stop."""
    node = await core.read_node_status(name)
    for cond in node.status.conditions:
        if cond.type == "Ready":
            cond.status, cond.reason = "Unknown", "NodeStatusUnknown"
            cond.message = "Kubelet stopped posting node status."
    await core.replace_node_status(name, node)


def _recovered(node) -> bool:
    ready = next(c.status for c in node.status.conditions if c.type == "Ready")
    return ready == "True" and not any(t.key in NODE_LIFECYCLE_TAINTS for t in node.spec.taints or [])


async def test_unreachable_nodes_are_not_usable_now_and_recover_by_themselves(registry, sandbox, admin_api):
    pids = _agent_pids(sandbox)
    assert pids
    async with admin_api(CLUSTER) as api:
        core = client.CoreV1Api(api)
        names = [n.metadata.name for n in (await core.list_node()).items]
        for pid in pids:  # the agent cannot answer for its nodes meanwhile
            os.kill(pid, signal.SIGSTOP)
        try:
            for name in names:
                await _mark_unknown(core, name)

            async def all_tainted():  # the node controller taints what is not Ready
                return all(any(t.key == "node.kubernetes.io/unreachable" for t in n.spec.taints or [])
                           for n in (await core.list_node()).items)
            await wait_for(all_tainted, "the node controller's unreachable taints", timeout=30, interval=0.5)
            await until(lambda: not registry.snapshot().cluster(CLUSTER).healthy, 15)
            reason = registry.snapshot().cluster(CLUSTER).health_reason
            assert reason == f"no node can run pods now (unreachable: {len(names)})", reason
            decision = registry.place(PlacementRequest(cpu_milli=100, explicit_cluster=CLUSTER))
            rejected = next(r.reason for r in decision.rejected if r.cluster == CLUSTER)
            assert not decision.candidates and "unreachable" in rejected and "GPU" not in rejected, rejected
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

        async def all_recovered():
            return all(_recovered(n) for n in (await core.list_node()).items)
        # The agent's next heartbeat (every 10 s) posts Ready; the controller then lifts the taints.
        await wait_for(all_recovered, "the nodes to be Ready and untainted again", timeout=45, interval=1)
    await until(lambda: registry.snapshot().cluster(CLUSTER).healthy, 15)
