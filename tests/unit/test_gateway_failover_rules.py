"""When a job counts as stuck (fail over) or settled (stop watching), and the queue that acts on it.

The rules are pure; the failover queue is run against a fake jobs index (the copies of
jobs it holds, changed by the test) and a fake service, so no cluster is needed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace

import pytest

from fedspawner.federation.model import ClusterSnapshot, InventorySnapshot
from fedspawner.gateway import failover
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.failover import FailoverQueue, settled, stuck_reason
from fedspawner.gateway.identity import ANNOTATION_CANCELLING, JobRecord, anchor_patch, now_iso
from fedspawner.gateway.model import JobObjects
from fedspawner.jobs import JobSpec, RenderTarget
from fedspawner.jobs.render import render

from .test_gateway_status import job, objects, pod

QUOTA = {"reason": "FailedCreate",
         "message": 'pods "x" is forbidden: exceeded quota: gpu, requested: requests.nvidia.com/gpu=4, used: 4, '
                    "limited: 6"}
TOO_BIG = "0/3 nodes are available: 3 Insufficient cpu."


def test_an_unschedulable_rank_makes_the_job_stuck():
    stuck = objects([pod("a", index=0), pod("b", "Pending", index=1, node=None, unschedulable=TOO_BIG)])
    assert stuck_reason(stuck, []) == "no node has enough cpu free now"
    assert not settled(stuck)


def test_waiting_for_volumes_is_not_stuck():
    binding = objects([pod("a", index=0), pod("b", "Pending", index=1, node=None, unschedulable=(
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."))])
    assert stuck_reason(binding, []) is None and not settled(binding)


def test_taints_and_image_pulls():
    tainted = objects([pod("a", "Pending", index=0, node=None,
                           unschedulable="0/1 nodes are available: 1 node(s) had untolerated taint {x: y}.")])
    assert stuck_reason(tainted, []) == "its nodes carry taints the job does not tolerate (x)"
    for waiting in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        pulling = objects([pod("a", "Pending", index=0, waiting=waiting), pod("b", index=1)])
        assert stuck_reason(pulling, []) == "the job's image cannot be pulled there"


def test_quota_refusals_count_only_while_pods_are_missing():
    reason = stuck_reason(objects([pod("a", index=0)]), [QUOTA])
    assert reason == "over its quota gpu (asked requests.nvidia.com/gpu=4, in use 4, limit 6)"
    assert stuck_reason(objects([pod("a", index=0), pod("b", index=1)]), [QUOTA]) is None
    assert stuck_reason(objects([pod("a", index=0)]), [{"message": "something else"}]) is None


def test_settled_once_every_pod_is_scheduled_or_the_job_ended():
    assert settled(objects([pod("a", index=0), pod("b", "Pending", index=1)]))
    assert not settled(objects([pod("a", index=0)]))
    assert settled(objects([], [job([{"type": "Failed", "status": "True"}])]))
    assert stuck_reason(objects([pod("a", index=0), pod("b", index=1)]), []) is None


# ---- the queue ---------------------------------------------------------------------------------

SPEC = JobSpec.from_dict({"kind": "job", "name": "gang", "script": "print(1)", "nodes": 2})
ROOMY = ((64000, 512 * 2**30),)
JOB = "j-abcd2345"


def on(cluster: str, pods: list[dict], *, created: str | None = None, failover_to=("onprem",),
       job_id: str = JOB) -> JobObjects:
    """A copy of the job on ``cluster`` as the index holds it: a real anchor (record and spec), a Job, pods."""
    record = replace(JobRecord.for_spec(SPEC, None, frozenset(), ordered=True), failover=tuple(failover_to),
                     tried=(cluster,), created=created or now_iso())
    target = RenderTarget(namespace="fedspawner", job_id=job_id, owner="carol", backend="indexed-job")
    anchor = anchor_patch(render(SPEC, target), record, SPEC)[0]
    return JobObjects(job_id, cluster, "fedspawner", anchor=anchor, workloads=[job()], pods=pods)


STUCK = [pod("a", index=0), pod("b", "Pending", index=1, node=None, unschedulable=TOO_BIG)]
WAITING = [pod("a", "Pending", index=0, node=None), pod("b", "Pending", index=1, node=None)]
RUNNING = [pod("a", index=0), pod("b", index=1)]


class FakeIndex:
    """Copies of jobs by ``(cluster, job id)``; ``put`` and ``drop`` tell the queue, as the index does."""

    def __init__(self):
        self.copies: dict[tuple[str, str], JobObjects] = {}
        self.queue: FailoverQueue | None = None

    def put(self, copy: JobObjects) -> None:
        self.copies[(copy.cluster, copy.job_id)] = copy
        self.queue.changed(copy.cluster, copy.job_id)

    def drop(self, cluster: str, job_id: str = JOB) -> None:
        self.copies.pop((cluster, job_id), None)
        self.queue.changed(cluster, job_id)

    def has(self, cluster: str, job_id: str) -> bool:
        return (cluster, job_id) in self.copies

    def job(self, cluster: str, job_id: str) -> JobObjects:
        return self.copies[(cluster, job_id)]

    def job_ids(self, cluster: str) -> list[str]:
        return [j for c, j in self.copies if c == cluster]

    def failed_creates(self, cluster: str, job_id: str) -> list[dict]:
        return []


class FakeService:
    """What the queue uses of ``GatewayService``: settings, registry, index, store and submitter.

    A move creates the copy on the cluster chosen (running there) and deleting drops the copy left.
    """

    def __init__(self, *, grace: float = 0.0, refuse: bool = False, snapshot: InventorySnapshot | None = None,
                 held: frozenset = frozenset({"regional", "onprem"})):
        self.settings = Gateway(failover_grace=grace, failover_window=900.0)
        self.refuse = refuse
        self.saved: list[JobRecord] = []
        self.placed: list[tuple] = []
        self.held = set(held)
        clusters = snapshot or InventorySnapshot(clusters=(ClusterSnapshot("regional", "regional"),
                                                           ClusterSnapshot("onprem", "onprem",
                                                                           cpu_memory_free=ROOMY)))
        self.registry = SimpleNamespace(snapshot=lambda: clusters)
        self.index = FakeIndex()
        self.store = SimpleNamespace(anchor=self._anchor, save_record=self._save)
        self.submitter = SimpleNamespace(runnable=self._runnable, place=self._place)
        self.queue = FailoverQueue(self, lambda cluster: cluster in self.held)
        self.index.queue = self.queue

    async def _anchor(self, objects: JobObjects) -> dict:
        return objects.anchor

    async def _save(self, objects: JobObjects, record: JobRecord) -> None:
        self.saved.append(record)
        stays = replace(objects, anchor=anchor_patch(render(SPEC, RenderTarget(
            namespace="fedspawner", job_id=objects.job_id, owner="carol", backend="indexed-job")), record, SPEC)[0])
        self.index.put(stays)

    async def _runnable(self, order, kind: str) -> list[str]:
        return list(order)

    async def _place(self, job_id, spec, owner, order, gpu_types, record, moving_from=None):
        if self.refuse:
            raise RuntimeError("quota exceeded everywhere")
        self.placed.append((order[0], moving_from, spec, owner))
        self.index.put(on(order[0], RUNNING, failover_to=(), job_id=job_id))
        return JobObjects(job_id, order[0], "fedspawner"), record


@pytest.fixture
async def service(monkeypatch):
    """A fake service whose queue runs; ``deleted`` lists the copies the queue deleted."""
    made: list[FakeService] = []

    async def delete_job(store, objects, **_options):
        made[0].deleted.append(objects)
        made[0].index.drop(objects.cluster, objects.job_id)

    monkeypatch.setattr(failover, "delete_job", delete_job)

    def make(**options) -> FakeService:
        fake = FakeService(**options)
        fake.deleted = []
        made.append(fake)
        fake.queue.start()
        return fake

    yield make
    for fake in made:
        await fake.queue.stop()


async def settle(service: FakeService, seconds: float = 0.1) -> None:
    """Let the queue's worker and its moves run."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline or service.queue._moving:
        await asyncio.sleep(0.01)


