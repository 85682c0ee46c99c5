"""A member cluster that is a MultiKueue manager (issue 16 §5), against the real Kueue v0.19.2.

``dispatch`` runs Kueue as a MultiKueue manager for ``batch-a`` (set up by ``sandbox up`` from
``sandbox/topologies/multikueue.yaml``). A job submitted through the gateway to ``dispatch``
enters its queue like on any Kueue cluster; MultiKueue copies it to ``batch-a``, whose pods run
it; the job's view names the worker. What is where is read with each cluster's admin context.
"""

from __future__ import annotations

import asyncio

import pytest

from fedspawner.federation.queues import QUEUE_LABEL
from fedspawner.gateway import kube
from fedspawner.gateway.queueing import WORKLOADS

from .multikueue_fixtures import GATEWAY_URL, MANAGER, QUEUE, WORKER, multikueue_federation  # noqa: F401
from .test_gateway_support import gateway_client
from .test_kueue_jobs import NS, tiny
from .test_sandbox_operators import until

pytestmark = [pytest.mark.sandbox, pytest.mark.kueue, pytest.mark.kwok, pytest.mark.timeout(1200)]


@pytest.fixture
async def gw(multikueue_federation):  # noqa: F811 - the fixture's name
    async with gateway_client(GATEWAY_URL) as gateway:
        yield gateway


async def objects_of(fed, cluster: str, job_id: str) -> dict[str, list[dict]]:
    """The job's Jobs, pods and Kueue Workloads on ``cluster`` (admin context)."""
    found = {}
    async with fed.admin(cluster) as api:
        for resource in (kube.JOBS, kube.PODS, kube.CONFIGMAPS, WORKLOADS):
            items = await kube.list_objects(api, resource, NS, "")
            found[resource.kind] = [o for o in items if job_id in str(o["metadata"].get("labels") or {})
                                    or any(job_id in (r.get("name") or "")
                                           for r in o["metadata"].get("ownerReferences") or [])]
    return found


def dispatched_and(phase: str, gw, token: str, job_id: str, watch=None):
    """Wait until the job's view says it was dispatched to the worker and is in ``phase``;
    ``watch()`` is awaited at each look (to see the worker's side while it runs)."""
    async def check():
        if watch:
            await watch()
        now = await gw.job(token, job_id)
        return now if (now.get("queue") or {}).get("dispatched_to") == WORKER and now["phase"] == phase else None
    return until(check, f"the job to be dispatched to {WORKER} and {phase} there", timeout=240)


async def test_a_job_sent_to_a_manager_runs_on_its_worker_and_says_so(multikueue_federation, gw):  # noqa: F811
    fed = multikueue_federation
    ada = fed.token("mk-ada")
    job = await gw.submit(ada, tiny("far-away", MANAGER, seconds=1))
    assert job["cluster"] == MANAGER
    local = (await objects_of(fed, MANAGER, job["id"]))["Job"]
    assert len(local) == 1 and local[0]["metadata"]["labels"][QUEUE_LABEL] == QUEUE
    assert local[0]["spec"].get("managedBy") == "kueue.x-k8s.io/multikueue"

    seen: dict[str, str] = {}  # the job's pods on the worker, by name -> last phase seen

    async def watch():
        for pod in (await objects_of(fed, WORKER, job["id"]))["Pod"]:
            seen[pod["metadata"]["name"]] = (pod.get("status") or {}).get("phase")

    done = await dispatched_and("Succeeded", gw, ada, job["id"], watch)
    assert done["queue"]["name"] == QUEUE and done["queue"]["state"] in ("admitted", "finished")
    assert done["queue"]["text"].endswith(f"dispatched by MultiKueue on {MANAGER} to worker cluster {WORKER}")
    assert done["message"] == f"completed on worker cluster {WORKER} (dispatched by MultiKueue on {MANAGER})"
    assert len(seen) == 1, seen  # its pod ran on the worker (MultiKueue removes the worker's copy once done)
    manager_side = await objects_of(fed, MANAGER, job["id"])
    assert manager_side["Pod"] == []  # nothing ran on the manager
    assert manager_side["Job"][0]["status"].get("succeeded") == 1  # the worker's status, mirrored


async def test_a_dispatched_job_runs_on_the_worker_and_cancel_leaves_nothing(multikueue_federation, gw):  # noqa: F811
    fed = multikueue_federation
    bea = fed.token("mk-bea")
    job = await gw.submit(bea, tiny("stays", MANAGER, seconds=300))
    running = await dispatched_and("Running", gw, bea, job["id"])
    assert running["message"] == (f"1 pod(s) running on worker cluster {WORKER} (dispatched by MultiKueue on "
                                  f"{MANAGER}; its pods and logs are there)")
    status, listed = await gw.call("GET", "/jobs", bea)
    assert status == 200
    assert next(j for j in listed["jobs"] if j["id"] == job["id"])["queue"]["dispatched_to"] == WORKER
    for follow in ("", "&follow=1"):  # at once, not a wait for pods that never come to the manager
        log = await asyncio.wait_for(gw.text(f"/jobs/{job['id']}/logs?rank=0{follow}", bea), 30)
        assert log.startswith(f"This job runs on worker cluster {WORKER} (dispatched by MultiKueue on {MANAGER})")
    there = await objects_of(fed, WORKER, job["id"])
    assert len(there["Job"]) == 1 and there["Job"][0]["spec"].get("managedBy") is None

    await gw.cancel(bea, job["id"])

    async def nothing_left():
        left = {c: {k: [o["metadata"]["name"] for o in v] for k, v in (await objects_of(fed, c, job["id"])).items()
                    if v} for c in (MANAGER, WORKER)}
        return left if not any(left.values()) else None

    await until(nothing_left, "nothing of the job to be left on the manager or the worker", timeout=180)
