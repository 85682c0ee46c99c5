"""Notebook servers through Kueue's pod integration on an opted-in cluster (issue 16 §1, §3, §6).

Against the real Kueue v0.19.2 and a real hub (``kueue_notebook_fixtures``): ``training`` queues
notebooks (its LocalQueue ``team``, 2 cpu of quota), ``analytics`` runs Kueue too but is not
opted in. Each server asks for 0.5 cpu; a queue is filled by a Job the admins' credential puts
in it, whose pod can never be scheduled (so it holds the quota without running anything).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from kubernetes_asyncio import client

from fedspawner.gateway import kube
from fedspawner.gateway.queueing import LOCALQUEUES
from fedspawner.spawner.queued import KUEUE, QUEUE_LABEL, owned_by_pod

from .kube_helpers import unique
from .kueue_fixtures import NS
from .kueue_notebook_fixtures import WINDOW, kueue_notebook_hub  # noqa: F401 - the fixture
from .spawn_helpers import progress_messages, server_model, spawn, stop
from .test_sandbox_operators import until

pytestmark = [pytest.mark.sandbox, pytest.mark.kueue, pytest.mark.timeout(1200)]

MANAGED = "kueue.x-k8s.io/managed"


async def in_thread(func, *args, **kwargs):
    """The hub's REST helpers block: run them beside the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)


async def servers_of(fed, cluster: str, user: str) -> list[dict]:
    """The user's notebook pods on ``cluster`` (admin credential)."""
    async with fed.admin(cluster) as api:
        pods = await client.CoreV1Api(api).list_namespaced_pod(
            NS, label_selector=f"hub.jupyter.org/username={user}")
        return [api.sanitize_for_serialization(p) for p in pods.items]


async def workloads(fed, cluster: str) -> list[dict]:
    async with fed.admin(cluster) as api:
        return (await client.CustomObjectsApi(api).list_namespaced_custom_object(*KUEUE, NS, "workloads"))["items"]


async def nothing_left(fed, cluster: str, user: str) -> bool:
    """No pod of the user's server on ``cluster``, and no Workload for it."""
    pods = await servers_of(fed, cluster, user)
    return not pods and owned_by_pod(await workloads(fed, cluster), f"jupyter-{user}", None) is None


async def queue_active(api, name: str) -> bool:
    """Whether Kueue reports the LocalQueue ``name`` active (its status, not only its spec)."""
    queue = await client.CustomObjectsApi(api).get_namespaced_custom_object(*KUEUE, NS, "localqueues", name)
    return any(c["type"] == "Active" and c["status"] == "True" for c in queue.get("status", {}).get("conditions", []))


async def admitted(workload: dict | None) -> bool:
    return bool(workload) and any(c["type"] == "Admitted" and c["status"] == "True"
                                  for c in workload.get("status", {}).get("conditions", []))


def failure(api, user: str, options: dict) -> tuple[dict, str]:
    """Start a server that must fail: the hub's answer, and the spawn progress's last message."""
    status, body = api.request("POST", f"/users/{user}", None)
    status, body = api.request("POST", f"/users/{user}/server", options)
    assert status in (201, 202), body
    messages = progress_messages(api, user, timeout=120)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (server_model(api, user) or {}).get("pending"):
        time.sleep(0.2)
    return server_model(api, user), messages[-1]


