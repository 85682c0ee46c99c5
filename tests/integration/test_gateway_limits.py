"""What one user may put in a job, through the real gateway: allow-lists for every value that lands in a
manifest (Spark conf, env, pip, image, GPU requests) and the administrators' limits on a job's size."""

from __future__ import annotations

import subprocess
import sys
import time

import aiohttp
import pytest

from fedspawner.jobs.limits import Limits

from .test_gateway_support import Gateway, GatewayReplica

pytestmark = pytest.mark.sandbox

#: The user these tests submit as: nothing they send may become a job.
USER = "mallory"

REFUSED = [
    # B1: Spark settings that would mount the hub's Secrets, or otherwise shape the pods.
    ({"kind": "spark", "script": "x", "conf": {"spark.kubernetes.driver.secrets.hub-token": "/mnt/s"}}, 400,
     "shapes the job's pods"),
    ({"kind": "spark", "script": "x", "conf": {"spark.kubernetes.executor.secrets.hub-token": "/mnt/s"}}, 400,
     "shapes the job's pods"),
    ({"kind": "spark", "script": "x", "conf": {"spark.kubernetes.driver.secretKeyRef.TOKEN": "hub-token:key"}},
     400, "shapes the job's pods"),
    ({"kind": "spark", "script": "x", "conf": {"spark.kubernetes.executor.secretKeyRef.TOKEN": "hub:key"}}, 400,
     "shapes the job's pods"),
    ({"kind": "spark", "script": "x",
      "conf": {"spark.kubernetes.authenticate.driver.serviceAccountName": "hub"}}, 400, "shapes the job's pods"),
    ({"kind": "spark", "script": "x", "conf": {"spark.kubernetes.node.selector.zone": "a"}}, 400,
     "shapes the job's pods"),
    ({"kind": "spark", "script": "x", "conf": {"spark.executorEnv.FEDSPAWNER_JOB_ID": "x"}}, 400,
     "set them with env"),
    ({"kind": "spark", "script": "x", "conf": {"spark.driver.extraJavaOptions": "-Dspark.kubernetes.x=y"}}, 400,
     "what the JVMs load"),
    # Environment variables Kubernetes, JupyterHub, Spark's launchers and the JVM read.
    ({"kind": "job", "script": "x", "env": {"KUBERNETES_SERVICE_HOST": "127.0.0.1"}}, 400,
     "names starting with KUBERNETES_"),
    ({"kind": "job", "script": "x", "env": {"JUPYTERHUB_API_TOKEN": "x"}}, 400, "names starting with JUPYTERHUB_"),
    ({"kind": "spark", "script": "x", "env": {"SPARK_SUBMIT_OPTS": "-Dspark.kubernetes.driver.secrets.s=/s"}},
     400, "names starting with SPARK_"),
    ({"kind": "spark", "script": "x", "env": {"JAVA_TOOL_OPTIONS": "-Dspark.kubernetes.driver.secrets.s=/s"}},
     400, "JVM options"),
    # pip: names and versions only.
    ({"kind": "job", "script": "x", "packages": ["mylib @ https://example.org/mylib.whl"]}, 400,
     "from a URL or a path"),
    ({"kind": "job", "script": "x", "packages": ["--index-url=https://example.org/simple"]}, 400, "pip options"),
    ({"kind": "job", "script": "x", "packages": ["numpy --config-settings=x=y"]}, 400, "pip options after"),
    # B2: not an image reference.
    ({"kind": "job", "script": "x", "image": "pytorch/pytorch:x/../../evil"}, 400, "is not an image reference"),
    # B3: the API's own GPU pattern, kept by the spec.
    ({"kind": "pytorch", "script": "x", "gpus": ":1"}, 400, "TYPE:COUNT"),
    ({"kind": "pytorch", "script": "x", "gpus": "²"}, 400, "TYPE:COUNT"),
    # C5: the administrators' limits (the defaults here).
    ({"kind": "pytorch", "script": "x", "nodes": 336}, 403, f"at most {Limits().nodes} nodes (pods) per job"),
    ({"kind": "spark", "script": "x", "executors": 500}, 403, f"at most {Limits().executors} Spark executors"),
    ({"kind": "job", "script": "x", "cpu": "100"}, 403, f"at most {Limits().cpu} CPU per pod"),
]


