"""Queue-aware placement and failover through the real Kueue v0.19.2 (issue 16 §2, §4).

One sandbox for the module (``kueue_fixtures``: Kueue on ``training``, 2 cpu in queue ``team``,
and ``analytics``, 4 cpu in ``research``), its gateway with a short admission window (a job
not admitted within 6 s moves on) and hedged queueing for the group ``kq-hedgers``. What the
clusters hold is sampled with the admin credential every 0.2 s while a job moves, so the tests
see whether two copies ever existed, or had pods placed on nodes, at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from fedspawner.gateway import kube
from fedspawner.gateway.queueing import LOCALQUEUES
from fedspawner.jobs.labels import job_selector

from .kueue_fixtures import GATEWAY_URL, NS, running_kueue_federation
from .test_gateway_support import gateway_client, gone
from .test_kueue_jobs import queue_state, tiny
from .test_sandbox_operators import until

pytestmark = [pytest.mark.sandbox, pytest.mark.kueue, pytest.mark.timeout(900)]

WINDOW = 6
GATEWAY_CONFIG = (f"c.Gateway.queue_admission_window = {WINDOW}.0\n"
                  "c.Gateway.queue_hedge = ['kq-hedgers']\n")


@pytest.fixture(scope="module")
async def kueue_failover():
    async with running_kueue_federation(GATEWAY_CONFIG) as fed:
        yield fed


@pytest.fixture
async def gw(kueue_failover):
    async with gateway_client(GATEWAY_URL) as gateway:
        yield gateway


class Copies:
    """Samples, every 0.2 s, which clusters hold the job's batch Job and which have its pods on a node."""

    def __init__(self, fed, job_id: str, clusters=("analytics", "training")):
        self.fed, self.job_id, self.clusters = fed, job_id, clusters
        self.samples: list[dict[str, tuple[bool, bool]]] = []  # cluster -> (has a Job, has a placed pod)
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        selector = kube.selector(job_selector(self.job_id))
        async with contextlib.AsyncExitStack() as stack:
            apis = {c: await stack.enter_async_context(self.fed.admin(c)) for c in self.clusters}
            while True:
                sample = {}
                for cluster in self.clusters:  # in a fixed order: a copy seen later was there after
                    jobs = await kube.list_objects(apis[cluster], kube.JOBS, NS, selector)
                    pods = await kube.list_objects(apis[cluster], kube.PODS, NS, selector)
                    sample[cluster] = (bool(jobs), any((p.get("spec") or {}).get("nodeName") for p in pods))
                self.samples.append(sample)
                await asyncio.sleep(0.2)

    async def __aenter__(self) -> "Copies":
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def both_held(self) -> list[dict]:
        """Samples in which the cluster listed first already held a copy the later-listed one still had."""
        return [s for s in self.samples if all(held for held, _ in s.values())]

    def placed_on(self) -> set[str]:
        """Every cluster where a pod of the job was ever placed on a node."""
        return {c for s in self.samples for c, (_, placed) in s.items() if placed}


async def fill_training(gw, token: str) -> dict:
    """A job that holds 1.5 of training's 2 cpu for a while (admitted: nothing else of 1 cpu fits)."""
    holder = await gw.submit(token, tiny("holder", "training", cpu="1500m", seconds=90))
    await queue_state(gw, token, holder["id"], "admitted")
    return holder


async def test_the_plan_predicts_each_queues_wait_and_prefers_the_soonest_start(kueue_failover, gw):
    fed = kueue_failover
    pat = fed.token("kq-pat")
    for cluster in ("training", "analytics"):  # recent admissions to go by on both queues
        done = await gw.submit(pat, tiny(f"warm-{cluster}", cluster))
        await until(lambda job=done: _queue_seen(gw, pat, job["id"]), "the board to see the admission")
    holder = await fill_training(gw, pat)
    waiter = await gw.submit(pat, tiny("waiter", "training", cpu="1"))
    queued = await until(lambda: _predicted(gw, pat, waiter["id"]), "a predicted wait in the job's queue")
    assert queued["queue"]["predicted"].startswith("predicted wait ~"), queued["queue"]
    assert queued["queue"]["text"].endswith(queued["queue"]["predicted"])
    status, plan = await gw.call("POST", "/jobs/plan", pat, tiny("maybe", "auto", cpu="1"))
    assert status == 200, plan
    first, other = plan["candidates"]
    assert first["cluster"] == "analytics", plan  # training: one ahead and its quota full
    assert "predicted wait ~" in first["queue_reason"] and first["predicted_wait"] is not None, first
    assert first["queue_reason"].endswith("the soonest start of the clusters that fit"), first
    assert other["cluster"] == "training" and "1 ahead" in other["queue_reason"], other
    await gw.cancel(pat, holder["id"])
    await gw.cancel(pat, waiter["id"])


async def _queue_seen(gw, token: str, job_id: str) -> dict | None:
    job = await gw.job(token, job_id)
    return job if (job.get("queue") or {}).get("admitted") else None


