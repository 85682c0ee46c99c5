"""The real operators in the sandbox (issue 15 §2): a sandbox started from
``sandbox/topologies/operators.yaml`` runs JobSet, Kubeflow Trainer and Kueue on one
cluster and the Spark operator on another, as local processes the apiservers call by URL.

Objects are created with the admin context, as a cluster's own users would; what the
operators do with them is read back from the API. This module starts its own sandbox:
state directory ``$FEDSPAWNER_TEST_SANDBOX_DIR-operators``, ports from
``FEDSPAWNER_TEST_BASE_PORT`` + 100, address block ``FEDSPAWNER_TEST_OPERATORS_ADDRESS_BLOCK``
(default the test block + 3), so it runs beside the session's sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from fedspawner.sandbox import processes
from fedspawner.sandbox.binaries import sources_dir

from .sandbox_fixtures import TEST_BASE_PORT, TEST_STATE_DIR, api_client

# a cold cache builds the operators first
pytestmark = [pytest.mark.sandbox, pytest.mark.kueue, pytest.mark.timeout(1800)]

STATE = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-operators")
BASE_PORT = TEST_BASE_PORT + 100
BLOCK = int(os.environ.get("FEDSPAWNER_SANDBOX_ADDRESS_BLOCK", "0") or 0)
OPERATORS_BLOCK = os.environ.get("FEDSPAWNER_TEST_OPERATORS_ADDRESS_BLOCK", str((BLOCK + 3) % 12))
TOPOLOGY = sources_dir() / "topologies" / "operators.yaml"
NS = "fedspawner"
TRAINER = ("trainer.kubeflow.org", "v1alpha1")
JOBSET = ("jobset.x-k8s.io", "v1alpha2")
SPARK = ("sparkoperator.k8s.io", "v1beta2")
KUEUE = ("kueue.x-k8s.io", "v1beta2")


def sandbox_cli(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = dict(os.environ, FEDSPAWNER_SANDBOX_ADDRESS_BLOCK=OPERATORS_BLOCK)
    return subprocess.run([sys.executable, "-m", "fedspawner.cli", "sandbox", "--state-dir", str(STATE), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def operators_sandbox() -> dict:
    sandbox_cli("down")
    up = sandbox_cli("up", "--topology", str(TOPOLOGY), "--base-port", str(BASE_PORT))
    try:
        assert up.returncode == 0, f"sandbox up failed:\n{up.stdout}\n{up.stderr}"
        yield json.loads((STATE / "sandbox.json").read_text())
    finally:
        sandbox_cli("down")
        assert processes.marked_processes(STATE) == []


def admin(state: dict, cluster: str):
    return api_client(Path(state["kubeconfig"]), f"{cluster}-admin")


def ports(state: dict, cluster: str) -> dict[str, int]:
    return next(c["ports"] for c in state["clusters"] if c["name"] == cluster)


async def until(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_operator_processes_run_and_are_ready(operators_sandbox):
    state = operators_sandbox
    expected = {"training": {"jobset", "trainer", "kueue"}, "analytics": {"spark-operator", "kueue"}}
    running = {(p["cluster"], p["component"]) for p in state["processes"]
               if processes.is_running(p["pid"], p["exe"])}
    for cluster, names in expected.items():
        for name in names:
            assert (cluster, f"operator-{name}") in running
            health = ports(state, cluster)[f"{name}-health"]
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=5) as resp:
                assert resp.status == 200
    status = sandbox_cli("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = {c["name"]: c for c in json.loads(status.stdout)}
    assert report["training"]["components"]["operator-kueue"] is True
    assert report["analytics"]["components"]["operator-spark-operator"] is True


async def test_webhooks_call_the_operators_by_loopback_url(operators_sandbox):
    async with admin(operators_sandbox, "training") as api:
        adm = client.AdmissionregistrationV1Api(api)
        hooks = [h for cfg in (await adm.list_mutating_webhook_configuration()).items
                 + (await adm.list_validating_webhook_configuration()).items for h in cfg.webhooks]
    assert {h.name for h in hooks} >= {"mjobset.kb.io", "defaulter.trainjob.trainer.kubeflow.org", "mjob.kb.io"}
    for h in hooks:
        assert h.client_config.service is None and h.client_config.url.startswith("https://127.0.0.1:")


async def test_a_trainjob_becomes_a_jobset_and_jobs(operators_sandbox):
    name = "trainer-e2e"
    trainjob = {
        "apiVersion": "/".join(TRAINER), "kind": "TrainJob", "metadata": {"name": name, "namespace": NS},
        "spec": {"runtimeRef": {"name": "torch-distributed", "kind": "ClusterTrainingRuntime",
                                "apiGroup": TRAINER[0]},
                 "trainer": {"numNodes": 2, "command": ["python", "-c", "print('rank up')"],
                             "resourcesPerNode": {"requests": {"cpu": "100m", "memory": "128Mi"}}}},
    }
    async with admin(operators_sandbox, "training") as api:
        objs, batch = client.CustomObjectsApi(api), client.BatchV1Api(api)
        await objs.create_namespaced_custom_object(*TRAINER, NS, "trainjobs", trainjob)

        async def jobset():
            try:
                return await objs.get_namespaced_custom_object(*JOBSET, NS, "jobsets", name)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise

        made = await until(jobset, "Trainer to create the JobSet")
        owners = made["metadata"].get("ownerReferences", [])
        assert [(o["kind"], o["name"]) for o in owners] == [("TrainJob", name)]
        assert made["spec"].get("network"), "JobSet's mutating webhook did not fill spec.network"

        async def jobs():
            found = await batch.list_namespaced_job(NS, label_selector=f"jobset.sigs.k8s.io/jobset-name={name}")
            return found.items

        made_jobs = await until(jobs, "JobSet to create the Jobs")
        parallelism = sum(j.spec.parallelism or 0 for j in made_jobs)
        assert parallelism == 2, [(j.metadata.name, j.spec.parallelism) for j in made_jobs]

        core = client.CoreV1Api(api)

        async def pods():
            found = await core.list_namespaced_pod(NS, label_selector=f"jobset.sigs.k8s.io/jobset-name={name}")
            return found.items if len(found.items) == 2 else None

        await until(pods, "the Jobs to create two pods")

        async def settled():  # running the ranks is issue 15 §3; this only reports how far they get
            found = await core.list_namespaced_pod(NS, label_selector=f"jobset.sigs.k8s.io/jobset-name={name}")
            phases = [(p.spec.node_name, p.status.phase) for p in found.items]
            return phases if all(ph != "Pending" for _, ph in phases) else None

        try:
            print("TrainJob pods:", await until(settled, "the ranks to leave Pending", timeout=60))
        except AssertionError as err:
            print("TrainJob pods:", err)
        await objs.delete_namespaced_custom_object(*TRAINER, NS, "trainjobs", name)


PI_SCRIPT = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
inside = spark.sparkContext.parallelize(range(20000), 2).filter(lambda i: (i * 7919 % 10007) < 7860).count()
print("PI_COUNT", inside, flush=True)
spark.stop()
"""


