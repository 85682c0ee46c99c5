"""Spark sessions when things go wrong, against the real sandbox, gateway and hub.

Requests a user can get wrong (too large for any cluster, a GPU type no cluster has, a quota)
get one clear message each. A create the cluster refuses partway (a quota on Services) leaves
nothing behind, and a session's objects are owned by its anchor. A session whose cluster goes
silent (its apiserver stopped, its pods' processes gone) says so in one message at the next
query and in the session list; a restart stops it and starts its like on a cluster that
answers, and its leftovers are deleted once the silent cluster answers again. One JVM
application at a time: the silent session's processes end before the new one starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from fedspawner.client.gateway import Gateway as ClientGateway
from fedspawner.client.spark_session import FedSparkSession, current, restart, spark_session
from fedspawner.gateway import kube

from .test_spark_sessions import GATEWAY_ROOT, objects_gone, session_objects
from .test_spawner import apiserver_pid

pytestmark = pytest.mark.sandbox

USER_ERRORS = [
    ({"cpu": "100", "memory": "4Gi"}, 403, "at most 64 CPU per pod"),
    ({"gpus": "nvidia-h100-80gb:1", "memory": "3000Gi", "cpu": "8"}, (403, 422), "memory"),
    ({"gpus": "H200:1"}, 422, "No member cluster can run"),
    ({"gpus": "L4:1", "cluster": "burst"}, 422, "burst: no NVIDIA L4 here"),
    # onprem's GPU quota is 6: its two A100 nodes' 8 GPUs are not all the hub's
    ({"gpus": "nvidia-a100-40gb:4", "executors": 2, "cluster": "onprem"}, 422,
     "6 × NVIDIA A100 40GB free now; the job needs 2 workers × 4 = 8"),
]


@pytest.mark.parametrize("body,status,words", USER_ERRORS, ids=[str(b)[:40] for b, _, _ in USER_ERRORS])
async def test_session_requests_no_cluster_can_take_get_one_message_each(gw, token_for, body, status, words):
    answered, answer = await gw.call("POST", "/sessions", token_for("erin"), body)
    assert answered in (status if isinstance(status, tuple) else (status,)), answer
    assert words in answer["message"] and "Traceback" not in answer["message"], answer
    assert answer["message"].count("\n") == 0, answer


#: Sized past what burst's untainted nodes have (its one node that fits takes no pods without a
#: toleration): the pods stay Pending, so no JVM starts.
PENDING = {"cluster": "burst", "executors": 1, "cpu": "60", "memory": "400Gi"}


async def test_a_create_refused_partway_leaves_nothing_and_anchors_own_their_sessions(
        gw, token_for, admin_api, sandbox):
    token = token_for("frank")
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "no-services", "namespace": sandbox.namespace}, "spec": {"hard": {"services": "0"}}}
    async with admin_api("burst") as api:
        await kube.request(api, "POST", kube.Resource("", "v1", "resourcequotas", "ResourceQuota")
                           .path(sandbox.namespace), body=quota)
        try:
            await asyncio.sleep(1)  # the quota controller computes its usage
            status, answer = await gw.call("POST", "/sessions", token, PENDING)
        finally:
            await kube.delete(api, kube.Resource("", "v1", "resourcequotas", "ResourceQuota"), sandbox.namespace,
                              "no-services")
    assert status == 503 and "burst: the apiserver refused it (403: " in answer["message"], answer
    assert "exceeded quota" in answer["message"], answer
    status, listed = await gw.call("GET", "/sessions", token)
    assert listed["sessions"] == [], listed
    async with admin_api("burst") as api:  # the ConfigMap made before the refusal is gone
        left = await kube.list_objects(api, kube.CONFIGMAPS, sandbox.namespace,
                                       "app.kubernetes.io/managed-by=fedspawner-session")
    assert [o["metadata"]["name"] for o in left] == [], left

    status, made = await gw.call("POST", "/sessions", token, PENDING)
    assert status == 201 and made["session"]["backend"] == "spark-standalone", made
    session_id = made["session"]["id"]
    try:
        objects = await session_objects(admin_api, "burst", sandbox.namespace, session_id)
        anchor = next(o for o in objects if o.startswith("ConfigMap/"))
        async with admin_api("burst") as api:
            for resource in (kube.PODS, kube.SERVICES):
                for item in await kube.list_objects(api, resource, sandbox.namespace,
                                                    f"fedspawner.dev/session-id={session_id}"):
                    owners = [f"{o['kind']}/{o['name']}" for o in item["metadata"].get("ownerReferences", [])]
                    assert owners == [anchor], (item["metadata"]["name"], owners)
    finally:
        status, stopped = await gw.call("DELETE", f"/sessions/{session_id}", token)
    assert status == 200 and stopped["session"]["phase"] == "Stopped", stopped
    assert await objects_gone(admin_api, "burst", sandbox.namespace, session_id) == []


def _processes_of(pod_prefix: str) -> list[int]:
    """The local processes the node agent runs for pods whose names start with ``pod_prefix``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(f"HOSTNAME={pod_prefix}".encode()) for v in environ):
            pids.append(int(entry.name))
    return pids


