"""FederatedKubeSpawner in a real JupyterHub over the sandbox federation (issue: spawner §6)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time

import pytest
from kubernetes_asyncio import client

from .kube_helpers import pod_manifest, unique, wait_for_phase
from .spawn_helpers import get_via_proxy, server_model, spawn, stop, user_token

pytestmark = pytest.mark.sandbox
NS = "fedspawner"


async def user_pods(admin_api, cluster: str, user: str) -> list:
    async with admin_api(cluster) as api:
        pods = await client.CoreV1Api(api).list_namespaced_pod(
            NS, label_selector=f"hub.jupyter.org/username={user}")
        return [p for p in pods.items if not p.metadata.deletion_timestamp]


async def pods_everywhere(sandbox, admin_api, user: str) -> dict[str, list[str]]:
    return {c: [p.metadata.name for p in await user_pods(admin_api, c, user)] for c in sandbox.clusters}


def apiserver_pid(sandbox, cluster: str) -> int:
    return next(p["pid"] for p in sandbox.state["processes"]
                if p["cluster"] == cluster and p["component"] == "kube-apiserver")


@contextlib.contextmanager
def paused_apiserver(sandbox, cluster: str):
    """Make a cluster unreachable (its apiserver stops answering) for the block."""
    pid = apiserver_pid(sandbox, cluster)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@contextlib.asynccontextmanager
async def occupied_gpus(admin_api, cluster: str, resource: str, count: int, selector: dict | None = None):
    """Another tenant's pods (in a namespace the hub cannot see) holding GPUs."""
    names = [unique("tenant") for _ in range(count)]
    async with admin_api(cluster) as api:
        core = client.CoreV1Api(api)
        for name in names:
            await core.create_namespaced_pod("research", pod_manifest(
                name, ["sleep", "600"], gpus=1, resource=resource, node_selector=selector))
        try:
            for name in names:
                await wait_for_phase(core, "research", name, {"Running"})
            yield
        finally:
            for name in names:
                await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)


@pytest.fixture
def api(hub_api_client):
    return hub_api_client


@pytest.fixture
async def clean_user(api, sandbox, admin_api):
    """A fresh user name; every server of it is stopped afterwards."""
    user = unique("u")
    yield user
    status, model = api.request("GET", f"/users/{user}")
    if status == 200:
        for name in list(model.get("servers", {})):
            stop(api, user, name)
    for cluster in sandbox.clusters:
        assert await user_pods(admin_api, cluster, user) == [], f"{user} left a pod on {cluster}"


async def test_gpu_spawn_lands_on_the_right_cluster_and_node(api, clean_user, admin_api):
    model = spawn(api, clean_user, {"profile": "cpu", "gpu_type": "nvidia-a100-40gb", "gpu_count": 2})
    assert model.get("ready"), model
    assert model["state"]["cluster"] == "onprem"
    (pod,) = await user_pods(admin_api, "onprem", clean_user)
    assert pod.spec.node_name.startswith("a100-")
    limits = pod.spec.containers[0].resources.limits
    assert limits["nvidia.com/gpu"] == "2"
    assert pod.metadata.labels["fedspawner.dev/gpu-type"] == "nvidia-a100-40gb"
    token = user_token(api, clean_user)
    status, _ = get_via_proxy(api, f"/user/{clean_user}/api", token)
    assert status == 200


async def test_h100_spawn_goes_through_the_tunnel(api, clean_user, admin_api):
    """The burst cluster is reached by port-forward through its apiserver."""
    model = spawn(api, clean_user, {"profile": "cpu", "gpu_type": "nvidia-h100-80gb", "gpu_count": 1})
    assert model.get("ready"), model
    assert model["state"]["cluster"] == "burst" and model["state"]["tunnel_port"] > 0
    (pod,) = await user_pods(admin_api, "burst", clean_user)
    assert pod.spec.node_name.startswith("h100-")
    assert any(t.key == "nvidia.com/gpu" for t in pod.spec.tolerations)
    status, body = get_via_proxy(api, f"/user/{clean_user}/api", user_token(api, clean_user))
    assert status == 200 and "version" in body


async def test_auto_placement_narrates_its_choice(api, clean_user):
    messages = spawn(api, clean_user, {"profile": "cpu", "gpu_type": "any", "gpu_count": 1})["progress"]
    chosen = server_model(api, clean_user)["state"]["cluster"]
    assert any(m.startswith(f"{chosen}: ") and "starting there" in m for m in messages), messages


async def test_first_choice_full_fails_over(api, clean_user, admin_api):
    """The preferred regional cluster's GPUs are taken by a tenant the hub cannot see:
    the scheduler says so at once and the spawn moves on without waiting for a timeout."""
    async with occupied_gpus(admin_api, "regional", "nvidia.com/gpu", 8):
        started = time.monotonic()
        model = spawn(api, clean_user, {"profile": "near-data", "gpu_type": "any", "gpu_count": 1})
        elapsed = time.monotonic() - started
        messages = model["progress"]
    assert model.get("ready"), model
    assert model["state"]["cluster"] != "regional"
    assert any(m.startswith("regional:") and "trying" in m for m in messages), messages
    assert elapsed < 60, f"failover took {elapsed:.1f}s"