async def test_a_spark_application_runs_to_completion(operators_sandbox):
    """The operator's spark-submit (RSA client certificate) creates the driver; the node agent runs
    driver and executor with its Spark entrypoint stand-in; the application completes."""
    name = "spark-e2e"
    script = {"name": "script", "configMap": {"name": f"{name}-script"}}
    mount = [{"name": "script", "mountPath": "/app"}]
    app = {
        "apiVersion": "/".join(SPARK), "kind": "SparkApplication", "metadata": {"name": name, "namespace": NS},
        "spec": {"type": "Python", "pythonVersion": "3", "mode": "cluster", "image": "apache/spark:4.0.0",
                 "mainApplicationFile": "local:///app/pi.py", "sparkVersion": "4.0.0",
                 "restartPolicy": {"type": "Never"},
                 "driver": {"cores": 1, "memory": "512m", "serviceAccount": "spark-operator-spark",
                            "template": {"spec": {"containers": [{"name": "spark-kubernetes-driver",
                                                                  "volumeMounts": mount}],
                                                  "volumes": [script]}}},
                 "executor": {"instances": 1, "cores": 1, "memory": "512m",
                              "template": {"spec": {"containers": [{"name": "spark-kubernetes-executor",
                                                                    "volumeMounts": mount}],
                                                    "volumes": [script]}}}},
    }
    async with admin(operators_sandbox, "analytics") as api:
        objs, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        await core.create_namespaced_config_map(NS, {"metadata": {"name": f"{name}-script"},
                                                     "data": {"pi.py": PI_SCRIPT}})
        await objs.create_namespaced_custom_object(*SPARK, NS, "sparkapplications", app)

        async def ended():
            got = await objs.get_namespaced_custom_object(*SPARK, NS, "sparkapplications", name)
            state = ((got.get("status") or {}).get("applicationState") or {})
            return state if state.get("state") in ("COMPLETED", "FAILED", "SUBMISSION_FAILED") else None

        reached = await until(ended, "the Spark application to end", timeout=600)
        assert reached["state"] == "COMPLETED", reached
        log = await core.read_namespaced_pod_log(f"{name}-driver", NS)
        assert "PI_COUNT" in log, log[-3000:]
        await objs.delete_namespaced_custom_object(*SPARK, NS, "sparkapplications", name)
        await core.delete_namespaced_config_map(f"{name}-script", NS)


