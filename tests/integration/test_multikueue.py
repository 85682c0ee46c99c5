"""A member cluster that is a MultiKueue manager (issue 16 §5), against the real Kueue v0.19.2.

``dispatch`` runs Kueue as a MultiKueue manager for ``batch-a`` (set up by ``sandbox up`` from
``sandbox/topologies/multikueue.yaml``). A job submitted through the gateway to ``dispatch``
enters its queue like on any Kueue cluster; MultiKueue copies it to ``batch-a``, whose pods run
it; the job's view names the worker. What is where is read with each cluster's admin context.
"""

from __future__ import annotations

import aiohttp
import pytest

from fedspawner.federation.queues import QUEUE_LABEL
from fedspawner.gateway import kube
from fedspawner.gateway.queueing import WORKLOADS

from .multikueue_fixtures import GATEWAY_URL, MANAGER, QUEUE, WORKER, multikueue_federation  # noqa: F401
from .test_gateway_support import Gateway, wait_healthy
from .test_kueue_jobs import NS, tiny
from .test_sandbox_operators import until

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(1200)]


@pytest.fixture
async def gw(multikueue_federation):  # noqa: F811 - the fixture's name
    await wait_healthy(GATEWAY_URL, timeout=120)
    async with aiohttp.ClientSession() as session:
        gateway = Gateway(session, base=GATEWAY_URL)
        try:
            yield gateway
        finally:
            await gateway.cleanup()


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


async def test_a_job_sent_to_a_multikueue_manager_runs_on_its_worker_and_says_so(multikueue_federation, gw):  # noqa: F811
    fed = multikueue_federation
    ada = fed.token("mk-ada")
    job = await gw.submit(ada, tiny("far-away", MANAGER, seconds=20))
    assert job["cluster"] == MANAGER
    local = (await objects_of(fed, MANAGER, job["id"]))["Job"]
    assert len(local) == 1 and local[0]["metadata"]["labels"][QUEUE_LABEL] == QUEUE
    assert local[0]["spec"].get("managedBy") == "kueue.x-k8s.io/multikueue"

    async def dispatched():
        now = await gw.job(ada, job["id"])
        return now if (now.get("queue") or {}).get("dispatched_to") == WORKER and "pod(s)" in now["message"] else None

    sent = await until(dispatched, "the job to be dispatched to the worker and its pods made there", timeout=180)
    assert sent["queue"]["state"] == "admitted" and sent["queue"]["name"] == QUEUE
    assert sent["queue"]["text"].endswith(f"dispatched by MultiKueue on {MANAGER} to worker cluster {WORKER}")
    assert sent["message"].endswith(f"on worker cluster {WORKER} (dispatched by MultiKueue on {MANAGER}; "
                                    "its pods and logs are there)")
    there = await objects_of(fed, WORKER, job["id"])
    assert len(there["Job"]) == 1 and there["Pod"], there
    assert there["Job"][0]["spec"].get("managedBy") is None  # the worker's own Job controller runs it
    assert (await objects_of(fed, MANAGER, job["id"]))["Pod"] == []  # nothing runs on the manager

    await gw.cancel(ada, job["id"])

    async def nothing_left():
        left = {c: {k: [o["metadata"]["name"] for o in v] for k, v in (await objects_of(fed, c, job["id"])).items()
                    if v} for c in (MANAGER, WORKER)}
        return left if not any(left.values()) else None

    await until(nothing_left, "nothing of the job to be left on the manager or the worker", timeout=180)
