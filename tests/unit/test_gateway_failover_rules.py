"""When a job counts as stuck (fail over) or settled (stop watching), and the guard that acts on it.

The rules are pure; the guard is run against a fake mirror of the job (a list of states
it shows in turn) and a fake service, so no cluster is needed.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import replace
from types import SimpleNamespace

import pytest

from fedspawner.federation.model import ClusterSnapshot, InventorySnapshot
from fedspawner.gateway import failover
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.failover import FailoverGuard, settled, stuck_reason
from fedspawner.gateway.identity import JobRecord, anchor_patch, now_iso
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
    assert stuck_reason(tainted, []) == "its GPU nodes are tainted and the job does not tolerate them"
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


# ---- the guard ---------------------------------------------------------------------------------

SPEC = JobSpec.from_dict({"kind": "job", "name": "gang", "script": "print(1)", "nodes": 2})
ROOMY = ((64000, 512 * 2**30),)


def on(cluster: str, pods: list[dict], *, created: str | None = None, failover_to=("onprem",)) -> JobObjects:
    """The job on ``cluster`` as its mirror shows it: a real anchor (record and spec), a Job, pods."""
    record = replace(JobRecord.for_spec(SPEC, None, frozenset(), ordered=True), failover=tuple(failover_to),
                     tried=(cluster,), created=created or now_iso())
    target = RenderTarget(namespace="fedspawner", job_id="j-abcd2345", owner="carol", backend="indexed-job")
    anchor = anchor_patch(render(SPEC, target), record, SPEC)[0]
    return JobObjects("j-abcd2345", cluster, "fedspawner", anchor=anchor, workloads=[job()], pods=pods)


STUCK = [pod("a", index=0), pod("b", "Pending", index=1, node=None, unschedulable=TOO_BIG)]
RUNNING = [pod("a", index=0), pod("b", index=1)]


class FakeMirror:
    """Shows ``states`` in turn, one per change; the last one stays."""

    def __init__(self, *states: JobObjects):
        self.states = list(states)
        self.changes = 0

    def objects(self) -> JobObjects:
        return self.states[0]

    def failed_creates(self) -> list[dict]:
        return []

    def empty(self) -> bool:
        return not self.states[0].everything()

    async def next_change(self, timeout: float) -> bool:
        self.changes += 1
        assert self.changes < 100, "the guard never stopped watching"
        if len(self.states) > 1:
            self.states.pop(0)
        await asyncio.sleep(0.01)  # time passes for the grace period
        return True


class FakeService:
    """What a guard uses of ``GatewayService``: settings, registry, store and submitter."""

    def __init__(self, mirrors: dict[str, FakeMirror], *, grace: float = 0.0, refuse: bool = False,
                 snapshot: InventorySnapshot | None = None):
        self.settings = Gateway(failover_grace=grace, failover_window=900.0)
        self.mirrors, self.refuse = mirrors, refuse
        self.saved: list[JobRecord] = []
        self.placed: list[tuple] = []
        clusters = snapshot or InventorySnapshot(clusters=(ClusterSnapshot("regional", "regional"),
                                                           ClusterSnapshot("onprem", "onprem",
                                                                           cpu_memory_free=ROOMY)))
        self.registry = SimpleNamespace(snapshot=lambda: clusters)
        self.store = SimpleNamespace(mirror=self._mirror, save_record=self._save)
        self.submitter = SimpleNamespace(runnable=self._runnable, place=self._place)

    @asynccontextmanager
    async def _mirror(self, cluster: str, job_id: str, **_kinds):
        yield self.mirrors[cluster]

    async def _save(self, objects: JobObjects, record: JobRecord) -> None:
        self.saved.append(record)

    async def _runnable(self, order, kind: str) -> list[str]:
        return list(order)

    async def _place(self, job_id, spec, owner, order, gpu_types, record, moving_from=None):
        if self.refuse:
            raise RuntimeError("quota exceeded everywhere")
        self.placed.append((order[0], moving_from, spec, owner))
        return JobObjects(job_id, order[0], "fedspawner"), record


@pytest.fixture
def deleted(monkeypatch) -> list[JobObjects]:
    """What the guard deletes (the copy it moved the job away from)."""
    gone: list[JobObjects] = []

    async def delete_job(store, objects, **_options):
        gone.append(objects)

    monkeypatch.setattr(failover, "delete_job", delete_job)
    return gone


async def test_a_stuck_job_moves_and_the_copy_it_left_is_deleted(deleted):
    left = on("regional", STUCK)
    service = FakeService({"regional": FakeMirror(left), "onprem": FakeMirror(on("onprem", RUNNING))})
    guard = FailoverGuard(service, "j-abcd2345", "regional")
    await guard.run()
    [(cluster, moving_from, spec, owner)] = service.placed
    assert (cluster, moving_from) == ("onprem", ("regional", "no node has enough cpu free now"))
    assert (spec, owner) == (SPEC, "carol")  # read back from the anchor it already had
    assert deleted == [left] and guard.cluster == "onprem" and service.saved == []


async def test_a_job_with_nowhere_to_go_stays_and_the_record_says_why(deleted):
    full = InventorySnapshot(clusters=(ClusterSnapshot("regional", "regional"),
                                       ClusterSnapshot("onprem", "onprem", healthy=False)))
    service = FakeService({"regional": FakeMirror(on("regional", STUCK))}, snapshot=full)
    await FailoverGuard(service, "j-abcd2345", "regional").run()
    [record] = service.saved
    assert record.failover == () and service.placed == [] and deleted == []
    assert record.history[-1] == ("regional: no node has enough cpu free now; no other cluster can take it "
                                  "now — waiting on regional")


async def test_a_move_every_cluster_refuses_is_noted(deleted):
    service = FakeService({"regional": FakeMirror(on("regional", STUCK))}, refuse=True)
    await FailoverGuard(service, "j-abcd2345", "regional").run()
    [record] = service.saved
    assert record.failover == () and deleted == []
    assert "moving it failed (quota exceeded everywhere) — waiting on regional" in record.history[-1]


async def test_a_job_stuck_for_less_than_the_grace_period_stays(deleted):
    mirror = FakeMirror(on("regional", STUCK), on("regional", STUCK), on("regional", RUNNING))
    service = FakeService({"regional": mirror}, grace=30.0)
    await FailoverGuard(service, "j-abcd2345", "regional").run()
    assert service.placed == [] and service.saved == [] and mirror.changes == 2


async def test_the_guard_ends_once_the_window_has_passed(deleted):
    mirror = FakeMirror(on("regional", STUCK, created="2020-01-01T00:00:00Z"))
    service = FakeService({"regional": mirror})
    await FailoverGuard(service, "j-abcd2345", "regional").run()
    assert service.placed == [] and service.saved == [] and mirror.changes == 0


@pytest.mark.parametrize("state", [
    on("regional", RUNNING), on("regional", STUCK, failover_to=()),
    JobObjects("j-abcd2345", "regional", "fedspawner"),  # cancelled: nothing left
])
async def test_the_guard_ends_when_there_is_nothing_to_fail_over_for(deleted, state):
    service = FakeService({"regional": FakeMirror(state)})
    await FailoverGuard(service, "j-abcd2345", "regional").run()
    assert service.placed == [] and service.saved == []