async def test_a_stuck_job_moves_and_the_copy_it_left_is_deleted(service):
    fake = service()
    left = on("regional", STUCK)
    fake.index.put(left)
    await settle(fake)
    [(cluster, moving_from, spec, owner)] = fake.placed
    assert (cluster, moving_from) == ("onprem", ("regional", "no node has enough cpu free now"))
    assert (spec, owner) == (SPEC, "carol")  # read back from the anchor it already had
    assert fake.deleted == [left] and fake.saved == []
    assert fake.queue.guarded() == []  # the copy on onprem runs: settled


async def test_a_job_with_nowhere_to_go_stays_and_the_record_says_why(service):
    full = InventorySnapshot(clusters=(ClusterSnapshot("regional", "regional"),
                                       ClusterSnapshot("onprem", "onprem", healthy=False)))
    fake = service(snapshot=full)
    fake.index.put(on("regional", STUCK))
    await settle(fake)
    [record] = fake.saved
    assert record.failover == () and fake.placed == [] and fake.deleted == []
    assert record.history[-1] == ("regional: no node has enough cpu free now; no other cluster can take it "
                                  "now — waiting on regional")
    fake.index.put(on("regional", STUCK, failover_to=()))  # it stays: no second note
    await settle(fake)
    assert len(fake.saved) == 1


