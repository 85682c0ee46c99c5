"""Jobs through Kueue on two member clusters (issue 16 §1, §3, §6), against the real Kueue v0.19.2.

The sandbox runs Kueue on ``training`` (its only LocalQueue ``team``, found by listing; 2 cpu of
quota) and ``analytics`` (the admins name ``research`` for everyone, 4 cpu, and for the group
``kq-ghosts`` a queue that does not exist). Jobs are submitted through the gateway with users'
hub tokens; what Kueue does with them is read back with the admin credential. Jobs are tiny
(at most 2 pods).
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from fedspawner.federation.queues import QUEUE_LABEL
from fedspawner.gateway import kube
from fedspawner.gateway.queueing import LOCALQUEUES
from fedspawner.jobs.labels import LABEL_OWNER

from .kueue_fixtures import GATEWAY_URL, NS, kueue_federation  # noqa: F401 - the fixture
from .test_gateway_support import gateway_client, gone
from .test_sandbox_operators import until

pytestmark = [pytest.mark.sandbox, pytest.mark.kueue, pytest.mark.timeout(1800)]

SLEEPER = "import time\ntime.sleep({seconds})\nprint('done')\n"


def tiny(name: str, cluster, cpu: str = "500m", nodes: int = 1, seconds: int = 1) -> dict:
    return {"kind": "job", "name": name, "script": SLEEPER.format(seconds=seconds), "nodes": nodes, "cpu": cpu,
            "memory": "256Mi", "cluster": cluster}


@pytest.fixture
async def gw(kueue_federation):  # noqa: F811 - the fixture's name
    async with gateway_client(GATEWAY_URL) as gateway:
        yield gateway


async def workload_object(fed, cluster: str, job_id: str) -> dict:
    """The job's batch Job as the cluster has it (admin credential)."""
    async with fed.admin(cluster) as api:
        jobs = await kube.list_objects(api, kube.JOBS, NS, f"fedspawner.dev/job-id={job_id}")
    assert len(jobs) == 1, jobs
    return jobs[0]


async def owned_by(fed, cluster: str, user: str) -> list[str]:
    """Every fedspawner object of ``user`` on ``cluster``."""
    found = []
    async with fed.admin(cluster) as api:
        for resource in (kube.CONFIGMAPS, kube.SERVICES, kube.JOBS, kube.PODS):
            items = await kube.list_objects(api, resource, NS, f"{LABEL_OWNER}={user}")
            found += [f"{resource.kind}/{o['metadata']['name']}" for o in items]
    return found


async def queue_state(gw, token: str, job_id: str, state: str) -> dict:
    """The job's view once its queue object is in ``state``. ``admitted`` also takes a job that has
    finished since (its queue object keeps the admission time): the gateway reads Kueue every 2 s,
    and a job of a second or two is admitted, run and finished in less than that, so its view may
    go from queued to finished without ever showing admitted."""
    async def check():
        job = await gw.job(token, job_id)
        queue = job.get("queue") or {}
        if state == "admitted" and queue.get("state") == "finished" and queue.get("admitted"):
            return job
        return job if queue.get("state") == state else None
    return await until(check, f"the job's queue state to be {state}")


