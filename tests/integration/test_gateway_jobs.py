"""Real jobs through the real gateway (a hub-managed service) on the sandbox clusters.

A 2-node torchrun DDP job (gloo, CPU) and a PySpark job run to completion via the node
agent; cancel removes every object; a gateway restart mid-job loses nothing. The DDP and
cancel tests pin ``burst``, a cluster without operators, so they cover the Indexed Job path
(on ``onprem`` the same job is a TrainJob: ``test_trainjob_e2e``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from .kube_helpers import wait_for
from .test_gateway_support import DDP_SCRIPT, PID_FILE, first_line_with, gone, leftovers, wait_healthy, watched

pytestmark = pytest.mark.sandbox


def phase_steps(views: list[dict]) -> list[str]:
    """The phases the views (the submission's answer, then the watch's) went through, each once, in
    the order seen."""
    return [v["phase"] for i, v in enumerate(views) if i == 0 or views[i - 1]["phase"] != v["phase"]]


SPARK_SCRIPT = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("sum").getOrCreate()
total = spark.sparkContext.parallelize(range(1, 1001), 8).map(lambda x: x * x).sum()
print(f"RESULT sum of squares = {total}", flush=True)
spark.stop()
"""

SLOW_SCRIPT = """
import time
for i in range(1, {n} + 1):
    print(f"tick {{i}}", flush=True)
    time.sleep(1)
print("done ticking", flush=True)
"""


async def test_ddp_job_runs_to_success_and_every_rank_sees_the_all_reduce(gw, token_for):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "pytorch", "name": "ddp-demo", "script": DDP_SCRIPT, "nodes": 2,
                                  "cluster": "burst", "cpu": "1", "memory": "2Gi"})
    assert (job["cluster"], job["backend"], job["nodes"]) == ("burst", "indexed-job", 2)
    assert job["phase"] == "Pending"
    assert job["id"].startswith("j-") and job["name"] == "ddp-demo" and job["owner"] == "alice"
    views = await watched(gw, alice, job["id"])
    final = views[-1]
    assert final["phase"] == "Succeeded", final["message"]
    assert phase_steps([job, *views]) == ["Pending", "Running", "Succeeded"]
    assert final["progress"]["step"] == 3 and final["progress"]["total"] == 3
    assert [(p["rank"], p["phase"]) for p in final["pods"]] == [(0, "Succeeded"), (1, "Succeeded")]
    for rank in (0, 1):
        log = await gw.text(f"/jobs/{job['id']}/logs?rank={rank}", alice)
        assert first_line_with(log, f"rank {rank} of 2: all-reduced value = 3.0"), log
    tail = await gw.text(f"/jobs/{job['id']}/logs?rank=1&tail=1", alice)
    assert len(tail.strip().splitlines()) == 1
    await gw.cancel(alice, job["id"])


async def test_pyspark_job_runs_on_a_standalone_cluster(gw, token_for):
    # burst runs no Spark operator (regional does): a per-job standalone cluster runs the job there.
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "spark", "name": "squares", "script": SPARK_SCRIPT, "executors": 2,
                                  "cluster": "burst", "cpu": "1", "memory": "2Gi"})
    assert (job["cluster"], job["backend"]) == ("burst", "spark-standalone")
    views = await watched(gw, alice, job["id"])
    done = views[-1]
    assert done["phase"] == "Succeeded", done["message"]
    assert phase_steps([job, *views]) == ["Pending", "Running", "Succeeded"]
    running = [v for v in views if v["phase"] == "Running"]
    assert all(v["ui_url"] == f"http://{job['name']}-{job['id'][2:]}-driver-0.{job['name']}-{job['id'][2:]}:4040"
               for v in running), running[0]["ui_url"]
    assert all(v["ui_url"] is None for v in views if v["phase"] != "Running")
    roles = {(p["role"], p["rank"]) for p in done["pods"]}
    assert {("driver", 0), ("worker", 1), ("worker", 2)} <= roles
    driver_log = await gw.text(f"/jobs/{job['id']}/logs", alice)
    assert "RESULT sum of squares = 333833500" in driver_log
    await gw.cancel(alice, job["id"])


async def test_cancel_removes_every_object_from_the_cluster(gw, token_for, admin_api, sandbox):
    bob = token_for("bob")
    job = await gw.submit(bob, {"kind": "pytorch", "script": "import time\ntime.sleep(600)\n", "nodes": 2,
                                "cluster": "burst"})
    assert job["backend"] == "indexed-job"
    await gw.wait(bob, job["id"], phases=("Running",), timeout=120)
    before = await leftovers(admin_api, "burst", sandbox.namespace, job["id"])
    kinds = {name.split("/")[0] for name in before}
    assert {"ConfigMap", "Service", "Job", "Pod"} <= kinds, before
    began = time.monotonic()
    cancelled = await gw.cancel(bob, job["id"])
    answered = time.monotonic() - began
    assert cancelled["phase"] == "Cancelled" and cancelled["message"].startswith("cancelling: "), cancelled
    assert await gone(admin_api, "burst", sandbox.namespace, job["id"]) == []
    print(f"cancel answered in {answered:.2f}s; every object gone after {time.monotonic() - began:.1f}s")
    assert answered < 5 and time.monotonic() - began < 60
    status, answer = await gw.call("GET", f"/jobs/{job['id']}", bob)
    assert status == 404 and "no job" in answer["message"]


async def test_gateway_restart_mid_job_loses_nothing(gw, token_for):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "job", "name": "ticker", "script": SLOW_SCRIPT.format(n=45),
                                  "cluster": "onprem"})
    await gw.wait(alice, job["id"], phases=("Running",), timeout=120)
    seen = []
    async for raw in gw.lines(f"/jobs/{job['id']}/logs?follow=1", alice):
        seen.append(raw.decode().strip())
        if len(seen) >= 3:
            break
    assert seen[0].startswith("tick")

    old_pid = int(PID_FILE.read_text())
    os.kill(old_pid, signal.SIGTERM)  # the gateway process the hub started; the hub restarts it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if int(PID_FILE.read_text()) != old_pid:
                break
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the hub did not restart the gateway")
    await wait_healthy()

    async def listed():  # a restarted gateway says "still listing its jobs" until its first list is in
        status, listing = await gw.call("GET", "/jobs?state=running", alice)
        assert status == 200, listing
        return job["id"] in [j["id"] for j in listing["jobs"]] or None

    await wait_for(listed, "the restarted gateway to list the running job", timeout=30, interval=0.5)
    followed = [raw.decode().strip() async for raw in gw.lines(f"/jobs/{job['id']}/logs?follow=1", alice)]
    assert followed[-1] == "done ticking", followed[-5:]
    assert "tick 45" in followed
    assert (await gw.wait(alice, job["id"]))["phase"] == "Succeeded"
    await gw.cancel(alice, job["id"])