async def test_quota_rejection_fails_over(api, clean_user, admin_api):
    async with admin_api("regional") as kube:
        core = client.CoreV1Api(kube)
        await core.create_namespaced_resource_quota(NS, {"metadata": {"name": "no-pods"},
                                                         "spec": {"hard": {"pods": "0"}}})
        try:
            model = spawn(api, clean_user, {"profile": "near-data"})
            messages = model["progress"]
        finally:
            await core.delete_namespaced_resource_quota("no-pods", NS)
    assert model.get("ready"), model
    assert model["state"]["cluster"] != "regional"
    assert any("regional:" in m and "quota no-pods" in m for m in messages), messages


async def test_cluster_down_at_spawn_time_is_skipped_and_shown(api, clean_user, sandbox):
    with paused_apiserver(sandbox, "regional"):
        await asyncio.sleep(6)  # health probes notice within ~2 × (1 s + 2 s)
        model = spawn(api, clean_user, {"profile": "near-data"})
        messages = model["progress"]
        token = user_token(api, clean_user)
        status, body = get_via_proxy(api, "/hub/api/fedspawner/availability", token)
    assert model.get("ready"), model
    assert model["state"]["cluster"] != "regional"
    assert status == 200
    regional = next(c for c in json.loads(body)["clusters"] if c["name"] == "regional")
    assert not regional["healthy"] and regional["reason"].startswith("down")
    assert not any(m.startswith("regional:") and "starting there" in m for m in messages)


async def test_nothing_fits_fails_fast_with_reasons(api, clean_user, admin_api):
    """Every A100 is taken by another tenant (the onprem inventory sees it): no wait, one
    message with a reason per cluster."""
    async with occupied_gpus(admin_api, "onprem", "nvidia.com/gpu", 8,
                             selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}):
        await asyncio.sleep(0.5)
        started = time.monotonic()
        result = spawn(api, clean_user, {"profile": "cpu", "gpu_type": "nvidia-a100-40gb", "gpu_count": 1})
        elapsed = time.monotonic() - started
    assert "error" in result, result
    text = str(result)
    assert "onprem" in text and "regional" in text and "burst" in text, text
    assert elapsed < 10, elapsed


async def test_state_is_reset_after_a_failed_gpu_spawn(api, clean_user, admin_api):
    """A GPU spawn that fails on the cluster leaves nothing GPU-ish for the next, CPU, spawn."""
    async with occupied_gpus(admin_api, "regional", "nvidia.com/gpu", 8):
        failed = spawn(api, clean_user, {"profile": "cpu", "cluster": "regional", "gpu_type": "nvidia-l4",
                                         "gpu_count": 1})
    assert "error" in failed, failed
    model = spawn(api, clean_user, {"profile": "cpu", "cluster": "regional"})
    assert model.get("ready"), model
    (pod,) = await user_pods(admin_api, "regional", clean_user)
    container = pod.spec.containers[0]
    assert not any("gpu" in k for k in (container.resources.limits or {}))
    affinity = pod.spec.affinity.node_affinity  # a CPU server only prefers nodes without GPUs
    assert affinity.required_during_scheduling_ignored_during_execution is None
    assert affinity.preferred_during_scheduling_ignored_during_execution[0].weight == 100
    assert "fedspawner.dev/gpu-type" not in pod.metadata.labels


async def test_named_servers_and_hub_restart_find_every_server(api, hub, clean_user, sandbox, admin_api):
    """Servers on three clusters survive a hub restart: all found, none orphaned."""
    placements = {"s-onprem": "onprem", "s-regional": "regional", "s-burst": "burst"}
    for server, cluster in placements.items():
        model = spawn(api, clean_user, {"profile": "cpu", "cluster": cluster}, server=server)
        assert model.get("ready") and model["state"]["cluster"] == cluster, model
    before = await pods_everywhere(sandbox, admin_api, clean_user)
    assert all(len(before[c]) == 1 for c in placements.values()), before

    hub.stop()
    hub.start()

    token = user_token(api, clean_user)
    for server, cluster in placements.items():
        model = server_model(api, clean_user, server)
        assert model and model["ready"] and model["state"]["cluster"] == cluster, model
        status, _ = get_via_proxy(api, f"/user/{clean_user}/{server}/api", token)
        assert status == 200, (server, status)
    assert await pods_everywhere(sandbox, admin_api, clean_user) == before

    stop(api, clean_user, "s-regional")
    after = await pods_everywhere(sandbox, admin_api, clean_user)
    assert after["regional"] == [] and after["onprem"] == before["onprem"] and after["burst"] == before["burst"]


async def test_bad_launch_requests_are_refused_before_anything_starts(api, clean_user, sandbox, admin_api):
    cases = [
        ({"profile": "cpu", "gpu_type": "nvidia-l40s"}, "No nvidia-l40s"),
        ({"profile": "cpu", "cluster": "nowhere"}, "There is no cluster 'nowhere'"),
        ({"profile": "cpu", "gpu_type": "nvidia-a100-40gb", "gpu_count": 9}, "the most on one node is 4"),
        ({"profile": "no-such-profile"}, "There is no server profile 'no-such-profile'"),
        ({"profile": "h100"}, "only for the groups cloud-users"),
    ]
    for options, message in cases:
        result = spawn(api, clean_user, options)
        assert "error" in result, (options, result)
        assert message in str(result), (options, result)
    for cluster in sandbox.clusters:
        assert await user_pods(admin_api, cluster, clean_user) == []
