"""Interactive Spark sessions through the real gateway, the hub's proxy and a sandbox cluster.

A session started with ``client.spark_session`` runs on a sandbox cluster (a Spark Connect server
and a standalone executor, run by the node agent from the workload environment); DataFrame queries
go kernel → local port → WebSocket through the hub's proxy → gateway → port-forward through the cluster's apiserver →
driver, and their results equal local PySpark's. Another user is refused; a stop leaves nothing
on the cluster (checked with the admin credential); bad requests get one clear 4xx message.
In a real kernel, ``%fedspark start --keep`` survives a kernel restart, ``%fedspark attach`` reconnects,
and a session set to stop with the kernel is gone once the kernel exits. One JVM application at a
time: the local PySpark run comes after the session is stopped. A gateway set to short timeouts
stops a session nobody connects to, and refuses a user more sessions than allowed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import aiohttp
import pytest

from fedspawner.client.gateway import Gateway as ClientGateway
from fedspawner.client.spark_session import FedSparkSession, LocalTunnel, call, current, spark_session
from fedspawner.gateway import kube
from fedspawner.gateway.sessions import SPARKCONNECTS
from fedspawner.jobs.render.spark_connect import LABEL_SESSION_ID, SESSION_MANAGED_BY
from fedspawner.jobs.render.spark_connect_cr import LABEL_CONNECT_NAME
from fedspawner.jobs.labels import LABEL_MANAGED_BY
from fedspawner.sandbox.workload import workload_env_dir

from .test_client_notebook import Notebook, kernel_env  # noqa: F401 - kernel_env: a fixture
from .test_gateway_support import GATEWAY, GatewayReplica
from .test_gateway_support import Gateway as GatewayClient

pytestmark = pytest.mark.sandbox

GATEWAY_ROOT = GATEWAY.removesuffix("api/v1")
#: The clusters running the Spark operator (the default topology's regional), whose sessions are SparkConnects.
SPARK_OPERATOR = {"regional": (SPARKCONNECTS,), "onprem": (), "burst": ()}
#: The queries both sides run: ``queries(spark)`` answers plain Python values.
QUERIES = '''
def queries(spark):
    from pyspark.sql import functions as F
    squares = spark.range(1, 1001).select((F.col("id") * F.col("id")).alias("sq"))
    people = spark.createDataFrame([("ada", "physics", 36), ("bob", "physics", 41), ("cy", "chem", 29),
                                    ("di", "chem", 33), ("ed", "maths", 52)], ["name", "dept", "age"])
    depts = spark.createDataFrame([("physics", "B1"), ("chem", "B2")], ["dept", "building"])
    return {
        "sum_of_squares": squares.agg(F.sum("sq")).collect()[0][0],
        "by_dept": sorted((r["dept"], r["n"], r["avg_age"]) for r in
                          people.groupBy("dept").agg(F.count("*").alias("n"), F.avg("age").alias("avg_age"))
                          .collect()),
        "joined": sorted(tuple(r) for r in people.join(depts, "dept").select("name", "building").collect()),
        "modulo_counts": sorted(tuple(r) for r in
                                spark.range(0, 100000, numPartitions=4).groupBy((F.col("id") % 7).alias("m"))
                                .count().collect()),
        "sql": spark.sql("SELECT upper('connect') AS u, 6 * 7 AS n").collect()[0].asDict(),
    }
'''
LOCAL_RUN = QUERIES + '''
import json
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
print("RESULT " + json.dumps(queries(spark)))
spark.stop()
'''


def run_queries(spark) -> dict:
    scope: dict = {}
    exec(QUERIES, scope)  # noqa: S102 - the test's own query text, run on both sides
    return json.loads(json.dumps(scope["queries"](spark)))


def local_pyspark_results() -> dict:
    """The same queries on local PySpark (the workload environment's full Spark)."""
    python = workload_env_dir() / "bin" / "python"
    # Not in Spark Connect mode (the client marks this process so), bound to loopback.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    out = subprocess.run([str(python), "-c", LOCAL_RUN], capture_output=True, text=True, timeout=300,
                         env={**env, "SPARK_LOCAL_IP": "127.0.0.1"})
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, out.stderr[-3000:]
    return json.loads(line.removeprefix("RESULT "))