async def test_a_job_goes_through_each_clusters_queue_and_is_admitted(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    alice = fed.token("kq-alice")
    for cluster, queue in (("training", "team"), ("analytics", "research")):
        job = await gw.submit(alice, tiny(f"queued-{cluster}", cluster))
        assert job["cluster"] == cluster
        made = await workload_object(fed, cluster, job["id"])
        assert made["metadata"]["labels"][QUEUE_LABEL] == queue
        admitted = await queue_state(gw, alice, job["id"], "admitted")
        assert admitted["queue"]["name"] == queue and admitted["queue"]["cluster"] == cluster
        assert admitted["queue"]["admitted"]
        made = await workload_object(fed, cluster, job["id"])
        assert made["spec"]["suspend"] is False  # Kueue let it start


async def test_a_dry_run_says_where_a_job_would_go_and_why_creating_nothing(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    frank = fed.token("kq-frank")
    status, plan = await gw.call("POST", "/jobs/plan", frank, tiny("maybe", "auto"))
    assert status == 200, plan
    by_cluster = {c["cluster"]: c for c in plan["candidates"]}
    assert set(by_cluster) == {"training", "analytics"}
    assert by_cluster["training"]["queue"] == "team" and by_cluster["analytics"]["queue"] == "research"
    assert by_cluster["training"]["queue_reason"].startswith("queue team on training: 0 ahead")
    assert plan["cluster"] == plan["candidates"][0]["cluster"]
    ghost = fed.token("kq-ghost", group="kq-ghosts")
    status, plan = await gw.call("POST", "/jobs/plan", ghost, tiny("maybe", "analytics"))
    assert status == 200, plan
    assert plan["cluster"] is None and "does not exist" in plan["candidates"][0]["refused"]
    for cluster in ("training", "analytics"):
        assert await owned_by(fed, cluster, "kq-frank") == [] and await owned_by(fed, cluster, "kq-ghost") == []


async def test_a_waiting_job_says_where_it_stands_and_why(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    bob = fed.token("kq-bob")
    holder = await gw.submit(bob, tiny("holder", "training", cpu="1500m", seconds=120))
    await queue_state(gw, bob, holder["id"], "admitted")
    waiter = await gw.submit(bob, tiny("waiter", "training", cpu="1"))
    queued = await queue_state(gw, bob, waiter["id"], "queued")

    async def reason():
        job = await gw.job(bob, waiter["id"])
        return job if (job["queue"] or {}).get("reason", "").startswith("waiting for quota") else None

    queued = await until(reason, "Kueue's reason for holding the job")
    assert queued["queue"]["position"] == 1 and queued["queue"]["pending"] == 1
    assert queued["queue"]["reason"] == "waiting for quota (needs 1 cpu, 0.5 cpu more than is free)"
    assert queued["phase"] == "Pending"
    line = "queued in team on training, position 1 of 1: waiting for quota (needs 1 cpu, 0.5 cpu more than is free)"
    assert queued["message"] == f"{line}; {queued['queue']['predicted']}"
    assert queued["queue"]["predicted"].startswith("predicted wait ~"), queued["queue"]  # the job fills the quota
    assert "quota full" in queued["queue"]["predicted"], queued["queue"]
    status, listed = await gw.call("GET", "/jobs", bob)
    assert status == 200
    row = next(j for j in listed["jobs"] if j["id"] == waiter["id"])
    assert row["queue"]["position"] == 1
    await gw.cancel(bob, holder["id"])
    admitted = await queue_state(gw, bob, waiter["id"], "admitted")
    assert admitted["queue"]["reason"] is None


async def test_a_queue_the_admins_named_that_does_not_exist_is_refused_cleanly(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    ghost = fed.token("kq-ghost", group="kq-ghosts")
    status, answer = await gw.call("POST", "/jobs", ghost, tiny("ghostly", "analytics"))
    assert status in (422, 503), answer
    assert "'nobody-made-this'" in answer["message"] and "does not exist" in answer["message"], answer
    assert await owned_by(fed, "analytics", "kq-ghost") == []


async def test_a_stopped_queue_is_said_so_and_the_job_goes_elsewhere(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    carol = fed.token("kq-carol")
    async with fed.admin("training") as api:
        await kube.merge_patch(api, LOCALQUEUES, NS, "team", {"spec": {"stopPolicy": "Hold"}})
        try:
            await asyncio.sleep(2.5)  # the gateway reads the queues every 2 s
            status, answer = await gw.call("POST", "/jobs", carol, tiny("held", "training"))
            assert status in (422, 503), answer
            assert "queue team on training: the queue is stopped by the cluster's admins (Hold)" in answer["message"]
            assert await owned_by(fed, "training", "kq-carol") == []
            moved = await gw.submit(carol, tiny("around", ["training", "analytics"]))
            assert moved["cluster"] == "analytics"
            assert any("stopped by the cluster's admins" in h for h in moved["history"]), moved["history"]
        finally:
            await kube.merge_patch(api, LOCALQUEUES, NS, "team", {"spec": {"stopPolicy": "None"}})


async def test_a_gang_larger_than_the_quota_is_never_left_waiting(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    dave = fed.token("kq-dave")
    # 2 × 1.5 cpu: more than training's whole quota (2 cpu), which the hub cannot see; analytics has 4
    job = await gw.submit(dave, tiny("too-big", ["training", "analytics"], cpu="1500m", nodes=2))
    assert job["cluster"] == "training"

    async def moved():
        now = await gw.job(dave, job["id"])
        return now if now["cluster"] == "analytics" else None

    now = await until(moved, "the job to move to a cluster whose queue can admit it")
    assert any("can never be admitted" in h for h in now["history"]), now["history"]
    assert await gone(fed.admin, "training", NS, job["id"]) == []
    await queue_state(gw, dave, job["id"], "admitted")


async def test_kueue_down_fails_the_create_with_a_clear_message(kueue_federation, gw):  # noqa: F811
    fed = kueue_federation
    erin = fed.token("kq-erin")
    os.kill(fed.kueue_pid("training"), signal.SIGTERM)  # a process this module's sandbox started
    await asyncio.sleep(2)
    status, answer = await gw.call("POST", "/jobs", erin, tiny("no-kueue", "training"))
    assert status in (422, 503), answer
    assert "Kueue on training is not answering" in answer["message"], answer
    assert await owned_by(fed, "training", "kq-erin") == []
