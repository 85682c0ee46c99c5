"""Hedged starts in a real hub over the sandbox: the first Ready server is kept, never two."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time

import pytest
from kubernetes_asyncio import client

from fedspawner.spawner.attempts import ATTEMPT_LABEL, KEPT

from .spawn_helpers import ensure_user, get_via_proxy, server_model, server_path, spawn, user_token
from .test_spawner import api, clean_user, pods_everywhere, user_pods  # noqa: F401 - fixtures

pytestmark = pytest.mark.sandbox


def agent_pids(sandbox, clusters) -> list[int]:
    return [p["pid"] for p in sandbox.state["processes"] if p["cluster"] in clusters and p["component"] == "node-agent"]


@contextlib.contextmanager
def paused_agents(sandbox, *clusters: str, at_most: float = 25.0):
    """The clusters' node agents stop starting pods (as a node slow to pull an image would),
    for the block but ``at_most`` seconds: a longer pause outlasts the node monitor's grace
    period and the nodes are marked unreachable."""
    pids = agent_pids(sandbox, clusters)
    assert pids, clusters

    def resume():
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    timer = threading.Timer(at_most, resume)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        resume()


async def only_pod(sandbox, admin_api, user: str):
    pods = {c: await user_pods(admin_api, c, user) for c in sandbox.clusters}
    live = [(c, p) for c, ps in pods.items() for p in ps]
    assert len(live) == 1, {c: [p.metadata.name for p in ps] for c, ps in pods.items()}
    return live[0]


async def test_slow_first_choice_loses_the_race(api, clean_user, sandbox, admin_api):  # noqa: F811
    """onprem is preferred but its node does not start pods: the standby elsewhere wins,
    onprem's pod is deleted, the state, proxy route and stop act on the winner."""
    with paused_agents(sandbox, "onprem"):
        model = spawn(api, clean_user, {"profile": "hedged"}, timeout=120)  # times: benchmarks/hedge_bench.py
        cluster, pod = await only_pod(sandbox, admin_api, clean_user)
    assert model.get("ready"), model
    messages = model["progress"]
    assert any("hedging with a standby on" in m for m in messages), messages
    assert model["state"]["cluster"] == cluster
    # Exactly one pod is left (only_pod): the loser was deleted. Its narration ("Ready first —
    # deleted the server on onprem") may come after the hub has closed the progress stream.
    assert pod.metadata.labels[ATTEMPT_LABEL] == KEPT
    status, _ = get_via_proxy(api, f"/user/{clean_user}/api", user_token(api, clean_user))
    assert status == 200


async def test_a_fast_race_keeps_exactly_one_server(api, clean_user, sandbox, admin_api):  # noqa: F811
    model = spawn(api, clean_user, {"profile": "hedged"})
    assert model.get("ready"), model
    cluster, pod = await only_pod(sandbox, admin_api, clean_user)
    assert model["state"]["cluster"] == cluster
    # (The last narration may come after the hub has closed the progress stream of a fast start.)
    assert all(m.startswith(f"{cluster}: ") for m in model["progress"] if "Ready first" in m), model["progress"]
    assert pod.metadata.labels[ATTEMPT_LABEL] == KEPT


async def test_a_full_first_choice_fails_over_inside_the_race(api, clean_user, sandbox, admin_api):  # noqa: F811
    """A quota refuses onprem's pod: the standby is the server, nothing is left on onprem."""
    async with admin_api("onprem") as kube:
        core = client.CoreV1Api(kube)
        await core.create_namespaced_resource_quota("fedspawner", {"metadata": {"name": "hedge-no-pods"},
                                                                   "spec": {"hard": {"pods": "0"}}})
        try:
            await asyncio.sleep(0.5)
            model = spawn(api, clean_user, {"profile": "hedged"})
        finally:
            await core.delete_namespaced_resource_quota("hedge-no-pods", "fedspawner")
    assert model.get("ready"), model
    cluster, _ = await only_pod(sandbox, admin_api, clean_user)
    assert cluster != "onprem" and model["state"]["cluster"] == cluster
    assert any(m.startswith("onprem:") and "quota hedge-no-pods" in m for m in model["progress"]), model


async def test_hub_stopped_mid_race_leaves_one_server(api, hub, clean_user, sandbox, admin_api):  # noqa: F811
    """Both racers are pending when the hub stops; after the restart the next start sweeps them
    and exactly one server runs."""
    ensure_user(api, clean_user)
    with paused_agents(sandbox, *sandbox.clusters):
        status, body = api.request("POST", server_path(clean_user), {"profile": "hedged"})
        assert status in (201, 202), body
        deadline = time.monotonic() + 20
        racing = {}
        while time.monotonic() < deadline and len([c for c in racing.values() if c]) < 2:
            racing = await pods_everywhere(sandbox, admin_api, clean_user)
            await asyncio.sleep(0.2)
        assert len([c for c in racing.values() if c]) == 2, racing
        hub.stop()
    hub.start()
    model = server_model(api, clean_user)
    assert not (model and model.get("ready")), model
    model = spawn(api, clean_user, {"profile": "hedged"})
    assert model.get("ready"), model
    cluster, _ = await only_pod(sandbox, admin_api, clean_user)
    assert model["state"]["cluster"] == cluster