def queued_job(name: str, cpu: str) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "labels": {"kueue.x-k8s.io/queue-name": "team"}},
            "spec": {"completions": 1, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "python:3", "command": ["python", "-c", "print(1)"],
                                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}


async def test_kueue_admits_a_queued_job_within_quota_and_holds_one_over_it(operators_sandbox):
    queue = [("resourceflavors", None, {"metadata": {"name": "default-flavor"}}),
             ("clusterqueues", None, {"metadata": {"name": "team-cq"}, "spec": {
                 "namespaceSelector": {},
                 "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [{
                     "name": "default-flavor",
                     "resources": [{"name": "cpu", "nominalQuota": "2"},
                                   {"name": "memory", "nominalQuota": "4Gi"}]}]}]}}),
             ("localqueues", NS, {"metadata": {"name": "team", "namespace": NS},
                                  "spec": {"clusterQueue": "team-cq"}})]
    async with admin(operators_sandbox, "training") as api:
        objs, batch = client.CustomObjectsApi(api), client.BatchV1Api(api)
        for plural, ns, body in queue:
            kind = {"resourceflavors": "ResourceFlavor", "clusterqueues": "ClusterQueue", "localqueues": "LocalQueue"}
            body = {"apiVersion": "/".join(KUEUE), "kind": kind[plural], **body}
            if ns:
                await objs.create_namespaced_custom_object(*KUEUE, ns, plural, body)
            else:
                await objs.create_cluster_custom_object(*KUEUE, plural, body)
        fits = await batch.create_namespaced_job(NS, queued_job("fits", "500m"))
        assert fits.spec.suspend is True  # Kueue's webhook suspends it until admitted
        await batch.create_namespaced_job(NS, queued_job("too-big", "8"))

        async def admitted():
            job = await batch.read_namespaced_job("fits", NS)
            return job.spec.suspend is False

        await until(admitted, "Kueue to admit the Job that fits the quota")
        workloads = (await objs.list_namespaced_custom_object(*KUEUE, NS, "workloads"))["items"]
        by_job = {w["metadata"]["ownerReferences"][0]["name"]: w for w in workloads}
        admitted_cond = {c["type"]: c["status"] for c in by_job["fits"]["status"]["conditions"]}
        assert admitted_cond.get("Admitted") == "True"
        assert (await batch.read_namespaced_job("too-big", NS)).spec.suspend is True

        over = by_job["too-big"]["metadata"]["name"]

        async def held():
            got = await objs.get_namespaced_custom_object(*KUEUE, NS, "workloads", over)
            conditions = {c["type"]: c for c in (got.get("status") or {}).get("conditions", [])}
            return conditions.get("QuotaReserved", {}).get("status") == "False" and conditions["QuotaReserved"]

        print("over-quota workload:", (await until(held, "Kueue to say why it holds the Job over quota"))["message"])
        assert (await batch.read_namespaced_job("too-big", NS)).spec.suspend is True
        for job in ("fits", "too-big"):
            await batch.delete_namespaced_job(job, NS, propagation_policy="Background")


def test_down_stops_every_operator(operators_sandbox):
    pids = [p["pid"] for p in operators_sandbox["processes"] if p["component"].startswith("operator-")]
    assert len(pids) == 5
    down = sandbox_cli("down")
    assert down.returncode == 0, down.stderr
    assert not [p for p in pids if processes.is_running(p)]
    assert processes.marked_processes(STATE) == []