async def test_a_move_every_cluster_refuses_is_noted(service):
    fake = service(refuse=True)
    fake.index.put(on("regional", STUCK))
    await settle(fake)
    [record] = fake.saved
    assert record.failover == () and fake.deleted == []
    assert "moving it failed (quota exceeded everywhere) — waiting on regional" in record.history[-1]


async def test_a_job_stuck_for_less_than_the_grace_period_stays(service):
    fake = service(grace=0.5)
    fake.index.put(on("regional", STUCK))
    await settle(fake, 0.2)
    assert fake.queue.guarded() == [("regional", JOB)] and fake.placed == []
    fake.index.put(on("regional", RUNNING))
    await settle(fake, 0.6)
    assert fake.placed == [] and fake.saved == [] and fake.queue.guarded() == []


async def test_the_grace_period_ends_on_a_timer_without_any_change(service):
    fake = service(grace=0.3)
    fake.index.put(on("regional", STUCK))
    await settle(fake, 0.1)
    assert fake.placed == []
    await settle(fake, 0.5)  # nothing changed on the cluster meanwhile
    assert [p[0] for p in fake.placed] == ["onprem"]


async def test_the_guard_ends_once_the_window_has_passed(service):
    fake = service()
    fake.index.put(on("regional", STUCK, created="2020-01-01T00:00:00Z"))
    await settle(fake)
    assert fake.placed == [] and fake.saved == [] and fake.queue.guarded() == []


async def test_only_clusters_this_replica_holds_are_guarded(service):
    fake = service(held=frozenset({"onprem"}))
    fake.index.put(on("regional", STUCK))
    await settle(fake)
    assert fake.placed == [] and fake.queue.guarded() == []
    fake.held.add("regional")
    fake.queue.changed("regional", None)  # what acquiring the cluster's Lease does
    await settle(fake)
    assert [p[0] for p in fake.placed] == ["onprem"]


async def test_a_cancel_holds_the_queue_off(service):
    fake = service()
    async with fake.queue.held_off(JOB):
        fake.index.put(on("regional", STUCK))
        await settle(fake)
        assert fake.placed == []
        fake.index.drop("regional")
    await settle(fake)
    assert fake.placed == [] and fake.queue.guarded() == []


async def test_a_running_job_seen_first_after_a_restart_is_not_guarded(service):
    fake = service()
    broken = on("regional", [pod("a", index=0), pod("b", "Failed", index=1)])
    fake.index.put(broken)
    await settle(fake)
    fake.index.put(on("regional", STUCK))  # a pod evicted later: the job had started, it stays
    await settle(fake)
    assert fake.placed == [] and fake.queue.guarded() == []


async def test_many_jobs_are_guarded_by_one_worker(service):
    fake = service(grace=60.0)
    for n in range(300):
        fake.index.put(on("regional", WAITING, job_id=f"j-{n:08d}".replace("0", "a")))
    await settle(fake)
    assert len(fake.queue.guarded()) == 300 and fake.placed == []


async def test_an_image_that_cannot_be_pulled_moves_the_job_though_its_pods_are_scheduled(service):
    fake = service()
    fake.index.put(on("regional", [pod("a", "Pending", index=0, waiting="ImagePullBackOff"), pod("b", index=1)]))
    await settle(fake)
    [(cluster, (left, reason), _, _)] = fake.placed
    assert (cluster, left, reason) == ("onprem", "regional", "the job's image cannot be pulled there")


async def test_a_job_another_replica_is_cancelling_is_not_moved(service):
    fake = service()
    cancelling = on("regional", STUCK)
    cancelling.anchor["metadata"]["annotations"][ANNOTATION_CANCELLING] = now_iso()
    fake.index.put(cancelling)
    await settle(fake)
    assert fake.placed == [] and fake.saved == [] and fake.deleted == [] and fake.queue.guarded() == []