class QuotaHolder:
    """A Job in queue ``team`` on training asking for ``cpu``: admitted, its pod never scheduled."""

    def __init__(self, fed, cpu: str):
        self.fed, self.name = fed, unique("quota-holder")
        self.body = {"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": {"name": self.name, "labels": {QUEUE_LABEL: "team"}},
                     "spec": {"backoffLimit": 0, "template": {"spec": {
                         "restartPolicy": "Never", "nodeSelector": {"fedspawner.test/nowhere": "true"},
                         "containers": [{"name": "hold", "image": "python:3.11-slim", "command": ["true"],
                                         "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}

    async def __aenter__(self):
        return await self.fill()

    async def __aexit__(self, *_):
        await self.release()

    async def fill(self):
        async with self.fed.admin("training") as api:
            await client.BatchV1Api(api).create_namespaced_job(NS, self.body)

        async def holding():
            found = [w for w in await workloads(self.fed, "training")
                     if any(o.get("name") == self.name for o in w["metadata"].get("ownerReferences", []))]
            return found and await admitted(found[0])
        await until(holding, "the quota holder to be admitted", timeout=60)
        return self

    async def release(self):
        async with self.fed.admin("training") as api:
            await client.BatchV1Api(api).delete_namespaced_job(self.name, NS, propagation_policy="Background")


async def test_a_notebook_on_an_opted_in_cluster_is_gated_until_its_queue_admits_it(kueue_notebook_hub):  # noqa: F811
    fed, api, user = kueue_notebook_hub.fed, kueue_notebook_hub.api, "kqnann"
    holder = await QuotaHolder(fed, cpu="1800m").fill()  # the server (0.5 cpu) must wait for it
    try:
        spawning = asyncio.ensure_future(in_thread(spawn, api, user, {"profile": "patient"}, timeout=120))

        async def gated():
            pods = await servers_of(fed, "training", user)
            return pods and pods[0]["spec"].get("schedulingGates") and pods[0]
        pod = await until(gated, "the server's pod to be gated by Kueue", timeout=60)
        assert pod["metadata"]["labels"][QUEUE_LABEL] == "team" and pod["metadata"]["labels"][MANAGED] == "true"
        assert (await in_thread(server_model, api, user))["pending"] == "spawn"  # the hub shows it waiting
        await asyncio.sleep(2)  # a look or two at the queue while it waits
    finally:
        await holder.release()  # its quota comes back: Kueue admits the server
    model = await spawning
    try:
        assert model.get("ready"), model
        said = model["progress"]
        waiting = "queued in team on training, position 1 of 1: waiting for quota (needs 0.5 cpu"
        queued = next(i for i, m in enumerate(said) if m.startswith(waiting))
        admitted_at = next(i for i, m in enumerate(said) if m.startswith("admitted by queue team on training"))
        assert queued < admitted_at, said
        (pod,) = await servers_of(fed, "training", user)
        assert not pod["spec"].get("schedulingGates") and pod["status"]["phase"] == "Running"
        workload = owned_by_pod(await workloads(fed, "training"), pod["metadata"]["name"], pod["metadata"]["uid"])
        assert await admitted(workload) and workload["spec"]["queueName"] == "team"
        assert (await in_thread(server_model, api, user))["ready"]  # the hub shows it running
    finally:
        await in_thread(stop, api, user)
    await until(lambda: nothing_left(fed, "training", user), "the stopped server's pod and Workload to go")


async def test_a_full_queue_holds_the_notebook_then_it_starts_elsewhere_or_fails(kueue_notebook_hub):  # noqa: F811
    fed, api, user = kueue_notebook_hub.fed, kueue_notebook_hub.api, "kqnbob"
    async with QuotaHolder(fed, cpu="1800m"):  # 0.2 cpu of training's 2 left: the server (0.5) waits
        began = time.monotonic()
        model = await in_thread(spawn, api, user, {"profile": "queued"}, timeout=120)
        try:
            assert model.get("ready"), model
            said = model["progress"]
            # the first look may come before Kueue has considered the workload ("waiting for Kueue to consider it")
            assert any(m.startswith("queued in team on training, position 1 of 1: waiting for quota (needs 0.5 cpu")
                       for m in said), said
            assert any(m.startswith(f"training: not admitted by queue team within {WINDOW}s") and m.endswith(
                "trying analytics") for m in said), said
            assert time.monotonic() - began >= WINDOW
            assert not await servers_of(fed, "training", user)  # the gated pod was deleted before moving on
            await until(lambda: nothing_left(fed, "training", user), "its Workload to go with it", timeout=30)
            # analytics is not opted in: its server starts as it always did, Kueue never sees it
            (pod,) = await servers_of(fed, "analytics", user)
            assert QUEUE_LABEL not in pod["metadata"]["labels"] and MANAGED not in pod["metadata"]["labels"]
            assert owned_by_pod(await workloads(fed, "analytics"), pod["metadata"]["name"], None) is None
        finally:
            await in_thread(stop, api, user)

        model, last = await in_thread(failure, api, user, {"profile": "queued", "cluster": "training"})
        assert not (model or {}).get("ready")
        assert "Your server could not start on any cluster" in last, last
        assert f"training: not admitted by queue team within {WINDOW}s (position 1 of 1: waiting for quota " \
               "(needs 0.5 cpu" in last, last
        await until(lambda: nothing_left(fed, "training", user), "the gated pod to be gone")


async def test_a_missing_or_stopped_queue_is_one_clear_message_and_nothing_is_left(kueue_notebook_hub):  # noqa: F811
    fed, api, user = kueue_notebook_hub.fed, kueue_notebook_hub.api, "kqncat"
    model, last = await in_thread(failure, api, user, {"profile": "ghost-queue", "cluster": "training"})
    assert not (model or {}).get("ready")
    assert ("training: notebooks on training go through Kueue, but the queue 'nobody-made-this' does not exist in "
            "namespace fedspawner there (its LocalQueues: team)") in last, last
    assert await nothing_left(fed, "training", user)
    async with fed.admin("training") as admin:
        await kube.merge_patch(admin, LOCALQUEUES, NS, "team", {"spec": {"stopPolicy": "Hold"}})
        try:
            model, last = await in_thread(failure, api, user, {"profile": "queued", "cluster": "training"})
            assert "training: queue team on training: the queue is stopped by the cluster's admins (Hold)" in last, last
            assert await nothing_left(fed, "training", user)
        finally:
            await kube.merge_patch(admin, LOCALQUEUES, NS, "team", {"spec": {"stopPolicy": "None"}})
            await until(lambda: queue_active(admin, "team"), "Kueue to report queue team active again")


async def test_kueue_down_is_said_plainly_and_the_server_starts_elsewhere(kueue_notebook_hub):  # noqa: F811
    """Last in this module: Kueue on training does not come back."""
    fed, api, user = kueue_notebook_hub.fed, kueue_notebook_hub.api, "kqndan"
    os.kill(fed.kueue_pid("training"), signal.SIGTERM)  # a process this module's sandbox started
    await asyncio.sleep(2)
    model = await in_thread(spawn, api, user, {"profile": "queued"}, timeout=120)
    try:
        assert model.get("ready"), model
        assert any(m.startswith("training: Kueue on training is not answering (its pod webhook failed)")
                   and m.endswith("trying analytics") for m in model["progress"]), model["progress"]
        assert await nothing_left(fed, "training", user)
        assert len(await servers_of(fed, "analytics", user)) == 1
    finally:
        await in_thread(stop, api, user)
