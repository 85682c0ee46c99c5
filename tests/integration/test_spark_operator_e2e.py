"""PySpark jobs through the Kubeflow Spark operator (issue 15 §3), end to end on the sandbox.

The default topology's ``regional`` cluster runs the real Spark operator v2.5.2. A job
submitted there through the gateway becomes a SparkApplication; the operator runs
spark-submit from the workload environment's PySpark, which creates the driver pod; the
driver creates two executor pods; the node agent runs all three as local processes with
its stand-in for the Spark image's entrypoint. The tests read the result from the driver's
log through the gateway, open the Spark UI while the job runs, and check with the admin
credential that a cancel leaves nothing of the application behind.

One Spark application at a time (memory): the tests run one after the other.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from kubernetes_asyncio import client

from .test_gateway_jobs import SPARK_SCRIPT, phase_steps
from .test_gateway_support import first_line_with, gone, leftovers

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(900)]

CLUSTER = "regional"
SPARK = ("sparkoperator.k8s.io", "v1beta2")
#: Labels the operator and spark-submit put on what they create for an application.
APP_NAME_LABEL = "sparkoperator.k8s.io/app-name"

SLOW_SPARK = """
import time
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
print("COUNT", spark.range(1000).count(), flush=True)  # keeps its executors busy, then waits
time.sleep(600)
"""


async def ui_page(admin_api, namespace: str, ui_url: str) -> str:
    """The Spark UI's jobs page at ``ui_url`` (``http://<service>.<namespace>.svc:<port>``), fetched
    as a pod would: the Service's name resolved to its cluster IP, where the node agent relays."""
    host, port = ui_url.removeprefix("http://").split(":")
    service = host.split(".")[0]
    async with admin_api(CLUSTER) as api:
        svc = await client.CoreV1Api(api).read_namespaced_service(service, namespace)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{svc.spec.cluster_ip}:{port}/jobs/",
                               timeout=aiohttp.ClientTimeout(total=30)) as resp:
            assert resp.status == 200, resp.status
            return await resp.text()


async def application_leftovers(admin_api, namespace: str, app: str) -> list[str]:
    """Pods, Services and ConfigMaps the operator or spark-submit made for ``app``, as the admin sees them."""
    found = []
    async with admin_api(CLUSTER) as api:
        core = client.CoreV1Api(api)
        for what, lister in (("Pod", core.list_namespaced_pod), ("Service", core.list_namespaced_service),
                             ("ConfigMap", core.list_namespaced_config_map)):
            items = (await lister(namespace)).items
            found += [f"{what}/{o.metadata.name}" for o in items
                      if (o.metadata.labels or {}).get(APP_NAME_LABEL) == app or o.metadata.name.startswith(app)]
        try:
            await client.CustomObjectsApi(api).get_namespaced_custom_object(*SPARK, namespace, "sparkapplications",
                                                                            app)
            found.append(f"SparkApplication/{app}")
        except client.ApiException as err:
            assert err.status == 404, err
    return found


async def nothing_left(admin_api, namespace: str, job_id: str, app: str, timeout: float = 90) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = await gone(admin_api, CLUSTER, namespace, job_id, timeout=timeout)
        left += await application_leftovers(admin_api, namespace, app)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1)


async def test_pyspark_job_runs_through_the_spark_operator(gw, token_for, admin_api, sandbox):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "spark", "name": "squares", "script": SPARK_SCRIPT, "executors": 2,
                                  "cluster": CLUSTER, "cpu": "1", "memory": "1536Mi"})
    assert (job["cluster"], job["backend"]) == (CLUSTER, "sparkapplication")
    app = f"{job['name']}-{job['id'][2:]}"
    ui_url, ui_seen = f"http://{app}-ui-svc.{sandbox.namespace}.svc:4040", ""
    views = []
    async for raw in gw.lines(f"/jobs/{job['id']}/watch", alice, timeout=600):
        line = json.loads(raw)
        if "job" not in line:
            continue
        views.append(line["job"])
        if line["job"]["ui_url"] and not ui_seen:
            assert line["job"]["phase"] == "Running" and line["job"]["ui_url"] == ui_url, line["job"]
            ui_seen = await ui_page(admin_api, sandbox.namespace, ui_url)
    done = views[-1]
    assert done["phase"] == "Succeeded", done["message"]
    assert phase_steps([job, *views]) == ["Pending", "Running", "Succeeded"]
    assert {v["ui_url"] for v in views if v["phase"] != "Running"} == {None}
    assert "Spark Jobs" in ui_seen, ui_seen[:500]
    roles = sorted((p["role"], p["rank"]) for p in done["pods"])
    assert roles == [("driver", 0), ("executor", 1), ("executor", 2)], done["pods"]
    driver_log = await gw.text(f"/jobs/{job['id']}/logs", alice)
    assert first_line_with(driver_log, "RESULT sum of squares = 333833500"), driver_log[-3000:]

    async with admin_api(CLUSTER) as api:
        got = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            *SPARK, sandbox.namespace, "sparkapplications", app)
        assert got["status"]["applicationState"]["state"] == "COMPLETED"
        assert got["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fedspawner"
        pods = (await client.CoreV1Api(api).list_namespaced_pod(
            sandbox.namespace, label_selector=f"{APP_NAME_LABEL}={app}")).items
        assert {p.metadata.labels.get("spark-role") for p in pods} == {"driver", "executor"}
        driver = next(p for p in pods if p.metadata.labels.get("spark-role") == "driver")
        assert driver.spec.service_account_name == "spark-operator-spark"

    await gw.cancel(alice, job["id"])
    assert await nothing_left(admin_api, sandbox.namespace, job["id"], app) == []


async def test_cancelling_a_running_spark_application_leaves_nothing(gw, token_for, admin_api, sandbox):
    bob = token_for("bob")
    job = await gw.submit(bob, {"kind": "spark", "name": "sleeper", "script": SLOW_SPARK, "executors": 2,
                                "cluster": CLUSTER, "cpu": "1", "memory": "1536Mi"})
    app = f"{job['name']}-{job['id'][2:]}"
    running = await gw.wait(bob, job["id"], phases=("Running",), timeout=300)  # driver and both executors
    assert sorted(p["role"] for p in running["pods"]) == ["driver", "executor", "executor"], running["pods"]
    before = await leftovers(admin_api, CLUSTER, sandbox.namespace, job["id"])
    before += await application_leftovers(admin_api, sandbox.namespace, app)
    kinds = {name.split("/")[0] for name in before}
    assert {"SparkApplication", "Pod", "Service", "ConfigMap"} <= kinds, before
    cancelled = await gw.cancel(bob, job["id"])
    assert cancelled["phase"] == "Cancelled", cancelled
    assert await nothing_left(admin_api, sandbox.namespace, job["id"], app) == []