@pytest.mark.parametrize("spec, status, words", REFUSED)
async def test_values_outside_the_allow_lists_and_limits_are_refused_at_once(gw, token_for, spec, status, words):
    token = token_for(USER)
    _, before = await gw.call("GET", "/jobs", token)
    started = time.monotonic()
    got, answer = await gw.call("POST", "/jobs", token, spec)
    elapsed = time.monotonic() - started
    assert got == status, answer
    assert answer["status"] == status and words in answer["message"], answer["message"]
    assert "Traceback" not in answer["message"]
    assert elapsed < 1.0, f"refused after {elapsed:.2f}s"
    got, after = await gw.call("GET", "/jobs", token)
    assert got == 200 and after["jobs"] == before["jobs"], after  # nothing was created


async def test_the_option_schema_publishes_what_may_be_set(gw, token_for):
    status, schema = await gw.call("GET", "/options", token_for(USER))
    assert status == 200, schema
    assert schema["limits"] == Limits().to_dict()
    options = {o["name"]: o for o in schema["options"]}
    conf = options["conf"]
    assert "spark.sql." in conf["allowed_prefixes"] and "spark.default.parallelism" in conf["allowed_keys"]
    assert not any(key.startswith("spark.kubernetes") for key in conf["allowed_keys"] + conf["allowed_prefixes"])
    assert {"KUBERNETES_", "JUPYTERHUB_", "SPARK_"} <= set(options["env"]["reserved_prefixes"])
    assert options["gpus"]["string_pattern"] and options["nodes"]["maximum"] == Limits().nodes


LIMITS = ("c.Gateway.max_nodes = 2\nc.Gateway.max_executors = 1\nc.Gateway.max_gpus_per_node = 1\n"
          "c.Gateway.max_cpu = '2'\nc.Gateway.max_memory = '4Gi'\nc.Gateway.allowed_images = ['*']\n")


@pytest.fixture
async def capped_gateway(tmp_path, sandbox, gateway_up):
    """A second gateway whose administrators cap jobs tightly and allow every image by a bare glob."""
    replica = GatewayReplica(tmp_path, sandbox.state_dir, LIMITS)
    try:
        await replica.start()
        yield replica.url
    finally:
        replica.stop()


async def test_the_administrators_limits_are_published_and_enforced(capped_gateway, token_for):
    token = token_for(USER)
    async with aiohttp.ClientSession() as session:
        capped = Gateway(session, capped_gateway)
        try:
            status, schema = await capped.call("GET", "/options", token)
            assert status == 200, schema
            options = {o["name"]: o for o in schema["options"]}
            assert (options["nodes"]["maximum"], options["executors"]["maximum"]) == (2, 1)
            assert (options["gpus"]["count_maximum"], options["cpu"]["maximum"], options["memory"]["maximum"]) == \
                (1, "2", "4Gi")
            assert schema["limits"] == {"nodes": 2, "executors": 1, "gpus_per_node": 1, "cpu": "2", "memory": "4Gi"}
            for spec, words in (
                ({"kind": "job", "script": "x", "nodes": 3}, "at most 2 nodes (pods) per job; the job asks for 3"),
                ({"kind": "spark", "script": "x", "executors": 2}, "at most 1 Spark executors per job"),
                ({"kind": "pytorch", "script": "x", "gpus": "2"}, "at most 1 GPUs per node"),
                ({"kind": "job", "script": "x", "memory": "5Gi"}, "at most 4Gi memory per pod"),
            ):
                status, answer = await capped.call("POST", "/jobs", token, spec)
                assert status == 403 and words in answer["message"], answer
                assert "c.Gateway.max_" in answer["message"]
            # The bare glob "*" matches anything, "/" and ".." too: the reference grammar comes first.
            traversal = {"kind": "job", "script": "x", "image": "python:3.11/../../evil"}
            status, answer = await capped.call("POST", "/jobs", token, traversal)
            assert status == 400 and "is not an image reference" in answer["message"], answer
            # At the limits, a job runs.
            job = await capped.submit(token, {"kind": "job", "script": "print('ok')", "nodes": 2, "cpu": "100m",
                                              "memory": "128Mi", "cluster": "onprem"})
            assert job["nodes"] == 2
        finally:
            await capped.cleanup()


def test_a_limit_the_gateway_cannot_use_stops_it_with_the_setting_named(tmp_path, sandbox):
    replica = GatewayReplica(tmp_path, sandbox.state_dir, "c.Gateway.max_nodes = 0\n")
    done = subprocess.run([sys.executable, "-m", "fedspawner.gateway", "--config", str(replica.config)],
                          env=replica.env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "c.Gateway.max_nodes must be a whole number from 1 to 1000, not 0" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
