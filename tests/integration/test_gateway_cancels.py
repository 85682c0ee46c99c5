"""Cancelling answers at once and deletes in the background; a cancel left half-way is finished.

A DELETE marks the job cancelled and answers 202; every object then goes with its pods' grace
period, while ``GET /jobs/{id}`` shows the job as Cancelled with what is left and lists leave it
out. A job whose anchor carries the cancel mark but that no gateway is deleting (the gateway
stopped half-way) is found by the index and deleted by the replica holding its cluster's Lease.
A pod whose node does not answer (its agent stopped) would stay Terminating for good; it is
deleted with no grace once its grace period is long past.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from fedspawner.digits import whole_number
from fedspawner.gateway import kube
from fedspawner.gateway.identity import ANNOTATION_CANCELLING, now_iso

from .test_gateway_support import gone, leftovers

pytestmark = pytest.mark.sandbox

SPARK = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print(spark.range(1000).count(), flush=True)
time.sleep(300)
"""


async def until_running(gw, token: str, job_id: str) -> dict:
    return await gw.wait(token, job_id, phases=("Running",), timeout=180)


async def test_cancelling_a_spark_job_answers_at_once(gw, token_for, admin_api, sandbox):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "spark", "name": "cancel-me", "script": SPARK, "executors": 2,
                                  "cluster": "regional", "cpu": "1", "memory": "2Gi"})
    await until_running(gw, alice, job["id"])
    before = await leftovers(admin_api, "regional", sandbox.namespace, job["id"])
    began = time.monotonic()
    cancelled = await gw.cancel(alice, job["id"])
    answered = time.monotonic() - began
    assert cancelled["phase"] == "Cancelled" and cancelled["message"].startswith("cancelling: "), cancelled
    status, listing = await gw.call("GET", "/jobs", alice)
    assert status == 200 and job["id"] not in [j["id"] for j in listing["jobs"]]
    status, answer = await gw.call("GET", f"/jobs/{job['id']}", alice)
    assert status == 404 or (answer["job"]["phase"] == "Cancelled" and "cancelling" in answer["job"]["message"])
    left = await gone(admin_api, "regional", sandbox.namespace, job["id"], timeout=90)
    took = time.monotonic() - began
    print(f"spark cancel of {len(before)} objects: answered in {answered:.2f}s, all gone after {took:.1f}s")
    assert left == [] and answered < 5
    status, answer = await gw.call("GET", f"/jobs/{job['id']}", alice)
    assert status == 404, answer
    status, again = await gw.call("DELETE", f"/jobs/{job['id']}", alice)
    assert status == 404, again


async def test_a_cancel_left_half_way_is_finished(gw, token_for, admin_api, sandbox):
    bob = token_for("bob")
    job = await gw.submit(bob, {"kind": "job", "name": "half-cancelled", "script": "import time\ntime.sleep(300)\n",
                                "cluster": "onprem"})
    await until_running(gw, bob, job["id"])
    anchor = next(n for n in await leftovers(admin_api, "onprem", sandbox.namespace, job["id"])
                  if n.startswith("ConfigMap/"))
    async with admin_api("onprem") as api:  # as a gateway stopping right after marking it leaves it
        await kube.merge_patch(api, kube.CONFIGMAPS, sandbox.namespace, anchor.split("/", 1)[1],
                               {"metadata": {"annotations": {ANNOTATION_CANCELLING: now_iso()}}})
    for _ in range(20):
        status, answer = await gw.call("GET", f"/jobs/{job['id']}", bob)
        if status == 404 or answer["job"]["phase"] == "Cancelled":
            break
        await asyncio.sleep(0.2)
    assert status == 404 or answer["job"]["message"].startswith("cancelling: "), answer
    assert await gone(admin_api, "onprem", sandbox.namespace, job["id"], timeout=60) == []


def node_agent(sandbox, cluster: str) -> int:
    """The pid of ``cluster``'s node agent (the sandbox's kubelet) in this sandbox."""
    config = f"{sandbox.state_dir}/clusters/{cluster}/agent.json".encode()
    for entry in Path("/proc").iterdir():
        try:
            pid = whole_number(entry.name)
            if pid is not None and config in (entry / "cmdline").read_bytes():
                return pid
        except OSError:
            continue
    raise AssertionError(f"no node agent for {cluster}")


async def test_a_cancel_finishes_while_the_nodes_agent_is_silent(gw, token_for, admin_api, sandbox):
    """The cause of cancels that answered 504 after 90 s: pods on a node whose kubelet does not
    answer are never confirmed gone. They are deleted with no grace after theirs (10 s) + 15 s."""
    carol = token_for("carol")
    job = await gw.submit(carol, {"kind": "job", "name": "silent-node", "script": "import time\ntime.sleep(300)\n",
                                  "cluster": "regional"})
    await until_running(gw, carol, job["id"])
    agent = node_agent(sandbox, "regional")
    os.kill(agent, signal.SIGSTOP)
    try:
        began = time.monotonic()
        await gw.cancel(carol, job["id"])
        left = await gone(admin_api, "regional", sandbox.namespace, job["id"], timeout=45)
        took = time.monotonic() - began
    finally:
        os.kill(agent, signal.SIGCONT)
    print(f"cancel with the node agent stopped: every object gone after {took:.1f}s")
    assert left == [], left
