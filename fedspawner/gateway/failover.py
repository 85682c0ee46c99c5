"""Moving a job whose pods stay unschedulable to the next candidate cluster.

One ``FailoverQueue`` guards every job that may still fail over, as a controller's work
queue does: the shared jobs index tells it which job changed, one worker looks at each
changed job (each at most once however many changes queued up), and a timer brings a
stuck job back when its grace period ends; nothing is open per job. A job is guarded
until its pods are all scheduled (or it ends, or is cancelled, or ``failover_window``
passes). When a pod stays unschedulable (FailedScheduling), its image cannot be pulled,
or the quota refuses its pods, for ``failover_grace`` seconds, the queue re-places the
job among the clusters still to try, creates it on the first that takes it, records the
move in the job's history, and deletes it from the cluster it left. Everything it needs
is on the cluster (the job record and spec on the anchor ConfigMap), so a restarted
gateway resumes guarding where the last one stopped; with several replicas, each guards
the clusters whose Lease it holds (``lease.ClusterLeases``). What counts as stuck is
decided by the federation core's failover rules, as for notebook servers.

A job still waiting in its cluster's Kueue queue (``in_queue``) moves the other way round:
its workload objects are withdrawn first and confirmed gone (its anchor stays, so the job
stays visible), then the job is created on the next cluster (or, failing every other,
again where it was) and the old anchor goes; so Kueue can never admit two copies. A copy
Kueue admitted meanwhile stays where it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from kubernetes_asyncio.client.rest import ApiException

from ..federation.failover import IMAGE_PULL_REASONS, quota_reason, reason_for_scheduling
from ..federation.timestamps import epoch
from .cancel import delete_job
from .identity import ANNOTATION_CANCELLING, JobRecord, record_of, spec_of
from .model import JobObjects
from .planning import job_placement, replan
from .status import current_pods, expected_pods, job_view, pod_reason, terminal_state, unschedulable

log = logging.getLogger(__name__)

SUBJECT = "the job"


def stuck_reason(objects: JobObjects, failed_creates: list[dict]) -> str | None:
    """Why the job cannot start on its cluster now (for people), or None if nothing blocks it."""
    pods = current_pods(objects)
    for pod in pods:
        message = unschedulable(pod)
        if message is not None:
            reason = reason_for_scheduling(message, SUBJECT)
            if reason is not None:  # None: the scheduler is only waiting for volumes
                return reason
        elif (pod_reason(pod) or "") in IMAGE_PULL_REASONS:
            return f"{SUBJECT}'s image cannot be pulled there"
    if len(pods) >= expected_pods(objects):
        return None
    for event in failed_creates:  # old events stay around: only while pods are missing
        reason = quota_reason(event.get("message") or "")
        if reason is not None:
            return reason
    return None


def settled(objects: JobObjects) -> bool:
    """True once there is nothing left to fail over for: every pod scheduled, or the job ended."""
    if terminal_state(objects.primary()) is not None:
        return True
    pods = current_pods(objects)
    scheduled = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
    return len(scheduled) >= expected_pods(objects)


def cancelling(anchor: dict | None) -> bool:
    """Whether a cancel has begun on the job (its anchor is marked, or being deleted)."""
    meta = (anchor or {}).get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) or ANNOTATION_CANCELLING in (meta.get("annotations") or {})


def _epoch(iso: str) -> float:
    found = epoch(iso)
    return time.time() if found is None else found


#: One copy of a job: ``(cluster, job id)``.
Key = tuple[str, str]


class FailoverQueue:
    """Guards every job that may still fail over, on the clusters this replica guards.

    ``service`` is the ``GatewayService`` (its settings, registry, jobs index, store and
    submitter); ``holds(cluster)`` says whether this replica guards that cluster's jobs now
    (it holds the cluster's Lease). ``changed`` is the index's listener; at most ``moves``
    moves run at once, beside the worker.
    """

    def __init__(self, service, holds: Callable[[str], bool], moves: int = 4):
        self.service = service
        self.holds = holds
        self._queued: dict[Key, None] = {}     # copies to look at, in order, each once
        self._wake = asyncio.Event()
        self._guarded: set[Key] = set()        # copies looked at and still guarded
        self._done: set[Key] = set()           # copies settled (or that stay): never guarded again
        self._since: dict[Key, float] = {}     # when each guarded copy was first seen stuck
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._moving: dict[str, asyncio.Task] = {}
        self._held_off: set[str] = set()       # jobs a cancel is deleting
        self._placing: set[str] = set()        # moves past the point of creating the new copy
        self._moves = asyncio.Semaphore(moves)
        self._worker: asyncio.Task | None = None
        self.stuck_checks: list[Callable[[JobObjects], str | None]] = []  # more reasons a job cannot start
        #: Whether a copy still waits in its cluster's queue, read afresh (it then moves withdraw-first).
        self.in_queue: Callable[[JobObjects], Awaitable[bool]] | None = None

    def other_stuck(self, objects: JobObjects) -> str | None:
        """The first reason of ``stuck_checks`` why the job cannot start where it is (e.g. Kueue's)."""
        return next((r for r in (check(objects) for check in self.stuck_checks) if r), None)

    @property
    def settings(self):
        """The gateway's settings (grace period and window)."""
        return self.service.settings

    def guarded(self) -> list[Key]:
        """The copies of jobs under guard now."""
        return sorted(self._guarded)

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (idempotent)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="failover-queue")

    async def stop(self) -> None:
        """Stop the worker, its timers and the moves under way (the next gateway resumes them)."""
        tasks = [t for t in (self._worker, *self._moving.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._worker, self._timers = None, {}

    def changed(self, cluster: str, job_id: str | None) -> None:
        """Queue ``job_id`` on ``cluster`` (every job there when None) to be looked at."""
        if job_id is None:  # also the copies remembered there that a relist found gone
            remembered = {j for c, j in (*self._guarded, *self._done, *self._since) if c == cluster}
            ids = [*self.service.index.job_ids(cluster), *remembered]
        else:
            ids = [job_id]
        for one in ids:
            self._queued[(cluster, one)] = None
        if ids:
            self._wake.set()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queued:
                key = next(iter(self._queued))
                del self._queued[key]
                try:
                    self.look(*key)
                except Exception:  # noqa: BLE001 - one job's trouble must not stop the others' guard
                    log.exception("job %s on %s: failover check failed", key[1], key[0])

    @asynccontextmanager
    async def held_off(self, job_id: str) -> AsyncIterator[None]:
        """Keep the job from being moved (while a cancel deletes it); waits for a move under way."""
        self._held_off.add(job_id)
        try:
            moving = self._moving.get(job_id)
            if moving is not None:
                if job_id not in self._placing:  # not created anywhere else yet: stop it
                    moving.cancel()
                await asyncio.gather(asyncio.shield(moving), return_exceptions=True)
            yield
        finally:
            self._held_off.discard(job_id)

    # ---- deciding ------------------------------------------------------------------------------
    def look(self, cluster: str, job_id: str) -> None:
        """Decide about one copy of a job now: stop guarding it, wait, or start moving it."""
        key = (cluster, job_id)
        if job_id in self._moving or job_id in self._held_off:
            return
        index = self.service.index
        if not index.has(cluster, job_id):
            self._forget(key)
            self._done.discard(key)
            return
        if key in self._done or not self.holds(cluster):
            self._forget(key)
            return
        objects = index.job(cluster, job_id)
        record = objects.record
        if record is None:  # its anchor has not reached the index yet
            return
        first_look = key not in self._guarded
        reason = stuck_reason(objects, index.failed_creates(cluster, job_id)) or self.other_stuck(objects)
        if (not record.failover or self.expired(record) or cancelling(objects.anchor)
                or (reason is None and settled(objects))
                or (first_look and job_view(objects)["phase"] != "Pending")):  # after a restart: running
            self._forget(key)
            self._done.add(key)
            return
        self._guarded.add(key)
        if reason is None:
            self._since.pop(key, None)
            return
        left = self._since.setdefault(key, time.monotonic()) + self.settings.failover_grace - time.monotonic()
        if left > 0:
            self._later(key, left)
            return
        self._forget(key)
        self._moving[job_id] = asyncio.create_task(self._move_and_look(objects, reason), name=f"move-{job_id}")

    def expired(self, record: JobRecord) -> bool:
        """Whether the job was submitted longer than ``failover_window`` ago (it stays then)."""
        return time.time() > _epoch(record.created) + self.settings.failover_window

    def _later(self, key: Key, delay: float) -> None:
        """Look at ``key`` again in ``delay`` seconds (when its grace period ends)."""
        if key not in self._timers:
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._due, key)

    def _due(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.changed(*key)

    def _forget(self, key: Key) -> None:
        self._guarded.discard(key)
        self._since.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    # ---- moving --------------------------------------------------------------------------------
    async def _move_and_look(self, objects: JobObjects, reason: str) -> None:
        job_id = objects.job_id
        try:
            async with self._moves:
                moved = await self._move(objects, reason)
        except asyncio.CancelledError:
            moved = None  # a cancel stopped it, or the gateway is stopping
        except Exception:  # noqa: BLE001 - a failed move must never take the gateway down
            log.exception("job %s: moving it failed", job_id)
            moved = None
        finally:
            self._moving.pop(job_id, None)
            self._placing.discard(job_id)
        self._done.discard((objects.cluster, job_id))
        self.changed(moved or objects.cluster, job_id)

    async def _move(self, objects: JobObjects, reason: str) -> str | None:
        """Re-place the job; the cluster it moved to, or None when it stays."""
        service, cluster, job_id = self.service, objects.cluster, objects.job_id
        anchor = await self._still_ours(objects)
        if anchor is None:
            return None
        spec, record, owner = spec_of(anchor), record_of(anchor), objects.owner
        request = job_placement(spec, record.requested_gpu, owner, frozenset(record.groups), None)
        order, gpu_types = replan(request, service.registry.snapshot(), record.failover, record.ordered)
        order = await service.submitter.runnable(order, spec.kind)
        if not order:
            await self._stay(objects, record, f"{cluster}: {reason}; no other cluster can take it now — "
                                              f"waiting on {cluster}")
            return None
        if await self._still_ours(objects) is None:  # checked again at the last moment
            return None
        if self.in_queue is not None and await self.in_queue(objects):
            return await self._move_queued(objects, reason, spec, record, order, gpu_types)
        self._placing.add(job_id)
        try:
            moved, _ = await service.submitter.place(job_id, spec, owner, order, gpu_types, record,
                                                     moving_from=(cluster, reason))
        except Exception as err:  # noqa: BLE001 - every candidate refused: stay and say so
            await self._stay(objects, record,
                             f"{cluster}: {reason}; moving it failed ({err}) — waiting on {cluster}")
            return None
        if await self._still_ours(objects) is None:  # cancelled meanwhile: the new copy goes too
            log.info("job %s was cancelled while moving to %s: deleting it there", job_id, moved.cluster)
            await delete_job(service.store, moved, timeout=self.settings.cancel_timeout,
                             pod_grace=self.settings.pod_grace_seconds)
            return None
        log.info("job %s failed over from %s to %s: %s", job_id, cluster, moved.cluster, reason)
        await delete_job(service.store, objects, timeout=self.settings.cancel_timeout,
                         pod_grace=self.settings.pod_grace_seconds)
        return moved.cluster

    async def _move_queued(self, objects: JobObjects, reason: str, spec, record: JobRecord, order: list[str],
                           gpu_types: dict[str, str | None]) -> str | None:
        """Move a copy that waits in its queue: withdraw its workloads (confirmed gone), create the job on
        the first of ``order`` that takes it, or again where it was, then remove the old anchor."""
        service, cluster, job_id = self.service, objects.cluster, objects.job_id
        self._placing.add(job_id)  # from here on a cancel waits for the move, then finds the new copy
        await delete_job(service.store, objects, timeout=self.settings.cancel_timeout,
                         pod_grace=self.settings.pod_grace_seconds, keep_anchor=True)
        others = [c for c in order if c != cluster]
        try:
            moved, _ = await service.submitter.place(job_id, spec, objects.owner, others, gpu_types, record,
                                                     moving_from=(cluster, reason))
        except Exception as err:  # noqa: BLE001 - no other cluster took it: queue it again where it was
            await delete_job(service.store, objects, timeout=self.settings.cancel_timeout)
            await service.submitter.place(job_id, spec, objects.owner, [cluster], {cluster: record.gpu_type},
                                          record.noted(f"{cluster}: {reason}; no other cluster took it ({err}) "
                                                       f"— queued again on {cluster}"))
            return cluster
        log.info("job %s withdrawn from the queue on %s and placed on %s: %s", job_id, cluster, moved.cluster,
                 reason)
        await delete_job(service.store, objects, timeout=self.settings.cancel_timeout)  # only its anchor is left
        return moved.cluster

    async def _still_ours(self, objects: JobObjects) -> dict | None:
        """The copy's anchor in full while this replica may still move it: it guards the cluster, and
        no cancel has begun (here or on another replica); None otherwise."""
        if not self.holds(objects.cluster) or objects.job_id in self._held_off:
            return None
        try:
            anchor = await self.service.store.anchor(objects)  # the index holds its metadata only
        except ApiException as err:
            if err.status == 404:
                return None  # deleted
            raise
        return None if cancelling(anchor) else anchor

    async def _stay(self, objects: JobObjects, record: JobRecord, note: str) -> None:
        """Record on the job's anchor that it stays where it is (no more failover), and why."""
        await self.service.store.save_record(objects, replace(record.noted(note), failover=()))