@pytest.mark.timeout(2400)  # two JVM applications start one after the other, minutes each on a loaded machine
async def test_a_session_whose_cluster_goes_silent_says_so_and_restarts_elsewhere(
        gw, token_for, admin_api, sandbox):
    token = token_for("grace")
    client = ClientGateway(GATEWAY_ROOT, token)
    told: list[str] = []
    spark = await asyncio.to_thread(spark_session, "regional", 1, cpu="1", memory="2Gi", gateway=client,
                                    stop_with_kernel=False, narrate=told.append, timeout=900)
    session = current()
    old_id, name = session.id, session.view["name"]
    new: FedSparkSession | None = None
    pid = apiserver_pid(sandbox, "regional")
    resumed = False
    try:
        assert await asyncio.to_thread(lambda: spark.range(10).count()) == 10
        os.kill(pid, signal.SIGSTOP)  # the cluster goes silent ...
        for process in _processes_of(name):  # ... and its session's processes end with it
            os.kill(process, signal.SIGKILL)
        began = time.monotonic()
        with pytest.raises(Exception) as failed:
            await asyncio.to_thread(lambda: spark.range(5).count())
        message = await asyncio.to_thread(session.failure, failed.value)
        print(f"silent regional: the query failed after {time.monotonic() - began:.1f}s: {message}")
        expected = f"Spark session {old_id} on regional cannot run queries: Cluster regional does not answer"
        assert message and message.startswith(expected), message
        assert "%fedspark start --restart" in message and "\n" not in message, message
        status, listed = await gw.call("GET", "/sessions", token)
        [view] = listed["sessions"]
        assert (view["id"], view["phase"]) == (old_id, "Failed") and "does not answer" in view["message"], view

        spark = await asyncio.to_thread(restart, gateway=client, narrate=told.append, stop_with_kernel=False,
                                        timeout=900)
        new = current()
        assert new.id != old_id and new.view["cluster"] != "regional", new.view
        assert any(t.startswith(f"Stopped {old_id} on regional") for t in told), told
        assert await asyncio.to_thread(lambda: spark.range(1, 101).selectExpr("sum(id)").collect()[0][0]) == 5050

        os.kill(pid, signal.SIGCONT)
        resumed = True  # the gateway deletes what the silent cluster still holds once it answers
        assert await objects_gone(admin_api, "regional", sandbox.namespace, old_id, timeout=90) == []
    finally:
        if not resumed:
            os.kill(pid, signal.SIGCONT)
        for left in (new, session):
            if left is not None:
                try:
                    await asyncio.to_thread(left.stop)
                except Exception:  # noqa: BLE001 - stopped already
                    pass
    assert new is not None and await objects_gone(admin_api, new.view["cluster"], sandbox.namespace, new.id) == []


async def test_gpu_executors_are_placed_where_the_type_is_and_land_on_its_nodes(gw, token_for, admin_api, sandbox):
    """--gpus TYPE:N: placement picks the cluster with the type, the executors ask for it and the
    scheduler puts them on that type's (tainted, agent-run) node; the server, sized past burst's CPU
    nodes and without the GPU toleration, stays Pending, so no Spark application starts."""
    token = token_for("heidi")
    body = {"gpus": "nvidia-h100-80gb:1", "executors": 1, "cpu": "60", "memory": "400Gi"}
    status, made = await gw.call("POST", "/sessions", token, body)
    assert status == 201, made
    view = made["session"]
    try:
        assert (view["cluster"], view["gpus"], view["backend"]) == ("burst", "nvidia-h100-80gb:1", "spark-standalone")
        assert "H100" in view["placement"], view
        async with admin_api("burst") as api:
            async def worker():
                selector = f"fedspawner.dev/session-id={view['id']},fedspawner.dev/component=worker"
                pods = await kube.list_objects(api, kube.PODS, sandbox.namespace, selector)
                return pods[0] if pods and pods[0]["spec"].get("nodeName") else None
            deadline = time.monotonic() + 60
            while (pod := await worker()) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            assert pod is not None, "the executor was not scheduled"
            node = await kube.request(api, "GET", f"/api/v1/nodes/{pod['spec']['nodeName']}")
        assert node["metadata"]["labels"]["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb", node["metadata"]
        assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert any(t.get("key") == "nvidia.com/gpu" for t in pod["spec"].get("tolerations", []))
    finally:
        status, stopped = await gw.call("DELETE", f"/sessions/{view['id']}", token)
    assert await objects_gone(admin_api, "burst", sandbox.namespace, view["id"]) == []