async def session_objects(admin_api, cluster: str, namespace: str, session_id: str) -> list[str]:
    """Every object of the session on ``cluster``, listed with the admin credential: those labelled
    with its id, and on a cluster with the Spark operator its SparkConnect and whatever the operator
    and the Connect server made for that SparkConnect."""
    selector = kube.selector({LABEL_MANAGED_BY: SESSION_MANAGED_BY, LABEL_SESSION_ID: session_id})
    found = []
    async with admin_api(cluster) as api:
        for resource in (kube.PODS, kube.SERVICES, kube.CONFIGMAPS, kube.JOBS, *SPARK_OPERATOR[cluster]):
            items = await kube.list_objects(api, resource, namespace, selector)
            found += [f"{resource.kind}/{o['metadata']['name']}" for o in items]
        for name in {o.split("/", 1)[1] for o in found if o.startswith("SparkConnect/")}:
            made = kube.selector({LABEL_CONNECT_NAME: name})
            for resource in (kube.PODS, kube.SERVICES, kube.CONFIGMAPS):
                items = await kube.list_objects(api, resource, namespace, made)
                found += [f"{resource.kind}/{o['metadata']['name']}" for o in items]
    return sorted(set(found))


async def objects_gone(admin_api, cluster: str, namespace: str, session_id: str, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while (left := await session_objects(admin_api, cluster, namespace, session_id)) and \
            time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return left


async def tunnel_refusal(token: str, session_id: str) -> tuple[int, object]:
    """The gateway's answer to a WebSocket upgrade on the session's tunnel (status, JSON body)."""
    headers = {"Authorization": f"token {token}", "Connection": "Upgrade", "Upgrade": "websocket",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{GATEWAY}/sessions/{session_id}/tunnel", headers=headers) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text.startswith("{") else text


BAD_REQUESTS = [
    ([1, 2], 400, "JSON object"),
    ({"executors": 0}, 400, "executors"),
    ({"conf": {"spark.kubernetes.container.image": "evil:1"}}, 400, "spark.kubernetes"),
    ({"conf": {"spark.master": "local[64]"}}, 400, "spark.master"),
    ({"script": "print(1)"}, 400, "does not take 'script'"),
    ({"hostNetwork": True}, 403, "host"),
    ({"cluster": "atlantis"}, 400, "Unknown cluster 'atlantis'"),
    ({"memory": "1Gi"}, 400, "memory"),
    ({"executors": 5000}, 400, "executors"),
    ({"image": "not an image"}, 400, "image"),
]


@pytest.mark.parametrize("body,status,words", BAD_REQUESTS, ids=[str(b)[:40] for b, _, _ in BAD_REQUESTS])
async def test_bad_session_requests_get_one_clear_message(gw, token_for, body, status, words):
    answered, answer = await gw.call("POST", "/sessions", token_for("alice"), body)
    assert answered == status, answer
    assert isinstance(answer, dict) and answer["status"] == status and words in answer["message"], answer
    assert "Traceback" not in answer["message"]


async def test_unknown_sessions_and_methods_are_clear_4xx(gw, token_for):
    alice = token_for("alice")
    for path in ("/sessions/s-zzzzzzzz", "/sessions/whatever", "/sessions/s-zzzzzzzz/tunnel"):
        status, answer = await gw.call("GET", path, alice)
        assert status == 404 and "No session" in answer["message"], (path, answer)
    status, answer = await gw.call("DELETE", "/sessions", alice)
    assert status == 405, answer
    status, answer = await gw.call("GET", "/sessions", None)
    assert status == 401, answer


async def test_session_runs_queries_through_the_tunnel_for_its_owner_only(gw, token_for, admin_api, sandbox):
    alice, bob = token_for("alice"), token_for("bob")
    told: list[str] = []
    client = ClientGateway(GATEWAY_ROOT, alice)
    began = time.monotonic()
    spark = await asyncio.to_thread(spark_session, "regional", 1, cpu="1", memory="2Gi", gateway=client,
                                    stop_with_kernel=False, narrate=told.append, timeout=240)
    started = time.monotonic() - began
    session_id = told[0].split()[2]
    try:
        assert told[0].startswith(f"Spark session {session_id} on regional with 1 executor(s)"), told
        assert "regional:" in told[0], told  # the placement's reason for the cluster
        status, listed = await gw.call("GET", "/sessions", alice)
        assert status == 200 and [s["id"] for s in listed["sessions"]] == [session_id], listed
        view = listed["sessions"][0]
        assert (view["phase"], view["cluster"], view["owner"], view["executors"], view["backend"]) == \
            ("Ready", "regional", "alice", 1, "sparkconnect"), view
        # The Spark operator made the server pod and the server its executor, run by the node agent.
        running = await session_objects(admin_api, "regional", sandbox.namespace, session_id)
        name = view["name"]
        assert {f"SparkConnect/{name}", f"Pod/{name}-server", f"Service/{name}-server",
                f"ConfigMap/{name}-conf"} <= set(running), running
        assert any(o.startswith(f"Pod/{name}-exec-") for o in running), running  # Spark numbers them

        remote = await asyncio.to_thread(run_queries, spark)
        status, shown = await gw.call("GET", f"/sessions/{session_id}", alice)
        assert shown["session"]["connections"] >= 1 and shown["session"]["idle_seconds"] < 30, shown

        # Another user: no view, no stop, no tunnel.
        for method in ("GET", "DELETE"):
            status, answer = await gw.call(method, f"/sessions/{session_id}", bob)
            assert status == 403 and "belongs to another user" in answer["message"], answer
        status, answer = await tunnel_refusal(bob, session_id)
        assert status == 403 and "only its owner may" in answer["message"], (status, answer)
        status, listed = await gw.call("GET", "/sessions", bob)
        assert listed["sessions"] == [], listed
        intruder = LocalTunnel(f"{GATEWAY_ROOT.replace('http', 'ws', 1)}api/v1/sessions/{session_id}/tunnel", bob)
        port = await asyncio.to_thread(intruder.start)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 30) == b""  # closed: nothing reaches the driver
            writer.close()
            assert any("(403)" in e for e in intruder.errors), intruder.errors
        finally:
            await asyncio.to_thread(intruder.stop)
        assert await session_objects(admin_api, "regional", sandbox.namespace, session_id)  # still there
    finally:
        session = current() or FedSparkSession(client, {"id": session_id})
        stopped = await asyncio.to_thread(session.stop)
    assert stopped["phase"] == "Stopped", stopped
    assert await objects_gone(admin_api, "regional", sandbox.namespace, session_id) == []
    status, answer = await gw.call("GET", f"/sessions/{session_id}", alice)
    assert status == 404, answer
    print(f"session started in {started:.1f}s")
    assert remote == local_pyspark_results()


async def test_fedspark_in_a_real_kernel_survives_a_restart_with_keep_and_stops_with_the_kernel(
        sandbox, kernel_env, admin_api):  # noqa: F811 - kernel_env: the imported fixture
    gateway = ClientGateway(kernel_env["FEDSPAWNER_GATEWAY_URL"], kernel_env["JUPYTERHUB_API_TOKEN"])
    try:
        session_id = await kernel_session_life(nb_env=kernel_env, admin_api=admin_api, namespace=sandbox.namespace)
        assert await objects_gone(admin_api, "regional", sandbox.namespace, session_id) == []
        assert await asyncio.to_thread(lambda: call(gateway, "GET", "sessions")["sessions"]) == []
    finally:  # leave nothing behind, also after a failure
        for left in await asyncio.to_thread(lambda: call(gateway, "GET", "sessions")["sessions"]):
            await asyncio.to_thread(call, gateway, "DELETE", f"sessions/{left['id']}")


REPORT = "import json\ndef report(value):\n    print('RESULT ' + json.dumps(value))\n"


async def kernel_session_life(nb_env: dict, admin_api, namespace: str) -> str:
    """Start with --keep, query, restart, attach, query, stop with the kernel's exit; the session id."""
    async with Notebook("spark-session", nb_env) as nb:
        await nb.run("%load_ext fedspawner\n" + REPORT)
        told = await nb.run("%fedspark start --cluster regional --executors 1 --cpu 1 --memory 2Gi --keep")
        assert "on regional with 1 executor(s)" in told and "Ready after" in told, told
        session_id = next(word for word in told.split() if word.startswith("s-"))
        first = await nb.result("report(spark.range(1, 101).selectExpr('sum(id) AS s').collect()[0]['s'])")
        assert first == 5050
        status = await nb.run("%fedspark status")
        assert f"{session_id} " in status and "Ready" in status, status

        await nb.restart()  # killed at once: with --keep the session stays for %fedspark attach
        assert await session_objects(admin_api, "regional", namespace, session_id)
        await nb.run("%load_ext fedspawner\n" + REPORT)
        attached = await nb.run("%fedspark attach")
        assert f"Attached to Spark session {session_id} on regional" in attached, attached
        again = await nb.result("from pyspark.sql import functions as F\n"
                                "report(spark.range(0, 10).groupBy((F.col('id') % 2).alias('m'))"
                                ".count().count())")
        assert again == 2
        await nb.run("from fedspawner.client import spark_session as fs\nfs.current().stop_with_kernel()")

        await nb.client.km.restart_kernel(now=False)  # a clean shutdown: the kernel's exit stops the session
        await nb.client.kc.wait_for_ready(timeout=60)
    return session_id


async def test_the_gateway_stops_a_session_nobody_connects_to_and_caps_sessions_per_user(
        tmp_path, sandbox, gateway_up, token_for, admin_api):
    settings = "c.Sessions.detached_timeout = 4\nc.Sessions.check_interval = 1\nc.Sessions.max_per_user = 1\n"
    replica = GatewayReplica(tmp_path, sandbox.state_dir, settings)
    token = token_for("carol")
    # Sized past what burst's untainted nodes have: the pods stay Pending, so no JVM starts.
    body = {"cluster": "burst", "executors": 1, "cpu": "60", "memory": "400Gi"}
    await replica.start()
    try:
        async with aiohttp.ClientSession() as http:
            gw = GatewayClient(http, replica.url)
            status, made = await gw.call("POST", "/sessions", token, body)
            assert status == 201 and made["session"]["phase"] == "Starting", made
            session_id = made["session"]["id"]
            began = time.monotonic()
            status, again = await gw.call("POST", "/sessions", token, body)
            assert status == 403 and f"You hold 1 Spark session(s) already ({session_id})" in again["message"], again
            assert await session_objects(admin_api, "burst", sandbox.namespace, session_id)
            assert await objects_gone(admin_api, "burst", sandbox.namespace, session_id, timeout=40) == []
            assert time.monotonic() - began > 2, "stopped before its detached timeout"
            assert f"session {session_id} of carol: no tunnel open for" in replica.log()
    finally:
        replica.stop()
        async with aiohttp.ClientSession() as http:
            gw = GatewayClient(http)
            for left in (await gw.call("GET", "/sessions", token))[1]["sessions"]:
                await gw.call("DELETE", f"/sessions/{left['id']}", token)