async def _predicted(gw, token: str, job_id: str) -> dict | None:
    job = await gw.job(token, job_id)
    queue = job.get("queue") or {}
    return job if queue.get("state") == "queued" and queue.get("predicted_wait") is not None else None


async def test_a_job_not_admitted_within_its_window_moves_without_two_copies(kueue_failover, gw):
    fed = kueue_failover
    quinn = fed.token("kq-quinn")
    holder = await fill_training(gw, quinn)
    job = await gw.submit(quinn, tiny("impatient", ["training", "analytics"], cpu="1", seconds=5))
    assert job["cluster"] == "training"
    async with Copies(fed, job["id"]) as copies:
        moved = await until(lambda: _on(gw, quinn, job["id"], "analytics"), "the job to move on after its window")
        await queue_state(gw, quinn, job["id"], "admitted")
    assert any(f"not admitted within {WINDOW} s" in h for h in moved["history"]), moved["history"]
    assert await gone(fed.admin, "training", NS, job["id"]) == []
    assert copies.both_held() == [], "the queued copy was still there when the new one was created"
    assert copies.placed_on() <= {"analytics"}
    await gw.cancel(quinn, holder["id"])


async def test_a_job_no_other_cluster_takes_is_queued_again_where_it_was(kueue_failover, gw):
    fed = kueue_failover
    uma = fed.token("kq-uma")
    holder = await fill_training(gw, uma)
    async with fed.admin("analytics") as api:
        await kube.merge_patch(api, LOCALQUEUES, NS, "research", {"spec": {"stopPolicy": "Hold"}})
        try:
            job = await gw.submit(uma, tiny("stays", ["training", "analytics"], cpu="1"))
            assert job["cluster"] == "training"
            again = await until(lambda: _noted(gw, uma, job["id"], "queued again on training"),
                                "the job to be queued again where it was")
        finally:
            await kube.merge_patch(api, LOCALQUEUES, NS, "research", {"spec": {"stopPolicy": "None"}})
    assert again["cluster"] == "training" and "stopped by the cluster's admins" in again["history"][-1], again
    assert (await queue_state(gw, uma, job["id"], "queued"))["queue"]["name"] == "team"
    assert await gone(fed.admin, "analytics", NS, job["id"]) == []
    await gw.cancel(uma, holder["id"])


async def _noted(gw, token: str, job_id: str, words: str) -> dict | None:
    status, answer = await gw.call("GET", f"/jobs/{job_id}", token)  # 404 for a moment: its anchor is re-made
    job = answer["job"] if status == 200 else {"history": []}
    return job if any(words in h for h in job["history"]) else None


async def _on(gw, token: str, job_id: str, cluster: str) -> dict | None:
    job = await gw.job(token, job_id)
    return job if job["cluster"] == cluster else None


async def test_a_hedged_job_keeps_the_first_queue_that_admits_it_and_never_runs_twice(kueue_failover, gw):
    fed = kueue_failover
    rey = fed.token("kq-rey", group="kq-hedgers")
    job = await gw.submit(rey, tiny("hedged", ["training", "analytics"], seconds=3))
    async with Copies(fed, job["id"]) as copies:
        decided = await until(lambda: _decided(gw, rey, job["id"]), "one copy to be kept")
        finished = await until(lambda: _succeeded(gw, rey, job["id"]), "the kept copy to run to the end")
    winner = decided["cluster"]
    loser = "training" if winner == "analytics" else "analytics"
    assert any("hedged: waiting in the queues of training and analytics" in h for h in finished["history"])
    assert any(f"withdrew the copy queued on {loser}" in h for h in finished["history"]), finished["history"]
    assert await gone(fed.admin, loser, NS, job["id"]) == []
    assert copies.placed_on() == {winner}, copies.placed_on()  # the withdrawn copy's pods never ran
    assert any(s[loser][0] for s in copies.samples), "the job never waited in both queues"


async def test_a_hedged_job_goes_where_it_is_admitted_while_the_other_queue_is_full(kueue_failover, gw):
    fed = kueue_failover
    sam = fed.token("kq-sam", group="kq-hedgers")
    holder = await fill_training(gw, fed.token("kq-holder"))
    job = await gw.submit(sam, tiny("hedged-full", ["training", "analytics"], cpu="1", seconds=3))
    async with Copies(fed, job["id"]) as copies:
        decided = await until(lambda: _decided(gw, sam, job["id"]), "the copy analytics admits to be kept")
        await until(lambda: _succeeded(gw, sam, job["id"]), "the kept copy to run to the end")
    assert decided["cluster"] == "analytics"
    assert await gone(fed.admin, "training", NS, job["id"]) == []
    assert copies.placed_on() == {"analytics"}
    await gw.cancel(fed.token("kq-holder"), holder["id"])


async def _decided(gw, token: str, job_id: str) -> dict | None:
    job = await gw.job(token, job_id)
    return job if any("admitted first by its queue" in h for h in job["history"]) else None


async def _succeeded(gw, token: str, job_id: str) -> dict | None:
    job = await gw.job(token, job_id)
    return job if job["phase"] == "Succeeded" else None
